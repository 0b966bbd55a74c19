"""Optional fused CPU kernels (kernels/ops.cpp) as typed PyTorch operators,
torch.ops.optinter.{mix_forward, mix_backward, lazy_adam}, built on first use with
torch.utils.cpp_extension (OpenMP where the compiler has it).

Why operators and not raw pointers: the schema types every argument and the C++ side checks
dtype, device, shape and layout (and every index) before it touches memory, so a swapped or
wrong argument raises instead of corrupting memory, and torch.library.opcheck can test the
registrations. Why kernels at all: at the Criteo shape (bench/train_step.py, 2 cores) the
search step under torch.compile of the PyTorch path ran at 0.69-0.81 of the kernels' rate, and
with only the LazyAdam kernel kept (mixing as PyTorch ops, eager or compiled) at 0.86-0.90.

No compiler, a failed build or OPTINTER_KERNELS=torch: `kernels()` returns None and callers
use their plain PyTorch path (same maths, tested against each other). The library is cached
per source hash, flags, compiler and torch version under $OPTINTER_CACHE/ops (default
~/.cache/optinter/ops): built in a private directory and renamed into place, so concurrent
jobs never load a half-written file, and a cached library is loaded without a build (or
ninja). Linked with -fopenmp it binds to the libgomp torch has already loaded, so kernels and
torch ops share one thread team (torch.set_num_threads applies to both).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import subprocess
import sysconfig
import tempfile
import threading
from pathlib import Path

import torch

log = logging.getLogger(__name__)
SOURCE = Path(__file__).with_name("kernels") / "ops.cpp"
FLAGS = ["-O3", "-fno-math-errno"]
OPENMP = ["-fopenmp"]  # tried first; a compiler without it builds the serial kernels
MODES = ("auto", "c", "torch")
CHUNK = 64  # batch rows per partial sum in mix_backward: sums do not depend on thread count

_lock = threading.Lock()
_state: dict = {}


def mode() -> str:
    value = os.environ.get("OPTINTER_KERNELS", "auto")
    if value not in MODES:
        raise ValueError(f"OPTINTER_KERNELS: expected one of {MODES}, got {value!r}")
    return value


@contextlib.contextmanager
def forced(value: str):
    """OPTINTER_KERNELS=value inside the block (the bench and the tests time or compare both
    paths in one process); the previous setting is restored after."""
    before = os.environ.get("OPTINTER_KERNELS")
    os.environ["OPTINTER_KERNELS"] = value
    try:
        yield
    finally:
        if before is None:
            del os.environ["OPTINTER_KERNELS"]
        else:
            os.environ["OPTINTER_KERNELS"] = before


def _compiler() -> str | None:
    """The C++ compiler cpp_extension will call ($CXX, else c++)."""
    name = os.environ.get("CXX") or "c++"
    return shutil.which(name)


def _ninja_on_path() -> None:
    """cpp_extension runs `ninja` from PATH; the ninja wheel puts it in the environment's
    scripts folder, which is not on PATH when the venv's python is called directly."""
    scripts = sysconfig.get_path("scripts")
    if not shutil.which("ninja") and scripts and shutil.which("ninja", path=scripts):
        os.environ["PATH"] = scripts + os.pathsep + os.environ.get("PATH", "")


def _load(cxx: str) -> None:
    """Loads the library for this source, flags, compiler and torch, built first if missing."""
    version = subprocess.run([cxx, "--version"], capture_output=True, text=True).stdout
    key = hashlib.sha256(SOURCE.read_bytes() + " ".join(FLAGS + OPENMP).encode()
                         + version.encode() + torch.__version__.encode()).hexdigest()[:16]
    cache = Path(os.environ.get("OPTINTER_CACHE", Path.home() / ".cache" / "optinter"))
    lib = cache / "ops" / f"optinter_ops_{key}.so"
    if lib.exists():
        torch.ops.load_library(str(lib))
        return
    lib.parent.mkdir(parents=True, exist_ok=True)
    _ninja_on_path()
    from torch.utils import cpp_extension
    build = Path(tempfile.mkdtemp(prefix=f"build-{key}-", dir=lib.parent))
    try:
        errors = []
        for extra in (OPENMP, []):
            try:
                # builds, then loads from the private directory (torch.ops.load_library)
                built = cpp_extension.load(
                    name=f"optinter_ops_{key}", sources=[str(SOURCE)],
                    extra_cflags=FLAGS + extra, extra_ldflags=extra,
                    build_directory=str(build), is_python_module=False)
                break
            except Exception as exc:  # noqa: BLE001 - retried without OpenMP, then reported
                errors.append(str(exc).strip())
        else:
            raise RuntimeError(f"building {SOURCE} failed:\n" + "\n".join(errors))
        os.replace(built, lib)  # the loaded mapping survives the rename
    finally:
        shutil.rmtree(build, ignore_errors=True)


def kernels():
    """torch.ops.optinter with the kernels loaded, or None where they are off or cannot be
    built (logged once). OPTINTER_KERNELS=c turns a build failure into an error instead of a
    fallback."""
    want = mode()
    if want == "torch":
        return None
    with _lock:
        if "lib" not in _state:
            _state["lib"] = None
            try:
                if not _loaded():
                    cxx = _compiler()
                    if cxx is None:
                        raise RuntimeError("no C++ compiler ($CXX or c++ on PATH)")
                    _load(cxx)
                    _register_fakes()
                _state["lib"] = torch.ops.optinter
            except Exception as exc:  # noqa: BLE001 - any failure means: use PyTorch
                _state["error"] = str(exc)
                log.warning("fused CPU kernels unavailable, using PyTorch ops: %s", exc)
        if _state["lib"] is None and want == "c":
            raise RuntimeError(f"OPTINTER_KERNELS=c but the kernels failed to build: "
                               f"{_state.get('error')}")
        return _state["lib"]


def _loaded() -> bool:
    # a second load would register the namespace twice (torch refuses)
    return hasattr(torch.ops.optinter, "mix_forward")


def _register_fakes() -> None:
    """Fake (meta) kernels: the ops only write into their arguments, so tracing needs no
    shapes from them (torch.compile, torch.library.opcheck)."""
    for name in ("mix_forward", "mix_backward", "lazy_adam"):
        torch.library.register_fake(f"optinter::{name}", lambda *args, **kwargs: None)


def usable(*tensors: torch.Tensor):
    """The kernels if every tensor is a float32 or int64 CPU tensor, else None (callers pass
    contiguous tensors to the kernels)."""
    if any(t.device.type != "cpu" or t.dtype not in (torch.float32, torch.int64)
           for t in tensors):
        return None
    return kernels()


def scratch(owner: dict, name: str, shape: tuple, dtype: torch.dtype) -> torch.Tensor:
    """A reusable buffer of at least `shape` kept in `owner` (grown, never shrunk): large
    fresh allocations are page-faulted in on every call, which costs more than the kernels."""
    n = 1
    for d in shape:
        n *= d
    buf = owner.get(name)
    if buf is None or buf.numel() < n or buf.dtype != dtype:
        buf = owner[name] = torch.empty(n, dtype=dtype)
    return buf[:n].view(shape)
