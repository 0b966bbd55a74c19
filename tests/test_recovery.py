"""Planted-benchmark summary: recovery scores, the oracle architecture, recovery.json."""

from __future__ import annotations

import json
from itertools import combinations
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from scipy import stats

from optinter.analysis import recovery
from optinter.data import demo
from optinter.io import write_json

FIELDS = demo.CAT_FIELDS


def _fmap(fields=FIELDS) -> dict:
    pairs = [{"name": f"{a}_x_{b}", "fields": [a, b], "vocab_size": 3, "oov_id": 0}
             for a, b in combinations(fields, 2)]
    return {"dataset": "planted", "pairs": pairs,
            "fields": [{"name": f, "type": "categorical", "vocab_size": 4, "oov_id": 0,
                        "crossed": True} for f in fields]}


def _brute_scores(truth: dict, chosen: dict) -> dict:
    """Precision/recall/F1 per method from the sets of pair names (independent of the code)."""
    out = {}
    for m in recovery.METHODS:
        t = {n for n, v in truth.items() if v == m}
        c = {n for n, v in chosen.items() if v == m}
        p = len(t & c) / len(c) if c else None
        r = len(t & c) / len(t) if t else None
        f = 2 * p * r / (p + r) if p and r else (0.0 if t or c else None)
        out[m] = (p, r, f)
    return out


def test_scores_match_set_counting():
    rng = np.random.default_rng(0)
    names = [f"p{i}" for i in range(60)]
    for _ in range(30):
        truth = dict(zip(names, rng.choice(recovery.METHODS, 60, p=[0.1, 0.1, 0.8])))
        chosen = dict(zip(names, rng.choice(recovery.METHODS, 60)))
        got = recovery.recovery_scores(truth, chosen)
        want = _brute_scores(truth, chosen)
        for m in recovery.METHODS:
            g = got["per_method"][m]
            assert (g["precision"], g["recall"]) == pytest.approx(want[m][:2])
            assert g["f1"] == pytest.approx(want[m][2])
        present = [want[m][2] for m in recovery.METHODS if any(v == m for v in truth.values())]
        assert got["macro_f1"] == pytest.approx(np.mean(present))
        assert sum(sum(r.values()) for r in got["confusion"].values()) == 60


def test_scores_perfect_and_degenerate():
    truth = {"a": "memorize", "b": "factorize", "c": "naive", "d": "naive"}
    assert recovery.recovery_scores(truth, truth)["macro_f1"] == 1.0
    all_naive = recovery.recovery_scores(truth, dict.fromkeys(truth, "naive"))
    assert all_naive["per_method"]["memorize"]["precision"] is None
    assert all_naive["per_method"]["memorize"]["f1"] == 0.0
    assert all_naive["macro_f1"] == pytest.approx((0 + 0 + 2 * 2 / (2 + 4)) / 3)
    with pytest.raises(ValueError, match="pairs differ"):
        recovery.recovery_scores(truth, {"a": "naive"})


def test_oracle_architecture_loads_as_the_truth(tmp_path):
    truth = {"pairs": {"C2_x_C7": "memorize", "C3_x_C20": "factorize"}, "seed": 4}
    write_json(tmp_path / "truth.json", truth)
    write_json(tmp_path / "feature_map.json", _fmap())
    arch = recovery.oracle_architecture(tmp_path / "truth.json", tmp_path / "feature_map.json",
                                        tmp_path / "arch.json")
    assert json.loads((tmp_path / "arch.json").read_text()) == arch
    assert arch["counts"] == {"memorize": 1, "factorize": 1, "naive": 323}
    # the model side reads it back as exactly the planted choices
    pytest.importorskip("torch")
    from optinter.model.featuremap import FeatureMap
    from optinter.model.optinter import load_choices
    fmap = FeatureMap.from_dict(_fmap())
    choices = dict(zip([p.name for p in fmap.pairs], load_choices(tmp_path / "arch.json", fmap)))
    assert {n: c for n, c in choices.items() if c != "naive"} == truth["pairs"]


def test_oracle_architecture_rejects_unknown_pair(tmp_path):
    write_json(tmp_path / "truth.json", {"pairs": {"C1_x_C99": "memorize"}, "seed": 1})
    write_json(tmp_path / "feature_map.json", _fmap())
    with pytest.raises(ValueError, match=r"truth\.json.*C1_x_C99"):
        recovery.oracle_architecture(tmp_path / "truth.json", tmp_path / "feature_map.json",
                                     tmp_path / "arch.json")
    assert not (tmp_path / "arch.json").exists()


def _write_case(data: Path, res: Path, size: int, seed: int, aucs: dict, flip: int) -> dict:
    """A fake finished case: planted truth, a search that gets `flip` planted pairs wrong."""
    files = recovery.case_files(size, seed, list(aucs), data, res)
    names = [p["name"] for p in _fmap()["pairs"]]
    planted = {names[i]: m for i, m in zip((3, 40, 77, 150),
                                           ("memorize", "memorize", "factorize", "factorize"))}
    write_json(files["truth"], {"pairs": planted, "seed": seed})
    chosen = {n: planted.get(n, "naive") for n in names}
    for n in list(planted)[:flip]:
        chosen[n] = "naive"
    # probabilities: planted pairs get p(naive) 0.2, irrelevant ones 0.3 .. 0.5
    arch = {"pairs": [{"name": n, "probs": [0.5, 0.3, 0.2] if n in planted else
                       [0.25, 0.25 - i * 1e-3, 0.5] if i % 2 else [0.35, 0.35, 0.3],
                       "choice": c} for i, (n, c) in enumerate(chosen.items())]}
    if seed % 2:  # only some cases record the supernet's own metrics
        arch["supernet"] = {"test_auc": 0.7 + seed / 100}
    write_json(files["architecture"]["optinter"], arch)
    arch["settings"] = {"train_samples": 1000}
    arch["selection"] = {"cost": {"search_samples": 1000, "scan_samples": 400,
                                  "finalist_samples": 600 + seed}}
    write_json(files["architecture"]["optinter"], arch)
    # the paper recipe's search: same samples, no selection
    write_json(files["architecture"]["optinter_paper"],
               {**arch, "selection": None, "settings": {"train_samples": 1000}})
    for model, auc in aucs.items():
        write_json(files["run"][model], {"test_auc": auc, "model": model,
                                         "train_samples": 300,
                                         "reused": {"train_samples": 300}
                                         if model == "optinter" else None})
    return chosen


def test_summarise_matches_direct_statistics(tmp_path):
    data, res = tmp_path / "data", tmp_path / "res"
    rng = np.random.default_rng(1)
    seeds, models = [1, 2, 3, 4], ["optinter_m", "optinter_f", "fnn"]
    table = {}
    for seed in seeds:
        base = 0.80 + rng.normal(0, 0.002)
        aucs = {"optinter": base, "oracle": base + 0.001 + rng.normal(0, 0.0005),
                "optinter_paper": base - 0.01 + rng.normal(0, 0.001),
                "optinter_m": base - 0.002 + rng.normal(0, 0.001),
                "optinter_f": base - 0.01 + rng.normal(0, 0.001),
                "fnn": base - 0.02 + rng.normal(0, 0.001)}
        table[seed] = aucs
        _write_case(data, res, 1000, seed, aucs, flip=seed % 2)
    out = recovery.summarise([1000], seeds, models, data, res, tmp_path / "recovery.json")
    assert json.loads((tmp_path / "recovery.json").read_text())["sizes"] == [1000]
    s = out["by_size"]["1000"]
    for m in ["optinter", "oracle", *models]:
        vals = [table[k][m] for k in seeds]
        assert s["test_auc"][m]["mean"] == pytest.approx(np.mean(vals))
        assert s["test_auc"][m]["std"] == pytest.approx(np.std(vals, ddof=1))
    for other in ["oracle", *models]:
        ref = stats.ttest_rel([table[k]["optinter"] for k in seeds], [table[k][other] for k in seeds])
        assert s["ttests"][f"optinter_vs_{other}"]["p"] == pytest.approx(ref.pvalue)
        assert s["ttests"][f"optinter_vs_{other}"]["t"] == pytest.approx(ref.statistic)
    # flip=1 misses one of two memorize pairs: memorize recall 1/2 there, 1 elsewhere
    assert s["per_method"]["memorize"]["recall"]["mean"] == pytest.approx(0.75)
    assert s["per_method"]["factorize"]["recall"]["mean"] == 1.0
    assert s["goals"]["macro_f1_ge_0.8"] is True
    assert s["goals"]["auc_within_0.005_of_oracle"] is True
    assert s["goals"]["significantly_above_optinter_f"] is True
    assert out["cases"][0]["missed"] == {"C1_x_C5": {"truth": "memorize", "chosen": "naive"}}
    assert out["cases"][1]["missed"] == {}
    assert s["separation_auc"]["mean"] == 1.0
    # supernet AUC: mean over the cases that recorded it (seeds 1 and 3), None elsewhere
    assert s["supernet_test_auc"]["mean"] == pytest.approx(0.72)
    assert s["supernet_test_auc"]["n"] == 2
    assert out["cases"][1]["supernet_test_auc"] is None
    # equivalence with the oracle: TOST at the tolerance against the direct one-sided tests
    d = np.array([table[k]["optinter"] - table[k]["oracle"] for k in seeds])
    p_tost = max(stats.ttest_1samp(d, -0.005, alternative="greater").pvalue,
                 stats.ttest_1samp(d, 0.005, alternative="less").pvalue)
    assert s["ttests"]["optinter_vs_oracle"]["tost_p"] == pytest.approx(p_tost)
    assert p_tost < 0.05 and s["goals"]["equivalent_to_oracle_at_0.005"] is True
    # cost: search + scan + finalists (the run reused the winner's fit) against search +
    # re-train
    ratios = [(1000 + 400 + 600 + k) / (1000 + 300) for k in seeds]
    assert s["recipes"]["optinter"]["cost_vs_paper"]["mean"] == pytest.approx(np.mean(ratios))
    assert s["recipes"]["optinter_paper"]["cost_vs_paper"]["mean"] == 1.0
    assert s["goals"]["cost_le_2x_paper"] is True


def test_summarise_names_missing_result(tmp_path):
    data, res = tmp_path / "data", tmp_path / "res"
    _write_case(data, res, 10, 1, {"optinter": 0.7, "optinter_paper": 0.7, "oracle": 0.7}, flip=0)
    with pytest.raises(FileNotFoundError, match=r"runs/fnn/seed1\.json"):
        recovery.summarise([10], [1], ["fnn"], data, res, tmp_path / "r.json")
    assert not (tmp_path / "r.json").exists()


def test_separation_auc_counts_ranked_pairs():
    truth = {"a": "memorize", "b": "factorize", "c": "naive", "d": "naive", "e": "naive"}
    naive_p = {"a": 0.2, "b": 0.4, "c": 0.3, "d": 0.5, "e": 0.6}
    pairs = [{"name": n, "probs": [0.0, 1 - v, v]} for n, v in naive_p.items()]
    # planted a beats all 3 irrelevant, b beats 2 of 3: 5 of 6 (planted, irrelevant) orderings
    assert recovery.separation_auc(truth, pairs) == pytest.approx(5 / 6)


def test_bayes_test_auc_on_generated_rows(tmp_path):
    raw = tmp_path / "train.txt"
    truth = demo.generate(raw, tmp_path / "truth.json", 3000, 5)
    lines = raw.read_text().splitlines()
    pick = np.sort(np.random.default_rng(0).choice(3000, 600, replace=False))
    labels = [int(lines[i].split("\t")[0]) for i in pick]
    pq.write_table(pa.table({"row_id": pa.array(pick, pa.int64()),
                             "label": pa.array(labels, pa.int8())}), tmp_path / "test.parquet")
    got = recovery.bayes_test_auc(truth, raw, tmp_path / "test.parquet")
    rows = np.array([lines[i].split("\t") for i in pick], dtype=object)
    assert got == pytest.approx(demo.auc(np.array(labels), demo.oracle_logit(rows, truth)))
    assert 0.75 < got < 1.0
    # a test split that does not belong to the raw file is refused
    pq.write_table(pa.table({"row_id": pa.array(pick, pa.int64()),
                             "label": pa.array([1 - v for v in labels], pa.int8())}),
                   tmp_path / "bad.parquet")
    with pytest.raises(ValueError, match="labels do not match"):
        recovery.bayes_test_auc(truth, raw, tmp_path / "bad.parquet")


def test_markdown_quotes_the_summary(tmp_path):
    data, res = tmp_path / "data", tmp_path / "res"
    for seed, base, gap in ((1, 0.80, 0.01), (2, 0.82, 0.012)):
        _write_case(data, res, 1000, seed, {"optinter": base, "optinter_paper": base - gap,
                                            "oracle": base + gap, "fnn": base - 5 * gap},
                    flip=0)
    out = recovery.summarise([1000], [1, 2], ["fnn"], data, res, tmp_path / "r.json")
    md = recovery.markdown(out)
    assert "### 1,000 rows, seeds 1, 2" in md
    # mean ± sample std of the two seeds, as the summary computed them
    assert f"| optinter | {0.81:.4f} ± {np.std([0.80, 0.82], ddof=1):.4f} |" in md
    t = out["by_size"]["1000"]["ttests"]["optinter_vs_fnn"]
    assert f"| optinter − fnn | {t['mean_diff']:+.4f} |" in md
    assert "Goals (optinter): macro_f1_ge_0.8 yes" in md
