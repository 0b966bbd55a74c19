"""The shortlist recipe: its decision on a known score landscape, and the stages end to end
(search -> shortlist -> finalists -> decision -> the re-train that reuses the winner's fit)."""

import json

import numpy as np
import pytest

from optinter.model import shortlist
from optinter.model.featuremap import FeatureMap
from optinter.model.holdout import uniform_sample
from optinter.model.loader import ParquetBatches
from optinter.model.stages import run_finalist, run_model, run_search, run_select, run_shortlist

CFG = shortlist.settings({})


def landscape(truth: dict[int, str], n: int, gain: float = 0.02, noise_cost: float = 0.001):
    """A score: each true pair at its right method adds `gain` (a quarter at the wrong one),
    each other non-naive pair costs `noise_cost`."""
    calls = []

    def score(choices):
        calls.append(list(choices))
        s = 0.7
        for i, c in enumerate(choices):
            if c == "naive":
                continue
            if i in truth:
                s += gain if c == truth[i] else gain / 4
            else:
                s -= noise_cost
        return s
    return score, calls


def test_a_pair_alpha_misjudges_is_screened_in_with_its_right_method():
    n = 30
    truth = {3: "memorize", 17: "factorize", 25: "factorize"}
    probs = np.full((n, 3), 1 / 3)
    probs[3] = [0.8, 0.1, 0.1]
    probs[17] = [0.34, 0.33, 0.33]      # α hardly separates it, its argmax says memorize
    probs[25] = [0.5, 0.2, 0.3]          # argmax memorize, the wrong method
    for i in (0, 1, 2):                  # noise pairs α ranks above the low-rank ones
        probs[i] = [0.45, 0.45, 0.10]
    score, calls = landscape(truth, n)
    out = shortlist.decide(score, probs, CFG)
    best = out["finalists"][0]
    assert best["family"] == "screen"
    assert {i: c for i, c in enumerate(best["choices"]) if c != "naive"} == truth
    assert best["score"] == pytest.approx(0.7 + 3 * 0.02)
    assert len(out["finalists"]) == CFG["finalists"]
    assert len({tuple(f["choices"]) for f in out["finalists"]}) == len(out["finalists"])
    # the screen gives every pair both methods: 1 + 2n scorings before any top-k
    assert calls[0] == ["naive"] * n and len(calls) >= 1 + 2 * n
    # the whole grid is scored, no early stop: k = n is among the trail
    assert out["trails"]["screen"][-1]["k"] == n


def test_pick_prefers_validation_auc_then_fewer_pairs():
    fits = [{"valid_auc": 0.80, "choices": ["memorize", "memorize"]},
            {"valid_auc": 0.80, "choices": ["memorize", "naive"]},
            {"valid_auc": 0.79, "choices": ["naive", "naive"]}]
    assert shortlist.pick(fits) == 1
    fits[2]["valid_auc"] = 0.81
    assert shortlist.pick(fits) == 2


def test_uniform_sample_spreads_over_the_split_and_is_seeded(tiny_processed):
    fm = FeatureMap.load(tiny_processed)
    loader = ParquetBatches(fm, "valid", 64)
    half = uniform_sample(loader, loader.rows // 2, seed=3)
    again = uniform_sample(loader, loader.rows // 2, seed=3)
    assert all(np.array_equal(a[1].numpy(), b[1].numpy())
               for a, b in zip(half.iterate(0), again.iterate(0)))
    assert 0.3 * loader.rows < half.rows < 0.7 * loader.rows
    # rows come from every part of the split, not its first batches
    assert len(half) > 0.8 * len(loader)
    assert uniform_sample(loader, None, seed=3).rows == loader.rows


HP = {"batch_size": 200, "s1": 4, "s2": 3, "mlp": [16, 8], "lr": 3e-3, "lr_c": 3e-3,
      "lr_a": 1e-2, "l2_o": 0.0, "l2_c": 1e-6, "eps": 1e-8, "epochs": 2, "patience": 5}
SEARCH = {"relaxation": "gumbel", "tau_start": 1.0, "tau_end": 0.05, "tau_decay_steps": 20,
          "mode": "joint", "factorize_table": "separate", "seed": 4, "recipe": "shortlist"}
TRAIN = {"seed": 4, "checkpoint_every_steps": 0, "sparse_embeddings": True, "device": "cpu"}


def test_stages_end_to_end_and_the_winner_is_the_retrain(tiny_processed, tmp_path):
    arch_p = tmp_path / "search_paper.json"
    weights = tmp_path / "supernet.pt"
    searched = run_search(tiny_processed, HP, SEARCH, TRAIN, arch_p, tmp_path / "ck_search",
                          out_weights=weights)
    assert weights.exists() and searched["settings"]["train_samples"] > 0
    short = run_shortlist(tiny_processed, HP, SEARCH, TRAIN, arch_p, weights,
                          tmp_path / "shortlist.json")
    n = len(searched["pairs"])
    assert short["evaluations"] >= 1 + 2 * n and short["eval_rows"] > 0
    fins = [run_finalist(tiny_processed, HP, SEARCH, TRAIN, 4, tmp_path / "shortlist.json", i,
                         tmp_path / f"f{i}.json", tmp_path / f"ck_f{i}") for i in range(2)]
    for f in fins:
        assert "test_auc" not in f and f["train_samples"] > 0
    decided = run_select(tiny_processed, HP, SEARCH, TRAIN, arch_p, tmp_path / "arch.json",
                         tmp_path / "unused", shortlist_json=tmp_path / "shortlist.json",
                         candidates=[tmp_path / "f0.json", tmp_path / "f1.json"])
    win = fins[shortlist.pick(fins)]
    assert [p["choice"] for p in decided["pairs"]] == win["choices"]
    assert [p["search_choice"] for p in decided["pairs"]] == \
        [p["choice"] for p in searched["pairs"]]
    cost = decided["selection"]["cost"]
    assert cost["finalist_samples"] == sum(f["train_samples"] for f in fins)
    # the re-train of the decided architecture reuses the winner's fit, and equals a fresh one
    reused = run_model("optinter", tiny_processed, HP, TRAIN, 4, tmp_path / "o.json",
                       tmp_path / "ck_run", architecture=tmp_path / "arch.json",
                       search_cfg=SEARCH)
    fresh = run_model("optinter", tiny_processed, HP, TRAIN, 4, tmp_path / "o2.json",
                      tmp_path / "ck_fresh", architecture=win["choices"], search_cfg=SEARCH)
    assert reused["reused"]["checkpoint"] == win["checkpoint"]
    assert fresh["reused"] is None
    assert reused["valid_auc"] == win["valid_auc"] == fresh["valid_auc"]
    assert reused["test_auc"] == fresh["test_auc"]
    assert reused["train_samples"] == fresh["train_samples"] == win["train_samples"]
    saved = json.loads((tmp_path / "o.json").read_text())
    assert saved["reused"]["train_samples"] == win["train_samples"]


@pytest.mark.parametrize("table", ["separate", "shared"])
def test_scorer_equals_the_supernet_fixed_to_the_architecture(tiny_processed, table):
    """The scorer's shortcut (first layer split into its slot columns) gives the AUC of the
    supernet's own forward with the architecture fixed."""
    import torch

    from optinter.model.metrics import auc
    from optinter.model.optinter import Supernet
    from optinter.model.stages import SupernetScorer

    fm = FeatureMap.load(tiny_processed)
    torch.manual_seed(3)
    hp = dict(HP, s1=3) if table == "shared" else HP
    net = Supernet(fm, hp, {"factorize_table": table})
    sample = uniform_sample(ParquetBatches(fm, "valid", 256), None, 0)
    scorer = SupernetScorer(net, sample)
    rng = np.random.default_rng(0)
    for _ in range(4):
        choices = [shortlist.METHODS[i] for i in rng.integers(0, 3, fm.n_pairs)]
        net.eval()
        net.fix_architecture(choices)
        with torch.no_grad():
            z = np.concatenate([net(c, x, k).numpy() for c, x, k, _ in sample.iterate(0)])
        net.fix_architecture(None)
        assert scorer(choices) == pytest.approx(auc(scorer.labels, z), abs=1e-9)
    assert scorer.evaluations == 4 and scorer.rows_evaluated == 4 * sample.rows


def test_lean_finalist_is_the_smallest_k_within_the_tolerance():
    n = 12
    truth = {1: "memorize", 4: "factorize", 7: "memorize"}
    score, _ = landscape(truth, n)
    probs = np.tile([0.45, 0.45, 0.10], (n, 1))   # α ranks the noise pairs first
    probs[list(truth)] = 1 / 3
    out = shortlist.decide(score, probs, CFG, tolerance=lambda auc: 0.03)
    fams = {f["family"]: f for f in out["finalists"]}
    assert set(fams) == {"screen", "lean"}          # 0.76 and 0.74: above alpha and argmax
    assert fams["screen"]["k"] == 3 and fams["lean"]["k"] == 2
    assert out["lean_tolerance"] == 0.03
    # no tolerance: no lean family (its k would be the best's)
    assert "lean" not in {f["family"] for f in shortlist.decide(score, probs, CFG)["finalists"]}
