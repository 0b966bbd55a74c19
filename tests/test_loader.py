"""Parquet loader: every row once per epoch, seeded order, resumable positions, validation."""

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch

from optinter.model.featuremap import FeatureMap
from optinter.model.loader import ParquetBatches


def epoch_rows(loader, epoch=0, start=0):
    """Concatenate an epoch's batches into numpy arrays."""
    parts = list(loader.iterate(epoch, start))
    return [torch.cat([b[k] for b in parts]).numpy() for k in range(4)], len(parts)


@pytest.fixture(params=["memory", "stream", "resident"])
def loader_kw(request):
    # stream: force streaming mode with buffers of two 1000-row groups; resident: the split as
    # tensors on the device (here the CPU), filled two row groups at a time
    return {"memory": {}, "stream": {"in_memory_max_mb": 0, "buffer_rows": 1500},
            "resident": {"in_memory_max_mb": 0, "buffer_rows": 1500, "resident": True}
            }[request.param]


def test_epoch_is_a_permutation_of_the_file(tiny_processed, loader_kw):
    fm = FeatureMap.load(tiny_processed)
    table = pq.read_table(fm.path("train"))
    ld = ParquetBatches(fm, "train", 97, shuffle=True, seed=3, **loader_kw)
    (cat, cont, cross, label), n = epoch_rows(ld)
    assert n == len(ld) == -(-table.num_rows // 97)
    want = np.column_stack([table.column(f.name).to_numpy() for f in fm.categorical]
                           + [table.column(p.name).to_numpy() for p in fm.pairs]
                           + [table.column("label").to_numpy()])
    got = np.column_stack([cat, cross, label])
    assert got.shape == want.shape
    # same multiset of rows: sort both row-wise
    assert np.array_equal(want[np.lexsort(want.T[::-1])], got[np.lexsort(got.T[::-1])])
    assert not np.array_equal(got, want)  # actually shuffled
    assert cat.dtype == np.int64 and cross.dtype == np.int64 and cont.dtype == np.float32


def test_order_is_seeded_per_epoch_and_resumable(tiny_processed, loader_kw):
    fm = FeatureMap.load(tiny_processed)
    ld = ParquetBatches(fm, "train", 64, shuffle=True, seed=5, **loader_kw)
    a, _ = epoch_rows(ld, 0)
    b, _ = epoch_rows(ParquetBatches(fm, "train", 64, shuffle=True, seed=5, **loader_kw), 0)
    c, _ = epoch_rows(ld, 1)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[2], c[2])
    tail, n = epoch_rows(ld, 0, start=7)
    assert n == len(ld) - 7
    assert all(np.array_equal(x[7 * 64:], y) for x, y in zip(a, tail))


def test_preload_reads_before_the_first_batch_and_changes_no_batch(tiny_processed, loader_kw,
                                                                   monkeypatch):
    fm = FeatureMap.load(tiny_processed)
    lazy, _ = epoch_rows(ParquetBatches(fm, "train", 64, shuffle=True, seed=5, **loader_kw))
    ld = ParquetBatches(fm, "train", 64, shuffle=True, seed=5, **loader_kw).preload()
    reads = []
    monkeypatch.setattr(ld, "_read", lambda groups: reads.append(groups))
    eager, _ = epoch_rows(ld) if ld.in_memory else (lazy, 0)
    assert all(np.array_equal(x, y) for x, y in zip(lazy, eager))
    # in memory: no Parquet read left for the first epoch; streaming: nothing was held
    assert reads == [] and (ld._data is not None or ld._dev is not None) == ld.in_memory


@pytest.mark.parametrize("shuffle", [True, False])
def test_device_resident_batches_are_the_in_memory_batches(tiny_processed, shuffle):
    """The GPU path (split held as device tensors, batches drawn there) on device=cpu: the same
    batches as the in-memory host path, for every epoch and resume point, with no Parquet read
    and no host-side batch after preload."""
    fm = FeatureMap.load(tiny_processed)
    host = ParquetBatches(fm, "train", 64, shuffle=shuffle, seed=5)
    dev = ParquetBatches(fm, "train", 64, shuffle=shuffle, seed=5, resident=True,
                         device="cpu", buffer_rows=1000).preload()
    assert dev.in_memory and dev._data is None
    assert all(t.device == dev.device for t in dev._dev)
    assert dev._dev[0].dtype == torch.int32  # ids held compactly, widened per batch
    dev._read = lambda groups: pytest.fail("resident loader read Parquet after preload")
    for epoch, start in ((0, 0), (1, 0), (1, 5)):
        a, na = epoch_rows(host, epoch, start)
        b, nb = epoch_rows(dev, epoch, start)
        assert na == nb and all(np.array_equal(x, y) for x, y in zip(a, b))
        assert b[0].dtype == np.int64 and b[2].dtype == np.int64


def test_unshuffled_is_file_order(tiny_processed):
    fm = FeatureMap.load(tiny_processed)
    table = pq.read_table(fm.path("valid"))
    (cat, cont, _, label), _ = epoch_rows(ParquetBatches(fm, "valid", 50, in_memory_max_mb=0))
    assert np.array_equal(label, table.column("label").to_numpy().astype(np.float32))
    assert np.array_equal(cont[:, 0], table.column(fm.continuous[0].name).to_numpy())


def test_bad_ids_name_file_row_and_column(tiny_processed, tmp_path):
    fm = FeatureMap.load(tiny_processed)
    table = pq.read_table(fm.path("train"))
    col = fm.pairs[3].name
    ids = table.column(col).to_numpy().copy()
    ids[10] = fm.pairs[3].vocab_size
    table = table.set_column(table.schema.get_field_index(col), col, [ids])
    for split in ("train", "valid", "test"):
        pq.write_table(table, tmp_path / f"{split}.parquet")
    (tmp_path / "feature_map.json").write_text((tiny_processed / "feature_map.json").read_text())
    bad = FeatureMap.load(tmp_path)
    row_id = table.column("row_id")[10].as_py()
    with pytest.raises(ValueError, match=rf"train.parquet: row_id {row_id}, column '{col}'"):
        list(ParquetBatches(bad, "train", 100).iterate(0))


def test_missing_column_is_reported(tiny_processed, tmp_path):
    fm = FeatureMap.load(tiny_processed)
    table = pq.read_table(fm.path("train")).drop_columns([fm.pairs[0].name])
    pq.write_table(table, tmp_path / "train.parquet")
    (tmp_path / "feature_map.json").write_text((tiny_processed / "feature_map.json").read_text())
    with pytest.raises(ValueError, match=f"column '{fm.pairs[0].name}' missing"):
        ParquetBatches(FeatureMap.load(tmp_path), "train", 100)
