"""Stage `encode`: raw.parquet + vocab -> processed {train,valid,test}.parquet + feature_map.json.

Streams raw.parquet a few row groups at a time: field ids through the Parquet dictionaries
(vocab.FieldCoder), min-max scaling in numpy, then every pair's cross id from its two field ids
by a dense lookup table (small id product) or an open-addressing hash table of the kept
combinations. Rows are grouped by split inside a batch so each split gets zero-copy slices.
Memory is bounded by the batch size and the lookup tables, not by the number of rows.
With split.order: shuffled, train.parquet is then rewritten in a seeded random order (shuffle.py).
"""

from __future__ import annotations

import contextlib
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from optinter.data import presplit, sql
from optinter.data.shuffle import shuffle_parquet
from optinter.data.ingest import raw_meta
from optinter.data.vocab import FieldCoder, check_split, iter_batches, split_codes
from optinter.io import StageOutputError, atomic_path, read_json, remove_stale, write_json

SPLITS = ("train", "valid", "test")
LUT_MAX = 1 << 20             # id product spaces up to this get a dense lookup table ...
LUT_BUDGET = 256 << 20        # ... while all dense tables together stay under this many bytes
BATCH_ROWS = 1 << 18          # rows encoded at once: ~1.3 KB of output arrays per row, twice
                              # over while one batch is written and the next one encoded
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_EMPTY = np.int64(-1)


class PairTable:
    """Cross id of one pair from its two field-id arrays; 0 (OOV) for combinations not kept.

    mode "direct": a table over all size_a * size_b id combinations (one gather per row);
    "remap": the same over only the ids that occur in kept crosses, plus one all-OOV row and
    column (three gathers); "hash": open addressing over the kept combinations.
    """

    def __init__(self, a_ids: np.ndarray, b_ids: np.ndarray, ids: np.ndarray, size_a: int,
                 size_b: int, mode: str = "direct"):
        self.mode, self.size_b = mode, size_b
        ids = ids.astype(np.int32)
        if mode == "direct":
            self.lut = np.zeros(size_a * size_b, np.int32)
            self.lut[a_ids.astype(np.int64) * size_b + b_ids] = ids
        elif mode == "remap":
            self.ra, na = _compact(a_ids, size_a)
            self.rb, self.nb = _compact(b_ids, size_b)
            self.lut = np.zeros(na * self.nb, np.int32)
            self.lut[self.ra[a_ids] * self.nb + self.rb[b_ids]] = ids
        else:
            keys = a_ids.astype(np.int64) * size_b + b_ids
            self.bits = max(4, int(np.ceil(np.log2(max(4 * keys.size, 16)))))  # load <= 1/4
            self.keys, self.vals = _hash_build(keys, ids, self.bits)

    @staticmethod
    def entries(a_ids: np.ndarray, b_ids: np.ndarray) -> int:
        """Table entries the "remap" mode needs."""
        return (np.unique(a_ids).size + 1) * (np.unique(b_ids).size + 1)

    def encode(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Cross ids for field-id arrays `a`, `b`; pass them as intp: numpy would otherwise
        convert every index array before each gather (about half the cost)."""
        if self.mode == "direct":
            return self.lut[a * self.size_b + b]
        if self.mode == "remap":
            return self.lut[self.ra[a] * self.nb + self.rb[b]]
        return _hash_lookup(self.keys, self.vals, self.bits, a.astype(np.int64) * self.size_b + b)


def _compact(ids: np.ndarray, size: int) -> tuple[np.ndarray, int]:
    """Map each id occurring in `ids` to 0..k-1 and every other id to k; returns (map, k + 1)."""
    used = np.unique(ids)
    out = np.full(size, used.size, np.intp)
    out[used] = np.arange(used.size)
    return out, used.size + 1


def _slots(keys: np.ndarray, bits: int) -> np.ndarray:
    """Fibonacci hashing: the top `bits` bits of key * 2^64/phi (wrapping uint64 product)."""
    return ((keys.astype(np.uint64) * _GOLDEN) >> np.uint64(64 - bits)).astype(np.intp)


def _hash_build(keys: np.ndarray, vals: np.ndarray, bits: int) -> tuple[np.ndarray, np.ndarray]:
    """Linear-probing table, filled in vectorised rounds: each round, of the keys whose current
    slot is free, the first per slot takes it and the others move one slot on."""
    size, mask = 1 << bits, (1 << bits) - 1
    tk, tv = np.full(size, _EMPTY, np.int64), np.zeros(size, np.int32)
    slot, todo = _slots(keys, bits), np.arange(keys.size)
    while todo.size:
        s = slot[todo]
        free = tk[s] == _EMPTY
        cand, cs = todo[free], s[free]
        _, first = np.unique(cs, return_index=True)
        win = cand[first]
        tk[slot[win]], tv[slot[win]] = keys[win], vals[win]
        placed = np.zeros(keys.size, bool)
        placed[win] = True
        todo = todo[~placed[todo]]
        slot[todo] = (slot[todo] + 1) & mask
    return tk, tv


def _hash_lookup(tk: np.ndarray, tv: np.ndarray, bits: int, key: np.ndarray) -> np.ndarray:
    mask = (1 << bits) - 1
    h = _slots(key, bits)
    s = tk[h]
    out = np.where(s == key, tv[h], 0).astype(np.int32)
    miss = np.flatnonzero((s != key) & (s != _EMPTY))  # probe on only where the slot was taken
    while miss.size:
        h2 = (h[miss] + 1) & mask
        h[miss] = h2
        s2, k2 = tk[h2], key[miss]
        hit = s2 == k2
        out[miss[hit]] = tv[h2[hit]]
        miss = miss[~hit & (s2 != _EMPTY)]
    return out


def pair_tables(crosses: pa.Table, pairs: list[dict], sizes: Mapping[str, int]) -> list[PairTable]:
    """One PairTable per pair, in `pairs` order; lookup tables while within LUT_BUDGET."""
    names = crosses["pair"].to_numpy(zero_copy_only=False)
    cuts = np.flatnonzero(names[1:] != names[:-1]) + 1 if names.size else np.zeros(0, np.int64)
    spans = {str(names[lo]): (lo, hi) for lo, hi in zip(np.r_[0, cuts], np.r_[cuts, names.size])} \
        if names.size else {}
    a_all, b_all, id_all = (crosses[c].to_numpy() for c in ("a_id", "b_id", "id"))
    budget, tables = LUT_BUDGET, []
    for p in pairs:
        lo, hi = spans.get(p["name"], (0, 0))
        a_name, b_name = p["fields"]
        size_a, size_b = sizes[a_name], sizes[b_name]
        if hi - lo != p["vocab_size"] - 1:
            raise ValueError(f"crosses.parquet: {p['name']} has {hi - lo} kept crosses, "
                             f"stats.json says {p['vocab_size'] - 1}")
        a_ids, b_ids = a_all[lo:hi], b_all[lo:hi]
        if size_a * size_b <= LUT_MAX and 4 * size_a * size_b <= budget:
            mode, cost = "direct", 4 * size_a * size_b
        else:
            entries = PairTable.entries(a_ids, b_ids)
            cost = 4 * (entries + size_a + size_b)
            mode = "remap" if entries <= LUT_MAX and cost <= budget else "hash"
        tables.append(PairTable(a_ids, b_ids, id_all[lo:hi], size_a, size_b, mode))
        budget -= cost if mode != "hash" else 0
    return tables


def feature_map(stats: dict, dataset: str) -> dict:
    """feature_map.json (docs/design.md) from the vocab stage's stats.json."""
    fields = []
    for f in stats["fields"]:
        if f["type"] == "continuous":
            fields.append({k: f[k] for k in ("name", "type", "min", "max", "missing_value")})
        else:
            fields.append({k: f[k] for k in ("name", "type", "vocab_size", "oov_id", "crossed")})
    return {
        "dataset": dataset, "format": stats["format"],
        "source": {"path": stats["source"]["path"], "sha256": stats["source"]["sha256"]},
        "label": "label", "fields": fields,
        "pairs": [{k: p[k] for k in ("name", "fields", "vocab_size", "oov_id")} for p in stats["pairs"]],
        "rows": stats["rows"], "thresholds": stats["thresholds"], "split": stats["split"],
        "log_bucket": stats["log_bucket"],
        "files": {s: f"{s}.parquet" for s in SPLITS},
        "warnings": stats.get("warnings", []),  # the vocab stage's, e.g. a small valid split
    }


def output_schema(stats: dict) -> pa.Schema:
    cols = [pa.field("row_id", pa.int64()), pa.field("label", pa.int8())]
    for f in stats["fields"]:
        cols.append(pa.field(f["name"], pa.float32() if f["type"] == "continuous" else pa.int32()))
    cols += [pa.field(p["name"], pa.int32()) for p in stats["pairs"]]
    return pa.schema(cols)


def scale(values: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Min-max with train statistics, clipped into [0, 1]; NaN (missing) -> 0.0."""
    span = hi - lo
    out = np.zeros(values.shape, np.float64) if span <= 0 else (values - lo) / span
    out = np.clip(out, 0.0, 1.0)
    out[np.isnan(values)] = 0.0
    return out.astype(np.float32)


def _vocab_file(path: Path, read):
    """read(path), or the rebuild of the vocab stage when its file is damaged or truncated."""
    try:
        return read(path)
    except (ValueError, OSError, pa.ArrowInvalid) as e:  # JSONDecodeError is a ValueError
        raise StageOutputError(f"{path}: cannot be read ({str(e).splitlines()[0][:160]}); the "
                               f"file is damaged or truncated. Rebuild the vocab stage's files: "
                               f"rm -r {path.parent} and run the same command again") from None


def encode(raw_parquet: str | os.PathLike, vocab_dir: str | os.PathLike,
           out_dir: str | os.PathLike, duckdb_cfg: Mapping[str, Any] | None = None) -> dict:
    """Write train/valid/test.parquet and feature_map.json into `out_dir`; return the map."""
    raw, vocab_dir, out_dir = os.fspath(raw_parquet), Path(vocab_dir), Path(out_dir)
    for name in (*(f"{s}.parquet" for s in SPLITS), "feature_map.json"):
        remove_stale(out_dir / name)  # partial files of a killed run (atomic_path's .tmp)
    stats = _vocab_file(vocab_dir / "stats.json", read_json)
    meta = raw_meta(raw)
    if meta["source"].get("sha256") != stats["source"].get("sha256"):
        raise ValueError(f"{vocab_dir}: vocabularies were built from another raw file than {raw}")
    coder = FieldCoder(_vocab_file(vocab_dir / "fields.parquet", pq.read_table))
    for f in stats["fields"]:
        if f["type"] == "categorical" and coder.size(f["name"]) != f["vocab_size"]:
            raise ValueError(f"{vocab_dir}: fields.parquet and stats.json disagree on {f['name']}")
    sizes = {f["name"]: f["vocab_size"] for f in stats["fields"] if f["type"] == "categorical"}
    tables = pair_tables(_vocab_file(vocab_dir / "crosses.parquet", pq.read_table),
                         stats["pairs"], sizes)
    schema = output_schema(stats)
    threads = max(1, int((duckdb_cfg or {}).get("threads") or 1))
    con = sql.connect(duckdb_cfg)
    try:
        split = presplit.bind_split(check_split(stats["split"]), meta)
        presplit.use_file_split(con, split)  # a pre-split source: the files' row ranges
        codes = split_codes(con, raw, split, meta["rows"])
        with contextlib.ExitStack() as stack:
            pool = stack.enter_context(ThreadPoolExecutor(threads))
            tmps = {s: stack.enter_context(atomic_path(out_dir / f"{s}.parquet", suffix=".parquet"))
                    for s in SPLITS}
            writers = {s: stack.enter_context(_writer(tmps[s], schema)) for s in SPLITS}
            continuous = {n for n, k in meta["fields"] if k == "continuous"}
            _encode_rows(con, raw, stats, continuous, coder, tables, codes, writers, pool,
                         stack.enter_context(ThreadPoolExecutor(1)))
            for w in writers.values():
                w.close()
            got = {s: pq.ParquetFile(tmps[s]).metadata.num_rows for s in SPLITS}
            if got != stats["rows"]:
                raise ValueError(f"{raw}: wrote {got} rows per split, stats.json says {stats['rows']}")
            if split.order == "shuffled":  # valid/test are always read whole: order is moot
                shuffle_parquet(con, tmps["train"], split.seed)
        # Written last: a feature_map.json never describes Parquet files that are not all there.
        fmap = feature_map(stats, out_dir.name)
        write_json(out_dir / "feature_map.json", fmap)
    finally:
        con.close()
    return fmap


def encode_rows(raw_parquet: str | os.PathLike, vocab_dir: str | os.PathLike,
                out_parquet: str | os.PathLike, duckdb_cfg: Mapping[str, Any] | None = None) -> int:
    """Encode every row of a raw.parquet (new rows, any source) with the vocabularies of
    `vocab_dir` into one Parquet file of the processed layout, in row_id order: the same
    field coder, scaling, log buckets and cross tables as `encode`, so a value the vocabularies
    lack gets id 0 (OOV) exactly as in training. No split and no source check: the rows need
    not come from the file the vocabularies were built from. Returns the number of rows."""
    raw, vocab_dir = os.fspath(raw_parquet), Path(vocab_dir)
    stats = read_json(vocab_dir / "stats.json")
    meta = raw_meta(raw)
    kinds = dict(meta["fields"])
    for f in stats["fields"]:
        if f["name"] not in kinds:
            raise ValueError(f"{raw}: no column {f['name']!r}; the vocabularies (format "
                             f"{stats['format']!r}) expect {[g['name'] for g in stats['fields']]}")
        # a log-bucketed field is categorical in stats.json and a number in raw.parquet
        if f["type"] == "continuous" and kinds[f["name"]] != "continuous" or (
                f["type"] == "categorical" and kinds[f["name"]] != "categorical"
                and not stats.get("log_bucket")):
            raise ValueError(f"{raw}: column {f['name']!r} is {kinds[f['name']]}, the "
                             f"vocabularies have it {f['type']}")
    coder = FieldCoder(pq.read_table(vocab_dir / "fields.parquet"))
    sizes = {f["name"]: f["vocab_size"] for f in stats["fields"] if f["type"] == "categorical"}
    tables = pair_tables(pq.read_table(vocab_dir / "crosses.parquet"), stats["pairs"], sizes)
    threads = max(1, int((duckdb_cfg or {}).get("threads") or 1))
    codes = np.zeros(meta["rows"], np.uint8)  # every row goes to one file (split code 0)
    con = sql.connect(duckdb_cfg)
    try:
        with contextlib.ExitStack() as stack:
            pool = stack.enter_context(ThreadPoolExecutor(threads))
            tmp = stack.enter_context(atomic_path(out_parquet, suffix=".parquet"))
            writer = stack.enter_context(_writer(tmp, output_schema(stats)))
            continuous = {n for n, k in meta["fields"] if k == "continuous"}
            _encode_rows(con, raw, stats, continuous, coder, tables, codes, {"train": writer},
                         pool, stack.enter_context(ThreadPoolExecutor(1)))
            writer.close()
            got = pq.ParquetFile(tmp).metadata.num_rows
            if got != meta["rows"]:
                raise ValueError(f"{raw}: encoded {got} of {meta['rows']} rows")
    finally:
        con.close()
    return got


def _writer(path: Path, schema: pa.Schema) -> pq.ParquetWriter:
    """Byte-stream-split + zstd(1): half the CPU of dictionary encoding for 325 id columns, and
    smaller files (ids are small numbers, so their high bytes compress away)."""
    split = [f.name for f in schema if f.type in (pa.int32(), pa.int64(), pa.float32())]
    return pq.ParquetWriter(path, schema, compression="zstd", compression_level=1,
                            use_dictionary=False, use_byte_stream_split=split)


def _encode_rows(con, raw, stats, continuous, coder, tables, codes, writers, pool, write_pool) -> None:
    """Encode batch after batch; batch k is written (in the pool) while batch k+1 is encoded."""
    fields = stats["fields"]
    bucketed = [f["name"] for f in fields if f["type"] == "categorical" and f["name"] in continuous]
    strings = [f["name"] for f in fields if f["type"] == "categorical" and f["name"] not in bucketed]
    plain = ["row_id", "label"] + [f["name"] for f in fields if f["type"] == "continuous"]
    pending = None
    for start, table in iter_batches(raw, plain + strings, strings, BATCH_ROWS):
        n = table.num_rows
        row_id = table["row_id"].to_numpy()
        if row_id[0] != start or row_id[-1] != start + n - 1:
            raise ValueError(f"{raw}: row_id is not 0..n-1 in file order near row {start}")
        order = np.argsort(codes[start:start + n], kind="stable")
        bounds = np.searchsorted(codes[start:start + n][order], [0, 1, 2, 3])
        cols: dict[str, np.ndarray] = {"row_id": row_id[order],
                                       "label": table["label"].to_numpy()[order].astype(np.int8)}
        for f in fields:
            if f["type"] == "continuous":
                v = table[f["name"]].to_numpy(zero_copy_only=False).astype(np.float64)
                cols[f["name"]] = scale(v, f["min"], f["max"])[order]
            elif f["name"] in strings:
                cols[f["name"]] = coder.encode(f["name"], table[f["name"]])[order]
        if bucketed:
            buckets = sql.relation(con, "encode_buckets", raw=sql.literal_path(raw),
                                   fields=bucketed, lo=start, hi=start + n).to_arrow_table()
            for name in bucketed:
                cols[name] = coder.encode(name, buckets[name])[order]
        wide = {f["name"]: cols[f["name"]].astype(np.intp) for f in fields if f.get("crossed")}
        cross = list(pool.map(lambda pt: pt[1].encode(wide[pt[0]["fields"][0]], wide[pt[0]["fields"][1]]),
                              zip(stats["pairs"], tables)))
        arrays = [cols["row_id"], cols["label"]] + [cols[f["name"]] for f in fields] + cross
        if pending is not None:
            pending.result()
        pending = write_pool.submit(_write_splits, writers, arrays, bounds)
    if pending is not None:
        pending.result()


def _write_splits(writers: dict, arrays: list[np.ndarray], bounds: np.ndarray) -> None:
    for s, name in enumerate(SPLITS):
        lo, hi = int(bounds[s]), int(bounds[s + 1])
        if hi > lo:
            w = writers[name]
            w.write_table(pa.Table.from_arrays([pa.array(a[lo:hi]) for a in arrays], schema=w.schema),
                          row_group_size=hi - lo)
