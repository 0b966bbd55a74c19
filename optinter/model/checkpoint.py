"""Reading training checkpoints back (last.pt to resume, best.pt for the kept weights) safely.

A checkpoint that cannot be used (empty, truncated by a full disk, random or foreign bytes, or a
pickle that would run code) must never crash every rerun the same way: it is renamed to
NAME.corrupt beside itself (kept for inspection, never loaded again) with a one-line warning
saying what was found, and training restarts from its beginning. Only tensors and plain values
are ever unpickled (torch.load weights_only=True); torch's advice to load with
weights_only=False is never passed on.
"""

from __future__ import annotations

import logging
import os
import re
import zipfile
from pathlib import Path
from typing import Any, Callable

import torch

from optinter.io import CheckpointError, remove_stale

log = logging.getLogger(__name__)

LAST, BEST = "last.pt", "best.pt"
LAST_KEYS = {"fingerprint", "state", "model", "opts", "rng"}  # Trainer.save's
_ZIP = b"PK\x03\x04"  # torch.save's format is a zip archive


def diagnose(path: Path, err: BaseException | None) -> str:
    """What `path` holds, in words, for a file torch.load failed on (err) or that is not what
    optinter writes (err None)."""
    size = path.stat().st_size
    if size == 0:
        return "an empty file"
    found = re.search(r"GLOBAL ([\w.]+)", str(err or ""))
    if found:  # weights_only refused: the name only, none of torch's advice
        return (f"a pickled object other than tensors and plain numbers ({found.group(1)}), "
                "which could run code when loaded (it was not loaded)")
    with open(path, "rb") as f:
        head = f.read(4)
    if head != _ZIP:
        return f"{size} bytes that are not a checkpoint written by torch.save"
    if not zipfile.is_zipfile(path):
        return f"a truncated checkpoint ({size} bytes, its end is missing)"
    if err is None:
        return "a torch file that is not an optinter training checkpoint"
    first = (str(err).strip().splitlines() or [type(err).__name__])[0]
    return f"a damaged checkpoint ({first[:160]})"


def set_aside(path: Path, what: str) -> Path:
    """Rename an unusable checkpoint to NAME.corrupt (replacing an older one) and warn."""
    dest = path.with_name(f"{path.name}.corrupt")
    os.replace(path, dest)
    log.warning("%s: found %s; moved it to %s, training restarts from its beginning",
                path, what, dest.name)
    return dest


def load(path: Path, device, valid: Callable[[Any], bool] = lambda obj: True) -> Any | None:
    """torch.load(path, weights_only=True), or None when there is no file or it was unusable
    (then it is set aside)."""
    if not path.exists():
        return None
    try:
        # mmap: the tensors are copied into the model's from the page cache, never held
        # beside them (a resume would otherwise need twice the model's and optimiser's memory)
        obj = torch.load(path, map_location=device, weights_only=True, mmap=True)
    # Any failure to read is the file's: torch raises RuntimeError, EOFError, OSError,
    # UnpicklingError, ValueError, ... depending on where the bytes stop making sense.
    except Exception as err:  # noqa: BLE001
        set_aside(path, diagnose(path, err))
        return None
    if not valid(obj):
        set_aside(path, diagnose(path, None))
        return None
    return obj


def _fits(state: Any, model: torch.nn.Module) -> bool:
    """Whether `state` is a state dict of `model`: the same names, tensors of the same shapes
    (a foreign file passes torch.load but would fail load_state_dict with a traceback)."""
    own = model.state_dict()
    return (isinstance(state, dict) and state.keys() == own.keys()
            and all(isinstance(v, torch.Tensor) and v.shape == own[k].shape
                    for k, v in state.items()))


def read_last(ckpt_dir: Path, model: torch.nn.Module, fingerprint: str) -> dict | None:
    """The checkpoint to resume `model`'s training from, or None to start afresh.

    Removes what a save killed midway left (SIGKILL skips atomic_path's cleanup); sets aside an
    unusable last.pt, or an unusable best.pt (the resumed run's kept weights would be lost).
    """
    ckpt_dir = Path(ckpt_dir)
    device = next(model.parameters()).device
    for name in (LAST, BEST):
        remove_stale(ckpt_dir / name)
    path = ckpt_dir / LAST
    ckpt = load(path, device, lambda obj: isinstance(obj, dict) and LAST_KEYS <= obj.keys())
    if ckpt is None:
        return None
    if ckpt.get("fingerprint") != fingerprint:
        log.warning("%s belongs to another configuration; starting afresh", path)
        return None
    if not _fits(ckpt["model"], model):
        set_aside(path, diagnose(path, None))
        return None
    best = ckpt_dir / BEST
    if best.exists() and load(best, device, lambda obj: _fits(obj, model)) is None:
        return None  # set aside and warned: the run's best weights are gone, so start over
    return ckpt


def read_best(ckpt_dir: Path, model: torch.nn.Module) -> dict | None:
    """`model`'s kept (best) weights, None when there are none. An unusable best.pt is set aside
    and last.pt removed, so the rerun starts from its beginning, and refused: using the last
    weights instead would report a model that is not the kept one."""
    path = Path(ckpt_dir) / BEST
    if not path.exists():
        return None
    state = load(path, next(model.parameters()).device, lambda obj: _fits(obj, model))
    if state is None:
        (Path(ckpt_dir) / LAST).unlink(missing_ok=True)  # resuming it would lack the best
        raise CheckpointError(f"{path}: unusable when training ended (moved to {BEST}.corrupt); "
                              "run the same command again: this run restarts from its beginning")
    return state
