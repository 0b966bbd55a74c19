"""Stage `vocab`: split raw.parquet and build the train-only field and cross vocabularies.

Outputs (in `out_dir`, written atomically as one directory):
- fields.parquet: field, value, id, count: every kept value (id >= 1; id 0 is OOV);
- crosses.parquet: pair, a_id, b_id, id, count: every kept combination of two field ids;
- stats.json: split, thresholds, rows per split, continuous min/max, sizes per field and pair.

Splits, field counts and ranks are DuckDB SQL. Crosses are counted in numpy over the train rows'
field ids (a dense bincount when the id product space is small, a sort otherwise) because one SQL
aggregate over all 325 Criteo pairs costs about ten times as much; their ranking is SQL again.
"""

from __future__ import annotations

import glob
import itertools
import logging
import math
import os
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from optinter.data import checks, presplit, sql
from optinter.data.ingest import raw_meta, row_group_offsets
from optinter.io import atomic_path, remove_stale, write_json

BATCH_ROWS = 1 << 19          # rows per streamed batch (several row groups)
DENSE_COUNT_FACTOR = 4        # bincount when |ids_a|*|ids_b| <= 4 * rows: O(rows + product)
COUNT_CHUNK = 1 << 22         # rows per bincount, bounds the int64 key temporary
MEMMAP_BYTES = 1 << 30        # train id matrices above this live in a file, not in RAM

log = logging.getLogger(__name__)


SPLIT_ORDERS = ("source", "shuffled")


@dataclass(frozen=True)
class Split:
    """Split fractions and seed; `train_end` / `valid_end` are the cumulative cut points.
    `order`: how encode writes train.parquet (source: row_id order; shuffled: seeded random)."""

    train: float
    valid: float
    test: float
    seed: int
    order: str = "source"
    # split: {from: files} (optinter.data.presplit): the source's train/valid/test files are
    # the split; `rows` are their row counts once bound to a raw.parquet (presplit.bind_split)
    from_files: bool = False
    rows: tuple[int, int, int] | None = None

    @property
    def train_end(self) -> float:
        if self.from_files:
            return float(self._rows()[0])  # a row_id bound (presplit_split_code.sql)
        return float(self.train)

    @property
    def valid_end(self) -> float:
        if self.from_files:
            return float(self._rows()[0] + self._rows()[1])
        return float(self.train + self.valid)

    def _rows(self) -> tuple[int, int, int]:
        if self.rows is None:
            raise ValueError("split: {from: files} is not bound to the files' row counts "
                             "(optinter.data.presplit.bind_split)")
        return self.rows

    def with_rows(self, rows: tuple[int, int, int]) -> "Split":
        return Split(self.train, self.valid, self.test, self.seed, self.order, True, tuple(rows))

    def params(self) -> dict:
        return {"seed": self.seed, "train_end": self.train_end, "valid_end": self.valid_end}

    def as_dict(self) -> dict:
        if self.from_files:
            return {"from": "files", "seed": self.seed, "order": self.order}
        out = {"train": self.train, "valid": self.valid, "test": self.test, "seed": self.seed}
        # `source` is left out so that stats.json / feature_map.json of source-ordered data
        # stay byte-identical to those written before the key existed
        return out if self.order == "source" else {**out, "order": self.order}


def check_split(split: Mapping[str, Any]) -> Split:
    """Validate a config `split` mapping: fractions in [0,1] summing to 1, integer seed; or
    `{from: files, seed, order}` for a pre-split source (the seed then only orders train)."""
    if "from" in split:
        if split["from"] != "files" or {"train", "valid", "test"} & set(split):
            raise ValueError(f"split: {{from: files}} takes no fractions (the source's files are "
                             f"the split): {split!r}")
        try:
            s = Split(0.0, 0.0, 0.0, int(split["seed"]), str(split.get("order", "source")), True)
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(f"split: {{from: files}} needs an integer seed: {split!r}") from err
        if s.order not in SPLIT_ORDERS:
            raise ValueError(f"split.order must be one of {SPLIT_ORDERS}, got {s.order!r}")
        return s
    try:
        s = Split(float(split["train"]), float(split["valid"]), float(split["test"]),
                  int(split["seed"]), str(split.get("order", "source")))
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"split needs numeric train, valid, test and an integer seed: {split!r}") from err
    if s.order not in SPLIT_ORDERS:
        raise ValueError(f"split.order must be one of {SPLIT_ORDERS}, got {s.order!r}")
    fr = (s.train, s.valid, s.test)
    if min(fr) < 0 or not math.isclose(sum(fr), 1.0, abs_tol=1e-9) or s.train <= 0:
        raise ValueError(f"split fractions must be >= 0, train > 0, and sum to 1: {split!r}")
    return s


def check_threshold(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return value


def split_codes(con: duckdb.DuckDBPyConnection, raw: str, split: Split, rows: int) -> np.ndarray:
    """uint8 split code per row (0 train, 1 valid, 2 test) in row_id order; 1 byte per row."""
    codes = np.empty(rows, np.uint8)
    pos = 0
    reader = sql.relation(con, "row_splits", raw=sql.literal_path(raw),
                          **split.params()).to_arrow_reader(1 << 17)
    for batch in reader:
        ids = batch.column(0).to_numpy()
        if ids.size and (ids[0] != pos or ids[-1] != pos + ids.size - 1):
            raise ValueError(f"{raw}: row_id is not 0..n-1 in file order near row {pos}")
        codes[pos:pos + ids.size] = batch.column(1).to_numpy()
        pos += ids.size
    if pos != rows:
        raise ValueError(f"{raw}: read {pos} rows, expected {rows}")
    return codes


def iter_batches(raw: str, columns: list[str], dict_columns: list[str],
                 rows: int = BATCH_ROWS) -> Iterator[tuple[int, pa.Table]]:
    """(first row, table) over whole row groups of raw.parquet; string columns as dictionaries.

    Reading strings as Parquet dictionaries means each distinct value of a row group is looked
    up once, not once per row.
    """
    pf = pq.ParquetFile(raw, read_dictionary=dict_columns)
    groups = row_group_offsets(raw)
    i = 0
    while i < len(groups):
        j, n = i, 0
        while j < len(groups) and (n == 0 or n + groups[j][1] <= rows):
            n += groups[j][1]
            j += 1
        yield groups[i][0], pf.read_row_groups(list(range(i, j)), columns=columns, use_threads=True)
        i = j


class FieldCoder:
    """Maps raw categorical values to ids: a kept value's id, 0 (OOV) for anything else."""

    def __init__(self, vocab: pa.Table):
        self.values: dict[str, pa.Array] = {}
        for name, table in _group_by_field(vocab):
            ids = table["id"].to_numpy()
            if not np.array_equal(ids, np.arange(1, ids.size + 1)):
                raise ValueError(f"vocabulary of {name} is not ids 1..{ids.size} in order")
            self.values[name] = table["value"].combine_chunks()

    def size(self, name: str) -> int:
        """vocab_size: kept values + the OOV id."""
        return len(self.values.get(name, ())) + 1

    def encode(self, name: str, column: pa.ChunkedArray | pa.Array) -> np.ndarray:
        values = self.values.get(name, pa.array([], pa.string()))
        chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
        out = [self._encode_chunk(values, c) for c in chunks]
        return np.concatenate(out) if out else np.zeros(0, np.int32)

    @staticmethod
    def _encode_chunk(values: pa.Array, chunk: pa.Array) -> np.ndarray:
        if pa.types.is_dictionary(chunk.type):
            lut = _index(chunk.dictionary, values)
            return lut[chunk.indices.to_numpy(zero_copy_only=False)]
        return _index(chunk, values)


def _index(strings: pa.Array, values: pa.Array) -> np.ndarray:
    pos = pc.index_in(strings, value_set=values).fill_null(-1)
    return (pos.to_numpy(zero_copy_only=False) + 1).astype(np.int32)


def _group_by_field(vocab: pa.Table) -> Iterator[tuple[str, pa.Table]]:
    """Split a (field, ...) table sorted by field into per-field tables."""
    fields = vocab["field"].to_numpy(zero_copy_only=False)
    if not fields.size:
        return
    cuts = np.flatnonzero(fields[1:] != fields[:-1]) + 1
    for lo, hi in zip(np.r_[0, cuts], np.r_[cuts, fields.size]):
        yield str(fields[lo]), vocab.slice(lo, hi - lo)


def pair_names(crossed: list[str], pairs: list | None = None) -> list[tuple[str, str, str]]:
    """(name, a, b) for every pair a < b of the crossed fields, in field order; only those of
    `pairs` (two field names each, in any order) when given (config datasets.<ds>.pairs)."""
    every = [(f"{a}_x_{b}", a, b) for a, b in itertools.combinations(crossed, 2)]
    if pairs is None:
        return every
    wanted = {frozenset(p) for p in pairs}
    for p in pairs:
        bad = [f for f in p if f not in crossed]
        if bad or len(set(p)) != 2:
            raise ValueError(f"pairs: {list(p)} is not a pair of two categorical fields "
                             f"({', '.join(crossed)})")
    return [t for t in every if frozenset(t[1:]) in wanted]


def count_pair(a: np.ndarray, b: np.ndarray, size_a: int, size_b: int,
               min_count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(a_ids, b_ids, counts) of the id combinations seen at least `min_count` times."""
    n, space = a.size, size_a * size_b
    if space <= max(DENSE_COUNT_FACTOR * n, 1 << 16):
        counts = np.zeros(space, np.int64)
        for s in range(0, n, COUNT_CHUNK):
            key = a[s:s + COUNT_CHUNK].astype(np.int64) * size_b + b[s:s + COUNT_CHUNK]
            counts += np.bincount(key, minlength=space)
        keys = np.flatnonzero(counts >= min_count)
        cnt = counts[keys]
    else:
        key = a.astype(np.int64) * size_b + b
        key.sort()
        starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]]) if n else np.zeros(0, np.int64)
        runs = np.diff(np.r_[starts, n])
        keep = runs >= min_count
        keys, cnt = key[starts[keep]], runs[keep]
    return (keys // size_b).astype(np.int32), (keys % size_b).astype(np.int32), cnt


def _train_ids(raw: str, coder: FieldCoder, crossed: list[str], codes: np.ndarray,
               work: Path) -> np.ndarray:
    """Field ids of the train rows, one contiguous row per crossed field: shape (fields, rows)."""
    n_train = int((codes == 0).sum())
    shape = (len(crossed), n_train)
    if 4 * n_train * len(crossed) > MEMMAP_BYTES:
        ids = np.lib.format.open_memmap(work / "train_ids.npy", mode="w+", dtype=np.int32, shape=shape)
    else:
        ids = np.empty(shape, np.int32)
    pos = 0
    for start, table in iter_batches(raw, crossed, crossed):
        mask = codes[start:start + table.num_rows] == 0
        k = int(mask.sum())
        for i, name in enumerate(crossed):
            ids[i, pos:pos + k] = coder.encode(name, table[name])[mask]
        pos += k
    return ids


def split_positives(raw: str, codes: np.ndarray) -> list[int]:
    """Clicks per split (train, valid, test); the 1-byte label is read a few row groups at once."""
    pos = np.zeros(3, np.int64)
    for start, table in iter_batches(raw, ["label"], []):
        clicked = table["label"].to_numpy() == 1
        pos += np.bincount(codes[start:start + table.num_rows][clicked], minlength=3)
    return pos.tolist()


def build_vocab(raw_parquet: str | os.PathLike, out_dir: str | os.PathLike, split: Mapping,
                min_count: int, cross_min_count: int, log_bucket: bool = False,
                duckdb_cfg: Mapping[str, Any] | None = None,
                min_split_rows: int | None = checks.MIN_SPLIT_ROWS,
                dataset: str | None = None, pairs: list | None = None,
                field_min_count: Mapping[str, int] | None = None) -> dict:
    """Write fields.parquet, crosses.parquet and stats.json into `out_dir`; return the stats.

    `pairs`: the crossed pairs (default every pair of categorical fields); `field_min_count`:
    fields with their own OOV threshold (default `min_count`).

    Refuses (checks.check_splits) a split smaller than `min_split_rows` or without both labels
    before any work; `dataset` names it in messages (default: the folder above `out_dir`).
    """
    raw = os.fspath(raw_parquet)
    sp = check_split(split)
    min_count = check_threshold("min_count", min_count)
    cross_min_count = check_threshold("cross_min_count", cross_min_count)
    if min_split_rows is not None:
        check_threshold("min_split_rows", min_split_rows)
    meta = raw_meta(raw)
    sp = presplit.bind_split(sp, meta)
    names = [n for n, _ in meta["fields"]]
    continuous = [n for n, k in meta["fields"] if k == "continuous"]
    crossed = [n for n, k in meta["fields"] if k == "categorical"]
    bucketed = continuous if log_bucket else []
    own = {f: check_threshold(f"min_count of {f}", int(v)) for f, v in (field_min_count or {}).items()}
    unknown = sorted(set(own) - set(names))
    if unknown:
        raise ValueError(f"min_count given for {', '.join(unknown)}, which raw.parquet has not")
    min_counts = lambda fs: [own.get(f, min_count) for f in fs]  # noqa: E731
    pairs = pair_names(crossed, pairs)
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    # a killed run's temporary vocab folder and work folder (a memory-mapped train_ids.npy)
    work_prefix = f".{out_dir.name}-work-"
    remove_stale(out_dir, glob.escape(work_prefix) + "*")
    work = None
    con = sql.connect(duckdb_cfg)
    try:
        # created inside the try: a SIGINT right after it still removes it
        work = Path(tempfile.mkdtemp(prefix=work_prefix, dir=out_dir.parent))
        presplit.use_file_split(con, sp)
        codes = split_codes(con, raw, sp, meta["rows"])
        rows = dict(zip(("train", "valid", "test"), np.bincount(codes, minlength=3).tolist()))
        name = dataset or out_dir.parent.name
        warnings = checks.check_splits(name, meta["source"]["path"], {
            s: (rows[s], p) for s, p in zip(rows, split_positives(raw, codes))}, min_split_rows)
        for w in warnings:
            log.warning("%s", w)
        src = sql.literal_path(raw)  # the file itself, never a glob
        vocab = sql.relation(con, "vocab_fields", {"fields": crossed}, raw=src, fields=crossed,
                             min_counts=min_counts(crossed), **sp.params()).to_arrow_table()
        if bucketed:
            extra = sql.relation(con, "vocab_buckets", {"fields": bucketed}, raw=src,
                                 fields=bucketed, min_counts=min_counts(bucketed),
                                 **sp.params()).to_arrow_table()
            vocab = pa.concat_tables([extra.cast(vocab.schema), vocab])
        stats_rows = {}
        if continuous and not log_bucket:
            (row,) = sql.relation(con, "vocab_continuous", raw=src, fields=continuous,
                                  **sp.params()).fetchall()
            k = len(continuous)
            for i, f in enumerate(continuous):
                stats_rows[f] = (row[i], row[k + i], row[2 * k + i])
        coder = FieldCoder(vocab)
        ids = _train_ids(raw, coder, crossed, codes, work)
        threads = max(1, int((duckdb_cfg or {}).get("threads") or 1))
        crosses, pair_stats = _cross_vocab(con, ids, coder, crossed, pairs, cross_min_count,
                                           rows["train"], threads)
        del ids
        fields = _field_stats(names, continuous, bucketed, crossed, coder, vocab, stats_rows,
                              rows["train"])
        thresholds = {"min_count": min_count, "cross_min_count": cross_min_count}
        if own:  # only when set, so that other datasets' feature maps stay as they were
            thresholds["min_count_by_field"] = dict(sorted(own.items()))
        stats = {"format": meta["format"], "source": meta["source"], "split": sp.as_dict(),
                 "thresholds": thresholds,
                 "log_bucket": bool(log_bucket), "rows": rows, "fields": fields,
                 "pairs": pair_stats, "warnings": warnings}
        with atomic_path(out_dir) as tmp:
            tmp.mkdir()
            pq.write_table(vocab, tmp / "fields.parquet")
            pq.write_table(crosses, tmp / "crosses.parquet")
            write_json(tmp / "stats.json", stats)
    finally:
        con.close()
        if work is not None:
            shutil.rmtree(work, ignore_errors=True)
    return stats


def _cross_vocab(con: duckdb.DuckDBPyConnection, ids: np.ndarray, coder: FieldCoder,
                 crossed: list[str], pairs: list[tuple[str, str, str]], cross_min_count: int,
                 n_train: int, threads: int) -> tuple[pa.Table, list]:
    pos = {n: i for i, n in enumerate(crossed)}

    def count(pair: tuple[str, str, str]):  # numpy sorts and bincounts release the GIL
        _, a, b = pair
        return count_pair(ids[pos[a]], ids[pos[b]], coder.size(a), coder.size(b), cross_min_count)

    with ThreadPoolExecutor(threads) as pool:
        counted = list(pool.map(count, pairs))
    parts, pair_stats = [], []
    for (name, a, b), (ai, bi, cnt) in zip(pairs, counted):
        parts.append((name, ai, bi, cnt))
        pair_stats.append({"name": name, "fields": [a, b], "vocab_size": int(cnt.size) + 1,
                           "oov_id": 0, "oov_train_rows": int(n_train - cnt.sum())})
    empty = (np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros(0, np.int64))
    candidates = pa.table({
        "pair": np.repeat(np.arange(len(parts), dtype=np.int32), [p[1].size for p in parts]),
        **{col: np.concatenate([p[k] for p in parts] or [empty[k - 1]])
           for k, col in ((1, "a_id"), (2, "b_id"), (3, "cnt"))},
    })
    con.register("cross_candidates", candidates)
    try:
        ranked = sql.relation(con, "vocab_crosses").to_arrow_table()
    finally:
        con.unregister("cross_candidates")
    names = pa.array([p[0] for p in parts], pa.string())
    ranked = ranked.set_column(0, "pair", pc.take(names, ranked["pair"]))
    return ranked, pair_stats


def _field_stats(names, continuous, bucketed, crossed, coder, vocab, cont_rows, n_train) -> list:
    counts = {}
    for name, table in _group_by_field(vocab):
        counts[name] = int(pc.sum(table["count"]).as_py() or 0)
    out = []
    for name in names:
        if name in continuous and name not in bucketed:
            lo, hi, present = cont_rows.get(name, (None, None, 0))
            out.append({"name": name, "type": "continuous",
                        "min": float(lo) if lo is not None else 0.0,
                        "max": float(hi) if hi is not None else 0.0,
                        "missing_value": 0.0, "missing_train_rows": int(n_train - present)})
        else:
            out.append({"name": name, "type": "categorical", "vocab_size": coder.size(name),
                        "oov_id": 0, "crossed": name in crossed,
                        "oov_train_rows": int(n_train - counts.get(name, 0))})
    return out
