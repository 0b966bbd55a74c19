"""split.order: shuffled (issue 12): train.parquet in a seeded random order, so that streaming
mini-batches of time-ordered raw data get near-binomial click rates (bench/batch_ctr_variance.py
prints the same measurements at a larger scale)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from optinter.data import sql
from optinter.data.shuffle import shuffle_parquet
from optinter.data.vocab import check_split

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import batch_ctr_variance as bcv  # noqa: E402

GROUP = BATCH = 128   # ~30 row groups of train, buffers of 3: each batch sees ~3 stretches of time


def in_source_order(data: Path, out: Path) -> Path:
    """The same processed data with train.parquet in row_id order (what order: source writes),
    cut into the same row groups."""
    out.mkdir()
    for f in data.iterdir():
        (out / f.name).write_bytes(f.read_bytes())
    train = pq.read_table(out / "train.parquet").sort_by("row_id")
    pq.write_table(train, out / "train.parquet", row_group_size=GROUP)
    return out


@pytest.fixture(scope="module")
def drifting(tmp_path_factory) -> dict[str, Path]:
    work = tmp_path_factory.mktemp("drift")
    raw = bcv.write_drifting(work / "train.txt", 6000, kind="linear")
    shuffled = bcv.prepared("criteo", raw, work / "shuffled", "shuffled", GROUP)
    return {"shuffled": shuffled, "source": in_source_order(shuffled, work / "source")}


def test_shuffled_train_is_not_in_time_order_and_keeps_every_row(drifting):
    d = drifting["shuffled"]
    row_id = pq.read_table(d / "train.parquet", columns=["row_id"])["row_id"].to_numpy()
    assert abs(np.corrcoef(np.arange(row_id.size), np.argsort(np.argsort(row_id)))[0, 1]) < 0.1
    assert np.unique(row_id).size == row_id.size
    for split in ("valid", "test"):   # read whole: left in row_id order
        ids = pq.read_table(d / f"{split}.parquet", columns=["row_id"])["row_id"].to_numpy()
        assert np.all(np.diff(ids) > 0)
    assert '"order": "shuffled"' in (d / "feature_map.json").read_text()


def test_streaming_batches_are_near_binomial_only_when_shuffled(drifting):
    r = {o: bcv.batch_ctr_variance(drifting[o], BATCH, 3 * GROUP, epochs=5) for o in drifting}
    print({o: round(v["ratio"], 2) for o, v in r.items()})
    assert r["shuffled"]["ratio"] < 2 and r["source"]["ratio"] > 2.5
    assert r["source"]["in_order"] == pytest.approx(1.0)


def test_avazu_sample_shuffled_batches_are_near_binomial(samples_dir, tmp_path):
    # The sample is the head of train.gz, a single hour: it has no drift to remove, and its
    # source order is near binomial too (bench/batch_ctr_variance.py), so only this side holds.
    raw = samples_dir / "avazu" / "head10000" / "train.csv"
    d = bcv.prepared("avazu", raw, tmp_path / "avazu", "shuffled", 700)
    r = bcv.batch_ctr_variance(d, 256, 3 * 700, epochs=10)
    print(r)
    assert 0.5 < r["ratio"] < 2 and abs(r["in_order"]) < 0.1


def test_order_is_seeded_and_independent_of_the_file_order(tmp_path):
    con = sql.connect({"threads": 2})
    ids = np.arange(5000, dtype=np.int64)
    tables = {"fwd": pa.table({"row_id": ids, "x": ids.astype(np.int32)}),
              "rev": pa.table({"row_id": ids[::-1], "x": ids[::-1].astype(np.int32)})}
    out = {}
    for name, seed in (("fwd", 1), ("rev", 1), ("fwd", 2)):
        path = tmp_path / f"{name}{seed}.parquet"
        pq.write_table(tables[name], path)
        shuffle_parquet(con, path, seed, row_group_rows=1024)
        t = pq.read_table(path)
        # same names and types (DuckDB marks the columns required: they hold no nulls)
        assert t.schema.names == tables[name].schema.names
        assert t.schema.types == tables[name].schema.types and np.array_equal(t["x"], t["row_id"])
        out[name, seed] = t["row_id"].to_numpy()
    assert np.array_equal(out["fwd", 1], out["rev", 1])           # a function of (row_id, seed)
    assert not np.array_equal(out["fwd", 1], out["fwd", 2])
    assert np.array_equal(np.sort(out["fwd", 2]), ids)
    assert pq.ParquetFile(tmp_path / "fwd1.parquet").metadata.num_row_groups > 1
    con.close()


def test_split_order_is_checked_and_source_leaves_the_split_record_unchanged():
    base = {"train": 0.8, "valid": 0.1, "test": 0.1, "seed": 3}
    assert check_split(base).as_dict() == base   # stats.json / feature_map.json as before
    assert check_split({**base, "order": "shuffled"}).as_dict()["order"] == "shuffled"
    with pytest.raises(ValueError, match="split.order"):
        check_split({**base, "order": "random"})
