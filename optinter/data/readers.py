"""Raw sources: locate the files, sniff their layout, explain bad input.

The built-in Criteo / Avazu / iPinYou layouts and `format: table` (any file DuckDB reads) are
all read by one reader (optinter.data.table: a declared column list over SQL source views);
this module finds the files, picks the layout and, when DuckDB rejects a built-in layout's
file, finds the first offending line and says what is wrong with it in a `DataError` naming
the file and the line.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import zlib
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping

import duckdb

from optinter.data import sql, table
from optinter.io import file_digest

FORMATS = ("criteo", "avazu", "ipinyou", "table")
AVAZU_HEADER = (
    "id,click,hour,C1,banner_pos,site_id,site_domain,site_category,app_id,app_domain,"
    "app_category,device_id,device_ip,device_model,device_type,device_conn_type,"
    "C14,C15,C16,C17,C18,C19,C20,C21"
)
# reczoo/BARS Criteo_x4 CSVs (pre-split train/valid/test, optinter.data.presplit): a header
# line of these names, comma-separated (FuxiCTR's criteo_x4 dataset config: label_col Label).
CRITEO_CSV_HEADER = ",".join(["Label", *(f"I{k}" for k in range(1, 14)),
                              *(f"C{k}" for k in range(1, 27))])
IPINYOU_LOG_FIELDS = 24  # raw imp.* / clk.* logs
IPINYOU_FIELDS = (27, 29)  # make-ipinyou-data train.log.txt / test.log.txt
_SEP = {"criteo": "\t", "avazu": ",", "ipinyou": "\t", "ipinyou_logs": "\t", "criteo_csv": ","}
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_HEX8 = re.compile(r"[0-9a-f]{8}")


DataError = table.DataError  # bad raw input: file, line or row, column, what was expected


@dataclass(frozen=True)
class RawSource:
    """What to read and how: `layout` picks the column list and source view (table.PRESETS;
    csv / tsv / parquet / json for `format: table`, whose own `spec` and `read` options come
    from the dataset)."""

    fmt: str
    layout: str
    paths: tuple[Path, ...]
    clicks: tuple[Path, ...] = ()
    skip: int = 0
    ncols: int = 0
    compression: str = "none"
    sha256: str = ""
    files: tuple[dict, ...] = field(default=(), compare=False)
    spec: table.TableSpec | None = field(default=None, compare=False)
    read: Mapping[str, Any] = field(default_factory=dict, compare=False)

    def params(self) -> dict:
        """The named parameters of sql/ingest_{layout}.sql, except $out and $meta."""
        # literal_path: the files resolved here, never a glob DuckDB would expand
        if self.layout == "ipinyou_logs":
            return {"imp": [sql.literal_path(p) for p in self.paths],
                    "clk": [sql.literal_path(p) for p in self.clicks],
                    "compression": self.compression}
        params = {"path": sql.literal_path(self.paths[0]), "skip": self.skip,
                  "compression": self.compression}
        if self.layout == "ipinyou":
            params["ncols"] = self.ncols
        return params

    def describe(self) -> dict:
        """JSON-ready provenance for raw.parquet's footer and feature_map.json."""
        path = self.paths[0].parent if self.layout == "ipinyou_logs" else self.paths[0]
        return {"path": str(path), "sha256": self.sha256, "layout": self.layout,
                "header_lines": self.skip, "files": list(self.files)}


def _compression(path: Path) -> str:
    with open(path, "rb") as f:
        return "gzip" if f.read(2) == b"\x1f\x8b" else "none"


def _first_lines(path: Path, n: int = 2) -> list[str]:
    """Up to n first lines without their line ending (gzip or plain); [] for an empty file."""
    opener = gzip.open if _compression(path) == "gzip" else open
    out: list[str] = []
    with opener(path, "rb") as f:
        for raw in f:
            out.append(raw.decode("utf-8", errors="replace").rstrip("\r\n"))
            if len(out) == n:
                break
    if out:  # DuckDB drops a UTF-8 BOM itself; the header checks here must see the same text
        out[0] = out[0].removeprefix("\ufeff")
    return out


def _shown(text: str, width: int = 40) -> str:
    """text quoted for a one-line message: control characters escaped, cut after `width`."""
    cut = text[:width].encode("unicode_escape").decode("ascii")
    return f"'{cut}{'...' if len(text) > width else ''}'"


def _names(items: list[str], limit: int = 6) -> str:
    more = f" and {len(items) - limit} more" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more


def _avazu_header_problem(line: str) -> str | None:
    """None for the canonical header, else which columns are missing, extra or out of place.

    Naming the difference matters: a cut-off copy of two 230-character headers looks identical.
    """
    return _header_problem(line, AVAZU_HEADER, "Avazu")


def _header_problem(line: str, header: str, name: str) -> str | None:
    """_avazu_header_problem for any comma-separated `header` of the layout called `name`."""
    if line == header:
        return None
    want, got = header.split(","), line.split(",")
    if '"' in line and line.replace('"', "") == header:
        return f"found the column names quoted; quoted fields are not part of the {name} format"
    if not set(want) & set(got):
        return f"found no {name} column name in {_shown(line)}; is the header line missing?"
    seen: Counter = Counter()
    extra = []
    for i, name in enumerate(got):
        seen[name] += 1
        if seen[name] > want.count(name):
            extra.append(f"{_shown(name)} (field {i + 1})")
    missing = [name for name in want if name not in seen]
    parts = []
    if missing:
        parts.append(f"missing column{'s' * (len(missing) > 1)} {_names(missing)}")
    if extra:
        parts.append(f"unexpected column{'s' * (len(extra) > 1)} {_names(extra)}")
    if not parts:  # the same names in another order
        moved = [f"field {i + 1} is {g} (expected {w})" for i, (w, g) in enumerate(zip(want, got))
                 if w != g]
        parts.append(f"columns out of order: {_names(moved)}")
    return "; ".join(parts)


def _looks_like_header(line: str) -> bool:
    """True for a line of column names (label, I1, ...): a data line has a 0/1 label and integers."""
    fields = re.split(r"[\t,]", line)
    return (fields[0] not in ("0", "1") and all(_NAME.fullmatch(x) for x in fields)
            and not all(_HEX8.fullmatch(x) for x in fields[1:]))


# In a CRLF file a bare LF or a CR that ends no line is odd; in an LF file every CR is.
_ODD_ENDING = {b"\r\n": re.compile(rb"(?<!\r)\n|\r(?!\n)"), b"\n": re.compile(rb"\r")}


def _line_ending_problem(path: Path, chunk: int = 1 << 24) -> tuple[int, str] | None:
    """(physical line, what is wrong) for the first line whose ending differs from line 1's.

    DuckDB only says its "state machine reached an invalid state" (no line), and its lenient
    mode reads a CRLF as two lines, so this runs here, on the error path only, as one regex
    search per chunk. A chunk's last byte is judged in the next round, once the byte after it
    is known.
    """
    opener = gzip.open if _compression(path) == "gzip" else open
    style = None
    newlines = 0  # LFs before buf[lo]
    buf, lo = b"", 0
    with opener(path, "rb") as f:
        while True:
            data = f.read(chunk)
            final = not data
            buf += data
            if style is None:
                first = buf.find(b"\n")
                if first < 0 and not final and len(buf) < 1 << 26:  # else: no line ends at all
                    continue
                style = b"\r\n" if first > 0 and buf[first - 1:first] == b"\r" else b"\n"
            hi = len(buf) if final else len(buf) - 1
            m = _ODD_ENDING[style].search(buf, lo)
            if m is not None and m.start() < hi:
                line = newlines + buf.count(b"\n", lo, m.start()) + 1
                if m.group() == b"\r" and buf[m.start() + 1:m.start() + 2] != b"\n":
                    return line, ("carriage return (CR) inside the line; expected lines ending "
                                  "in LF or CRLF")
                this, other = ("CRLF", "LF") if style == b"\n" else ("LF", "CRLF")
                return line, (f"ends with {this}, but line 1 ends with {other}; expected one "
                              "line-ending style in the whole file (convert it with dos2unix)")
            if final:
                return None
            if hi <= lo:  # nothing decided yet (a one-byte first read)
                continue
            newlines += buf.count(b"\n", lo, hi)
            buf, lo = buf[hi - 1:], 1  # keep one byte of context before the undecided last byte


def _existing(path: Path, what: str) -> Path:
    if not path.exists():
        raise DataError(f"{path}: no such file (expected {what})")
    if path.is_file() and path.stat().st_size == 0:
        raise DataError(f"{path}: empty file (expected {what})")
    return path


def _with_digest(src: RawSource) -> RawSource:
    files = tuple({"path": str(p), "sha256": file_digest(p)} for p in src.paths + src.clicks)
    if len(files) == 1:
        digest = files[0]["sha256"]
    else:  # a directory of logs: hash of the sorted "name sha256" lines
        lines = "".join(f"{Path(f['path']).name} {f['sha256']}\n" for f in files)
        digest = hashlib.sha256(lines.encode()).hexdigest()
    return replace(src, sha256=digest, files=files)


# What reading a truncated or corrupt gzip file raises (gzip.BadGzipFile is an OSError).
_DAMAGED = (EOFError, zlib.error, OSError)


def _damaged(path: Path, err: Exception) -> DataError:
    return DataError(f"{path}: damaged gzip file ({_first_line(err)}); the file is truncated or "
                     "corrupt: copy or download it again (gzip -t checks it)")


def _opening_lines(source: Path, what: str) -> list[str]:
    """The first lines of `source`, refused (naming `what` was expected) when it is missing,
    a directory, empty or a gzip file damaged at its start."""
    _existing(source, what)
    if source.is_dir():
        raise DataError(f"{source}: is a directory (expected {what})")
    try:
        lines = _first_lines(source)
    except _DAMAGED as err:
        raise _damaged(source, err) from None
    if not lines:
        raise DataError(f"{source}: empty file (expected {what})")
    return lines


def _compression_any(path: Path) -> str:
    with open(path, "rb") as f:
        magic = f.read(4)
    return "gzip" if magic[:2] == b"\x1f\x8b" else "zstd" if magic == b"\x28\xb5\x2f\xfd" else "none"


def resolve_table(source: str | Path, spec: Mapping[str, Any]) -> RawSource:
    """A `format: table` file: its kind (read.format or the file name), its compression, and
    the dataset's declared columns (`spec`: label, numeric, categorical, missing, read)."""
    source = Path(source)
    read = dict(spec.get("read") or {})
    try:
        kind = table.file_kind(source, read)
        columns = table.TableSpec.from_config(spec, kind)
    except ValueError as err:
        raise DataError(str(err)) from None
    _existing(source, f"a {kind} file with the declared columns")
    if source.is_dir():
        raise DataError(f"{source}: is a directory (expected a {kind} file)")
    comp = "none" if kind == "parquet" else _compression_any(source)
    if kind in ("csv", "tsv") and not read.get("header", True) and not columns.names:
        raise DataError(f"{source}: read.header is false but read.names is empty (expected "
                        "the file's column names in order)")
    skip = int(kind in ("csv", "tsv") and read.get("header", True))
    return _with_digest(RawSource("table", kind, (source,), skip=skip, compression=comp,
                                  spec=columns, read=read))


def resolve(fmt: str, source: str | Path, spec: Mapping[str, Any] | None = None) -> RawSource:
    """Check `source` exists and is non-empty, detect gzip, header line and iPinYou layout.
    `spec`: a `format: table` dataset's column keys (resolve_table)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown dataset format {fmt!r}; expected one of {', '.join(FORMATS)}")
    if fmt == "table":
        if spec is None:
            raise ValueError("format table needs the dataset's label and columns")
        return resolve_table(source, spec)
    source = Path(source)
    if fmt == "ipinyou" and source.is_dir():
        return _with_digest(_ipinyou_logs(source))
    what = {"criteo": "a Criteo DAC train.txt (TSV: label, I1-I13, C1-C26; plain or .gz)",
            "avazu": "an Avazu train CSV with its header line (plain or .gz)",
            "ipinyou": "a make-ipinyou-data train.log.txt / test.log.txt, or a directory of "
                       "raw imp.* and clk.* logs"}[fmt]
    lines = _opening_lines(source, what)
    comp = _compression(source)
    if fmt == "criteo":
        if _looks_like_header(lines[0]):
            names = _names([_shown(x, 20) for x in re.split(r"[\t,]", lines[0])], 4)
            raise DataError(f"{source}: line 1: Criteo files have no header line, found the "
                            f"column names {names}; remove line 1 (expected 40 tab-separated "
                            "fields: label, I1-I13, C1-C26)")
        return _with_digest(RawSource(fmt, "criteo", (source,), compression=comp))
    if fmt == "avazu":
        problem = _avazu_header_problem(lines[0])
        if problem:
            raise DataError(f"{source}: line 1: expected the Avazu header (24 comma-separated "
                            f"columns id,click,hour,C1,...,C20,C21); {problem}")
        return _with_digest(RawSource(fmt, "avazu", (source,), skip=1, compression=comp))
    skip = 1 if lines[0].startswith("click\t") else 0
    data = lines[skip:]
    if not data:
        raise DataError(f"{source}: no data line after the header (expected {what})")
    ncols = len(data[0].split("\t"))
    if ncols == IPINYOU_LOG_FIELDS:
        raise DataError(f"{source}: line {skip + 1}: 24 fields look like a raw imp.* log; pass the "
                        "directory holding the imp.* and clk.* files (clicks give the labels)")
    if ncols not in IPINYOU_FIELDS:
        raise DataError(f"{source}: line {skip + 1}: expected 27 (train.log.txt) or 29 "
                        f"(test.log.txt) tab-separated fields, found {ncols}")
    return _with_digest(RawSource(fmt, "ipinyou", (source,), skip=skip, ncols=ncols,
                                  compression=comp))


def resolve_split(fmt: str, source: str | Path,
                  spec: Mapping[str, Any] | None = None) -> RawSource:
    """`resolve` for one file of a pre-split source (optinter.data.presplit).

    Criteo files may also come in the reczoo/BARS Criteo_x4 CSV layout (header line
    CRITEO_CSV_HEADER, comma-separated; layout `criteo_csv`); a first line that looks like a
    header but is not that one is refused, naming the missing and unexpected columns. Every
    other file is read as `resolve` reads it (Avazu_x4 is the Avazu layout, header included).
    """
    if fmt != "criteo":
        return resolve(fmt, source, spec)
    source = Path(source)
    what = ("a reczoo/BARS Criteo_x4 CSV (header line Label,I1,...,I13,C1,...,C26) or a "
            "Criteo DAC TSV without header")
    lines = _opening_lines(source, what)
    if lines[0] == CRITEO_CSV_HEADER or (_looks_like_header(lines[0]) and "," in lines[0]):
        problem = _header_problem(lines[0], CRITEO_CSV_HEADER, "Criteo_x4")
        if problem:
            raise DataError(f"{source}: line 1: expected the Criteo_x4 header (40 "
                            f"comma-separated columns Label,I1,...,I13,C1,...,C26); {problem}")
        return _with_digest(RawSource(fmt, "criteo_csv", (source,), skip=1,
                                      compression=_compression(source)))
    return resolve(fmt, source)


def _ipinyou_logs(folder: Path) -> RawSource:
    imp = tuple(sorted(p for p in folder.glob("imp.*") if p.is_file()))
    clk = tuple(sorted(p for p in folder.glob("clk.*") if p.is_file()))
    if not imp or not clk:
        raise DataError(f"{folder}: expected raw iPinYou logs imp.* and clk.* (plain or .gz), "
                        f"found {len(imp)} imp and {len(clk)} clk files")
    for p in imp + clk:
        _existing(p, "a raw iPinYou log with 24 tab-separated fields")
    comps = {_compression(p) for p in imp + clk}
    if len(comps) > 1:
        raise DataError(f"{folder}: mixes gzip and plain logs; compress all or none")
    return RawSource("ipinyou", "ipinyou_logs", imp, clk, compression=comps.pop())


def copy_raw(con: duckdb.DuckDBPyConnection, src: RawSource, out: str | Path,
             meta: Mapping | str) -> None:
    """Read `src` through the one reader (optinter.data.table: its source view, derived
    columns, sql/ingest_table.sql) into raw.parquet `out` with footer `meta`; raise DataError
    naming the file, the line or row, the column and what was expected."""
    spec = table.spec_of(src)
    meta_json = meta if isinstance(meta, str) else json.dumps(meta, sort_keys=True)
    try:
        sql.execute(con, spec.source, idents=spec.idents(), **table.params(con, src, spec))
        sql.execute(con, spec.derive)
    except duckdb.Error as err:
        raise table.read_error(src, err) from err
    if spec.check:
        table.check_columns(con, src, spec)
    try:
        sql.execute(con, "ingest_table", idents=spec.idents(), check=spec.check, label=spec.label,
                    numeric=list(spec.numeric), missing=spec.missing_values(), out=str(out),
                    meta=meta_json)
    except duckdb.Error as err:
        if not spec.check:  # a built-in layout: its first bad line, line endings, ...
            raise explain_failure(con, src, err) from err
        raise table.first_problem(con, src, err) from err


def explain_failure(con: duckdb.DuckDBPyConnection, src: RawSource, err: Exception) -> DataError:
    """The DataError for a failed ingest: the first bad line of the first file that has one."""
    checks = [(p, src.layout, src.skip) for p in src.paths]
    checks += [(p, "ipinyou_logs", 0) for p in src.clicks]
    for path, layout, skip in checks:
        try:
            if layout == "criteo_csv":  # a pre-split reczoo/BARS CSV (presplit_macros.sql)
                rows = sql.relation(con, "presplit_first_problem", path=sql.literal_path(path),
                                    skip=skip, compression=src.compression).fetchall()
            else:
                rows = sql.relation(con, "ingest_first_problem", path=sql.literal_path(path),
                                    skip=skip, compression=src.compression, sep=_SEP[layout],
                                    layout=layout, ncols=src.ncols).fetchall()
        except duckdb.Error as inner:  # the file cannot even be split into lines
            try:
                ending = _line_ending_problem(path)
            except _DAMAGED as damage:  # a truncated or corrupt .gz: say so, not why lines fail
                return _damaged(path, damage)
            if ending:
                return DataError(f"{path}: line {ending[0]}: {ending[1]}")
            return DataError(f"{path}: cannot be read as {src.fmt} text (plain or gzip, UTF-8, "
                             f"one line ending style): {_first_line(inner)}")
        if rows:
            return DataError(f"{path}: line {rows[0][0] + skip}: {rows[0][1]}")
    return DataError(f"{', '.join(map(str, src.paths))}: ingest failed: {_first_line(err)}")


def _first_line(err: Exception) -> str:
    return str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
