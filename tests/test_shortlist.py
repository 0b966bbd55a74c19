"""The shortlist recipe: its decision on a known score landscape, and the stages end to end
(search -> shortlist -> finalists -> decision -> the re-train that reuses the winner's fit)."""

import json

import numpy as np
import pytest

from optinter.model import shortlist
from optinter.model.featuremap import FeatureMap
from optinter.model.holdout import uniform_sample
from optinter.model.loader import ParquetBatches
from optinter.model.stages import (run_finalist, run_model, run_scan, run_search, run_select,
                                   run_shortlist)

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
    (the recipe never reads it), each at its right method."""
    n = 30
    truth = {3: "memorize", 17: "factorize", 25: "factorize"}
    score, calls = landscape(truth, n)
    out = shortlist.decide(score, n, CFG)
    assert out["screened"] == [3, 17, 25]
    assert [out["methods"][i] for i in (3, 17, 25)] == ["memorize", "factorize", "factorize"]
    # 1 + 2n scorings: "all naive", then every pair alone with each method
    assert calls[0] == ["naive"] * n and len(calls) == 1 + 2 * n
    assert np.array(out["gain"]).shape == (n, 2)


def test_outliers_stand_out_upwards_only():
    rng = np.random.default_rng(1)
    values = np.concatenate([rng.normal(0, 1e-4, 40), [0.03, 0.002]])
    mask = shortlist.outliers(values, 4.0)
    assert mask[-2:].all() and not mask[:40].any()
    assert not shortlist.outliers(-values, 4.0).any()  # only upwards, only positive


def test_scanned_scores_and_methods():
    """A pair's score is the robust z of its importance in the scan; its method memorize where
    the memorized term alone carries at least scan_memorize_share of it; found / found_wide at
    the two thresholds."""
    rng = np.random.default_rng(4)
    pair = rng.normal(0, 1e-4, 50)
    memorize = np.zeros(50)
    pair[3], memorize[3] = 0.02, 0.008      # a table: its memorized term carries 40 %
    pair[7], memorize[7] = 0.03, 0.0002     # low-rank: rare crosses, the product carries it
    pair[9], memorize[9] = 5e-4, 0.0        # weak: z about 5
    out = shortlist.scanned(pair, memorize, CFG)
    assert out["found"] == [3, 7] and out["found_wide"] == [3, 7, 9]
    assert out["methods"][3] == "memorize" and out["methods"][7] == out["methods"][9] == "factorize"
    np.testing.assert_allclose(out["z"], shortlist.robust_z(pair))
    stricter = shortlist.scanned(pair, memorize, {**CFG, "scan_memorize_share": 0.5})
    assert stricter["methods"][3] == "factorize"
    with pytest.raises(ValueError, match="scan_memorize_share"):
        shortlist.settings({"shortlist": {"scan_memorize_share": 1.5}})


def test_finalists_wide_and_confirmed():
    """wide: the pairs above scan_z_wide at the scans' method, other screened pairs at the
    screen's; confirmed: the pairs above scan_z only (a screened pair the scans do not find is
    gone)."""
    n = 40
    methods = ["factorize"] * n
    methods[1] = methods[2] = "memorize"
    short = {"screened": [1, 2, 5], "methods": methods}
    scan_methods = ["memorize"] * n
    scan_methods[2] = scan_methods[9] = "factorize"  # the scans overrule the screen on 2
    scan = {"found": [2, 9], "found_wide": [2, 9, 30], "methods": scan_methods}
    wide, confirmed = shortlist.finalists(short, scan, {**CFG, "finalists": 2})
    assert wide["family"] == "wide" and confirmed["family"] == "confirmed"
    assert {i: c for i, c in enumerate(wide["choices"]) if c != "naive"} == {
        1: "memorize", 2: "factorize", 5: "factorize", 9: "factorize", 30: "memorize"}
    assert {i: c for i, c in enumerate(confirmed["choices"]) if c != "naive"} == {
        2: "factorize", 9: "factorize"}
    assert len(shortlist.finalists(short, scan, {**CFG, "finalists": 1})) == 1


def test_budget_shares():
    assert shortlist.budget(1000, None) is None
    total = shortlist.budget(1000, 400)
    assert total == 1800  # twice (search + re-train) less the search: 2 (S + R) - S
    assert shortlist.finalist_cap(total, 1000, 2) == 400
    assert shortlist.finalist_cap(total, 2000, 2) == 0
    assert shortlist.finalist_cap(None, 5, 2) is None


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
    spent = searched["settings"]["train_samples"]
    assert weights.exists() and spent > 0
    cfg = {**SEARCH, "shortlist": {"screen_z": 3.0, "scan_z": 3.0, "scan_z_wide": 1.0}}
    short = run_shortlist(tiny_processed, HP, cfg, TRAIN, arch_p, weights,
                          tmp_path / "shortlist.json")
    n = len(searched["pairs"])
    assert short["evaluations"] == 1 + 2 * n and short["eval_rows"] > 0
    scan = run_scan(tiny_processed, HP, cfg, {**TRAIN, "monitor": "logloss"}, 4, arch_p,
                    tmp_path / "scan.json", tmp_path / "ck_scan")
    assert len(scan["importance"]) == n and scan["max_samples"] == spent
    assert 0 < scan["train_samples"] <= spent
    # the scan keeps the weights of its best validation AUC (scan_monitor auc), whatever
    # train.monitor says
    assert scan["settings"]["scan_monitor"] == "auc"
    assert scan["valid_auc"] == max(h["valid_auc"] for h in scan["history"])
    # the paper recipe's re-train, whose samples set the budget (2 epochs of 2400 rows here)
    paper_run = tmp_path / "paper.json"
    paper_run.write_text(json.dumps({"train_samples": 2000}))
    fins = [run_finalist(tiny_processed, HP, cfg, TRAIN, 4, tmp_path / "shortlist.json",
                         tmp_path / "scan.json", i, tmp_path / f"f{i}.json", tmp_path / f"ck_f{i}",
                         paper_run=paper_run) for i in range(2)]
    budget = spent + 2 * 2000
    cands = shortlist.finalists(short, scan, shortlist.settings(cfg))
    distinct = {tuple(c["choices"]) for c in cands if set(c["choices"]) != {"naive"}}
    fitted = [f for f in fins if f["choices"] is not None]
    assert fitted and fins[0]["choices"] == cands[0]["choices"]
    for f, c in zip(fins, cands):
        assert f["family"] == c["family"]
        if f["choices"] is None:  # only ever a duplicate of the union, or nothing to fit
            assert c["choices"] == cands[0]["choices"] or set(c["choices"]) == {"naive"}
            continue
        assert f["choices"] == c["choices"]
        assert f["budget"] == budget
        assert f["max_samples"] == (budget - scan["train_samples"]) // len(distinct)
        # each fit stops within its cap
        assert f["train_samples"] <= f["max_samples"]
        assert "test_auc" not in f and f["train_samples"] > 0
    # the recipe within twice the paper recipe's training samples
    total = spent + scan["train_samples"] + sum(f["train_samples"] for f in fitted)
    assert total <= 2 * (spent + 2000)
    decided = run_select(tiny_processed, HP, cfg, TRAIN, arch_p, tmp_path / "arch.json",
                         tmp_path / "unused", shortlist_json=tmp_path / "shortlist.json",
                         candidates=[tmp_path / "f0.json", tmp_path / "f1.json"],
                         scan_json=tmp_path / "scan.json")
    win = fitted[shortlist.pick(fitted)]
    assert [p["choice"] for p in decided["pairs"]] == win["choices"]
    assert [p["search_choice"] for p in decided["pairs"]] == \
        [p["choice"] for p in searched["pairs"]]
    cost = decided["selection"]["cost"]
    assert cost["finalist_samples"] == sum(f["train_samples"] for f in fitted)
    assert cost["scan_samples"] == scan["train_samples"]
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
