"""optinter.pick: a run kept on validation from candidate runs, priced at all of them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from optinter.analysis import cost
from optinter.model.metrics import MONITORS
from optinter.pick import pick

ENTRY = {"name": "autofis_tuned", "model": "autofis", "pick": ["autofis", "autofis_c1", "autofis_c2"]}


def _candidate(root: Path, name: str, seed: int, valid_auc: float, valid_logloss: float,
               own: int, search: int, hp: dict | None = None) -> tuple[Path, Path]:
    """A candidate's results JSON, its bundle folder and the gate search it re-trains."""
    entry = {"name": name, "model": "autofis", "architecture": "search_autofis",
             **({"hp": hp} if hp else {})}
    folder = root / "toy" / "runs" / name
    folder.mkdir(parents=True, exist_ok=True)
    run = {"seed": seed, "valid_auc": valid_auc, "valid_logloss": valid_logloss,
           "test_auc": valid_auc - 0.01, "test_logloss": valid_logloss, "params": 10,
           "train_samples": own, "reused": None, "run": entry}
    path = folder / f"seed{seed}.json"
    path.write_text(json.dumps(run))
    bundle = folder / f"seed{seed}.model"
    bundle.mkdir(exist_ok=True)
    (bundle / "weights.pt").write_text(name)
    arch = cost.architecture_file(root, "toy", entry, seed)
    arch.parent.mkdir(parents=True, exist_ok=True)
    arch.write_text(json.dumps({"settings": {"train_samples": search}}))
    return path, bundle


@pytest.mark.parametrize("monitor", sorted(MONITORS))
def test_the_best_validation_score_wins_and_all_candidates_are_paid(tmp_path, monitor):
    metrics = {"autofis": (0.80, 0.45), "autofis_c1": (0.82, 0.48), "autofis_c2": (0.81, 0.40)}
    files = [_candidate(tmp_path, n, 2, a, ll, own=100 * (i + 1), search=1000 * (i + 1),
                        hp=None if i == 0 else {"grda_c": 0.001 * i})
             for i, (n, (a, ll)) in enumerate(metrics.items())]
    out = tmp_path / "toy" / "runs" / "autofis_tuned" / "seed2.json"
    res = pick([f for f, _ in files], ENTRY, monitor, tmp_path, "toy", out,
               bundles=[b for _, b in files], bundle_out=out.with_suffix(".model"))
    expected = max(metrics, key=lambda n: {"auc": metrics[n][0],
                                           "auc-logloss": metrics[n][0] - metrics[n][1],
                                           "logloss": -metrics[n][1]}[monitor])
    assert res["picked"]["run"] == expected
    assert json.loads(out.read_text()) == res
    assert res["valid_auc"] == metrics[expected][0]
    assert res["run"] == ENTRY
    # three gate searches (each candidate its own) and three fits
    assert res["picked"]["train_samples"] == (100 + 200 + 300) + (1000 + 2000 + 3000)
    assert cost.load_run_cost(tmp_path, "toy", ENTRY, 2, res) == 6600
    assert (out.with_suffix(".model") / "weights.pt").read_text() == expected


def test_an_architecture_shared_by_candidates_is_paid_once(tmp_path):
    a, _ = _candidate(tmp_path, "autofis", 1, 0.8, 0.4, own=100, search=1000)
    b, _ = _candidate(tmp_path, "autofis_lr", 1, 0.7, 0.4, own=50, search=1000)
    # autofis_lr without hp re-trains the same gates (search_autofis/seed1)
    res = pick([a, b], ENTRY, "auc", tmp_path, "toy", tmp_path / "out.json")
    assert res["picked"]["train_samples"] == 100 + 50 + 1000
    assert res["picked"]["run"] == "autofis"


def test_a_tie_keeps_the_first_candidate(tmp_path):
    a, _ = _candidate(tmp_path, "autofis", 1, 0.8, 0.4, own=100, search=10)
    b, _ = _candidate(tmp_path, "autofis_c1", 1, 0.8, 0.4, own=100, search=10, hp={"grda_c": 1})
    assert pick([a, b], ENTRY, "auc", tmp_path, "toy", tmp_path / "o.json")["picked"]["run"] == "autofis"
    assert pick([b, a], ENTRY, "auc", tmp_path, "toy", tmp_path / "o.json")["picked"]["run"] == "autofis_c1"


def test_a_candidate_without_validation_metrics_is_refused_and_nothing_is_written(tmp_path):
    a, _ = _candidate(tmp_path, "autofis", 1, 0.8, 0.4, own=100, search=10)
    run = json.loads(a.read_text())
    del run["valid_logloss"]
    a.write_text(json.dumps(run))
    out = tmp_path / "o.json"
    with pytest.raises(ValueError, match=r"seed1\.json records no valid_logloss"):
        pick([a], ENTRY, "auc", tmp_path, "toy", out)
    assert not out.exists()


def test_an_autofis_run_with_its_own_hp_searches_in_its_own_folder(tmp_path):
    own = {"name": "autofis_c1", "model": "autofis", "architecture": "search_autofis",
           "hp": {"grda_c": 0.002}}
    plain = {"name": "autofis", "model": "autofis", "architecture": "search_autofis"}
    assert cost.architecture_file(tmp_path, "d", own, 3) == \
        tmp_path / "d" / "search_autofis" / "autofis_c1" / "seed3" / "architecture.json"
    assert cost.architecture_file(tmp_path, "d", plain, 3) == \
        tmp_path / "d" / "search_autofis" / "seed3" / "architecture.json"
    assert cost.architecture_file(tmp_path, "d", own, None) == \
        tmp_path / "d" / "search_autofis" / "autofis_c1" / "architecture.json"
