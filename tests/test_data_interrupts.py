"""Interrupted data stages (issue 13): a run killed inside ingest, vocab or encode leaves nothing
(SIGINT) or only hidden temporaries that the next run of that stage removes (SIGKILL), and the
rerun's outputs are byte-identical to an uninterrupted run's.

The child process pauses at a point we choose (after a stage's real work, before its atomic
rename) and signals that it got there; then the test kills it."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from optinter.data.encode import encode
from optinter.data.prepare import prepare
from optinter.data.vocab import build_vocab

CFG = {"threads": 1, "memory_limit": "512MB"}
SPLIT = {"train": 0.8, "valid": 0.1, "test": 0.1, "seed": 2022}

# argv: stage, source, root, ready-file. Pauses where `stage` has written its temporaries.
CHILD = r"""
import sys, time
from pathlib import Path
stage, src, root, ready = sys.argv[1:]

def pause_after(module, name, when=lambda *a: True):
    orig = getattr(module, name)
    def paused(*args, **kwargs):
        out = orig(*args, **kwargs)
        if when(*args):
            Path(ready).touch()
            time.sleep(120)
        return out
    setattr(module, name, paused)

if stage == "ingest":    # raw.parquet written to its .tmp by DuckDB, not yet renamed
    from optinter.data import sql
    pause_after(sql, "execute", lambda con, name: name.startswith("ingest_"))
elif stage == "vocab":   # train ids memory-mapped in the .vocab-work-* folder, as on big data
    from optinter.data import vocab
    vocab.MEMMAP_BYTES = 0
    pause_after(vocab, "_train_ids")
else:                    # all rows encoded into the three .{split}.parquet.*.tmp, not closed
    from optinter.data import encode
    pause_after(encode, "_encode_rows")
from optinter.data.encode import encode
from optinter.data.prepare import prepare
prepare("criteo", src, Path(root) / "data/processed/x", 5, 5,
        {"train": 0.8, "valid": 0.1, "test": 0.1, "seed": 2022}, False,
        {"threads": 1, "memory_limit": "512MB"}, Path(root) / "data/interim/x")
"""


def _source(samples_dir: Path, folder: Path) -> Path:
    lines = (samples_dir / "criteo/dac_head10000/train.txt").read_text().splitlines()[:2000]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "train.txt").write_text("\n".join(lines) + "\n")
    return folder / "train.txt"


def _run(src: Path, root: Path) -> None:
    prepare("criteo", src, root / "data/processed/x", 5, 5, SPLIT, False, CFG,
            root / "data/interim/x")


def _tree(root: Path) -> dict[str, bytes]:
    """Every file under root/data by relative path (hidden ones included), with its bytes."""
    return {str(p.relative_to(root)): p.read_bytes()
            for p in sorted((root / "data").rglob("*")) if p.is_file()}


def _hidden(root: Path) -> list[str]:
    return [str(p.relative_to(root)) for p in (root / "data").rglob(".*")]


@pytest.fixture(scope="module")
def reference(samples_dir, tmp_path_factory) -> tuple[Path, dict[str, bytes]]:
    base = tmp_path_factory.mktemp("uninterrupted")
    src = _source(samples_dir, base / "src")
    _run(src, base)
    return src, _tree(base)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
@pytest.mark.parametrize("stage", ["ingest", "vocab", "encode"])
def test_killed_stage_leaves_no_debris_after_the_rerun(reference, tmp_path, stage, sig):
    src, want = reference
    ready = tmp_path / "ready"
    child = subprocess.Popen([sys.executable, "-c", CHILD, stage, str(src), str(tmp_path),
                              str(ready)], stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():
            assert child.poll() is None, child.stderr.read()
            assert time.monotonic() < deadline, "the child never reached its pause"
            time.sleep(0.05)
        debris = _hidden(tmp_path)
        assert debris, "nothing temporary at the pause: the test would prove nothing"
        child.send_signal(sig)
        assert child.wait(30) != 0
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    left = _hidden(tmp_path)
    if sig == signal.SIGINT:
        assert left == []  # KeyboardInterrupt runs every cleanup
    else:
        assert left == debris  # SIGKILL runs none: exactly what the next run must remove
    _run(src, tmp_path)
    assert _hidden(tmp_path) == []
    got = _tree(tmp_path)
    assert got.keys() == want.keys() and all(got[k] == want[k] for k in want)


def test_a_stage_removes_only_its_own_leftovers(reference, tmp_path):
    src, _ = reference
    _run(src, tmp_path)
    interim = tmp_path / "data/interim/x"
    mine = [interim / ".vocab.abc123.tmp", interim / ".vocab-work-abc123"]
    for p in mine:
        (p / "sub").mkdir(parents=True)
        (p / "sub" / "train_ids.npy").write_bytes(b"\0" * 64)
    others = [interim / ".raw.parquet.abc123.parquet.tmp", interim / ".vocab_b-work-abc123"]
    for p in others:
        p.write_bytes(b"x")
    build_vocab(interim / "raw.parquet", interim / "vocab", SPLIT, 5, 5, False, CFG)
    assert not any(p.exists() for p in mine) and all(p.exists() for p in others)
    processed = tmp_path / "data/processed/x"
    # a split file's temporary, and a temporary of that temporary (a rewrite before the rename)
    mine = [processed / ".train.parquet.abc123.parquet.tmp",
            processed / "..train.parquet.abc123.parquet.tmp.def456.parquet.tmp",
            processed / ".feature_map.json.abc123.tmp"]
    for p in mine:
        p.write_bytes(b"x")
    encode(interim / "raw.parquet", interim / "vocab", processed, CFG)
    assert not any(p.exists() for p in mine) and all(p.exists() for p in others)
