"""The validated recipe's decision (selection.py) against a known validation landscape."""

import numpy as np
import pytest

from optinter.model import selection


def test_grid_covers_small_k_then_grows_to_all_pairs():
    ks = selection.grid(325)
    assert ks[:7] == list(range(7)) and ks[-1] == 325
    assert all(b > a for a, b in zip(ks, ks[1:]))
    assert selection.grid(4) == [0, 1, 2, 3, 4]
    assert selection.grid(100, max_pairs=10)[-1] == 10


def test_decide_finds_the_truth_of_a_known_landscape():
    rng = np.random.default_rng(0)
    n = 40
    probs = rng.dirichlet([1, 1, 3], n)  # mostly naive-leaning pairs
    truth = {3: "memorize", 17: "factorize", 29: "memorize"}
    for i, m in truth.items():  # ranked first, but pair 17 with the wrong argmax method
        probs[i] = [0.7, 0.2, 0.1] if i != 17 else [0.6, 0.3, 0.1]
    calls = []

    def fit(choices, tag):
        calls.append(tag)
        right = sum(choices[i] == m for i, m in truth.items())
        noise = sum(c != "naive" for i, c in enumerate(choices) if i not in truth)
        return {"valid_auc": 0.7 + 0.05 * right - 0.01 * noise, "valid_logloss": 0.5}

    out = selection.decide(probs, fit, selection.settings({"select": {"rankings": ["alpha"]}}))
    assert out["k"] == 3
    assert {i: c for i, c in enumerate(out["choices"]) if c != "naive"} == truth
    assert [f["kept"] for f in out["flips"]].count(True) == 1
    # the sweep stopped `patience` grid points after the best k instead of trying all pairs
    assert len(out["grid"]) == 4 + selection.DEFAULTS["patience"]
    assert not any(t.startswith(f"k{n}") for t in calls)


def test_the_papers_argmax_is_kept_where_it_validates_better():
    # a noisy ranking: the one interacting pair (the last) is ranked last by 1 - p(naive), yet
    # the argmax is right everywhere (memorize there, naive for the noise pairs)
    n = 30
    probs = np.tile([0.3, 0.3, 0.4], (n, 1))
    probs[n - 1] = [0.52, 0.0, 0.48]
    assert selection.ranking(probs)[-1] == n - 1

    def fit(choices, tag):
        hit = choices[n - 1] == "memorize"
        noise = sum(c != "naive" for c in choices[:-1])
        return {"valid_auc": 0.70 + 0.10 * hit - 0.001 * noise, "valid_logloss": 0.5}

    alpha_only = {"patience": 2, "rankings": ["alpha"]}
    out = selection.decide(probs, fit, selection.settings({"select": alpha_only}))
    assert out["argmax"]["kept"] and out["k"] is None
    assert out["choices"] == [selection.METHODS[int(np.argmax(p))] for p in probs]
    off = selection.decide(probs, fit, selection.settings({"select": {**alpha_only,
                                                                      "argmax": False}}))
    assert off["argmax"] is None and off["k"] == 0 and set(off["choices"]) == {"naive"}


def test_permutation_ranking_recovers_what_alpha_ranks_last():
    # α ranks the three interacting pairs last; the argmax re-train uses every pair, and
    # shuffling an interacting pair's inputs costs validation AUC, a noise pair's nothing
    n, truth = 40, {37: "memorize", 38: "memorize", 39: "factorize"}
    probs = np.tile([0.4, 0.3, 0.3], (n, 1))
    probs[list(truth)] = [[0.37, 0.27, 0.36], [0.37, 0.27, 0.36], [0.27, 0.37, 0.36]]
    assert set(selection.ranking(probs)[-3:].tolist()) == set(truth)
    asked = []

    def fit(choices, tag, importance=False):
        right = sum(choices[i] == m for i, m in truth.items())
        noise = sum(c != "naive" for i, c in enumerate(choices) if i not in truth)
        out = {"valid_auc": 0.7 + 0.05 * right - 0.002 * noise, "valid_logloss": 0.5}
        if importance:
            asked.append(tag)
            out["importance"] = np.array([0.05 if i in truth else 1e-4 * (i % 3)
                                          if c != "naive" else np.nan
                                          for i, c in enumerate(choices)])
        return out

    out = selection.decide(probs, fit, selection.settings({}))
    assert asked == ["argmax"]  # importance comes from the paper's architecture, once
    assert out["ranking"] == "permutation" and out["k"] == 3
    assert {i: c for i, c in enumerate(out["choices"]) if c != "naive"} == truth
    assert out["grids"]["alpha"][0] == out["grids"]["permutation"][0]  # k = 0 trained once
    assert not out["argmax"]["kept"]


def test_importance_order_puts_used_pairs_first():
    probs = np.tile([0.3, 0.3, 0.4], (5, 1))
    probs[4] = [0.8, 0.1, 0.1]
    imp = np.array([0.01, np.nan, 0.03, -0.001, np.nan])
    assert selection.importance_order(imp, probs).tolist() == [2, 0, 3, 4, 1]


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="growth"):
        selection.settings({"select": {"growth": 1.0}})
