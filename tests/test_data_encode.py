"""Processed outputs: the data -> model contract, determinism, log bucketing, all three formats."""

from __future__ import annotations

import math

import numpy as np
import pyarrow.parquet as pq
import pytest

from optinter.data.encode import encode
from optinter.data.ingest import ingest
from optinter.data.prepare import prepare
from optinter.data.vocab import build_vocab
from optinter.model.featuremap import FeatureMap

CFG = {"threads": 2, "memory_limit": "512MB"}
SPLIT = {"train": 0.8, "valid": 0.1, "test": 0.1, "seed": 7}
SPLITS = ("train", "valid", "test")


def _tables(out):
    return {s: pq.read_table(out / f"{s}.parquet") for s in SPLITS}


@pytest.mark.parametrize("fmt,rel,n_fields,n_pairs", [
    ("avazu", "avazu/head10000/train.csv", 24, 276),
    ("ipinyou", "ipinyou/make-ipinyou-data/2259/train.log.txt", 16, 120),
    ("ipinyou", "ipinyou/raw/training2nd", 16, 120),
])
def test_contract_for_each_format(samples_dir, tmp_path, fmt, rel, n_fields, n_pairs):
    out = tmp_path / "out"
    # the iPinYou samples' 4-5 clicks leave valid and test without one: no trainability check
    fmap = prepare(fmt, samples_dir / rel, out, 5, 5, SPLIT, False, CFG, tmp_path / "work",
                   min_split_rows=None)
    fm = FeatureMap.load(out)  # the model side's reader accepts it
    assert fm.n_fields == n_fields == fm.n_categorical and fm.n_pairs == n_pairs
    tables = _tables(out)
    for s, t in tables.items():
        names = ["row_id", "label"] + [f["name"] for f in fmap["fields"]] + [p["name"] for p in fmap["pairs"]]
        assert t.column_names == names
        assert t.num_rows == fmap["rows"][s]
        rid = t["row_id"].to_numpy()
        assert np.all(np.diff(rid) > 0)
        assert set(np.unique(t["label"].to_numpy())) <= {0, 1}
        for f in fmap["fields"]:
            col = t[f["name"]].to_numpy()
            assert col.dtype == np.int32 and 0 <= col.min() and col.max() < f["vocab_size"]
        for p in fmap["pairs"]:
            col = t[p["name"]].to_numpy()
            assert col.dtype == np.int32 and 0 <= col.min() and col.max() < p["vocab_size"]


def test_same_config_same_bytes_and_thread_independent(samples_dir, tmp_path):
    src = samples_dir / "criteo/dac_head10000/train.txt"
    outs = []
    for i, threads in enumerate((2, 2, 1)):
        cfg = {**CFG, "threads": threads}
        outs.append(tmp_path / f"run{i}" / "demo")
        prepare("criteo", src, outs[-1], 10, 10, SPLIT, False, cfg, tmp_path / f"work{i}")
    first = _tables(outs[0])
    for out in outs[1:]:
        assert (out / "feature_map.json").read_text() == (outs[0] / "feature_map.json").read_text()
        for s, t in _tables(out).items():
            assert t.equals(first[s])
    other = tmp_path / "other_seed"
    prepare("criteo", src, other, 10, 10, {**SPLIT, "seed": 8}, False, CFG, tmp_path / "w_other")
    assert not _tables(other)["train"]["row_id"].equals(first["train"]["row_id"])


def test_log_bucket_makes_integers_uncrossed_categoricals(samples_dir, tmp_path):
    src = samples_dir / "criteo/dac_head10000/train.txt"
    out = tmp_path / "out"
    fmap = prepare("criteo", src, out, 5, 5, SPLIT, True, CFG, tmp_path / "work")
    ints = [f for f in fmap["fields"] if f["name"].startswith("I")]
    assert len(ints) == 13 and all(f["type"] == "categorical" and not f["crossed"] for f in ints)
    assert len(fmap["pairs"]) == 325
    tables = _tables(out)
    train = tables["train"]
    lines = src.read_text().splitlines()

    def bucket(x: str) -> str:
        if x == "":
            return ""
        v = int(x)
        return str(math.floor(math.log(v) ** 2)) if v > 2 else str(v)

    for k in (1, 2, 5, 13):
        values = [bucket(lines[r].split("\t")[k]) for r in train["row_id"].to_pylist()]
        ids = train[f"I{k}"].to_pylist()
        counts = {}
        for v in values:
            counts[v] = counts.get(v, 0) + 1
        kept = sorted((v for v, n in counts.items() if n >= 5), key=lambda v: (-counts[v], v))
        want = {v: i + 1 for i, v in enumerate(kept)}
        assert ids == [want.get(v, 0) for v in values]


def test_encode_refuses_vocab_of_another_raw_and_leaves_outputs(samples_dir, tmp_path):
    crit = samples_dir / "criteo/dac_head10000/train.txt"
    ingest("criteo", crit, tmp_path / "a.parquet", CFG)
    half = tmp_path / "half.txt"
    half.write_text("\n".join(crit.read_text().splitlines()[:5000]) + "\n")
    ingest("criteo", half, tmp_path / "b.parquet", CFG)
    build_vocab(tmp_path / "a.parquet", tmp_path / "vocab_a", SPLIT, 5, 5, False, CFG)
    out = tmp_path / "out"
    encode(tmp_path / "a.parquet", tmp_path / "vocab_a", out, CFG)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    with pytest.raises(ValueError, match="another raw file"):
        encode(tmp_path / "b.parquet", tmp_path / "vocab_a", out, CFG)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
