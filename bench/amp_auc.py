"""Does bf16 autocast (train.amp: bf16) change accuracy? The demo data, trained per seed with
amp off and bf16 in one run, test AUC and log loss per seed and their differences.

Builds the demo dataset as config.yaml does (optinter.data.demo, 60,000 rows, seed 7; Criteo
format; min_count 5; split 0.8/0.1/0.1) under --work, then trains each --models model with the
demo preset (config.yaml hparams.demo and the model's models_hparams) for every --seeds seed,
once per precision, and prints one table: mean test AUC per precision, the mean paired
difference and its standard deviation over seeds (the seeds' spread is the noise).

    .venv/bin/python bench/amp_auc.py                           # fnn, optinter_m; seeds 1-3
    .venv/bin/python bench/amp_auc.py --models fnn --seeds 1,2,3,4,5
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch
import yaml

from optinter.data.demo import generate
from optinter.data.prepare import prepare
from optinter.model.featuremap import FeatureMap
from optinter.model.loader import ParquetBatches
from optinter.model.stages import fit_model
from optinter.model.train import evaluate

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="fnn,optinter_m")
    ap.add_argument("--seeds", default="1,2,3")
    ap.add_argument("--rows", type=int, default=60_000)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--work", type=Path, default=None)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    cfg = yaml.safe_load((ROOT / "config.yaml").read_text())
    ds = cfg["datasets"]["demo"]
    base_hp = dict(cfg["hparams"][ds["hparams"]])
    with tempfile.TemporaryDirectory() as tmp:
        work = a.work or Path(tmp)
        data = work / "processed"
        if not (data / "feature_map.json").exists():
            gen = ds["source"]["generate"]
            generate(work / "raw.csv", work / "truth.json", a.rows, gen["seed"])
            prepare("criteo", work / "raw.csv", data, ds["min_count"], ds["cross_min_count"],
                    ds["split"], duckdb_cfg={"threads": 1, "memory_limit": "1GB"})
        fmap = FeatureMap.load(data)
        rows = []
        t0 = time.perf_counter()
        for name in [m for m in a.models.split(",") if m]:
            hp = {**base_hp, **cfg.get("models_hparams", {}).get(name, {}),
                  **ds.get("models_hparams", {}).get(name, {})}
            res = {"off": [], "bf16": []}
            for seed in [int(s) for s in a.seeds.split(",")]:
                for amp in res:
                    train = {**cfg["train"], "device": "cpu", "amp": amp,
                             "checkpoint_every_steps": 0}
                    model, st, *_ = fit_model(name, data, hp, train, seed,
                                              work / "ckpt" / f"{name}_{amp}_{seed}")
                    te = evaluate(model, ParquetBatches(fmap, "test", 8192))
                    res[amp].append((te["auc"], te["logloss"]))
            d = [b[0] - o[0] for o, b in zip(res["off"], res["bf16"])]
            rows.append((name, res, d))
    print(f"demo data {a.rows:,} rows, seeds {a.seeds}, {a.threads} thread(s), "
          f"{time.perf_counter() - t0:.0f} s")
    print("| model | test AUC off | test AUC bf16 | bf16 - off (mean ± sd over seeds) | "
          "seeds' sd (off) | log loss off | log loss bf16 |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, res, d in rows:
        off = [x[0] for x in res["off"]]
        bf = [x[0] for x in res["bf16"]]
        sd = statistics.stdev(d) if len(d) > 1 else float("nan")
        print(f"| {name} | {statistics.mean(off):.4f} | {statistics.mean(bf):.4f} | "
              f"{statistics.mean(d):+.4f} ± {sd:.4f} | "
              f"{statistics.stdev(off) if len(off) > 1 else float('nan'):.4f} | "
              f"{statistics.mean(x[1] for x in res['off']):.4f} | "
              f"{statistics.mean(x[1] for x in res['bf16']):.4f} |")


if __name__ == "__main__":
    main()
