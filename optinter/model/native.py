"""Optional fused CPU kernels (kernels/cpu_kernels.c), compiled on first use with the system C
compiler (with OpenMP where it has it) and called through ctypes.

No compiler, a failed build or OPTINTER_KERNELS=torch: `kernels()` returns None and callers
use their plain PyTorch path (same maths, tested against each other). The shared object is
cached per source hash and compiler under $OPTINTER_CACHE (default ~/.cache/optinter), written
to a temporary name and renamed, so concurrent jobs never load a half-written file. Linked
with -fopenmp it binds to the libgomp torch has already loaded, so kernels and torch ops share
one thread team (torch.set_num_threads applies to both).
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import logging
import os
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

import torch

log = logging.getLogger(__name__)
SOURCE = Path(__file__).with_name("kernels") / "cpu_kernels.c"
FLAGS = ["-O3", "-fPIC", "-shared", "-fno-math-errno"]
OPENMP = ["-fopenmp"]  # tried first; a compiler without it builds the serial kernels
MODES = ("auto", "c", "torch")
CHUNK = 64  # batch rows per partial sum in mix_backward: sums do not depend on thread count

_i64, _f32, _ptr = ctypes.c_int64, ctypes.c_float, ctypes.c_void_p
_SIGNATURES = {
    "mix_forward": (_i64, [_i64] * 6 + [_ptr] * 11),
    "mix_backward": (None, [_i64] * 7 + [_ptr] * 11),
    "lazy_adam": (_i64, [_i64] * 3 + [_ptr] * 8 + [_i64] + [_f32] * 7),
}
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
    for name in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def _build(cc: str) -> Path:
    version = subprocess.run([cc, "--version"], capture_output=True, text=True).stdout
    key = hashlib.sha256(SOURCE.read_bytes() + " ".join(FLAGS + OPENMP).encode()
                         + version.encode())
    cache = Path(os.environ.get("OPTINTER_CACHE", Path.home() / ".cache" / "optinter"))
    lib = cache / "kernels" / f"cpu_kernels-{key.hexdigest()[:16]}.so"
    if lib.exists():
        return lib
    lib.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".so", dir=lib.parent)
    os.close(fd)
    try:
        for extra in (OPENMP, []):
            res = subprocess.run([cc, *FLAGS, *extra, "-o", tmp, str(SOURCE), "-lm"],
                                 capture_output=True, text=True)
            if res.returncode == 0:
                break
        if res.returncode != 0:
            raise RuntimeError(f"{cc} failed on {SOURCE}:\n{res.stderr.strip()}")
        os.replace(tmp, lib)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return lib


def kernels() -> ctypes.CDLL | None:
    """The compiled kernels, or None where they are off or cannot be built (logged once).
    OPTINTER_KERNELS=c turns a build failure into an error instead of a fallback."""
    want = mode()
    if want == "torch":
        return None
    with _lock:
        if "lib" not in _state:
            _state["lib"] = None
            try:
                cc = _compiler()
                if cc is None:
                    raise RuntimeError("no C compiler (cc, gcc or clang) on PATH")
                lib = ctypes.CDLL(str(_build(cc)))
                for name, (res, args) in _SIGNATURES.items():
                    fn = getattr(lib, name)
                    fn.restype, fn.argtypes = res, args
                _state["lib"] = lib
            except Exception as exc:  # noqa: BLE001 - any failure means: use PyTorch
                _state["error"] = str(exc)
                log.warning("fused CPU kernels unavailable, using PyTorch ops: %s", exc)
        if _state["lib"] is None and want == "c":
            raise RuntimeError(f"OPTINTER_KERNELS=c but the kernels failed to build: "
                               f"{_state.get('error')}")
        return _state["lib"]


def usable(*tensors: torch.Tensor) -> ctypes.CDLL | None:
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


def ptr(t: torch.Tensor | None) -> int | None:
    return None if t is None else t.data_ptr()
