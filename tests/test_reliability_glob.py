"""A path is a path: DuckDB reads exactly the configured file, never what its name matches as a
glob (`tr[a].txt` once read `tra.txt`; `s*.txt` every s?.txt beside it), and the recorded
sha256 is of the bytes read."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from optinter.data.demo import generate
from optinter.data.ingest import ingest, raw_meta
from optinter.data.presplit import ingest_splits
from optinter.data.ingest import META_KEY

CFG = {"threads": 1, "memory_limit": "512MB"}

# name of the configured file -> names of other files its glob reading would also or instead match
CASES = {"tr[a].txt": ["tra.txt"], "s*.txt": ["s1.txt", "s2.txt"], "q?.txt": ["qa.txt"],
         "b[!x].txt": ["by.txt"], "d[[]].txt": ["d[.txt"], "x**y.txt": ["xay.txt"]}


def _criteo(folder: Path, rows: int, seed: int) -> list[str]:
    generate(folder / f"gen{seed}.txt", folder / f"truth{seed}.json", rows, seed)
    return (folder / f"gen{seed}.txt").read_text().splitlines(keepends=True)


@pytest.fixture(scope="module")
def lines(tmp_path_factory) -> dict[str, list[str]]:
    folder = tmp_path_factory.mktemp("gen")
    return {"own": _criteo(folder, 300, 1), "other": _criteo(folder, 500, 2)}


@pytest.mark.parametrize("name", list(CASES))
def test_ingest_reads_exactly_the_named_file(tmp_path, lines, name):
    src = tmp_path / "raw" / name
    src.parent.mkdir()
    src.write_text("".join(lines["own"]))
    for other in CASES[name]:
        (src.parent / other).write_text("".join(lines["other"]))
    meta = ingest("criteo", src, tmp_path / "raw.parquet", CFG)
    assert meta["rows"] == len(lines["own"])
    assert meta["source"]["sha256"] == hashlib.sha256(src.read_bytes()).hexdigest()
    assert raw_meta(tmp_path / "raw.parquet")["rows"] == len(lines["own"])


def test_a_bad_line_in_a_glob_named_file_is_found_in_that_file(tmp_path, lines):
    src = tmp_path / "tr[a].txt"
    bad = list(lines["own"])
    bad[7] = "x\tnot a criteo line\n"
    src.write_text("".join(bad))
    (tmp_path / "tra.txt").write_text("".join(lines["other"]))  # valid: must not be the one read
    from optinter.data.readers import DataError
    with pytest.raises(DataError, match=r"tr\[a\]\.txt: line 8: "):
        ingest("criteo", src, tmp_path / "raw.parquet", CFG)


def test_pre_split_files_are_read_literally(tmp_path, lines):
    own = lines["own"]
    files = {"train": tmp_path / "t[r]ain.txt", "valid": tmp_path / "v*.txt",
             "test": tmp_path / "te?t.txt"}
    for split, path in files.items():
        path.write_text("".join(own[:100] if split == "train" else own[100:150]))
    for decoy in ("train.txt", "vx.txt", "test.txt"):
        (tmp_path / decoy).write_text("".join(lines["other"]))
    meta = ingest_splits("criteo", files, tmp_path / "raw.parquet", CFG, meta_key=META_KEY)
    assert meta["rows"] == 200
    assert pq.ParquetFile(tmp_path / "raw.parquet").metadata.num_rows == 200
    for split, path in files.items():
        assert meta["source"]["splits"][split]["sha256"] == \
            hashlib.sha256(path.read_bytes()).hexdigest()


def test_vocab_and_encode_read_their_own_folder_literally(tmp_path, lines):
    """A work folder whose name is a glob (in[t]erim) beside the folder it matches (interim)."""
    from optinter.data.prepare import prepare
    split = {"train": 0.8, "valid": 0.1, "test": 0.1, "seed": 2022}
    for folder, key in (("interim", "other"), ("in[t]erim", "own")):
        src = tmp_path / f"{key}.txt"
        src.write_text("".join(lines[key]))
        fmap = prepare("criteo", src, tmp_path / f"processed_{key}", 2, 2, split, False, CFG,
                       tmp_path / folder, min_split_rows=5)
    assert sum(fmap["rows"].values()) == len(lines["own"])
    assert sum(pq.ParquetFile(tmp_path / "processed_own" / f"{s}.parquet").metadata.num_rows
               for s in ("train", "valid", "test")) == len(lines["own"])
