"""Score new raw rows with a trained model bundle (optinter/model/bundle.py).

    python -m optinter.predict MODEL INPUT OUT [--metrics OUT.json]

MODEL is a bundle folder (results/{ds}/runs/{run}/seed{s}.model), INPUT a raw file (or folder)
in the format the model was trained on, OUT the Parquet file written: `row_id` (the row's
0-based data line in INPUT), `label` and `click_probability`. The rows go through the same
stages as training data: optinter.data.ingest validates and reads them (the same readers and
SQL, so every supported format works), optinter.data.encode.encode_rows encodes them with the
bundle's own vocabularies (unseen values -> id 0, OOV, as in training), the model scores them.
With labels, AUC and log loss are printed and written to --metrics.

This module needs both layers (DuckDB for the data, torch for the model), so it sits above
them: optinter.data never imports torch, optinter.model never imports duckdb.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from optinter.data.encode import encode_rows
from optinter.data.ingest import ingest
from optinter.data.readers import DataError
from optinter.io import atomic_path, write_json
from optinter.model.bundle import Bundle, BundleError, load
from optinter.model.featuremap import FeatureMap
from optinter.model.loader import ParquetBatches
from optinter.model.metrics import auc, log_loss_from_logits

log = logging.getLogger(__name__)
ROWS = "rows"


@torch.no_grad()
def score(bundle: Bundle, encoded: str | os.PathLike, batch_size: int = 8192,
          device: str | torch.device = "cpu") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row_id, label, logit) of an encoded Parquet file (processed layout), in file order."""
    path = Path(encoded)
    fmap = FeatureMap.from_dict({**bundle.feature_map, "files": {ROWS: path.name}},
                                source=str(bundle.path / "feature_map.json"),
                                data_dir=path.parent)
    model = bundle.model.to(device).eval()
    logits, labels = [], []
    for cat, cont, cross, label in ParquetBatches(fmap, ROWS, batch_size, device=device).iterate(0):
        logits.append(model(cat, cont, cross).float().cpu())
        labels.append(label.cpu())
    row_id = pq.read_table(path, columns=["row_id"])["row_id"].to_numpy()
    z = torch.cat(logits).numpy() if logits else np.zeros(0, np.float32)
    y = torch.cat(labels).numpy() if labels else np.zeros(0, np.float32)
    return row_id, y, z


def oov_share(bundle: Bundle, encoded: str | os.PathLike) -> dict[str, float]:
    """Per categorical field (and pair), the share of rows that got the OOV id 0: new values
    the vocabularies lack, or values too rare in training (drift shows here first)."""
    names = bundle.meta["input"]["categorical"] + bundle.meta["input"]["pairs"]
    t = pq.read_table(encoded, columns=names)
    n = max(t.num_rows, 1)
    return {c: float(np.count_nonzero(t[c].to_numpy() == 0)) / n for c in names}


def predict(model_dir: str | os.PathLike, source: str | os.PathLike, out: str | os.PathLike,
            metrics_json: str | os.PathLike | None = None,
            duckdb_cfg: Mapping[str, Any] | None = None, batch_size: int = 8192,
            device: str = "cpu") -> dict:
    """Score the raw rows of `source` with the bundle `model_dir` into the Parquet file `out`;
    returns (and writes to `metrics_json`) rows, AUC and log loss (labelled rows), OOV shares."""
    bundle = load(model_dir, device=device)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{out.name}.", dir=out.parent) as tmp:
        raw, encoded = Path(tmp) / "raw.parquet", Path(tmp) / f"{ROWS}.parquet"
        ingest(bundle.input_format, source, raw, duckdb_cfg)
        encode_rows(raw, bundle.vocab_dir, encoded, duckdb_cfg)
        row_id, y, z = score(bundle, encoded, batch_size, device)
        oov = oov_share(bundle, encoded)
    prob = 1.0 / (1.0 + np.exp(-z.astype(np.float64)))  # float64: no ties where logits differ
    table = pa.table({"row_id": pa.array(row_id, pa.int64()),
                      "label": pa.array(y.astype(np.int8), pa.int8()),
                      "click_probability": pa.array(prob, pa.float64())})
    with atomic_path(out, suffix=".parquet") as tmp_out:
        pq.write_table(table, tmp_out, compression="zstd")
    report = {"model": str(model_dir), "input": os.fspath(source), "output": str(out),
              "rows": int(len(row_id)), "format": bundle.input_format,
              "run": (bundle.meta.get("run") or {}).get("name", bundle.meta["model"]),
              "model_test_auc": bundle.meta["metrics"].get("test_auc"),
              "mean_click_probability": float(prob.mean()) if len(prob) else None,
              "clicks": int(y.sum()), "auc": None, "logloss": None,
              "oov_share": oov}
    if len(y) and 0 < y.sum() < len(y):
        report["auc"] = auc(y, z)
    if len(y):
        report["logloss"] = log_loss_from_logits(y, z)
    if metrics_json is not None:
        write_json(metrics_json, report)
    return report


def summary(report: dict) -> str:
    line = f"scored {report['rows']} rows -> {report['output']}"
    if report["auc"] is not None:
        line += f"; AUC {report['auc']:.5f}, log loss {report['logloss']:.5f}"
        if report.get("model_test_auc") is not None:
            line += f" (the run's test AUC: {report['model_test_auc']:.5f})"
    return line


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m optinter.predict", description=__doc__.split(
        "\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", help="model bundle folder (results/<ds>/runs/<run>/seed<s>.model)")
    ap.add_argument("input", help="raw file (or iPinYou log folder) in the model's format")
    ap.add_argument("out", help="Parquet file to write (row_id, label, click_probability)")
    ap.add_argument("--metrics", help="also write the report (AUC, log loss, OOV shares) here")
    ap.add_argument("--batch-size", type=int, default=8192)
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    ap.add_argument("--threads", type=int, default=None, help="DuckDB threads (default: all)")
    ap.add_argument("--memory-limit", default=None, help="DuckDB memory limit, e.g. 2GB")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    cfg = {"threads": args.threads, "memory_limit": args.memory_limit}
    try:
        report = predict(args.model, args.input, args.out, args.metrics, cfg,
                         args.batch_size, args.device)
    except (BundleError, DataError, FileNotFoundError, ValueError) as err:
        print(f"optinter.predict: {' '.join(str(err).split())}", file=sys.stderr)
        return 1
    print(summary(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
