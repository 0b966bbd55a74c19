"""Pre-split sources: train / valid / test given as three files (e.g. the reczoo/BARS splits).

The files are the split: nothing is re-split. `ingest_splits` reads each file with its format's
reader (readers.resolve_split: the Criteo_x4 CSV layout, or any layout `resolve` reads) and
stacks them into one raw.parquet in the order train, valid, test, row_id running on across
the files, so a row's split is a row_id range. The footer meta's `source.splits` records the
rows per file; a dataset config says `split: {from: files}` (check_split: Split.from_files).
`bind_split` gives such a Split the row counts of raw.parquet, and `use_file_split` makes the
connection's split_code() macro the row_id ranges (sql/presplit_split_code.sql), so the vocab
and encode SQL, written for the hashed split, read the files' split unchanged.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Mapping, Sequence

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from optinter.data import readers, sql
from optinter.io import atomic_path, remove_stale

SPLITS = ("train", "valid", "test")


def split_paths(source: Mapping[str, Any] | Sequence[Any]) -> dict[str, Path]:
    """{train, valid, test} -> path from a mapping with those keys or a sequence in that order."""
    if isinstance(source, Mapping):
        missing = [s for s in SPLITS if s not in source]
        extra = sorted(set(source) - set(SPLITS))
        if missing or extra:
            raise ValueError(f"pre-split source needs exactly the files {', '.join(SPLITS)}; "
                             f"missing {missing or 'none'}, unexpected {extra or 'none'}")
        return {s: Path(source[s]) for s in SPLITS}
    items = list(source)
    if len(items) != len(SPLITS):
        raise ValueError(f"pre-split source needs {len(SPLITS)} files (train, valid, test), "
                         f"got {len(items)}: {items}")
    return {s: Path(p) for s, p in zip(SPLITS, items)}


def ingest_splits(fmt: str, source: Mapping[str, Any] | Sequence[Any],
                  out_parquet: str | os.PathLike,
                  duckdb_cfg: Mapping[str, Any] | None = None, *, meta_key: bytes,
                  spec: Mapping[str, Any] | None = None) -> dict:
    """Validate and stack the train, valid and test files into `out_parquet`; return its meta.

    Called by optinter.data.ingest.ingest, which passes its footer key `meta_key`. Raises
    readers.DataError naming the file and its first bad line (or the header's missing and
    unexpected columns); nothing is left at `out_parquet` on failure.
    """
    out_parquet = Path(out_parquet)
    parts_prefix = f".{out_parquet.name}-parts-"  # the per-file Parquet folder below
    remove_stale(out_parquet, glob.escape(parts_prefix) + "*")  # a killed run's, and its .tmp
    paths = split_paths(source)
    srcs = {s: readers.resolve_split(fmt, p, spec) for s, p in paths.items()}
    out_parquet.parent.mkdir(parents=True, exist_ok=True)
    parts = Path(tempfile.mkdtemp(prefix=parts_prefix, dir=out_parquet.parent))
    con = sql.connect(duckdb_cfg)
    try:
        sql.execute(con, "presplit_macros")
        rows = {}
        for s, src in srcs.items():
            part = parts / f"{s}.parquet"
            readers.copy_raw(con, src, part, "{}")
            rows[s] = pq.ParquetFile(part).metadata.num_rows
            if rows[s] == 0:
                raise readers.DataError(f"{src.paths[0]}: no data lines (expected at least one "
                                        f"{fmt} row in the {s} file)")
        meta = {"format": fmt, "source": describe(srcs, rows)}
        with atomic_path(out_parquet, suffix=".parquet") as tmp:
            _stack([parts / f"{s}.parquet" for s in SPLITS], tmp,
                   {meta_key: json.dumps(meta, sort_keys=True).encode()})
    finally:
        con.close()
        shutil.rmtree(parts, ignore_errors=True)
    return {**meta, "rows": sum(rows.values())}


def describe(srcs: Mapping[str, readers.RawSource], rows: Mapping[str, int]) -> dict:
    """raw.parquet's footer `source` for stacked files: `path` their common folder, `sha256`
    the hash of the "name sha256" lines (as a log folder's), `files` in split order, and
    `splits` {split: {path, sha256, rows, layout}}."""
    files = [{"path": str(src.paths[0]), "sha256": src.sha256} for src in srcs.values()]
    digest = hashlib.sha256("".join(
        f"{s} {Path(f['path']).name} {f['sha256']}\n" for s, f in zip(srcs, files)).encode())
    layouts = sorted({src.layout for src in srcs.values()})
    folder = os.path.commonpath([os.path.abspath(f["path"]) for f in files])
    return {"path": folder, "sha256": digest.hexdigest(), "layout": "+".join(layouts),
            "header_lines": max(src.skip for src in srcs.values()), "files": files,
            "splits": {s: {"path": str(src.paths[0]), "sha256": src.sha256, "rows": int(rows[s]),
                           "layout": src.layout} for s, src in srcs.items()}}


def _stack(parts: list[Path], out: Path, footer: dict[bytes, bytes]) -> None:
    """Concatenate the part files row group by row group, row_id shifted to run on."""
    schema = pq.ParquetFile(parts[0]).schema_arrow.with_metadata(footer)
    offset = 0
    with pq.ParquetWriter(out, schema, compression="snappy") as writer:
        for part in parts:
            pf = pq.ParquetFile(part)
            if not pf.schema_arrow.remove_metadata().equals(schema.remove_metadata()):
                raise readers.DataError(f"{part}: the split files do not share one layout")
            for i in range(pf.metadata.num_row_groups):
                table = pf.read_row_group(i)
                shifted = pc.add(table["row_id"], pa.scalar(offset, pa.int64()))
                writer.write_table(table.set_column(0, "row_id", shifted)
                                   .replace_schema_metadata(footer))
            offset += pf.metadata.num_rows


def file_rows(meta: Mapping[str, Any]) -> tuple[int, int, int] | None:
    """Rows of the train, valid and test files of a pre-split raw.parquet (None otherwise)."""
    splits = meta.get("source", {}).get("splits")
    if not splits:
        return None
    return tuple(int(splits[s]["rows"]) for s in SPLITS)


def bind_split(split, meta: Mapping[str, Any]):
    """The vocab.Split to use on a raw.parquet with footer `meta`: a `from: files` split gets
    the files' row counts; a fraction split of pre-split data (or the reverse) is refused."""
    rows = file_rows(meta)
    path = meta.get("source", {}).get("path", "raw.parquet")
    if split.from_files and rows is None:
        raise ValueError(f"{path}: split: {{from: files}} needs a pre-split source (train, "
                         "valid and test files: source.splits), but this data is one file; "
                         "give split fractions instead")
    if not split.from_files and rows is not None:
        raise ValueError(f"{path}: the source is pre-split into train, valid and test files; "
                         "set split: {from: files} (the files are the split), not fractions")
    return split.with_rows(rows) if rows is not None else split


def use_file_split(con: duckdb.DuckDBPyConnection, split) -> None:
    """Make split_code() on `con` the files' row_id ranges (no-op for a hashed split)."""
    if split.from_files:
        sql.execute(con, "presplit_split_code")
