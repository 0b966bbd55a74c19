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
    each other non-naive pair costs `noise_cost`, plus a small seeded jitter per pair."""
    calls = []
    jitter = np.random.default_rng(0).normal(0, 1e-4, (n, 2))

    def score(choices):
        calls.append(list(choices))
        s = 0.7
        for i, c in enumerate(choices):
            if c == "naive":
                continue
            s += jitter[i, 0 if c == "memorize" else 1]
            if i in truth:
                s += gain if c == truth[i] else gain / 4
            else:
                s -= noise_cost
        return s
    return score, calls


def test_screen_keeps_the_pairs_that_stand_out_at_their_method():
    """Every pair is scored alone with each method: the true pairs stand out whatever α says
    (the recipe never reads it), each at its right method, and the probe factorizes the rest."""
    n = 30
    truth = {3: "memorize", 17: "factorize", 25: "factorize"}
    score, calls = landscape(truth, n)
    out = shortlist.decide(score, n, CFG)
    probe = out["finalists"][0]
    assert probe["family"] == "probe" and probe["screened"] == [3, 17, 25]
    assert [probe["choices"][i] for i in (3, 17, 25)] == ["memorize", "factorize", "factorize"]
    assert all(c == "factorize" for i, c in enumerate(probe["choices"]) if i not in truth)
    # 1 + 2n scorings: "all naive", then every pair alone with each method
    assert calls[0] == ["naive"] * n and len(calls) == 1 + 2 * n
    assert np.array(out["gain"]).shape == (n, 2)


def test_outliers_and_the_lean_architecture():
    rng = np.random.default_rng(1)
    noise = rng.normal(0, 1e-4, 40)
    values = np.concatenate([noise, [0.03, 0.002]])
    mask = shortlist.outliers(values, 4.0)
    assert mask[-2:].all() and not mask[:40].any()
    assert not shortlist.outliers(-values, 4.0).any()  # only upwards, only positive
    probe = ["factorize"] * 42
    probe[40] = "memorize"
    importance = [*noise.tolist(), 0.03, 0.002]
    importance[5] = None  # a pair the model does not use has no importance
    lean = shortlist.lean(probe, importance, {"keep_z": 4.0})
    assert lean[40] == "memorize" and lean[41] == "factorize"
    assert lean.count("naive") == 40


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
    cfg = {**SEARCH, "shortlist": {"keep_z": 1.0}}  # tiny data: a lenient lean step
    short = run_shortlist(tiny_processed, HP, cfg, TRAIN, arch_p, weights,
                          tmp_path / "shortlist.json")
    n = len(searched["pairs"])
    assert short["evaluations"] == 1 + 2 * n and short["eval_rows"] > 0
    # the paper recipe's re-train, whose samples set the budget (2 epochs of 2400 rows here)
    paper_run = tmp_path / "paper.json"
    paper_run.write_text(json.dumps({"train_samples": 2000}))
    fins = []
    for i in range(2):
        fins.append(run_finalist(tiny_processed, HP, cfg, TRAIN, 4, tmp_path / "shortlist.json",
                                 i, tmp_path / f"f{i}.json", tmp_path / f"ck_f{i}",
                                 previous=tmp_path / "f0.json" if i else None,
                                 paper_run=paper_run))
    probe, lean = fins
    budget = searched["settings"]["train_samples"] + 2 * 2000
    assert probe["budget"] == budget and probe["max_samples"] == budget // 2
    assert lean["max_samples"] == budget - probe["train_samples"]
    # each fit stops within its cap (at the end of the batch that reached it)
    for f in fins:
        assert f["max_samples"] <= f["train_samples"] < f["max_samples"] + HP["batch_size"] \
            or f["train_samples"] < f["max_samples"]
    # the recipe within twice the paper recipe's training samples
    total = searched["settings"]["train_samples"] + probe["train_samples"] + lean["train_samples"]
    assert total <= 2 * (searched["settings"]["train_samples"] + 2000) + HP["batch_size"]
    assert probe["choices"] == short["finalists"][0]["choices"]
    assert len(probe["importance"]) == n
    assert lean["choices"] == shortlist.lean(probe["choices"], probe["importance"], {"keep_z": 1.0})
    for f in fins:
        assert "test_auc" not in f and f["train_samples"] > 0
    decided = run_select(tiny_processed, HP, cfg, TRAIN, arch_p, tmp_path / "arch.json",
                         tmp_path / "unused", shortlist_json=tmp_path / "shortlist.json",
                         candidates=[tmp_path / "f0.json", tmp_path / "f1.json"])
    win = fins[shortlist.pick(fins)]
    assert [p["choice"] for p in decided["pairs"]] == win["choices"]
    assert [p["search_choice"] for p in decided["pairs"]] == \
        [p["choice"] for p in searched["pairs"]]
    cost = decided["selection"]["cost"]
    assert cost["finalist_samples"] == sum(f["train_samples"] for f in fins)
    # the re-train of the decided architecture reuses the winner's fit, and equals a fresh one
    assert decided["selection"]["winner"]["max_samples"] == win["max_samples"]
    steps = []
    run_cfg = {k: v for k, v in cfg.items() if k not in ("recipe", "select", "shortlist")}
    reused = run_model("optinter", tiny_processed, HP, TRAIN, 4, tmp_path / "o.json",
                       tmp_path / "ck_run", architecture=tmp_path / "arch.json",
                       search_cfg=run_cfg, on_step=steps.append)
    assert steps == []  # not one step trained again
    # the same architecture.json without the finalist's checkpoints: the same fit again,
    # under the same cap
    fresh = run_model("optinter", tiny_processed, HP, TRAIN, 4, tmp_path / "o2.json",
                      tmp_path / "ck_fresh", architecture=_without_checkpoint(
                          tmp_path / "arch.json", tmp_path / "arch2.json"), search_cfg=run_cfg)
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


def _without_checkpoint(src, dst):
    arch = json.loads(src.read_text())
    arch["selection"]["winner"]["checkpoint"] = str(dst.parent / "nowhere")
    dst.write_text(json.dumps(arch))
    return dst
