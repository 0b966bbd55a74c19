"""The search recipes side by side on finished workflow results: test AUC and training samples
(search, selection and re-train; optinter/analysis/cost.py) per dataset, mean over seeds,
with each recipe's cost as a multiple of the paper recipe's.

    python bench/recipes.py                       # every dataset under results/ with runs
    python bench/recipes.py demo planted_heldout_n300000_s1 ...

Reads results/{dataset}/runs/{run}/seed{s}.json and the architecture.json each re-trains;
runs: optinter (search.recipe, the shortlist by default), optinter_paper (the paper's
argmax) and optinter_validated (the earlier validated recipe), and beside them AutoFIS at its
own price (autofis) and with GRDA's c picked on validation from three (autofis_tuned), where
present. "kept pairs" counts AutoFIS's kept gates as factorized pairs. Nothing is
trained here: build the runs with snakemake first (README, docs/planted.md).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from optinter.analysis import cost  # noqa: E402

RECIPES = {"optinter_paper": "search_paper", "optinter_validated": "search_validated",
           "optinter": "search",
           # the best baseline at its own price and tuned on validation (runs.autofis_tuned)
           "autofis": "search_autofis", "autofis_tuned": None}


def recipe_rows(results: Path, dataset: str) -> list[dict]:
    rows = []
    for run, arch in RECIPES.items():
        folder = results / dataset / "runs" / run
        per_seed = {}
        for f in sorted(folder.glob("seed*.json")):
            res = json.loads(f.read_text())
            seed = int(res["seed"])
            entry = {"name": run, **({"architecture": arch} if arch else {})}
            per_seed[seed] = (res["test_auc"], cost.load_run_cost(
                results, dataset, entry, seed, res),
                res.get("architecture_counts") or {})
        if per_seed:
            rows.append({"dataset": dataset, "run": run, "seeds": sorted(per_seed),
                         "auc": [v[0] for v in per_seed.values()],
                         "samples": [v[1] for v in per_seed.values()],
                         "kept": [v[2].get("memorize", 0) + v[2].get("factorize", 0)
                                  for v in per_seed.values()]})
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("datasets", nargs="*", help="dataset names (default: all with runs)")
    ap.add_argument("--results", default="results", type=Path)
    args = ap.parse_args(argv)
    names = args.datasets or sorted(p.parent.parent.name for p in
                                    args.results.glob("*/runs/optinter_paper"))
    print("| dataset | recipe | seeds | test AUC | kept pairs | train samples | × paper |")
    print("|---|---|---|---|---|---|---|")
    for ds in names:
        rows = recipe_rows(args.results, ds)
        paper = next((r for r in rows if r["run"] == "optinter_paper"), None)
        for r in rows:
            auc = statistics.fmean(r["auc"])
            sd = f" ± {statistics.stdev(r['auc']):.4f}" if len(r["auc"]) > 1 else ""
            known = None not in r["samples"]
            samples = statistics.fmean(r["samples"]) if known else None
            ratio = "n/a"
            if known and paper and None not in paper["samples"]:
                # per seed, then averaged: a recipe against the paper recipe of its own seed
                by_seed = dict(zip(paper["seeds"], paper["samples"]))
                ratio = f"{statistics.fmean(s / by_seed[k] for k, s in zip(r['seeds'], r['samples'])):.2f}"
            print(f"| {ds} | {r['run']} | {' '.join(map(str, r['seeds']))} | {auc:.4f}{sd} | "
                  f"{statistics.fmean(r['kept']):.1f} | "
                  f"{'n/a' if samples is None else f'{samples / 1e6:.2f}M'} | {ratio} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
