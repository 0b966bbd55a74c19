"""Per-batch click-rate variance of the streaming loader, split.order source vs shuffled.

    .venv/bin/python bench/batch_ctr_variance.py [--rows 200000] [--work tmp/bench_ctr]

On time-ordered raw data the mini-batches of a row_id-ordered train.parquet each come from a
few stretches of time, so their click rates vary more than binomial sampling, p(1-p)/B, allows;
with split.order: shuffled they should not. Inputs: generated Criteo-format files whose click
rate drifts with the row position (linearly, and in 7 daily cycles), and the real Avazu sample
(../shared/data/samples/avazu/head10000/train.csv) when present. The loader streams
(in_memory_max_mb=0) with row groups and buffers scaled down from the full-size setting: there
~183 k-row row groups (one per 262,144-row encode batch at a 0.7 train share) and 500 k-row
buffers, i.e. about 3 row groups of ~1/175 of the data each per buffer; here the same ~3 per
buffer. Prints one row per input x order: batches measured, click rate, variance of the batch
click rates, the binomial value, their ratio, and how far train.parquet is in row_id order.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from optinter.data.prepare import prepare
from optinter.model.featuremap import FeatureMap
from optinter.model.loader import ParquetBatches

AVAZU = Path(__file__).resolve().parents[2] / "shared/data/samples/avazu/head10000/train.csv"
SPLIT = {"train": 0.7, "valid": 0.1, "test": 0.2, "seed": 2022}   # the real datasets' split
DUCKDB = {"threads": 1, "memory_limit": "1GB"}


def drifting_ctr(rows: int, kind: str = "linear") -> np.ndarray:
    """Click probability per row position: linear 0.05 -> 0.45, or 7 daily cycles 0.17 +- 25 %."""
    t = np.arange(rows) / rows
    if kind == "linear":
        return 0.05 + 0.4 * t
    return 0.17 * (1 + 0.25 * np.sin(2 * np.pi * 7 * t))


def write_drifting(path: Path, rows: int, seed: int = 0, kind: str = "linear") -> Path:
    """Criteo DAC TSV (label, I1-I13, C1-C26) in time order: labels drift, features do not."""
    rng = np.random.default_rng(seed)
    label = (rng.random(rows) < drifting_ctr(rows, kind)).astype(int)
    ints = rng.integers(0, 50, (rows, 13))
    cats = rng.integers(0, 8, (rows, 26))     # few values: cheap vocabularies and crosses
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        for y, i, c in zip(label, ints, cats):
            f.write("\t".join([str(y), *map(str, i), *(f"{v:08x}" for v in c)]) + "\n")
    return path


def prepared(fmt: str, raw: Path, out: Path, order: str, group_rows: int) -> Path:
    """Processed data of `raw` with the real datasets' split and the given train order, its
    train.parquet re-cut (order kept) into row groups of `group_rows`: the full-size layout
    at this scale (ingest and encode write 262,144-row groups, the whole of a small file)."""
    shutil.rmtree(out, ignore_errors=True)
    prepare(fmt, raw, out / "processed", 1, 1, {**SPLIT, "order": order}, False,
            {**DUCKDB, "temp_directory": str(out / "tmp")}, out / "work")
    train = out / "processed" / "train.parquet"
    pq.write_table(pq.read_table(train), train, row_group_size=group_rows)
    return out / "processed"


def batch_ctr_variance(data_dir: Path, batch: int, buffer_rows: int, epochs: int = 3,
                       seed: int = 1) -> dict:
    """Variance of the full training batches' click rates in streaming mode vs binomial."""
    fm = FeatureMap.load(data_dir)
    loader = ParquetBatches(fm, "train", batch, shuffle=True, seed=seed, in_memory_max_mb=0,
                            buffer_rows=buffer_rows, prefetch=0)
    assert not loader.in_memory
    means = [b[3].mean().item() for e in range(epochs) for b in loader.iterate(e)
             if b[3].shape[0] == batch]
    p = float(pq.read_table(fm.path("train"), columns=["label"])["label"].to_numpy().mean())
    var, binom = float(np.var(means, ddof=1)), p * (1 - p) / batch
    row_id = pq.read_table(fm.path("train"), columns=["row_id"])["row_id"].to_numpy()
    return {"batches": len(means), "ctr": p, "var": var, "binomial": binom, "ratio": var / binom,
            "row_groups": pq.ParquetFile(fm.path("train")).metadata.num_row_groups,
            # rank correlation of file position with row_id: 1 = time order, ~0 = shuffled
            "in_order": float(np.corrcoef(np.arange(row_id.size), np.argsort(np.argsort(row_id)))[0, 1])}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=200_000, help="rows of each generated file")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--work", type=Path, default=Path("tmp/bench_ctr"))
    a = ap.parse_args(argv)
    group = max(256, int(a.rows * SPLIT["train"]) // 175)   # ~175 row groups, as full size
    cases = [(f"generated, linear drift ({a.rows} rows)", "criteo",
              write_drifting(a.work / "linear.txt", a.rows, kind="linear"), group),
             (f"generated, 7 daily cycles ({a.rows} rows)", "criteo",
              write_drifting(a.work / "daily.txt", a.rows, kind="daily"), group)]
    if AVAZU.exists():
        cases.append(("Avazu sample (8,999 rows, one hour)", "avazu", AVAZU, 700))
    else:
        print(f"({AVAZU} not found: Avazu sample skipped)", file=sys.stderr)
    print(f"streaming buffers of ~3 row groups; the Avazu sample at batch <= 256 and 10x the "
          f"epochs (6,299 train rows: a few large batches would nearly exhaust each epoch)\n")
    print("| input | order | row groups | batch | batches | click rate | var | binomial | ratio | in order |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, fmt, raw, g in cases:
        for order in ("source", "shuffled"):
            d = prepared(fmt, raw, a.work / f"{raw.stem}_{order}", order, g)
            small = fmt != "criteo"   # the Avazu sample
            batch, epochs = (min(a.batch, 256), 10 * a.epochs) if small else (a.batch, a.epochs)
            r = batch_ctr_variance(d, batch, 3 * g, epochs)
            print(f"| {name} | {order} | {r['row_groups']} | {batch} | {r['batches']} | {r['ctr']:.4f} | "
                  f"{r['var']:.3g} | {r['binomial']:.3g} | {r['ratio']:.2f} | {r['in_order']:.3f} |")


if __name__ == "__main__":
    main()
