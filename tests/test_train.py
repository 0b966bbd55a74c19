"""Training loop: outputs, early stopping on validation, bit-for-bit resume on CPU."""

import json

import pytest
import torch

from optinter.model.optinter import METHODS
from optinter.model.stages import run_model, run_search

HP = {"batch_size": 200, "s1": 4, "s2": 3, "mlp": [16, 8], "lr": 3e-3, "lr_c": 3e-3,
      "lr_a": 1e-2, "l2_o": 0.0, "l2_c": 1e-6, "eps": 1e-8, "epochs": 3, "patience": 5}
SEARCH = {"relaxation": "gumbel", "tau_start": 1.0, "tau_end": 0.05, "tau_decay_steps": 20,
          "mode": "joint", "factorize_table": "separate", "seed": 4}
TRAIN = {"seed": 4, "checkpoint_every_steps": 4, "sparse_embeddings": True, "device": "cpu"}


class Interrupt(Exception):
    pass


def stop_at(step):
    def hook(state):
        if state.step == step:
            raise Interrupt
    return hook


def weights(ckpt_dir):
    return torch.load(ckpt_dir / "last.pt", weights_only=True)["model"]


def same(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_run_model_outputs(tiny_processed, tmp_path):
    arch = ["memorize"] * 4 + ["factorize"] * 3 + ["naive"] * 3
    out = run_model("optinter", tiny_processed, HP, TRAIN, 4, tmp_path / "o.json",
                    tmp_path / "ck", architecture=arch)
    saved = json.loads((tmp_path / "o.json").read_text())
    for key in ("dataset", "model", "seed", "valid_auc", "valid_logloss", "test_auc",
                "test_logloss", "params", "architecture_counts", "epochs", "best_epoch",
                "train_seconds", "samples_per_second", "device", "config"):
        assert key in saved, key
    assert saved["architecture_counts"] == {"memorize": 4, "factorize": 3, "naive": 3}
    assert out["test_auc"] > 0.6  # the planted signal is learnable
    hist = [h["valid_auc"] for h in out["history"]]
    assert out["valid_auc"] == max(hist) and out["best_epoch"] == hist.index(max(hist)) + 1


def test_early_stopping_on_validation(tiny_processed, tmp_path):
    hp = dict(HP, epochs=6, patience=0, lr=0.3, lr_c=0.3)  # large lr: validation soon worsens
    out = run_model("optinter", tiny_processed, hp, TRAIN, 4, tmp_path / "o.json",
                    tmp_path / "ck", architecture=["memorize"] * 10)
    hist = [h["valid_auc"] for h in out["history"]]
    # patience 0: stops right after the first epoch that does not beat the best so far
    assert out["epochs"] == len(hist) == out["best_epoch"] + 1 < 6
    assert hist[-1] <= max(hist[:-1]) == out["valid_auc"]
    assert all(a < b for a, b in zip(hist[:-2], hist[1:-1]))


def test_kept_weights_are_the_monitors_best(tiny_processed, tmp_path):
    # memorising at a large rate, two evaluations per epoch: AUC peaks after log loss does
    hp = dict(HP, epochs=8, patience=8, lr=1e-2, lr_c=3e-2, l2_c=0.0)
    score = {"auc": lambda h: h["valid_auc"], "logloss": lambda h: -h["valid_logloss"],
             "auc-logloss": lambda h: h["valid_auc"] - h["valid_logloss"]}
    kept = {}
    for monitor, key in score.items():
        out = run_model("optinter", tiny_processed, hp,
                        dict(TRAIN, evals_per_epoch=2, monitor=monitor), 4,
                        tmp_path / f"{monitor}.json", tmp_path / monitor,
                        architecture=["memorize"] * 10)
        best = max(out["history"], key=key)
        assert (out["best_step"], out["valid_auc"], out["valid_logloss"]) == (
            best["step"], best["valid_auc"], best["valid_logloss"]), monitor
        kept[monitor] = out["best_step"]
    assert kept["auc"] != kept["logloss"]  # else this case could not tell monitors apart


def test_unknown_monitor_is_refused(tiny_processed, tmp_path):
    with pytest.raises(ValueError, match="train.monitor"):
        run_model("optinter", tiny_processed, HP, dict(TRAIN, monitor="AUC"), 4,
                  tmp_path / "o.json", tmp_path / "ck", architecture=["naive"] * 10)


@pytest.mark.parametrize("stage,evals", [("model", 1), ("search", 1), ("model", 3)])
def test_resume_reproduces_uninterrupted_run(tiny_processed, tmp_path, stage, evals):
    hp = dict(HP, batch_size=300, epochs=2)
    train = dict(TRAIN, checkpoint_every_steps=3, evals_per_epoch=evals)

    def go(tag, hook=None):
        if stage == "model":
            return run_model("optinter", tiny_processed, hp, train, 4, tmp_path / f"{tag}.json",
                             tmp_path / tag, architecture=["memorize", "factorize"] * 5,
                             on_step=hook)
        return run_search(tiny_processed, hp, SEARCH, train, tmp_path / f"{tag}.json",
                          tmp_path / tag, on_step=hook)

    full = go("full")
    with pytest.raises(Interrupt):
        go("cut", stop_at(11))  # 8 steps per epoch, a save every 3: resumes from step 9
    ckpt = torch.load(tmp_path / "cut" / "last.pt", weights_only=True)
    # a save every 3 steps and after every evaluation (3 per epoch: steps 3, 5, 8, 11, ...)
    assert ckpt["state"]["step"] == (11 if evals == 3 else 9) and ckpt["state"]["epoch"] == 1
    resumed = go("cut")
    if evals == 3:
        assert [h["step"] for h in resumed["history"]][:4] == [3, 5, 8, 11]
        assert resumed["history"] == full["history"]
    assert same(weights(tmp_path / "full"), weights(tmp_path / "cut"))
    key = "valid_auc" if stage == "model" else "counts"
    assert full[key] == resumed[key]


def test_search_writes_architecture(tiny_processed, tmp_path):
    arch = run_search(tiny_processed, HP, SEARCH, TRAIN, tmp_path / "a.json", tmp_path / "ck")
    saved = json.loads((tmp_path / "a.json").read_text())
    assert saved["methods"] == list(METHODS) and saved["relaxation"] == "gumbel"
    assert len(saved["pairs"]) == 10 and sum(saved["counts"].values()) == 10
    assert saved["pairs"][0]["fields"] == ["C1", "C2"]
    assert saved["temperature"] < 1.0
    assert arch["settings"]["valid_auc"] > 0.5


@pytest.mark.parametrize("mode", ["bilevel", "random"])
def test_search_modes(tiny_processed, tmp_path, mode):
    hp = dict(HP, epochs=1)
    a = run_search(tiny_processed, hp, dict(SEARCH, mode=mode), TRAIN, tmp_path / "a.json",
                   tmp_path / "ck")
    b = run_search(tiny_processed, hp, dict(SEARCH, mode=mode), TRAIN, tmp_path / "b.json",
                   tmp_path / "ck2")
    assert a["pairs"] == b["pairs"]  # seeded
    assert sum(a["counts"].values()) == 10


def test_dense_and_sparse_updates_both_train(tiny_processed, tmp_path):
    out = run_model("optinter", tiny_processed, dict(HP, epochs=2), dict(TRAIN,
                    sparse_embeddings=False), 4, tmp_path / "o.json", tmp_path / "ck",
                    architecture=["factorize"] * 10)
    assert out["valid_auc"] > 0.55
    assert out["history"][1]["train_loss"] < out["history"][0]["train_loss"]


def test_a_sample_budget_stops_training_after_a_last_validation(tiny_processed, tmp_path):
    """max_samples (the shortlist recipe's budget): training stops at the batch that reaches
    it, or before the batch that would pass it, validated there, keeping the best weights so
    far; a rerun with the same budget resumes to the same state."""
    from optinter.model.stages import fit_model

    arch = ["memorize"] * 4 + ["factorize"] * 3 + ["naive"] * 3
    hp = dict(HP, epochs=5)
    _, st, *_ = fit_model("optinter", tiny_processed, hp, TRAIN, 4, tmp_path / "ck",
                          architecture=arch, max_samples=1000)
    assert st.samples == 1000 and st.done
    assert st.history[-1]["step"] == st.step == 5  # validated at the stop
    _, again, *_ = fit_model("optinter", tiny_processed, hp, TRAIN, 4, tmp_path / "ck",
                             architecture=arch, max_samples=1000)
    assert again.samples == 1000 and again.best_auc == st.best_auc
    # another budget is another fit: the checkpoint is not resumed
    _, other, *_ = fit_model("optinter", tiny_processed, hp, TRAIN, 4, tmp_path / "ck",
                             architecture=arch, max_samples=1400)
    assert other.samples == 1400
    # a budget between batches (200 rows each): never passed
    _, within, *_ = fit_model("optinter", tiny_processed, hp, TRAIN, 4, tmp_path / "ck3",
                              architecture=arch, max_samples=1100)
    assert within.samples == 1000 and within.done
    assert within.history[-1]["step"] == within.step == 5
