"""Processed Parquet -> (cat, cont, cross, label) tensor batches, without per-row Python.

Shuffling is seeded by (seed, epoch), so an epoch's order is a pure function of them and a
resumed run restarts at any batch index without replaying the stream.
- In memory (the split's arrays fit in `in_memory_max_mb`, e.g. the demo): a full permutation of
  all rows every epoch.
- Streaming (larger data): the row-group order is permuted and consecutive row groups (in that
  order) are gathered into buffers of at least `buffer_rows` rows, shuffled within the buffer.
  The epoch is the concatenation of the shuffled buffers; batches span buffer boundaries.
  This is not a full permutation: rows from row groups far apart in the buffer order never
  share a batch, which is why buffers hold several row groups. On time-ordered raw data a
  row group is a stretch of time, so the data stage writes train.parquet in a seeded random
  order (split.order: shuffled, optinter/data/shuffle.py) and every row group is i.i.d.-like.
A background thread reads and converts the next batches while the model trains (pyarrow and
numpy release the GIL), and pins memory when the target is a GPU.
- Device-resident (`resident=True`, train.device_resident; for a split that fits the
  accelerator's memory, e.g. Criteo's 47 GB train split on an H200): the split is read once into
  tensors on the target device and every batch is an index_select there: no host work, no
  transfer, nothing for the step to wait on. Its batches are those of the in-memory mode (the
  same seeded permutation, drawn on the host once per epoch), so a run is the same run either
  way; with device=cpu the same code runs on host tensors (tests).
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from optinter.io import StageOutputError, rebuild_hint
from optinter.model.featuremap import FeatureMap

Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]


@dataclass
class Chunk:
    cat: np.ndarray    # int32 [n, n_categorical]
    cont: np.ndarray   # float32 [n, n_continuous]
    cross: np.ndarray  # int32 [n, n_pairs]
    label: np.ndarray  # float32 [n]

    def __len__(self) -> int:
        return len(self.label)

    def take(self, idx) -> "Chunk":
        return Chunk(self.cat[idx], self.cont[idx], self.cross[idx], self.label[idx])

    @staticmethod
    def concat(chunks: list["Chunk"]) -> "Chunk":
        if len(chunks) == 1:
            return chunks[0]
        return Chunk(*(np.concatenate([getattr(c, k) for c in chunks])
                       for k in ("cat", "cont", "cross", "label")))


class ParquetBatches:
    """Batches of one split of a processed dataset (docs/design.md contract)."""

    def __init__(self, fmap: FeatureMap, split: str, batch_size: int, shuffle: bool = False,
                 seed: int = 0, device: str | torch.device = "cpu", in_memory_max_mb: int = 1024,
                 buffer_rows: int = 500_000, prefetch: int = 4, resident: bool = False):
        self.path = Path(fmap.path(split))
        self.fmap = fmap
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.seed = int(seed)
        self.device = torch.device(device)
        self.buffer_rows = int(buffer_rows)
        self.prefetch = prefetch
        self.cat_cols = [f.name for f in fmap.categorical]
        self.cont_cols = [f.name for f in fmap.continuous]
        self.cross_cols = [p.name for p in fmap.pairs]
        self.cat_vocab = np.array(fmap.cat_vocab, dtype=np.int64)
        self.pair_vocab = np.array(fmap.pair_vocab, dtype=np.int64)
        try:
            self.file = pq.ParquetFile(self.path)
        except (FileNotFoundError, OSError, pa.ArrowInvalid) as e:
            raise StageOutputError(f"{self.path}: cannot open as Parquet ({str(e)[:160]}); the "
                                   f"file is damaged or truncated. {rebuild_hint(self.path)}"
                                   ) from None
        self._check_schema()
        md = self.file.metadata
        self.group_rows = np.array([md.row_group(i).num_rows for i in range(md.num_row_groups)],
                                   dtype=np.int64)
        self.rows = int(self.group_rows.sum())
        fmap.check_split(split, self.rows)  # before any training on it
        width = len(self.cat_cols) + len(self.cont_cols) + len(self.cross_cols) + 1
        self.nbytes = self.rows * width * 4
        self.resident = bool(resident)
        # a resident split is held whole (on the device), so it is ordered as an in-memory one
        self.in_memory = self.resident or self.nbytes <= in_memory_max_mb * 2**20
        self._data: Chunk | None = None
        self._dev: tuple[torch.Tensor, ...] | None = None

    def __len__(self) -> int:
        return -(-self.rows // self.batch_size)

    def preload(self) -> "ParquetBatches":
        """Read an in-memory split now, before training starts (as FuxiCTR does), so the first
        epoch runs at the steady rate instead of waiting on the Parquet read."""
        if self.resident:
            self._load_resident()
        elif self.in_memory and self._data is None:
            self._data = self._read(list(range(len(self.group_rows))))
        return self

    def _load_resident(self) -> None:
        """The split as (cat int32, cont, cross int32, label) tensors on the device, filled a
        few row groups at a time (the host never holds more than ~`buffer_rows` rows)."""
        if self._dev is not None:
            return
        widths = (len(self.cat_cols), len(self.cont_cols), len(self.cross_cols))
        dev = self.device
        out = (torch.empty(self.rows, widths[0], dtype=torch.int32, device=dev),
               torch.empty(self.rows, widths[1], dtype=torch.float32, device=dev),
               torch.empty(self.rows, widths[2], dtype=torch.int32, device=dev),
               torch.empty(self.rows, dtype=torch.float32, device=dev))
        at, groups, n = 0, [], 0
        last = len(self.group_rows) - 1
        for g in range(len(self.group_rows)):
            groups.append(g)
            n += int(self.group_rows[g])
            if n < self.buffer_rows and g != last:
                continue
            c = self._read(groups)
            for t, a in zip(out, (c.cat, c.cont, c.cross, c.label)):
                src = torch.from_numpy(np.ascontiguousarray(a))
                t[at:at + len(c)].copy_(src.pin_memory() if dev.type == "cuda" else src)
            at += len(c)
            groups, n = [], 0
        self._dev = out

    def _resident_batches(self, epoch: int, start: int) -> Iterator[Batch]:
        self._load_resident()
        cat, cont, cross, label = self._dev
        bs = self.batch_size
        order = None
        if self.shuffle:
            # the in-memory mode's permutation (one buffer: index 0), so batches are identical
            perm = np.random.default_rng([self.seed, epoch, 2, 0]).permutation(self.rows)
            order = torch.from_numpy(perm).to(self.device)
        for i in range(start * bs, self.rows, bs):
            if order is None:
                sl = slice(i, i + bs)
                yield cat[sl].long(), cont[sl], cross[sl].long(), label[sl]
            else:
                idx = order[i:i + bs]
                yield (cat.index_select(0, idx).long(), cont.index_select(0, idx),
                       cross.index_select(0, idx).long(), label.index_select(0, idx))

    def _check_schema(self) -> None:
        schema = self.file.schema_arrow
        expect = [("label", ("int8", "int16", "int32", "int64", "float", "double"))]
        expect += [(c, ("int32", "int64")) for c in self.cat_cols + self.cross_cols]
        expect += [(c, ("float", "double")) for c in self.cont_cols]
        for name, types in expect:
            idx = schema.get_field_index(name)
            if idx < 0:
                raise StageOutputError(f"{self.path}: column {name!r} missing (feature_map.json "
                                       f"lists it); expected types {types}. "
                                       f"{rebuild_hint(self.path)}")
            if str(schema.field(idx).type) not in types:
                raise StageOutputError(f"{self.path}: column {name!r} has type "
                                       f"{schema.field(idx).type}, expected one of {types}. "
                                       f"{rebuild_hint(self.path)}")

    def _read(self, groups: list[int]) -> Chunk:
        cols = ["row_id", "label"] + self.cat_cols + self.cont_cols + self.cross_cols
        t = self.file.read_row_groups(groups, columns=cols)

        def stack(names, dtype):
            n = t.num_rows
            if not names:
                return np.zeros((n, 0), dtype=dtype)
            return np.stack([t.column(c).to_numpy().astype(dtype, copy=False) for c in names], 1)

        chunk = Chunk(stack(self.cat_cols, np.int32), stack(self.cont_cols, np.float32),
                      stack(self.cross_cols, np.int32),
                      t.column("label").to_numpy().astype(np.float32))
        self._validate(chunk, t.column("row_id").to_numpy())
        return chunk

    def _validate(self, c: Chunk, row_id: np.ndarray) -> None:
        for arr, vocab, names in ((c.cat, self.cat_vocab, self.cat_cols),
                                  (c.cross, self.pair_vocab, self.cross_cols)):
            if not arr.size:
                continue
            bad = (arr < 0) | (arr >= vocab)
            if bad.any():
                r, k = np.argwhere(bad)[0]
                raise ValueError(f"{self.path}: row_id {row_id[r]}, column {names[k]!r}: id "
                                 f"{arr[r, k]} outside [0, {vocab[k]}) of feature_map.json")
        bad = (c.label != 0) & (c.label != 1)
        if bad.any():
            r = int(np.flatnonzero(bad)[0])
            raise ValueError(f"{self.path}: row_id {row_id[r]}, column 'label': "
                             f"{c.label[r]} is not 0/1")
        if c.cont.size and not np.isfinite(c.cont).all():
            r, k = np.argwhere(~np.isfinite(c.cont))[0]
            raise ValueError(f"{self.path}: row_id {row_id[r]}, column {self.cont_cols[k]!r}: "
                             f"non-finite value")

    def _buffers(self, epoch: int) -> list[list[int]]:
        """Row groups of each buffer, in epoch order."""
        groups = np.arange(len(self.group_rows))
        if self.in_memory:
            return [groups.tolist()]
        if self.shuffle:
            groups = np.random.default_rng([self.seed, epoch, 1]).permutation(groups)
        out, cur, n = [], [], 0
        limit = self.buffer_rows if self.shuffle else 1
        for g in groups.tolist():
            cur.append(g)
            n += int(self.group_rows[g])
            if n >= limit:
                out.append(cur)
                cur, n = [], 0
        return out + ([cur] if cur else [])

    def _chunks(self, epoch: int, start_row: int) -> Iterator[Chunk]:
        for b, groups in enumerate(self._buffers(epoch)):
            size = int(self.group_rows[groups].sum())
            if start_row >= size:
                start_row -= size
                continue
            if self.in_memory:
                if self._data is None:
                    self._data = self._read(groups)
                chunk = self._data
            else:
                chunk = self._read(groups)
            if self.shuffle:
                rng = np.random.default_rng([self.seed, epoch, 2, b])
                order = rng.permutation(size)[start_row:]
                chunk = chunk.take(order)
            elif start_row:
                chunk = chunk.take(slice(start_row, None))
            start_row = 0
            yield chunk

    def _numpy_batches(self, epoch: int, start: int) -> Iterator[Chunk]:
        bs = self.batch_size
        pending: list[Chunk] = []
        have = 0
        for chunk in self._chunks(epoch, start * bs):
            pending.append(chunk)
            have += len(chunk)
            if have < bs:
                continue
            data = Chunk.concat(pending)
            full = (have // bs) * bs
            for i in range(0, full, bs):
                yield data.take(slice(i, i + bs))
            pending = [data.take(slice(full, None))] if full < have else []
            have -= full
        if have:
            yield Chunk.concat(pending)

    def _to_torch(self, c: Chunk) -> Batch:
        out = (torch.from_numpy(np.ascontiguousarray(c.cat)).long(),
               torch.from_numpy(np.ascontiguousarray(c.cont)),
               torch.from_numpy(np.ascontiguousarray(c.cross)).long(),
               torch.from_numpy(np.ascontiguousarray(c.label)))
        if self.device.type == "cuda":
            out = tuple(x.pin_memory() for x in out)
        return out

    def iterate(self, epoch: int = 0, start: int = 0) -> Iterator[Batch]:
        """Batches of `epoch` from batch index `start` on, as tensors on the target device."""
        if self.resident:
            yield from self._resident_batches(epoch, start)
            return
        gen = (self._to_torch(c) for c in self._numpy_batches(epoch, start))
        for batch in _prefetch(gen, self.prefetch) if self.prefetch else gen:
            yield tuple(x.to(self.device, non_blocking=True) for x in batch)


def _prefetch(gen: Iterator, depth: int) -> Iterator:
    """Run `gen` in a daemon thread, `depth` items ahead; errors re-raise in the consumer."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work():
        try:
            for item in gen:
                if not put(item):
                    return
            put(done)
        except BaseException as e:  # handed to the consumer
            put(e)

    t = threading.Thread(target=work, daemon=True)
    t.start()
    try:
        while True:
            item = q.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        t.join(timeout=5)
