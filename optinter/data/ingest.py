"""Stage `ingest`: one raw source -> data/interim/{ds}/raw.parquet.

raw.parquet holds `row_id` (0-based data line or row in the source: header lines are not
counted; for a directory of iPinYou logs, the position in the name-sorted imp.* files), `label`
(int8), then the declared numeric columns (BIGINT for the built-in layouts' integer fields,
Criteo I1-I13; DOUBLE for format table; NULL when missing) and the declared categorical columns as VARCHAR (never NULL; a missing value is the column's `missing`,
'' by default). Every format goes through the one reader, optinter.data.table. Its Parquet
footer key `optinter` holds the format and the source's path and sha256 as JSON.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any, Mapping

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from optinter.data import presplit, readers, sql
from optinter.io import StageOutputError, atomic_path, remove_stale

META_KEY = b"optinter"
log = logging.getLogger(__name__)


def ingest(fmt: str, source: str | os.PathLike, out_parquet: str | os.PathLike,
           duckdb_cfg: Mapping[str, Any] | None = None,
           spec: Mapping[str, Any] | None = None) -> dict:
    """Validate and convert `source` (file, .gz, or a directory of iPinYou logs); return its meta.

    `spec`: the column keys of a `format: table` dataset (label, numeric, categorical,
    missing, read; optinter.config.table_spec), None for a built-in format.

    A mapping {train, valid, test} or a sequence of three files in that order is a pre-split
    source: optinter.data.presplit.ingest_splits stacks them, and the files are the split.

    Raises `readers.DataError` naming the file and the first bad line; nothing is left at
    `out_parquet` on failure.
    """
    if not isinstance(source, (str, os.PathLike)):  # train/valid/test files: the split
        return presplit.ingest_splits(fmt, source, out_parquet, duckdb_cfg, meta_key=META_KEY,
                                      spec=spec)
    remove_stale(out_parquet)  # a killed run's partial .raw.parquet.*.tmp
    src = readers.resolve(fmt, source, spec)
    meta = {"format": fmt, "source": src.describe()}
    extra = {}
    con = sql.connect(duckdb_cfg)
    try:
        with atomic_path(out_parquet, suffix=".parquet") as tmp:
            readers.copy_raw(con, src, tmp, meta)
            rows = pq.ParquetFile(tmp).metadata.num_rows
            if rows == 0:
                raise readers.DataError(f"{src.describe()['path']}: no data lines "
                                        f"(expected at least one {fmt} row)")
            if src.layout == "ipinyou_logs":
                extra["click_lines"] = _click_join(con, src)
    finally:
        con.close()
    return {**meta, "rows": rows, **extra}


def _click_join(con: duckdb.DuckDBPyConnection, src: readers.RawSource) -> dict:
    """Log how many click lines found their impression (a second pass over the imp.* files)."""
    (lines, joined), = sql.relation(con, "ingest_ipinyou_clicks", **src.params()).fetchall()
    files = lambda n, kind: f"{n} {kind}.* file{'s' * (n != 1)}"  # noqa: E731
    what = (f"{src.describe()['path']}: {lines} click lines in {files(len(src.clicks), 'clk')}: "
            f"{joined} joined an impression (bidid + creative), {lines - joined} did not (their "
            f"impression is in none of the {files(len(src.paths), 'imp')})")
    if lines and not joined:  # every label would be 0: say why here, not "one label" later
        raise readers.DataError(f"{what}; expected the clk.* and imp.* logs of the same days "
                                "(e.g. both of training2nd): check source.logs or the folder")
    log.info("%s", what)
    return {"lines": int(lines), "joined": int(joined)}


def raw_meta(raw_parquet: str | os.PathLike) -> dict:
    """The footer meta written by `ingest`, plus `fields`: [(name, 'continuous'|'categorical')]."""
    try:
        pf = pq.ParquetFile(raw_parquet)
    except (OSError, pa.ArrowInvalid) as e:  # truncated (e.g. a full disk) or not Parquet
        raise StageOutputError(f"{raw_parquet}: cannot open as Parquet ({str(e)[:160]}); the file "
                               f"is damaged or truncated. Rebuild it: rm {raw_parquet} and run "
                               "the same command again (the ingest stage writes it anew)") from None
    kv = pf.schema_arrow.metadata or {}
    if META_KEY not in kv:
        raise StageOutputError(f"{raw_parquet}: not written by optinter.data.ingest (no footer "
                               f"meta); rm {raw_parquet} and run the same command again")
    meta = json.loads(kv[META_KEY])
    fields = []
    for f in pf.schema_arrow:
        if f.name in ("row_id", "label"):
            continue
        kind = "categorical" if str(f.type) in ("string", "large_string") else "continuous"
        fields.append((f.name, kind))
    meta["fields"] = fields
    meta["rows"] = pf.metadata.num_rows
    return meta


def row_group_offsets(raw_parquet: str | os.PathLike) -> list[tuple[int, int]]:
    """(first row, row count) of each row group, in file order."""
    md = pq.ParquetFile(raw_parquet).metadata
    out, start = [], 0
    for i in range(md.num_row_groups):
        n = md.row_group(i).num_rows
        out.append((start, n))
        start += n
    return out

