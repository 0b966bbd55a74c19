"""A small click log of its own naming, for README "Your own data" and the format-table tests.

`python -m optinter.data.example OUT [--rows N] [--seed S]` writes OUT (.parquet, .csv, .tsv,
.jsonl; .gz allowed for the text kinds) with the label `clicked`, 12 categorical columns
(CATEGORICAL) and 3 numeric ones (NUMERIC). Clicks follow a logistic model with main effects,
two planted interactions (ad_category x site, device x placement) and missing values (an
empty `browser`, a missing `dwell_seconds`), so a model has something to find.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from optinter.io import atomic_path

CATEGORICAL = ("user_segment", "ad_category", "site", "hour_of_day", "device", "os", "browser",
               "region", "campaign", "creative_size", "placement", "weekday")
NUMERIC = ("price", "dwell_seconds", "ad_position")
CARDINALITY = {"user_segment": 20, "ad_category": 12, "site": 40, "hour_of_day": 24,
               "device": 4, "os": 6, "browser": 8, "region": 30, "campaign": 60,
               "creative_size": 5, "placement": 6, "weekday": 7}


def table(rows: int, seed: int = 1) -> pa.Table:
    """The example rows: `clicked` (int8), CATEGORICAL (text), NUMERIC (double)."""
    rng = np.random.default_rng(seed)
    codes = {c: rng.integers(0, k, rows) for c, k in CARDINALITY.items()}
    z = np.full(rows, -1.6)
    for c, k in CARDINALITY.items():
        z += np.random.default_rng([seed, k]).normal(0, 0.3, k)[codes[c]]
    z += np.random.default_rng([seed, 1]).normal(0, 1.2, (12, 40))[codes["ad_category"],
                                                                    codes["site"]]
    z += np.random.default_rng([seed, 2]).normal(0, 1.0, (4, 6))[codes["device"],
                                                                 codes["placement"]]
    price = np.round(rng.gamma(2.0, 1.5, rows), 2)
    dwell = np.round(rng.exponential(20.0, rows), 1)
    position = rng.integers(1, 9, rows).astype(float)
    z += 0.4 * np.log1p(dwell) - 0.15 * position
    clicked = rng.random(rows) < 1 / (1 + np.exp(-z))
    cols: dict[str, pa.Array] = {"clicked": pa.array(clicked.astype(np.int8))}
    for c in CATEGORICAL:
        values = np.array([f"{c[:3]}{v}" for v in range(CARDINALITY[c])], dtype=object)
        cols[c] = pa.array(values[codes[c]], pa.string())
    cols["browser"] = pa.array(np.where(rng.random(rows) < 0.1, None,
                                        np.asarray(cols["browser"].to_pylist(), object)),
                               pa.string())
    cols["price"] = pa.array(price)
    cols["dwell_seconds"] = pa.array(dwell, mask=rng.random(rows) < 0.2)
    cols["ad_position"] = pa.array(position)
    return pa.table(cols)


def write(out: str | Path, rows: int = 20000, seed: int = 1) -> Path:
    """Write the example to `out`, its kind from the name (.parquet, .csv, .tsv, .jsonl,
    optionally .gz); returns the path."""
    out = Path(out)
    data = table(rows, seed)
    name = out.name.removesuffix(".gz")
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        if name.endswith(".parquet"):
            pq.write_table(data, tmp)
        elif name.endswith((".csv", ".tsv")):
            opts = pacsv.WriteOptions(delimiter="\t" if name.endswith(".tsv") else ",")
            with pa.CompressedOutputStream(str(tmp), "gzip") if out.suffix == ".gz" \
                    else pa.OSFile(str(tmp), "wb") as sink:
                pacsv.write_csv(data, sink, opts)
        elif name.endswith((".jsonl", ".json")):
            import gzip
            import json
            opener = gzip.open if out.suffix == ".gz" else open
            with opener(tmp, "wt") as f:
                for row in data.to_pylist():
                    f.write(json.dumps(row) + "\n")
        else:
            raise ValueError(f"{out}: expected a name ending in .parquet, .csv, .tsv or .jsonl")
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", help="file to write (.parquet, .csv, .tsv, .jsonl; .gz allowed)")
    ap.add_argument("--rows", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    print(write(args.out, args.rows, args.seed))


if __name__ == "__main__":
    main()
