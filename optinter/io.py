"""Small file helpers shared by every stage: atomic writes and checksums."""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator


@contextlib.contextmanager
def atomic_path(final: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside `final`; rename it onto `final` only if the block succeeds.

    A crash or exception leaves no file at `final` (and removes the temporary), so a partial
    output can never be mistaken for a complete one. Works for files and directories. A stale
    temporary of `final` from a killed run is removed first (remove_stale).
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    # What a SIGKILLed writer of `final` left (it skips the cleanup below); only the writer of
    # `final` gets here (Snakemake runs one job per output), so none of it is live.
    remove_stale(final)
    fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=suffix + ".tmp", dir=final.parent)
    os.close(fd)
    os.unlink(tmp)  # callers create the file (or directory) themselves
    tmp = Path(tmp)
    try:
        yield tmp
        if tmp.is_dir() and final.is_dir():
            shutil.rmtree(final)  # os.replace cannot overwrite a non-empty directory
        os.replace(tmp, final)
    finally:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        elif tmp.exists():
            tmp.unlink()


class CheckpointError(ValueError):
    """A checkpoint optinter refuses to load; the message names the file and what to do."""


class StageOutputError(ValueError):
    """A file an earlier stage wrote is damaged or out of step with the files beside it; the
    message names the file and the stage to re-run (or the file to delete)."""


def rebuild_hint(path: str | os.PathLike) -> str:
    """What to run when a processed file (the encode stage's folder) is damaged or out of step."""
    folder = Path(path).parent
    return (f"Rebuild the encode stage's files: rm -r {folder} and run the same command again "
            f"(or add --forcerun encode to it)")


def open_new(path: str | os.PathLike, mode: str = "wb"):
    """open(path, mode) for writing without following a symbolic link planted at `path`.

    `mode` is "wb" (truncate) or "ab" (append). O_NOFOLLOW makes a link at `path` an error
    (ELOOP) instead of a write into whatever it points at, e.g. a file outside the project.
    """
    flags = os.O_WRONLY | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
    flags |= os.O_APPEND if mode.startswith("a") else os.O_TRUNC
    return os.fdopen(os.open(path, flags, 0o666), mode)


def remove_stale(final: str | os.PathLike, *patterns: str) -> list[Path]:
    """Remove what an interrupted writer of `final` left beside it; return what was removed.

    A SIGKILL skips atomic_path's cleanup, so its `.{name}.*.tmp` (file or folder) stays, or
    `..{name}.*.tmp` where a temporary was itself rewritten through atomic_path before its
    rename; `patterns` name a stage's other leftovers (globs in the same folder). Only the
    stage that writes `final` calls this, when it starts, so nothing it removes can belong to
    a live writer (Snakemake runs one job per output).
    """
    final = Path(final)
    removed = []
    name = glob.escape(final.name)
    for pattern in (f".{name}.*.tmp", f"..{name}.*.tmp", *patterns):
        for p in sorted(final.parent.glob(pattern)):
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)
            removed.append(p)
    return removed


def write_json(path: str | os.PathLike, obj) -> None:
    """Write JSON atomically, pretty-printed with sorted keys so diffs stay readable."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")


def read_json(path: str | os.PathLike):
    return json.loads(Path(path).read_text())


def file_digest(path: str | os.PathLike, algorithm: str = "sha256", chunk: int = 1 << 20) -> str:
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()
