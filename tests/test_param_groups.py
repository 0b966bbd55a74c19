"""Which parameters Table IV's rates and L2 weights reach (issue 12): l2_o is L2 on the
original embedding table only (the note under Table IV), Poly2's cross weights follow the
general settings with poly2_cross: general."""

from __future__ import annotations

import pytest
import torch

from optinter.model.featuremap import FeatureMap
from optinter.model.registry import get_model
from optinter.model.train import build_optimizers

HP = {"batch_size": 64, "s1": 4, "s2": 3, "mlp": [8], "lr": 1e-3, "lr_c": 2e-3, "lr_a": 3e-3,
      "l2_o": 0.5, "l2_c": 0.25, "eps": 1e-8, "epochs": 1, "patience": 1}


def settings(opts: dict, p: torch.nn.Parameter) -> tuple[float, float]:
    """(lr, weight_decay) of the optimiser group that holds p."""
    (g,) = [g for o in opts.values() for g in o.param_groups if any(q is p for q in g["params"])]
    return g["lr"], g["weight_decay"]


@pytest.mark.parametrize("name", ["fnn", "deepfm", "optinter_m"])
def test_l2_o_decays_the_embeddings_not_the_mlp(tiny_processed, name):
    model = get_model(name)(FeatureMap.load(tiny_processed), HP)
    model.set_sparse(False)   # one dense Adam for all: a zero-gradient step moves only what decays
    opts = build_optimizers(model, HP)
    mlp_w = model.mlp.net[0].weight
    assert settings(opts, model.emb.table.weight) == settings(opts, model.emb.cont) == (1e-3, 0.5)
    assert settings(opts, mlp_w) == (1e-3, 0.0)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    for o in opts.values():
        o.step()
    moved = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    decayed = {"emb.table.weight", "emb.cont"}
    if name == "optinter_m":
        decayed.add("memo.weight")   # cross table: l2_c
    assert moved == decayed


def test_first_order_weights_are_not_decayed_and_sparse_tables_are(tiny_processed):
    model = get_model("deepfm")(FeatureMap.load(tiny_processed), HP)
    opts = build_optimizers(model, HP)   # sparse tables: LazyAdam, the same settings
    assert settings(opts, model.emb.table.weight) == (1e-3, 0.5)
    assert settings(opts, model.first.cat.weight) == settings(opts, model.first.bias) == (1e-3, 0.0)


@pytest.mark.parametrize("mode,want", [("general", (1e-3, 0.0)), ("cross", (2e-3, 0.25))])
def test_poly2_cross_weights(tiny_processed, mode, want):
    model = get_model("poly2")(FeatureMap.load(tiny_processed), {**HP, "poly2_cross": mode})
    assert settings(build_optimizers(model, HP), model.first.pairs.weight) == want


def test_poly2_default_is_the_recorded_behaviour_and_bad_modes_are_refused(tiny_processed):
    fm = FeatureMap.load(tiny_processed)
    model = get_model("poly2")(fm, HP)
    assert settings(build_optimizers(model, HP), model.first.pairs.weight) == (2e-3, 0.25)
    with pytest.raises(ValueError, match="poly2_cross"):
        get_model("poly2")(fm, {**HP, "poly2_cross": "lr_c"})
