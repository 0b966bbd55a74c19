"""The one reader: a declared column list (label, numeric, categorical) over a source view.

Every format is read the same way (sql/ingest_table.sql): a source view `table_lines` named
by the format's layout, an optional view of derived columns (`table_rows`), and one projection
into raw.parquet (row_id, label, numeric DOUBLE columns, categorical text columns) with the
same checks, error path and footer for all of them. The built-in formats are presets of it
(PRESETS): a declared column list, their own strict line checks (macros.sql) and derived
columns (Avazu's hour, iPinYou's user agent and slot price). `format: table` is the same
reader over any file DuckDB reads (CSV / TSV, Parquet, JSON lines; plain or compressed), its
columns declared by the dataset (`TableSpec.from_config`), its values checked by the
projection itself (label 0/1, numbers).
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Mapping

import duckdb

from optinter.data import sql

RESERVED = ("row_id", "optinter_row", "optinter_problem", "optinter_bad")
KINDS = ("csv", "tsv", "parquet", "json")
_EXT = {".csv": "csv", ".tsv": "tsv", ".txt": "csv", ".parquet": "parquet", ".pq": "parquet",
        ".json": "json", ".jsonl": "json", ".ndjson": "json"}
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CSV_LINE = re.compile(r"CSV Error on Line: (\d+)")
_SEP = {"criteo": "\t", "avazu": ",", "ipinyou": "\t"}  # the built-in text layouts' delimiters

CRITEO_NAMES = ("label", *(f"I{k}" for k in range(1, 14)), *(f"C{k}" for k in range(1, 27)))
CRITEO_CSV_NAMES = ("Label", *CRITEO_NAMES[1:])
AVAZU_NAMES = ("id", "click", "hour", "C1", "banner_pos", "site_id", "site_domain",
               "site_category", "app_id", "app_domain", "app_category", "device_id", "device_ip",
               "device_model", "device_type", "device_conn_type", "C14", "C15", "C16", "C17",
               "C18", "C19", "C20", "C21")
# make-ipinyou-data train.log.txt (27 fields) / test.log.txt (29: + nclick, nconversation)
IPINYOU_NAMES = ("click", "weekday", "hour", "bidid", "timestamp", "logtype", "ipinyouid",
                 "useragent", "IP", "region", "city", "adexchange", "domain", "url", "urlid",
                 "slotid", "slotwidth", "slotheight", "slotvisibility", "slotformat", "slotprice",
                 "creative", "bidprice", "payprice", "keypage", "advertiser", "usertag", "nclick",
                 "nconversation")
# the 16 fields the paper uses (mkyzx.py's list): user tags, ids, URLs and prices are dropped
IPINYOU_FIELDS = ("weekday", "hour", "IP", "region", "city", "adexchange", "domain", "slotid",
                  "slotwidth", "slotheight", "slotvisibility", "slotformat", "creative",
                  "advertiser", "useragent", "slotprice")


class DataError(ValueError):
    """Bad raw input. The message names the file, the line or row (when there is one), the
    column and what was expected (also optinter.data.readers.DataError)."""


@dataclass(frozen=True)
class TableSpec:
    """What the projection keeps: the label, the numeric and the categorical columns (in this
    order in raw.parquet), each categorical's value for a missing entry, and how to read them.

    `source` names the SQL of the source view, `derive` that of the derived-columns view;
    `names` are a text layout's columns by position; `check` runs format table's per-value
    checks (a built-in layout's own line checks already cover its values); `integer` types the
    numeric columns BIGINT (the built-in layouts' integer fields, exact to int64), else DOUBLE."""

    label: str
    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    missing: tuple[str, ...] = ()
    source: str = "read_lines"
    derive: str = "read_rows"
    names: tuple[str, ...] = ()
    check: bool = False
    integer: bool = False

    def missing_values(self) -> list[str]:
        return list(self.missing) if self.missing else [""] * len(self.categorical)

    def idents(self) -> dict[str, list[str]]:
        nums, cats = list(self.numeric), list(self.categorical)
        return {"label": [self.label], "integer": nums if self.integer else [],
                "numeric": [] if self.integer else nums,
                # a built-in layout's categoricals are text already, never NULL: as they are
                "categorical": cats if self.check else [], "text": [] if self.check else cats,
                "names": list(self.names)}

    @classmethod
    def from_config(cls, table: Mapping[str, Any], kind: str) -> "TableSpec":
        """The spec of a `format: table` dataset (its keys label, numeric, categorical,
        missing; optinter.config has checked them) read as file kind `kind`."""
        cats = [c if isinstance(c, str) else c["name"] for c in table["categorical"]]
        default = str(table.get("missing", ""))
        missing = [default if isinstance(c, str) else str(c.get("missing", default))
                   for c in table["categorical"]]
        nums = [n if isinstance(n, str) else n["name"] for n in table.get("numeric", [])]
        names = table.get("read", {}).get("names", [])
        for name in [table["label"], *nums, *cats, *names]:
            if not isinstance(name, str) or not _NAME.fullmatch(name) or name in RESERVED:
                raise ValueError(f"column name {name!r}: expected letters, digits and _ (not "
                                 f"starting with a digit), and none of {', '.join(RESERVED)}")
        return cls(table["label"], tuple(nums), tuple(cats), tuple(missing),
                   source=f"read_table_{'csv' if kind == 'tsv' else kind}",
                   names=tuple(names), check=True)


PRESETS = {
    "criteo": TableSpec("label", CRITEO_NAMES[1:14], CRITEO_NAMES[14:], names=CRITEO_NAMES,
                        integer=True),
    "criteo_csv": TableSpec("Label", CRITEO_CSV_NAMES[1:14], CRITEO_CSV_NAMES[14:],
                            source="presplit_read_criteo_csv", names=CRITEO_CSV_NAMES,
                            integer=True),
    "avazu": TableSpec("click", (), ("hour", "weekday", "is_weekend", *AVAZU_NAMES[3:]),
                       derive="read_derive_avazu", names=AVAZU_NAMES),
    "ipinyou": TableSpec("click", (), IPINYOU_FIELDS, derive="read_derive_ipinyou",
                         names=IPINYOU_NAMES),
    "ipinyou_logs": TableSpec("click", (), IPINYOU_FIELDS, source="read_ipinyou_logs",
                              derive="read_derive_ipinyou"),
}


def file_kind(path: Path, read: Mapping[str, Any]) -> str:
    """csv | tsv | parquet | json: `read.format` when given, else from the file name (a
    compression suffix .gz / .zst is looked through)."""
    if read.get("format"):
        return str(read["format"])
    suffixes = [s.lower() for s in path.suffixes if s.lower() not in (".gz", ".gzip", ".zst")]
    kind = _EXT.get(suffixes[-1] if suffixes else "")
    if kind is None:
        raise ValueError(f"{path}: cannot tell the file type from its name; set "
                         f"read.format (one of {', '.join(KINDS)})")
    return kind


def params(con: duckdb.DuckDBPyConnection, src, spec: TableSpec) -> dict:
    """The named parameters of the source view's SQL for raw source `src` (readers.RawSource)."""
    # literal_path: the files resolved before, never a glob DuckDB would expand
    if spec.source == "read_ipinyou_logs":
        return {"imp": [sql.literal_path(p) for p in src.paths],
                "clk": [sql.literal_path(p) for p in src.clicks],
                "compression": src.compression}
    path = sql.literal_path(src.paths[0])
    if spec.source == "read_table_parquet":
        return {"path": path}
    if spec.source == "read_table_json":
        return {"path": path, "compression": src.compression}
    if spec.source == "read_table_csv":
        header = bool(src.read.get("header", True))
        names = header_names(con, src) if header else list(spec.names)
        return {"path": path, "delim": _delimiter(src), "skip": int(header),
                "columns": {n: "VARCHAR" for n in names}, "compression": src.compression}
    out = {"path": path, "skip": src.skip, "compression": src.compression}
    if spec.source == "read_lines":
        out.update(sep=_SEP[src.layout], layout=src.layout, ncols=src.ncols)
    return out


def _delimiter(src) -> str:
    return src.read.get("delimiter", "\t" if src.layout == "tsv" else ",")


def header_names(con: duckdb.DuckDBPyConnection, src) -> list[str]:
    """The column names on line 1 of a CSV / TSV source (quotes as CSV has them)."""
    path = src.paths[0]
    rows = sql.relation(con, "read_header_line", path=sql.literal_path(path),
                        compression=src.compression).fetchall()
    first = rows[0][0] or "" if rows else ""
    names = next(csv.reader([first.removeprefix("\ufeff").rstrip("\r\n")],
                            delimiter=_delimiter(src)), [])
    dup = sorted({n for n in names if names.count(n) > 1})
    if not names or dup or "" in names:
        why = f"the column {dup[0]!r} twice" if dup else "an empty column name"
        raise DataError(f"{path}: line 1 (the header): found {why if names else 'no names'} "
                        f"(expected one name per column, delimiter {_delimiter(src)!r})")
    return names


def spec_of(src) -> TableSpec:
    """The column list raw source `src` is read with: its own (format table) or its preset."""
    if src.spec is not None:
        return src.spec
    spec = PRESETS[src.layout]
    if src.layout == "ipinyou":  # 27 or 29 fields
        spec = replace(spec, names=spec.names[:src.ncols])
    return spec


def where(src, row: int) -> str:
    """'line N' of a text file (the header line counted), else 'row N'."""
    if src.layout in ("csv", "tsv"):
        return f"line {row + (1 if src.read.get('header', True) else 0)}"
    return f"line {row}" if src.layout == "json" else f"row {row}"


def first_problem(con, src, err: Exception) -> DataError:
    """The DataError for a failed format-table COPY: its first bad row (file, line or row,
    column, what was expected), else DuckDB's own refusal of the file."""
    try:
        rows = sql.relation(con, "ingest_table_first_problem").fetchall()
    except duckdb.Error as inner:
        return read_error(src, inner)
    if rows:
        return DataError(f"{src.paths[0]}: {where(src, rows[0][0])}: {rows[0][1]}")
    return read_error(src, err)


def read_error(src, err: Exception) -> DataError:
    """DuckDB's own refusal of a file (CSV structure, not Parquet, ...) as one line."""
    text = str(err).strip()
    first = text.splitlines()[0] if text else type(err).__name__
    m = _CSV_LINE.search(text)
    if m:
        detail = next((ln.strip() for ln in text.splitlines()
                       if ln.strip().startswith("Expected Number of Columns")), first)
        return DataError(f"{src.paths[0]}: line {m.group(1)}: {detail} (expected every line to "
                         f"have the header's columns, delimiter {_shown_delim(src)})")
    return DataError(f"{src.paths[0]}: cannot be read as {src.layout}: {first}")


def _shown_delim(src) -> str:
    return repr(_delimiter(src))


def check_columns(con, src, spec: TableSpec) -> None:
    """Every declared column is in the file: else one message naming the missing ones and
    what the file has."""
    have = [r[0] for r in sql.relation(con, "read_columns").fetchall()
            if r[0] not in ("optinter_row", "optinter_problem")]
    want = [spec.label, *spec.numeric, *spec.categorical]
    missing = [c for c in want if c not in have]
    if missing:
        where = ("line 1 (the header)" if src.layout in ("csv", "tsv")
                 and src.read.get("header", True) else "columns")
        shown = ", ".join(have[:12]) + (f" and {len(have) - 12} more" if len(have) > 12 else "")
        raise DataError(f"{src.paths[0]}: {where}: missing column{'s' * (len(missing) > 1)} "
                        f"{', '.join(missing)} (expected the columns the dataset declares: "
                        f"label, numeric, categorical); found {shown}")
