"""Mutual information between each feature interaction (and each field) and the label (§III-G).

MI is measured on the train split over the ids the model sees: the thresholded cross ids of the
`{a}_x_{b}` columns (OOV id 0 is one value like any other) and the categorical field ids. All
entropies come from DuckDB GROUP BY counts, one column per query (sql/mi_column.sql); Python
only joins the result with the searched architecture and summarises it. Values are in bits.
"""

from __future__ import annotations

import json
import math
from importlib import resources
from pathlib import Path
from typing import Any, Mapping, Sequence

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from scipy import stats

from optinter.data.sql import connect
from optinter.io import StageOutputError, atomic_path, read_json, rebuild_hint

METHODS = ("memorize", "factorize", "naive")
UNITS = "bits"
COLUMNS = ["pair", "field_a", "field_b", "mi", "mi_mm", "distinct", "choice",
           "p_memorize", "p_factorize", "p_naive"]
# DuckDB sums floats in a thread-dependent order; rounding far below any meaningful MI
# difference keeps outputs byte-identical across runs of the same config.
_DECIMALS = 12


def _sql(name: str) -> str:
    return resources.files("optinter.analysis").joinpath("sql", name).read_text()


def _connect(duckdb_cfg: Mapping[str, Any] | None) -> duckdb.DuckDBPyConnection:
    """The data layer's bounded connection (config.yaml `duckdb`), plus a footer cache."""
    con = connect(duckdb_cfg)
    # one query per column re-reads the same footer hundreds of times; cache it (~1/3 faster)
    con.execute("SET parquet_metadata_cache = true")
    return con


def _check_parquet(path: Path, columns: Sequence[str]) -> None:
    """Fail early, naming the file and column, if an id column is missing or not integer."""
    schema = pq.read_schema(path)
    for name in ["label", *columns]:
        if name not in schema.names:
            raise ValueError(f"{path}: column {name!r} is missing (expected by feature_map.json)")
        typ = schema.field(name).type
        if not pa.types.is_integer(typ):
            raise ValueError(f"{path}: column {name!r} has type {typ}; expected integer ids")


def _check_rows(path: Path, rows: int | None) -> None:
    """Refuse a damaged split, or one whose rows are not those feature_map.json records."""
    try:
        got = pq.ParquetFile(path).metadata.num_rows
    except (OSError, pa.ArrowInvalid) as e:
        raise StageOutputError(f"{path}: cannot open as Parquet ({str(e)[:160]}); the file is "
                               f"damaged or truncated. {rebuild_hint(path)}") from None
    if rows is not None and got != int(rows):
        raise StageOutputError(f"{path}: {got} rows, but feature_map.json records {rows} for "
                               f"train: the file is not the one encoded with it. "
                               f"{rebuild_hint(path)}")


def _check_labels(con: duckdb.DuckDBPyConnection, path: Path) -> int:
    n_rows, n_bad, first_row, first_label = con.execute(
        _sql("label_check.sql"), {"path": str(path)}).fetchone()
    if n_bad:
        raise ValueError(f"{path}: row {first_row} (0-based, {n_bad} rows in all) has label "
                         f"{first_label!r}; expected 0 or 1")
    if not n_rows:
        raise ValueError(f"{path}: no rows; mutual information needs a non-empty train split")
    return int(n_rows)


def column_mi(parquet: str | Path, columns: Sequence[str],
              duckdb_cfg: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Plug-in and Miller-Madow MI (bits) of the label with each integer column of `parquet`.

    Returns one row per column (in the given order) with columns `column, mi, mi_mm, distinct,
    n_rows, n_clicks, h_y`. A column holding NULLs is an error naming it.
    """
    path = Path(parquet)
    columns = list(columns)
    if len(set(columns)) != len(columns):
        raise ValueError(f"{path}: duplicate columns requested: {columns}")
    _check_parquet(path, columns)
    query = _sql("mi_column.sql")
    rows = []
    con = _connect(duckdb_cfg)
    try:
        n_rows = _check_labels(con, path)
        for col in columns:
            res = con.execute(query, {"path": str(path), "column": col}).df().iloc[0]
            if res["null_values"] or res["n_rows"] != n_rows:
                raise ValueError(f"{path}: column {col!r} has NULL ids; expected an id in every "
                                 f"row (OOV is id 0)")
            rows.append({"column": col, **{k: res[k] for k in
                         ("mi", "mi_mm", "distinct_values", "n_rows", "n_clicks", "h_y")}})
    finally:
        con.close()
    out = pd.DataFrame(rows, columns=["column", "mi", "mi_mm", "distinct_values", "n_rows",
                                      "n_clicks", "h_y"])
    for k in ("mi", "mi_mm", "h_y"):
        out[k] = (out[k].astype(float) / math.log(2)).round(_DECIMALS)
    out = out.rename(columns={"distinct_values": "distinct"})
    return out.astype({"distinct": "int64", "n_rows": "int64", "n_clicks": "int64"})


def _architecture_table(arch_path: Path, pairs: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Chosen method and method probabilities per pair, validated against feature_map pairs."""
    arch = read_json(arch_path)
    methods = list(arch.get("methods", METHODS))
    if sorted(methods) != sorted(METHODS):
        raise ValueError(f"{arch_path}: 'methods' is {methods}; expected the three of {list(METHODS)}")
    by_name = {}
    for i, entry in enumerate(arch.get("pairs", [])):
        name = entry.get("name")
        probs = entry.get("probs")
        if not isinstance(probs, list) or len(probs) != len(methods):
            raise ValueError(f"{arch_path}: pairs[{i}] ({name}) 'probs' is {probs!r}; "
                             f"expected {len(methods)} numbers in the order of {methods}")
        if entry.get("choice") not in METHODS:
            raise ValueError(f"{arch_path}: pairs[{i}] ({name}) 'choice' is "
                             f"{entry.get('choice')!r}; expected one of {list(METHODS)}")
        by_name[name] = entry
    wanted = [p["name"] for p in pairs]
    missing = [n for n in wanted if n not in by_name]
    extra = sorted(set(by_name) - set(wanted))
    if missing or extra:
        raise ValueError(f"{arch_path}: pairs do not match feature_map.json; missing "
                         f"{missing[:5]}{'...' if len(missing) > 5 else ''}, unexpected "
                         f"{extra[:5]}{'...' if len(extra) > 5 else ''}")
    rows = []
    for p in pairs:
        entry = by_name[p["name"]]
        if "fields" in entry and list(entry["fields"]) != list(p["fields"]):
            raise ValueError(f"{arch_path}: pair {p['name']} has fields {entry['fields']}; "
                             f"feature_map.json says {p['fields']}")
        prob = dict(zip(methods, (float(x) for x in entry["probs"])))
        rows.append({"pair": p["name"], "choice": entry["choice"],
                     **{f"p_{m}": prob[m] for m in METHODS}})
    return pd.DataFrame(rows)


def _finite(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def _spearman(x: pd.Series, y: pd.Series) -> dict[str, Any]:
    """Spearman rank correlation; undefined (None) for < 3 pairs or a constant series."""
    n = int(len(x))
    if n < 3 or x.nunique() < 2 or y.nunique() < 2:
        return {"rho": None, "p_value": None, "n": n}
    res = stats.spearmanr(x.to_numpy(), y.to_numpy())
    return {"rho": _finite(res.statistic), "p_value": _finite(res.pvalue), "n": n}


def summarise(table: pd.DataFrame, fields: pd.DataFrame, h_y: float, n_rows: int,
              n_clicks: int, dataset: str | None = None) -> dict[str, Any]:
    """The JSON summary: MI per chosen method, rank correlation with p_memorize, field MIs."""
    by_method = {}
    for m in METHODS:
        sub = table[table["choice"] == m]
        entry: dict[str, Any] = {"count": int(len(sub))}
        for col, key in (("mi", ""), ("mi_mm", "_mm")):
            vals = sub[col].to_numpy(dtype=float)
            entry[f"mean{key}"] = _finite(vals.mean()) if vals.size else None
            entry[f"std{key}"] = _finite(vals.std(ddof=1)) if vals.size > 1 else None
        by_method[m] = entry
    top = table.sort_values(["mi_mm", "pair"], ascending=[False, True]).head(10)
    return {
        "dataset": dataset,
        "units": UNITS,
        "estimators": {"mi": "plug-in H(y) - H(y|X) (paper Eq. 21)",
                       "mi_mm": "Miller-Madow bias-corrected (each entropy + (cells - 1) / 2N)"},
        "train_rows": int(n_rows),
        "train_clicks": int(n_clicks),
        "h_y": _finite(h_y),
        "by_method": by_method,
        "spearman_p_memorize": {"mi": _spearman(table["mi"], table["p_memorize"]),
                                "mi_mm": _spearman(table["mi_mm"], table["p_memorize"])},
        # how much of the ranking is cardinality: high for plug-in MI, lower once corrected
        "spearman_distinct": {"mi": _spearman(table["mi"], table["distinct"]),
                              "mi_mm": _spearman(table["mi_mm"], table["distinct"])},
        "fields": {r.column: {"mi": _finite(r.mi), "mi_mm": _finite(r.mi_mm),
                              "distinct": int(r.distinct)} for r in fields.itertuples()},
        "top_pairs": [{"pair": r.pair, "mi": _finite(r.mi), "mi_mm": _finite(r.mi_mm),
                       "distinct": int(r.distinct), "choice": r.choice}
                      for r in top.itertuples()],
    }


def compute(data_dir: str | Path, architecture: str | Path, out_parquet: str | Path,
            out_json: str | Path, duckdb_cfg: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """MI of every pair and categorical field on the train split, joined with the architecture.

    Writes `out_parquet` (columns `COLUMNS`, pairs in feature_map order) and the `out_json`
    summary atomically; returns the pair table.
    """
    data_dir = Path(data_dir)
    try:
        fmap = read_json(data_dir / "feature_map.json")
    except (ValueError, UnicodeDecodeError):  # JSONDecodeError: cut short, e.g. a full disk
        raise StageOutputError(f"{data_dir / 'feature_map.json'}: not valid JSON; the file is "
                               f"damaged or truncated. {rebuild_hint(data_dir / 'x')}") from None
    train = data_dir / fmap.get("files", {}).get("train", "train.parquet")
    _check_rows(train, fmap.get("rows", {}).get("train"))
    pairs = fmap["pairs"]
    arch = _architecture_table(Path(architecture), pairs)
    cat_fields = [f["name"] for f in fmap["fields"] if f["type"] == "categorical"]
    pair_names = [p["name"] for p in pairs]
    mi = column_mi(train, cat_fields + pair_names, duckdb_cfg).set_index("column")

    pair_mi = mi.loc[pair_names]
    table = pd.DataFrame({
        "pair": pair_names,
        "field_a": [p["fields"][0] for p in pairs],
        "field_b": [p["fields"][1] for p in pairs],
        "mi": pair_mi["mi"].to_numpy(),
        "mi_mm": pair_mi["mi_mm"].to_numpy(),
        "distinct": pair_mi["distinct"].to_numpy(),
    }).merge(arch, on="pair", how="left", validate="one_to_one")[COLUMNS]

    first = mi.iloc[0] if len(mi) else None
    n_rows = int(first["n_rows"]) if first is not None else 0
    n_clicks = int(first["n_clicks"]) if first is not None else 0
    h_y = float(first["h_y"]) if first is not None else math.nan
    summary = summarise(table, mi.loc[cat_fields].reset_index(), h_y, n_rows, n_clicks,
                        fmap.get("dataset"))
    # both files appear together or not at all
    with atomic_path(out_parquet, suffix=".parquet") as tmp_pq, atomic_path(out_json) as tmp_js:
        table.to_parquet(tmp_pq, index=False)
        tmp_js.write_text(json.dumps(summary, indent=2, sort_keys=True, allow_nan=False) + "\n")
    return table


def plot(mi_parquet: str | Path, out_fig5: str | Path, out_fig6: str | Path,
         heatmap: str = "mi_mm") -> None:
    """Fig. 5 (mean MI per chosen method) and Fig. 6 (MI heat map beside the method map).

    `heatmap` picks the estimate Fig. 6 draws: "mi_mm" (default, see figures.fig6_mi_heatmap)
    or "mi" (plug-in, Eq. 21).
    """
    from optinter.analysis import figures  # matplotlib only when figures are wanted

    table = pd.read_parquet(mi_parquet)
    missing = [c for c in COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"{mi_parquet}: columns {missing} missing; expected {COLUMNS}")
    figures.fig5_mi_by_method(table, out_fig5)
    figures.fig6_mi_heatmap(table, out_fig6, value=heatmap)
