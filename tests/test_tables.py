"""Paper tables from per-seed results JSONs: statistics against numpy/scipy, skips, errors."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from optinter.analysis import tables
from optinter.analysis.stats import mean_std, paired_ttest

SEEDS = [1, 2, 3, 4, 5]
MODELS = ["lr", "fm", "optinter_m", "autofis", "optinter"]
PAIRS = 10


def _run(model: str, seed: int, auc: float, ll: float, params: int, counts=None, s2=8) -> dict:
    return {"dataset": "toy", "model": model, "seed": seed, "valid_auc": auc, "valid_logloss": ll,
            "test_auc": auc, "test_logloss": ll, "params": params, "architecture_counts": counts,
            "epochs": 3, "best_epoch": 2, "train_seconds": 1.0, "samples_per_second": 10.0,
            "device": "cpu", "config": {"hp": {"s2": s2}}}


def _write_runs(root: Path, model: str, aucs, lls, params, counts=None, s2=8) -> None:
    for seed, auc, ll in zip(SEEDS, aucs, lls):
        path = tables.run_path(root, "toy", model, seed)
        path.parent.mkdir(parents=True, exist_ok=True)
        c = counts(seed) if callable(counts) else counts
        path.write_text(json.dumps(_run(model, seed, float(auc), float(ll), params, c, s2)))


@pytest.fixture
def results(tmp_path: Path) -> tuple[Path, dict]:
    """Runs where OptInter-M is the best baseline and varies a lot across seeds, while
    OptInter tracks it seed by seed: a paired test is decisive, an unpaired one is not."""
    rng = np.random.default_rng(3)
    seed_effect = rng.normal(0, 0.01, len(SEEDS))
    data = {
        "lr": 0.70 + rng.normal(0, 0.002, len(SEEDS)),
        "fm": 0.74 + rng.normal(0, 0.002, len(SEEDS)),
        "autofis": 0.75 + rng.normal(0, 0.002, len(SEEDS)),
        "optinter_m": 0.78 + seed_effect,
    }
    data["optinter"] = data["optinter_m"] + 0.002 + rng.normal(0, 0.0003, len(SEEDS))
    lls = {m: 0.5 - (a - 0.7) for m, a in data.items()}
    counts = {"lr": {"memorize": 0, "factorize": 0, "naive": PAIRS},
              "optinter_m": {"memorize": PAIRS, "factorize": 0, "naive": 0},
              "autofis": lambda s: {"memorize": 0, "factorize": s, "naive": PAIRS - s},
              "optinter": {"memorize": 4, "factorize": 3, "naive": 3}, "fm": None}
    params = {"lr": 500, "fm": 9000, "autofis": 9100, "optinter_m": 2_000_000, "optinter": 800_000}
    for m in MODELS:
        _write_runs(tmp_path, m, data[m], lls[m], params[m], counts[m])
    return tmp_path, {"auc": data, "ll": lls, "params": params}


def _csv(path: Path) -> dict[str, dict]:
    with open(path) as f:
        rows = list(csv.DictReader(f))
    return {r.get("model") or r.get("metric") or r["label"]: r for r in rows}


def test_stats_helpers_match_direct_formulas():
    rng = np.random.default_rng(0)
    a = dict(zip(range(8), rng.normal(0.8, 0.01, 8)))
    b = {k: v - 0.003 + rng.normal(0, 0.002) for k, v in a.items()}
    b[99] = 0.1  # an unpaired seed must be ignored
    d = np.array([a[k] - b[k] for k in range(8)])
    t_direct = d.mean() / (d.std(ddof=1) / math.sqrt(d.size))
    t, p, n = paired_ttest(a, b)
    assert n == 8
    assert t == pytest.approx(t_direct)
    assert p == pytest.approx(2 * stats.t.sf(abs(t_direct), d.size - 1))
    assert math.isnan(paired_ttest({1: 0.5}, {1: 0.4})[1])
    assert math.isnan(paired_ttest({1: 0.5, 2: 0.6}, {1: 0.5, 2: 0.6})[1])
    m, s = mean_std([1.0, 2.0, 4.0])
    assert (m, s) == pytest.approx((7 / 3, np.std([1.0, 2.0, 4.0], ddof=1)))
    assert math.isnan(mean_std([1.0])[1])


def test_table5_statistics_and_paired_pvalue(results, tmp_path):
    root, truth = results
    out = tmp_path / "tables"
    summary = tables.build(root, "toy", MODELS, SEEDS, out)
    rows = _csv(out / "table5.csv")
    assert list(rows) == MODELS
    for m in MODELS:
        assert float(rows[m]["test_auc_mean"]) == pytest.approx(np.mean(truth["auc"][m]))
        assert float(rows[m]["test_auc_std"]) == pytest.approx(np.std(truth["auc"][m], ddof=1))
        assert float(rows[m]["test_logloss_mean"]) == pytest.approx(np.mean(truth["ll"][m]))
        assert float(rows[m]["params"]) == truth["params"][m]
    ours = rows["optinter"]
    assert ours["compared_to"] == "optinter_m"
    d = truth["auc"]["optinter"] - truth["auc"]["optinter_m"]
    t = d.mean() / (d.std(ddof=1) / math.sqrt(d.size))
    assert float(ours["p_auc"]) == pytest.approx(2 * stats.t.sf(abs(t), d.size - 1))
    # Pairing by seed matters here: an unpaired test would not find the difference.
    assert float(ours["p_auc"]) < 0.005 < stats.ttest_ind(truth["auc"]["optinter"],
                                                         truth["auc"]["optinter_m"]).pvalue
    md = (out / "table5.md").read_text()
    assert "OptInter-M (best baseline)" in md and "*" in md
    assert "table5.csv" in summary["written"]


def test_table6_counts_mean_over_seeds(results, tmp_path):
    root, _ = results
    out = tmp_path / "tables"
    tables.build(root, "toy", MODELS, SEEDS, out)
    rows = _csv(out / "table6.csv")
    assert "fm" not in rows  # no counts recorded: left out, not invented
    assert float(rows["autofis"]["factorize"]) == pytest.approx(np.mean(SEEDS))
    assert rows["autofis"]["varies_over_seeds"] == "True"
    assert [float(rows["optinter"][m]) for m in tables.METHODS] == [4, 3, 3]


def test_optional_tables_skipped_with_notes(results, tmp_path):
    root, _ = results
    out = tmp_path / "tables"
    summary = tables.build(root, "toy", MODELS, SEEDS, out)
    assert set(summary["skipped"]) == {"table8", "table9", "fig4"}
    readme = (out / "README.md").read_text()
    assert "skipped table9" in readme and "skipped fig4" in readme
    assert not (out / "table8.csv").exists() and not (out / "fig4_tradeoff.png").exists()


# runs named freely: what they are comes from their entries, never from their names
ABLATION_RUNS = {
    "shuffled_arch": {"model": "optinter", "architecture": "search_random", "label": "Random"},
    "narrow_2": {"model": "optinter", "architecture": "search", "hp": {"s2": 2}},
    "narrow_4": {"model": "optinter", "architecture": "search", "hp": {"s2": 4}},
    "paper_recipe": {"model": "optinter", "architecture": "search_paper"},
}
SUPERNET_AUC = {1: 0.70, 2: 0.71, 3: 0.69, 4: 0.72, 5: 0.70}


def test_optional_tables_written_when_inputs_exist(results, tmp_path):
    root, truth = results
    _write_runs(root, "shuffled_arch", [0.77] * 5, [0.45] * 5, 900_000,
                {"memorize": 3, "factorize": 3, "naive": 4})
    for k, auc, params in [(2, 0.775, 300_000), (4, 0.779, 500_000)]:
        _write_runs(root, f"narrow_{k}", [auc] * 5, [0.44] * 5, params, s2=k)
    # on disk but not named: never read (it would add an OptInter(6) point)
    _write_runs(root, "optinter_s2_6", [0.6] * 5, [0.6] * 5, 1, s2=6)
    paper_auc = [SUPERNET_AUC[s] + d for s, d in zip(SEEDS, [0.02, 0.025, 0.018, 0.03, 0.022])]
    _write_runs(root, "paper_recipe", paper_auc, [0.45] * 5, 700_000)
    for seed, a in SUPERNET_AUC.items():  # the paper recipe's per-seed searches
        arch = root / "toy" / "search_paper" / f"seed{seed}" / "architecture.json"
        arch.parent.mkdir(parents=True)
        arch.write_text(json.dumps({"supernet": {"test_auc": a, "test_logloss": 0.52}}))
    out = tmp_path / "tables"
    summary = tables.build(root, "toy", MODELS, SEEDS, out, ablations=list(ABLATION_RUNS),
                           runs=ABLATION_RUNS)
    assert summary["skipped"] == {}
    t8 = _csv(out / "table8.csv")
    assert list(t8) == ["shuffled_arch", "optinter"]  # bi-level absent: noted, row left out
    assert t8["shuffled_arch"]["name"] == "Random"
    assert any("search_bilevel" in n for n in summary["notes"])
    t9 = _csv(out / "table9.csv")
    # one recipe (the paper's) with and without re-train, paired by seed
    assert float(t9["test_auc"]["without_retrain"]) == pytest.approx(
        np.mean(list(SUPERNET_AUC.values())))
    assert float(t9["test_auc"]["with_retrain"]) == pytest.approx(np.mean(paper_auc))
    assert float(t9["test_auc"]["p"]) == pytest.approx(stats.ttest_rel(
        paper_auc, [SUPERNET_AUC[s] for s in SEEDS]).pvalue)
    assert int(t9["test_auc"]["n_seeds"]) == 5
    fig = _csv(out / "fig4_tradeoff.csv")
    # the default-s2 runs (s2=8 in their config) join their series as extra points
    assert set(fig) == {"OptInter(2)", "OptInter(4)", "OptInter(8)", "OptInter-M(8)"}
    assert float(fig["OptInter(4)"]["test_auc_mean"]) == pytest.approx(0.779)
    assert (out / "fig4_tradeoff.png").read_bytes()[:4] == b"\x89PNG"


def test_run_trained_as_another_run_is_refused(results, tmp_path):
    """A results JSON whose recorded `run` differs from the config's entry (renamed or
    edited entry, stale file) is an error naming the file and the field."""
    root, _ = results
    path = tables.run_path(root, "toy", "fm", 2)
    run = json.loads(path.read_text())
    run["run"] = {"name": "fm", "model": "fm", "hp": {"s1": 4}}
    path.write_text(json.dumps(run))
    entries = {m: {"model": m} for m in MODELS}
    with pytest.raises(ValueError, match=r"field 'run.hp' is \{'s1': 4\}") as err:
        tables.build(root, "toy", MODELS, SEEDS, tmp_path / "tables", runs=entries)
    assert str(path) in str(err.value)
    entries["fm"] = {"model": "fm", "hp": {"s1": 4}}
    tables.build(root, "toy", MODELS, SEEDS, tmp_path / "tables", runs=entries)


def test_missing_run_is_an_error_and_leaves_no_output(results, tmp_path):
    root, _ = results
    gone = tables.run_path(root, "toy", "fm", 3)
    gone.unlink()
    out = tmp_path / "tables"
    with pytest.raises(FileNotFoundError, match=str(gone)):
        tables.build(root, "toy", MODELS, SEEDS, out)
    assert not out.exists()


@pytest.mark.parametrize("edit, match", [
    (lambda r: r.pop("test_auc"), "field 'test_auc' must be a finite number"),
    (lambda r: r.update(test_logloss="x"), "field 'test_logloss'"),
    (lambda r: r.update(test_auc=1.5), r"must lie in \[0, 1\]"),
    (lambda r: r.update(seed=9), "expected 2 from the file name"),
    (lambda r: r.update(architecture_counts={"memorize": 1}), "architecture_counts"),
])
def test_malformed_run_names_file_and_field(results, tmp_path, edit, match):
    root, _ = results
    path = tables.run_path(root, "toy", "lr", 2)
    run = json.loads(path.read_text())
    edit(run)
    path.write_text(json.dumps(run))
    with pytest.raises(ValueError, match=match) as err:
        tables.build(root, "toy", MODELS, SEEDS, tmp_path / "tables")
    assert str(path) in str(err.value)


def test_broken_json_names_file(results, tmp_path):
    root, _ = results
    path = tables.run_path(root, "toy", "fm", 1)
    path.write_text("{\"test_auc\": 0.7,\n")
    with pytest.raises(ValueError, match=f"{path}: not valid JSON"):
        tables.build(root, "toy", MODELS, SEEDS, tmp_path / "tables")


def test_best_baseline_is_never_an_optinter_recipe(results, tmp_path):
    """A re-train of an OptInter search (here the paper recipe, better than every baseline)
    is not the baseline OptInter is tested against."""
    root, truth = results
    runs = {"paper_recipe": {"model": "optinter", "architecture": "search_paper",
                             "label": "OptInter (paper recipe)"}}
    _write_runs(root, "paper_recipe", truth["auc"]["optinter"] + 0.01, [0.4] * 5, 800_000)
    out = tmp_path / "tables"
    tables.build(root, "toy", [*MODELS, "paper_recipe"], SEEDS, out, runs=runs)
    assert _csv(out / "table5.csv")["optinter"]["compared_to"] == "optinter_m"


def test_train_samples_include_the_search_and_selection(results, tmp_path):
    """Table V's cost: a run's own samples, less what it reused from a finalist, plus what
    deciding its architecture took."""
    root, _ = results
    runs = {"optinter": {"model": "optinter", "architecture": "search"},
            "optinter_paper": {"model": "optinter", "architecture": "search_paper"}}
    for seed in SEEDS:
        for name, own, reused in (("optinter", 500, 500), ("optinter_paper", 400, 0)):
            path = tables.run_path(root, "toy", name, seed)
            path.parent.mkdir(parents=True, exist_ok=True)
            run = _run("optinter", seed, 0.78, 0.45, 1000)
            run.update(train_samples=own + seed, reused={"train_samples": reused + seed}
                       if reused else None)
            path.write_text(json.dumps(run))
        for arch, body in (("search", {"selection": {"cost": {"search_samples": 1000,
                                                              "finalist_samples": 900}}}),
                           ("search_paper", {"settings": {"train_samples": 1000}})):
            f = root / "toy" / arch / f"seed{seed}" / "architecture.json"
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_text(json.dumps(body))
    out = tmp_path / "tables"
    tables.build(root, "toy", [*MODELS, "optinter_paper"], SEEDS, out, runs=runs)
    rows = _csv(out / "table5.csv")
    assert float(rows["optinter"]["train_samples_mean"]) == 1900
    assert float(rows["optinter_paper"]["train_samples_mean"]) == 1400 + np.mean(SEEDS)
    assert rows["lr"]["train_samples_mean"] == ""  # not recorded: not invented
    assert "Train samples" in (out / "table5.md").read_text()


def test_tost_against_direct_one_sided_tests():
    from optinter.analysis.stats import tost_paired

    rng = np.random.default_rng(5)
    a = dict(zip(range(6), rng.normal(0.8, 0.01, 6)))
    near = {k: v - 0.001 + rng.normal(0, 0.0005) for k, v in a.items()}
    d = np.array([a[k] - near[k] for k in range(6)])
    se = d.std(ddof=1) / math.sqrt(d.size)
    p_lo = stats.t.sf((d.mean() + 0.005) / se, d.size - 1)
    p_hi = stats.t.cdf((d.mean() - 0.005) / se, d.size - 1)
    p, n = tost_paired(a, near, 0.005)
    assert n == 6 and p == pytest.approx(max(p_lo, p_hi)) and p < 0.05
    far = {k: v - 0.02 + rng.normal(0, 0.0005) for k, v in a.items()}
    assert tost_paired(a, far, 0.005)[0] > 0.5  # 0.02 apart: not equivalent at 0.005
    assert math.isnan(tost_paired({1: 0.8}, {1: 0.8}, 0.005)[0])
