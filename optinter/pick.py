"""A run picked on validation from candidate runs (config `runs.<name>.pick`).

A baseline given the training budget of another recipe is a set of ordinary runs of its own
settings (e.g. AutoFIS at three GRDA strengths, each searching its own gates), one of which is
kept by the validation score that early-stops every run (train.monitor). The picked run's
results JSON is the winner's, with `picked` recording every candidate's score and price; its
price (`picked.train_samples`) is what all candidates cost together, searches included, so a
tuned baseline sits in Table V at the price it was really bought for.

This module reads results JSONs and copies a bundle; it trains nothing and sits above the data
and model layers.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Mapping, Sequence

from optinter.analysis import cost
from optinter.io import atomic_path, write_json
from optinter.model.metrics import MONITORS


def _copy_tree(src: Path, dst: Path) -> None:
    """Copy a bundle folder, hard-linking its files where the file system allows."""
    def link_or_copy(a, b):
        try:
            os.link(a, b)
        except OSError:
            shutil.copy2(a, b)
    shutil.copytree(src, dst, copy_function=link_or_copy)


def pick(candidates: Sequence[str | os.PathLike], entry: Mapping, monitor: str,
         results_dir: str | os.PathLike, dataset: str, out_json: str | os.PathLike,
         bundles: Sequence[str | os.PathLike] = (), bundle_out: str | os.PathLike | None = None
         ) -> dict:
    """Keep the candidate run with the best validation score; write its results as run `entry`.

    `candidates`: the candidates' results JSONs (in `entry["pick"]` order; a tie keeps the
    first); `bundles`: their model bundles in the same order, the winner's copied to
    `bundle_out`. Each candidate's price comes from its results JSON and the architecture.json
    it re-trains (optinter.analysis.cost); an architecture shared by two candidates is paid once.
    """
    if monitor not in MONITORS:
        raise ValueError(f"pick: monitor {monitor!r} is not one of {sorted(MONITORS)}")
    if not candidates:
        raise ValueError(f"pick: run {entry.get('name')!r} has no candidates")
    runs = [json.loads(Path(c).read_text()) for c in candidates]
    rows, total, paid = [], 0, set()
    for path, run in zip(candidates, runs):
        for key in ("valid_auc", "valid_logloss", "train_samples"):
            if run.get(key) is None:
                raise ValueError(f"pick: {path} records no {key}; re-run that run")
        run_entry = run.get("run") or {}
        seed = run.get("seed")
        arch = cost.architecture_file(results_dir, dataset, run_entry, seed)
        own = cost.run_cost(run, None)
        arch_cost = 0
        if arch is not None and arch not in paid:
            paid.add(arch)
            arch_cost = cost.architecture_cost(json.loads(arch.read_text()))
        total += own + arch_cost
        score = MONITORS[monitor]({"auc": run["valid_auc"], "logloss": run["valid_logloss"]})
        rows.append({"run": run_entry.get("name", str(path)), "score": score,
                     "valid_auc": run["valid_auc"], "valid_logloss": run["valid_logloss"],
                     "test_auc": run["test_auc"], "train_samples": own + arch_cost})
    best = max(range(len(rows)), key=lambda i: (rows[i]["score"], -i))
    out = dict(runs[best])
    out["run"] = dict(entry)
    out["picked"] = {"run": rows[best]["run"], "by": monitor, "candidates": rows,
                     "train_samples": total}
    if bundle_out is not None:
        if len(bundles) != len(candidates):
            raise ValueError("pick: one bundle per candidate is needed to copy the winner's")
        with atomic_path(bundle_out) as tmp:
            _copy_tree(Path(bundles[best]), tmp)
    write_json(out_json, out)
    return out
