"""Split and vocabularies on the real samples, recomputed independently from the outputs.

Field vocabularies are recomputed with a direct DuckDB GROUP BY on raw.parquet joined back on
row_id; cross vocabularies with a Python Counter over the processed field ids.
"""

from __future__ import annotations

import collections

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from optinter.data import vocab as vocab_mod
from optinter.data.encode import PairTable
from optinter.data.prepare import prepare
from optinter.io import read_json
from test_data_sql import split_reference

CFG = {"threads": 2, "memory_limit": "512MB"}
SPLIT = {"train": 0.8, "valid": 0.1, "test": 0.1, "seed": 2022}
MIN, CROSS_MIN = 5, 4


@pytest.fixture(scope="module")
def criteo(samples_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("criteo")
    fmap = prepare("criteo", samples_dir / "criteo/dac_head10000/train.txt", root / "out", MIN,
                   CROSS_MIN, SPLIT, False, CFG, root / "work")
    splits = {s: pq.read_table(root / "out" / f"{s}.parquet") for s in ("train", "valid", "test")}
    return root, fmap, splits


def test_split_sizes_disjoint_and_seeded(criteo):
    root, fmap, splits = criteo
    ids = {s: t["row_id"].to_numpy() for s, t in splits.items()}
    allids = np.concatenate(list(ids.values()))
    assert np.array_equal(np.sort(allids), np.arange(10_000))  # disjoint and complete
    want = split_reference(np.arange(10_000), SPLIT["seed"], SPLIT["train"], SPLIT["valid"])
    for code, s in enumerate(("train", "valid", "test")):
        np.testing.assert_array_equal(ids[s], np.flatnonzero(want == code))  # sorted by row_id
        assert fmap["rows"][s] == ids[s].size
    assert abs(ids["train"].size / 10_000 - 0.8) < 0.02


def test_split_is_thread_count_independent(criteo):
    root, _, _ = criteo
    raw = str(root / "work" / "raw.parquet")
    codes = []
    for threads in (1, 2):
        con = vocab_mod.sql.connect({"threads": threads})
        codes.append(vocab_mod.split_codes(con, raw, vocab_mod.check_split(SPLIT), 10_000))
        con.close()
    np.testing.assert_array_equal(codes[0], codes[1])


def test_field_ids_match_a_direct_group_by(criteo):
    root, fmap, splits = criteo
    raw = str(root / "work" / "raw.parquet")
    con = duckdb.connect()
    con.register("train_ids", pa.table({"row_id": splits["train"]["row_id"]}))
    every = pa.concat_tables([t.select(["row_id"] + [f"C{k}" for k in range(1, 27)])
                              for t in splits.values()])
    con.register("encoded", every)
    sizes = {f["name"]: f["vocab_size"] for f in fmap["fields"] if f["type"] == "categorical"}
    for k in range(1, 27):
        f = f"C{k}"
        rows = con.execute(f"""
            WITH counts AS (SELECT r.{f} AS v, count(*) AS n FROM read_parquet($raw) r
                            JOIN train_ids t USING (row_id) GROUP BY r.{f})
            SELECT r.row_id, r.{f}, coalesce(c.n, 0), e.{f}
            FROM read_parquet($raw) r JOIN encoded e USING (row_id) LEFT JOIN counts c ON c.v = r.{f}
        """, {"raw": raw}).fetchall()
        assert len(rows) == 10_000
        kept = {}
        for _, value, n, got in rows:
            assert 0 <= got < sizes[f]
            if n >= MIN:
                assert got > 0 and kept.setdefault(value, (got, n)) == (got, n)
            else:
                assert got == 0, (f, value, n)
        assert sorted(g for g, _ in kept.values()) == list(range(1, sizes[f]))  # one id per value
        by_id = sorted(kept.items(), key=lambda kv: kv[1][0])
        assert [v for v, _ in by_id] == [v for v, _ in sorted(kept.items(), key=lambda kv: (-kv[1][1], kv[0]))]


def test_continuous_min_max_from_train(criteo):
    root, fmap, splits = criteo
    raw = pq.read_table(root / "work" / "raw.parquet")
    train_rows = splits["train"]["row_id"].to_numpy()
    for f in (x for x in fmap["fields"] if x["type"] == "continuous"):
        values = raw[f["name"]].to_numpy(zero_copy_only=False).astype(float)
        tv = values[train_rows]
        lo, hi = np.nanmin(tv), np.nanmax(tv)
        assert (f["min"], f["max"]) == (lo, hi)
        for s, t in splits.items():
            got = t[f["name"]].to_numpy()
            assert got.dtype == np.float32 and got.min() >= 0 and got.max() <= 1
            v = values[t["row_id"].to_numpy()]
            want = np.where(np.isnan(v), 0.0, np.clip((v - lo) / (hi - lo), 0, 1))
            np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
        train = splits["train"][f["name"]].to_numpy()
        assert train.max() == 1.0 and np.isclose(train[~np.isnan(tv)].min(), 0.0)


@pytest.mark.parametrize("pair", ["C1_x_C2", "C3_x_C4", "C6_x_C9", "C12_x_C26", "C25_x_C26"])
def test_cross_ids_match_a_counter_over_field_ids(criteo, pair):
    _, fmap, splits = criteo
    a, b = pair.split("_x_")
    spec = next(p for p in fmap["pairs"] if p["name"] == pair)
    train = splits["train"]
    combos = list(zip(train[a].to_pylist(), train[b].to_pylist()))
    counts = collections.Counter(combos)
    kept = sorted((c for c, n in counts.items() if n >= CROSS_MIN), key=lambda c: (-counts[c], c))
    want = {c: i + 1 for i, c in enumerate(kept)}
    assert spec["vocab_size"] == len(kept) + 1
    for t in splits.values():
        got = t[pair].to_pylist()
        assert got == [want.get(c, 0) for c in zip(t[a].to_pylist(), t[b].to_pylist())]


def test_pairs_are_all_categorical_combinations(criteo):
    _, fmap, splits = criteo
    cats = [f["name"] for f in fmap["fields"] if f["type"] == "categorical"]
    assert cats == [f"C{k}" for k in range(1, 27)] and len(fmap["pairs"]) == 325
    assert not any(n.startswith("I") for p in fmap["pairs"] for n in p["fields"])
    for p in fmap["pairs"]:
        col = splits["train"][p["name"]].to_numpy()
        assert col.dtype == np.int32 and col.min() >= 0 and col.max() < p["vocab_size"]


def test_count_paths_agree(monkeypatch):
    rng = np.random.default_rng(0)
    a = rng.zipf(1.5, 20_000).clip(max=300).astype(np.int32) - 1
    b = rng.zipf(1.3, 20_000).clip(max=900).astype(np.int32) - 1
    dense = vocab_mod.count_pair(a, b, 300, 900, 3)
    monkeypatch.setattr(vocab_mod, "DENSE_COUNT_FACTOR", 0)
    monkeypatch.setattr(vocab_mod, "COUNT_CHUNK", 7_000)
    sparse = vocab_mod.count_pair(a, b, 300, 900, 3)
    counts = collections.Counter(zip(a.tolist(), b.tolist()))
    want = sorted((x, y, n) for (x, y), n in counts.items() if n >= 3)
    for got in (dense, sparse):
        assert sorted(zip(*(g.tolist() for g in got))) == want


@pytest.mark.parametrize("mode", ["direct", "remap", "hash"])
def test_pair_table_lookup_all_modes(mode):
    rng = np.random.default_rng(1)
    size_a, size_b = 700, 1500
    keys = rng.choice(size_a * size_b, 5_000, replace=False)
    keys = keys[keys // size_b != 3]  # id 3 of field a never in a kept cross (remap's sentinel)
    ids = rng.permutation(keys.size).astype(np.int32) + 1
    table = PairTable(keys // size_b, keys % size_b, ids, size_a, size_b, mode)
    qa = rng.integers(0, size_a, 50_000).astype(np.int32)
    qb = rng.integers(0, size_b, 50_000).astype(np.int32)
    qa[:keys.size], qb[:keys.size] = keys // size_b, keys % size_b
    lookup = dict(zip(keys.tolist(), ids.tolist()))
    want = [lookup.get(x * size_b + y, 0) for x, y in zip(qa.tolist(), qb.tolist())]
    assert table.encode(qa, qb).tolist() == want


def test_bad_split_and_thresholds_are_rejected(criteo, tmp_path):
    root, _, _ = criteo
    raw = root / "work" / "raw.parquet"
    with pytest.raises(ValueError, match="sum to 1"):
        vocab_mod.build_vocab(raw, tmp_path / "v", {**SPLIT, "test": 0.3}, 5, 5, False, CFG)
    with pytest.raises(ValueError, match="min_count must be an integer >= 1"):
        vocab_mod.build_vocab(raw, tmp_path / "v", SPLIT, 0, 5, False, CFG)
    assert not (tmp_path / "v").exists()


def test_stats_record_thresholds_and_source(criteo, samples_dir):
    root, fmap, _ = criteo
    stats = read_json(root / "work" / "vocab" / "stats.json")
    assert stats["thresholds"] == {"min_count": MIN, "cross_min_count": CROSS_MIN}
    assert fmap["thresholds"] == stats["thresholds"] and fmap["split"] == SPLIT
    from optinter.io import file_digest
    assert fmap["source"]["sha256"] == file_digest(samples_dir / "criteo/dac_head10000/train.txt")
