"""Supernet, relaxations and the re-train model."""

import json

import numpy as np
import pytest
import torch

from optinter.model.featuremap import FeatureMap
from optinter.model.layers import count_parameters
from optinter.model.optinter import (METHODS, OptInterNet, Supernet, choice_parameters,
                                     copy_supernet_weights, decay_steps, load_choices, relax,
                                     temperature)

HP = {"s1": 4, "s2": 3, "mlp": [8, 6], "lr": 1e-3, "lr_c": 1e-3, "lr_a": 1e-3,
      "l2_o": 0.0, "l2_c": 0.0, "batch_size": 16}
TRAIN_ROWS = 100


def fmap() -> FeatureMap:
    cats = [("C1", 5), ("C2", 3), ("C3", 7), ("C4", 2)]
    names = [c for c, _ in cats]
    pairs = [(a, b) for i, a in enumerate(names) for b in names[i + 1:]]
    return FeatureMap.from_dict({
        "fields": [{"name": "I1", "type": "continuous"}]
        + [{"name": c, "type": "categorical", "vocab_size": v, "crossed": True} for c, v in cats],
        "pairs": [{"name": f"{a}_x_{b}", "fields": [a, b], "vocab_size": 10 + 3 * k}
                  for k, (a, b) in enumerate(pairs)],
        "rows": {"train": TRAIN_ROWS, "valid": 10, "test": 10}})


def batch(fm: FeatureMap, n: int = 16, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    cat = torch.stack([torch.randint(0, v, (n,), generator=g) for v in fm.cat_vocab], 1)
    cross = torch.stack([torch.randint(0, v, (n,), generator=g) for v in fm.pair_vocab], 1)
    return cat, torch.rand(n, fm.n_continuous, generator=g), cross


@pytest.mark.parametrize("kind", ["gumbel", "softmax", "hard"])
def test_relaxation_weights_sum_to_one(kind):
    torch.manual_seed(0)
    logits = torch.randn(50, 3)
    for tau in (5.0, 1.0, 0.1):
        w = relax(logits, tau, kind, training=True)
        assert torch.allclose(w.sum(-1), torch.ones(50), atol=1e-6)
        assert (w >= 0).all()


def test_gumbel_becomes_one_hot_as_tau_goes_to_zero():
    torch.manual_seed(0)
    logits = torch.randn(200, 3)
    maxes = [relax(logits, tau, "gumbel", True).max(-1).values.min().item()
             for tau in (1.0, 0.1, 0.001)]
    assert maxes[0] < maxes[1] < maxes[2]
    assert maxes[2] > 0.99
    # with noise the sampled winner varies between draws for near-uniform logits
    wins = torch.stack([relax(torch.zeros(1, 3), 0.01, "gumbel", True).argmax() for _ in
                        range(300)])
    assert set(wins.tolist()) == {0, 1, 2}


def test_hard_is_exactly_one_hot_with_soft_gradient():
    torch.manual_seed(0)
    logits = torch.randn(30, 3, requires_grad=True)
    w = relax(logits, 1.0, "hard", True)
    assert set(w.detach().unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(w.detach().sum(-1), torch.ones(30))
    (w * torch.randn(30, 3)).sum().backward()
    assert logits.grad.abs().sum() > 0
    w_eval = relax(logits.detach(), 1.0, "hard", False)
    assert torch.equal(w_eval.argmax(-1), logits.argmax(-1))


def test_temperature_schedule():
    assert temperature(0, 1.0, 0.01, 100) == pytest.approx(1.0)
    assert temperature(50, 1.0, 0.01, 100) == pytest.approx(0.1)
    assert temperature(100, 1.0, 0.01, 100) == pytest.approx(0.01)
    assert temperature(10**6, 1.0, 0.01, 100) == pytest.approx(0.01)


def test_temperature_counts_training_steps_only():
    fm = fmap()
    net = Supernet(fm, HP, {"tau_decay_steps": 10})
    net.eval()
    with torch.no_grad():
        net(*batch(fm))
    assert int(net.tau_step) == 0
    net.on_train_step()
    assert int(net.tau_step) == 1 and net.tau < 1.0
    assert "tau_step" in net.state_dict()


def test_retrain_parameter_count_from_architecture():
    fm = fmap()
    choices = ["memorize", "factorize", "naive", "memorize", "naive", "factorize"]
    net = OptInterNet(fm, HP, architecture=choices)
    s1, s2 = HP["s1"], HP["s2"]
    mem = [fm.pair_vocab[i] for i, c in enumerate(choices) if c == "memorize"]
    fact_fields = {f for i, c in enumerate(choices) if c == "factorize"
                   for f in fm.pairs[i].index}
    n_in = fm.n_fields * s1 + (len(mem) + choices.count("factorize")) * s2
    mlp = 0
    for h in HP["mlp"]:
        mlp += n_in * h + h + 2 * h
        n_in = h
    mlp += n_in + 1
    expect = (sum(fm.cat_vocab) + fm.n_continuous) * s1 + sum(mem) * s2 \
        + sum(fm.cat_vocab[f] for f in fact_fields) * s2 + mlp
    assert count_parameters(net) == expect
    all_naive = OptInterNet(fm, HP, architecture=["naive"] * 6)
    assert count_parameters(all_naive) < count_parameters(net)


@pytest.mark.parametrize("table", ["separate", "shared"])
def test_fixed_supernet_equals_retrain(table):
    torch.manual_seed(0)
    fm = fmap()
    hp = dict(HP, s2=HP["s1"]) if table == "shared" else HP
    choices = ["factorize", "memorize", "naive", "naive", "memorize", "factorize"]
    sup = Supernet(fm, hp, {"factorize_table": table})
    net = OptInterNet(fm, hp, architecture=choices, factorize_table=table)
    copy_supernet_weights(sup, net)
    sup.fix_architecture(choices)
    sup.eval(), net.eval()
    x = batch(fm, 32)
    assert torch.allclose(sup(*x), net(*x), atol=1e-5)
    # a different architecture gives a different function (the test can fail)
    sup.fix_architecture(["memorize"] * 6)
    assert not torch.allclose(sup(*x), net(*x), atol=1e-3)


def test_naive_pairs_do_not_reach_the_model():
    fm = fmap()
    net = OptInterNet(fm, HP, architecture=["naive", "memorize"] + ["naive"] * 4).eval()
    cat, cont, cross = batch(fm)
    other = cross.clone()
    other[:, 0] = (other[:, 0] + 1) % fm.pair_vocab[0]
    assert torch.equal(net(cat, cont, cross), net(cat, cont, other))
    other[:, 1] = (other[:, 1] + 1) % fm.pair_vocab[1]
    assert not torch.equal(net(cat, cont, cross), net(cat, cont, other))


def test_supernet_learns_architecture_gradient():
    fm = fmap()
    torch.manual_seed(0)
    sup = Supernet(fm, HP, {"relaxation": "gumbel"})
    sup(*batch(fm)).sum().backward()
    assert sup.arch_logits.grad is not None and sup.arch_logits.grad.abs().sum() > 0
    arch = sup.architecture()
    assert len(arch["pairs"]) == fm.n_pairs
    assert sum(arch["counts"].values()) == fm.n_pairs
    for p in arch["pairs"]:
        assert sum(p["probs"]) == pytest.approx(1.0)
        assert p["choice"] == METHODS[int(np.argmax(p["probs"]))]


def test_load_choices_validates(tmp_path):
    fm = fmap()
    arch = {"pairs": [{"name": p.name, "choice": "memorize"} for p in fm.pairs]}
    assert load_choices(arch, fm) == ["memorize"] * 6
    arch["pairs"][2]["choice"] = "both"
    with pytest.raises(ValueError, match=r"pairs\[2\] \(C1_x_C4\).choice"):
        load_choices(arch, fm)
    with pytest.raises(ValueError, match="missing"):
        load_choices({"pairs": arch["pairs"][:2]}, fm)
    with pytest.raises(ValueError, match="needs s1 == s2"):
        Supernet(fm, HP, {"factorize_table": "shared"})


def test_pair_mix_gradient_is_exact():
    import itertools

    from optinter.model.optinter import _PairMix
    torch.manual_seed(0)
    pairs = torch.tensor(list(itertools.combinations(range(5), 2)))
    i, j = pairs[:, 0], pairs[:, 1]
    sel = [torch.nn.functional.one_hot(k, 5).double() for k in (i, j)]
    args = (torch.randn(3, 4, dtype=torch.double, requires_grad=True),
            torch.randn(3, 5, 2, dtype=torch.double, requires_grad=True),
            torch.randn(3, 10, 2, dtype=torch.double, requires_grad=True),
            torch.rand(10, dtype=torch.double, requires_grad=True),
            torch.rand(10, dtype=torch.double, requires_grad=True))
    assert torch.autograd.gradcheck(lambda *a: _PairMix.apply(*a, i, j, *sel), args)
    e_o, x, e_m, w_m, w_f = args
    plain = w_m[:, None] * e_m + w_f[:, None] * x[:, i] * x[:, j]
    assert torch.allclose(_PairMix.apply(*args, i, j, *sel),
                          torch.cat([e_o, plain.flatten(1)], 1))


def test_decay_follows_epochs_unless_steps_are_set():
    assert decay_steps({"tau_decay_epochs": 2.5}, 40) == 100
    assert decay_steps({"tau_decay_epochs": 2.5, "tau_decay_steps": 7}, 40) == 7
    assert decay_steps({"tau_decay_steps": None}, 40) == 80  # default: 2 epochs
    with pytest.raises(ValueError, match="steps per epoch"):
        decay_steps({"tau_decay_epochs": 1}, None)
    # the supernet derives steps per epoch from the feature map: ceil(100 / 16) = 7
    net = Supernet(fmap(), HP, {"tau_decay_epochs": 3})
    assert net.tau_decay_steps == 21
    for _ in range(21):
        net.on_train_step()
    assert net.tau == pytest.approx(0.01)
    # same schedule in epochs for a 10x larger dataset and batch
    big = fmap()
    big.rows["train"] = 10 * TRAIN_ROWS
    assert Supernet(big, dict(HP, batch_size=160), {"tau_decay_epochs": 3}).tau_decay_steps == 21


def test_choice_parameters_match_retrain_model():
    """Memorize / factorize costs = growth of the re-train model's parameter count."""
    fm = fmap()
    base = count_parameters(OptInterNet(fm, HP, architecture=["naive"] * 6))
    cost = choice_parameters(fm, HP["s1"], HP["s2"], HP["mlp"], "separate")
    assert (cost[:, 2] == 0).all()
    for p in range(fm.n_pairs):
        arch = ["naive"] * 6
        arch[p] = "memorize"
        assert count_parameters(OptInterNet(fm, HP, architecture=arch)) - base == cost[p, 0]
    # factorize: first-layer weights + field tables; with all pairs factorised each field
    # table is shared by n_cat - 1 pairs, so the amortised costs add up exactly
    full = count_parameters(OptInterNet(fm, HP, architecture=["factorize"] * 6))
    assert full - base == pytest.approx(cost[:, 1].sum())


def test_complexity_prior_pushes_to_naive_in_proportion_to_cost():
    fm = fmap()
    assert float(Supernet(fm, HP, {"tau_decay_steps": 1}).arch_penalty()) == 0.0
    net = Supernet(fm, HP, {"tau_decay_steps": 1, "complexity": 2.0})
    pen = net.arch_penalty()
    cost = choice_parameters(fm, HP["s1"], HP["s2"], HP["mlp"]) / TRAIN_ROWS
    assert float(pen.detach()) == pytest.approx(2.0 * cost.mean(1).sum(), rel=1e-5)  # uniform start
    pen.backward()
    g = net.arch_logits.grad
    # softmax gradient: p_k (c_k - E c), so naive (cost 0) always gains, costlier options lose more
    assert (g[:, 2] < 0).all()
    assert torch.equal(g.argmax(1), torch.as_tensor(cost.argmax(1)))
    with pytest.raises(ValueError, match="complexity"):
        Supernet(fm, HP, {"tau_decay_steps": 1, "complexity": -1})


def test_flat_complexity_prior_charges_memorize_and_factorize_alike():
    """complexity_kind flat: lambda per non-naive pair / train rows, whatever the option's size,
    so the prior pushes towards naive and never between memorize and factorize."""
    fm = fmap()
    net = Supernet(fm, HP, {"tau_decay_steps": 1, "complexity": 3.0, "complexity_kind": "flat"})
    with torch.no_grad():  # a non-uniform start, so the check is not a symmetry accident
        gen = torch.Generator().manual_seed(0)
        net.arch_logits.copy_(torch.randn(net.arch_logits.shape, generator=gen))
    pen = net.arch_penalty()
    p = torch.softmax(net.arch_logits.detach(), -1).numpy()
    assert float(pen.detach()) == pytest.approx(3.0 * (1 - p[:, 2]).sum() / TRAIN_ROWS, rel=1e-5)
    pen.backward()
    g = net.arch_logits.grad.numpy()
    # softmax gradient p_k (c_k - E c) / n with c = (1, 1, 0): E c = 1 - p_naive
    expect = 3.0 / TRAIN_ROWS * p * (np.array([1.0, 1.0, 0.0]) - (1 - p[:, 2:3]))
    np.testing.assert_allclose(g, expect, rtol=1e-4, atol=1e-12)
    assert (g[:, 2] < 0).all() and (g[:, :2] > 0).all()
    # memorize and factorize lose in proportion to their probability only: equal per unit p
    np.testing.assert_allclose(g[:, 0] / p[:, 0], g[:, 1] / p[:, 1], rtol=1e-4)
    params = Supernet(fm, HP, {"tau_decay_steps": 1, "complexity": 3.0})
    assert params.complexity_kind == "params"  # the default keeps the parameter-count prior
    with pytest.raises(ValueError, match="complexity_kind"):
        Supernet(fm, HP, {"tau_decay_steps": 1, "complexity": 1.0, "complexity_kind": "aic"})


def test_search_reports_the_supernet_without_retrain(tiny_processed, tmp_path):
    """architecture.json: supernet = the best-epoch supernet fixed to the argmax choices;
    checked against the re-train model carrying the same weights (an independent path)."""
    from scipy.stats import mannwhitneyu

    from optinter.model.loader import ParquetBatches
    from optinter.model.stages import run_search
    from optinter.model.train import predict

    hp = dict(HP, batch_size=200, mlp=[16, 8], lr=3e-3, lr_c=3e-3, lr_a=1e-2, eps=1e-8,
              epochs=2, patience=5)
    search = {"tau_decay_epochs": 1, "complexity": 0.5, "seed": 3}
    arch = run_search(tiny_processed, hp, search, {"seed": 3, "device": "cpu"},
                      tmp_path / "a.json", tmp_path / "ck")
    sup = json.loads((tmp_path / "a.json").read_text())["supernet"]
    assert set(sup) >= {"valid_auc", "valid_logloss", "test_auc", "test_logloss", "params"}
    assert arch["settings"]["tau_decay_steps"] == arch["settings"]["steps_per_epoch"]
    fm = FeatureMap.load(tiny_processed)
    choices = [p["choice"] for p in arch["pairs"]]
    net = Supernet(fm, hp, search)
    net.load_state_dict(torch.load(tmp_path / "ck" / "best.pt"))
    retrain = OptInterNet(fm, hp, architecture=choices)
    copy_supernet_weights(net, retrain)
    assert sup["params"] == count_parameters(retrain)
    z, y = predict(retrain, ParquetBatches(fm, "test", 512))
    u = mannwhitneyu(z[y == 1], z[y == 0]).statistic
    assert sup["test_auc"] == pytest.approx(u / ((y == 1).sum() * (y == 0).sum()), abs=1e-5)
    assert "search_metrics" not in arch  # Table IX reads `supernet` itself
