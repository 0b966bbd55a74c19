"""What a run cost to train, in training samples (forward + backward), search and selection
included: a recipe's price beside its AUC (Table V, recovery.json, bench/recipes.py).

A run's results JSON records `train_samples` (its fit; with `reused`, the part copied from the
shortlist finalist that decided its architecture) and the architecture.json it re-trains
records what deciding it took: the search's `settings.train_samples`, the validated recipe's
`selection.train_samples` (its re-trains), the shortlist's `selection.cost` (search, scan and
finalists, the winner's fit being the run's own). A run picked from candidates
(optinter.pick) records what all of them cost together in `picked.train_samples`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Mapping


def architecture_file(results_dir, dataset: str, entry: Mapping, seed: int | None) -> Path | None:
    """The architecture.json a run re-trains (as the workflow lays it out), or None."""
    arch = entry.get("architecture")
    if arch is None:
        return None
    root = Path(results_dir) / dataset
    if arch == "oracle":
        return root / "oracle" / "architecture.json"
    draw = f"draw{entry['draw']}" if "draw" in entry else ""
    own = own_search_folder(entry)
    parts = [arch, draw, own, f"seed{seed}" if seed is not None else ""]
    return root.joinpath(*[p for p in parts if p]) / "architecture.json"


def own_search_folder(entry: Mapping) -> str:
    """The folder of an AutoFIS run that searches its gates with its own `hp` (its name), or ''
    for a run that re-trains the gates searched with the model's settings."""
    if entry.get("architecture") == "search_autofis" and entry.get("hp"):
        return entry["name"]
    return ""


def architecture_cost(arch: Mapping) -> int:
    """Training samples spent on deciding an architecture (0 for an oracle or a random draw)."""
    sel = arch.get("selection") or {}
    if "cost" in sel:
        return (int(sel["cost"]["search_samples"]) + int(sel["cost"].get("scan_samples", 0))
                + int(sel["cost"]["finalist_samples"]))
    search = int((arch.get("settings") or {}).get("train_samples") or 0)
    return search + int(sel.get("train_samples") or 0)


def run_cost(run: Mapping, arch: Mapping | None) -> int | None:
    """Training samples of a run with what its architecture cost; None for a results JSON
    from before samples were recorded."""
    if run.get("train_samples") is None:
        return None
    own = int(run["train_samples"]) - int((run.get("reused") or {}).get("train_samples") or 0)
    return own + (architecture_cost(arch) if arch is not None else 0)


def load_run_cost(results_dir, dataset: str, entry: Mapping, seed: int,
                  run: Mapping) -> int | None:
    """run_cost with the run's architecture read from where the workflow writes it; None if
    that file is absent. A picked run costs what its candidates cost together."""
    if run.get("picked"):
        return int(run["picked"]["train_samples"])
    path = architecture_file(results_dir, dataset, entry, seed)
    if path is None:
        return run_cost(run, None)
    if not path.is_file():
        return None
    return run_cost(run, json.loads(path.read_text()))
