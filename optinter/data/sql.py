"""Load the SQL files of optinter/data/sql and run them on a configured DuckDB connection.

Values always travel as DuckDB named parameters ($name). Identifiers never appear in the SQL
text except through `quote_ident`, the one place that validates and quotes them. A file may
repeat a block once per column of a list:

    -- repeat fields joined by UNION ALL
    SELECT $fields[{pos}] AS field, {ident} AS value FROM t
    -- end repeat

`{ident}` becomes the quoted column name and `{pos}` its 1-based position in the list.
Without `joined by` the copies follow each other (each ends in its own separator, e.g. a
trailing comma, which DuckDB accepts before FROM and `]`), and an empty list gives none.
"""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path
from typing import Any, Mapping

import duckdb

SQL_DIR = Path(__file__).with_name("sql")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PARAM = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
# A statement ends at a semicolon that closes its line; string literals in our files never do.
_SPLIT = re.compile(r";[ \t]*(?:--[^\n]*)?(?:\n|$)")
_REPEAT = re.compile(r"^[ \t]*-- repeat (\w+)(?: joined by ([^\n]+))?\n(.*?)^[ \t]*-- end repeat[ \t]*$",
                     re.M | re.S)


def quote_ident(name: str) -> str:
    """Double-quote a column name after checking it is a plain identifier (no quoting tricks)."""
    if not isinstance(name, str) or not _IDENT.fullmatch(name):
        raise ValueError(f"not a valid column name: {name!r} (expected letters, digits, _)")
    return f'"{name}"'


def literal_path(path: str | os.PathLike) -> str:
    """`path` as a DuckDB file argument that names exactly that file.

    DuckDB's readers expand * ? [ in every path they get (a file named `tr[a].txt` reads
    `tra.txt`, one named `s*.txt` every s?.txt beside it), and have no escape character; a
    one-character class [c] matches c literally, so each wildcard character is wrapped in one.
    """
    return re.sub(r"[*?\[]", lambda m: f"[{m.group()}]", os.fspath(path))


@functools.lru_cache(maxsize=None)
def load(name: str) -> tuple[str, ...]:
    """The statements of sql/{name}.sql, comments kept (DuckDB ignores them)."""
    text = (SQL_DIR / f"{name}.sql").read_text()
    return tuple(s.strip() for s in _SPLIT.split(text) if _strip_comments(s).strip())


def expand(stmt: str, idents: Mapping[str, list[str]] | None = None) -> str:
    """Expand the `-- repeat LIST joined by SQL` blocks with quoted identifiers from `idents`."""

    def block(m: re.Match) -> str:
        joined = m.group(2) is not None
        if not idents or m.group(1) not in idents or (joined and not idents[m.group(1)]):
            raise KeyError(f"SQL repeat block needs a non-empty identifier list {m.group(1)!r}")
        body = m.group(3)
        parts = [body.replace("{ident}", quote_ident(n)).replace("{pos}", str(i + 1))
                 for i, n in enumerate(idents[m.group(1)])]
        if not joined:
            return "".join(parts)
        return f"\n{m.group(2).strip()}\n".join(p.rstrip("\n") for p in parts) + "\n"

    return _REPEAT.sub(block, stmt)


def _strip_comments(stmt: str) -> str:
    return "\n".join(line.split("--", 1)[0] for line in stmt.splitlines())


def connect(duckdb_cfg: Mapping[str, Any] | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB bounded by config.yaml's `duckdb` mapping, with optinter's macros.

    `memory_limit` caps DuckDB's buffer pool; beyond it operators spill to `temp_directory`.
    Insertion order is preserved so a plain scan returns rows in file order (row_id order).
    """
    cfg = dict(duckdb_cfg or {})
    config: dict[str, Any] = {"preserve_insertion_order": True}
    if cfg.get("memory_limit"):
        config["memory_limit"] = str(cfg["memory_limit"])
    if cfg.get("threads"):
        config["threads"] = int(cfg["threads"])
    if cfg.get("temp_directory"):
        tmp = Path(cfg["temp_directory"])
        tmp.mkdir(parents=True, exist_ok=True)
        config["temp_directory"] = os.fspath(tmp)
    con = duckdb.connect(config=config)
    execute(con, "macros")
    return con


def execute(con: duckdb.DuckDBPyConnection, name: str,
            idents: Mapping[str, list[str]] | None = None, **params: Any) -> duckdb.DuckDBPyConnection:
    """Run every statement of sql/{name}.sql (repeat blocks expanded with `idents`); each gets
    the parameters it names. Returns `con`."""
    for stmt in load(name):
        stmt = expand(stmt, idents) if idents else stmt
        used = set(_PARAM.findall(_strip_comments(stmt)))
        missing = used - params.keys()
        if missing:
            raise KeyError(f"sql/{name}.sql needs parameters {sorted(missing)}")
        con.execute(stmt, {k: params[k] for k in used} if used else None)
    return con


def relation(con: duckdb.DuckDBPyConnection, name: str,
             idents: Mapping[str, list[str]] | None = None, **params: Any) -> duckdb.DuckDBPyRelation:
    """The single query of sql/{name}.sql as a lazy relation (to Arrow, numpy, Parquet)."""
    (stmt,) = load(name)
    stmt = expand(stmt, idents)
    used = set(_PARAM.findall(_strip_comments(stmt)))
    missing = used - params.keys()
    if missing:
        raise KeyError(f"sql/{name}.sql needs parameters {sorted(missing)}")
    return con.sql(stmt, params={k: params[k] for k in used} if used else None)
