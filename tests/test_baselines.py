"""Baselines: shapes, learning, parameter counts by hand, FM/Poly2 against brute force, AutoFIS."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from optinter.model import baselines
from optinter.model.baselines import AutoFISSearch, PIN, complete_pair_fields
from optinter.model.featuremap import FeatureMap
from optinter.model.grda import GRDA, grda_threshold
from optinter.model.layers import count_parameters, inner_pairs, inner_pairs_gram
from optinter.model.registry import get_model
from optinter.model.stages import run_model, search_stage
from optinter.model.train import build_optimizers, train_step

CAT_VOCAB = [3, 5, 7, 11]          # C4 is not crossed: it must not appear in any pair
CROSSED = [True, True, True, False]
N_CONT = 2
HP = dict(batch_size=64, s1=4, s2=3, mlp=[8, 6], lr=1e-2, lr_c=1e-2, lr_a=1e-2, l2_o=0.0,
          l2_c=0.0, eps=1e-8, epochs=2, patience=1)
MODELS = ["lr", "fm", "poly2", "fnn", "ipnn", "deepfm", "pin", "autofis", "optinter_m",
          "optinter_f"]


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """OpenMP spin-waiting makes tiny models ~100x slower on a busy 2-core machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def fmap() -> FeatureMap:
    cat = [f"C{i + 1}" for i in range(len(CAT_VOCAB))]
    crossed = [n for n, c in zip(cat, CROSSED) if c]
    pairs = list(itertools.combinations(crossed, 2))
    raw = {"dataset": "hand", "fields":
           [{"name": f"I{i + 1}", "type": "continuous"} for i in range(N_CONT)]
           + [{"name": n, "type": "categorical", "vocab_size": v, "crossed": c}
              for n, v, c in zip(cat, CAT_VOCAB, CROSSED)],
           "pairs": [{"name": f"{a}_x_{b}", "fields": [a, b], "vocab_size": 13 + 4 * k}
                     for k, (a, b) in enumerate(pairs)]}
    return FeatureMap.from_dict(raw)


def batch(fmap: FeatureMap, n: int = 64, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    cat = torch.stack([torch.randint(0, v, (n,), generator=g) for v in fmap.cat_vocab], 1)
    cont = torch.rand(n, fmap.n_continuous, generator=g)
    cross = torch.stack([torch.randint(0, v, (n,), generator=g) for v in fmap.pair_vocab], 1)
    label = (torch.rand(n, generator=g) < 0.3).float()
    return cat, cont, cross, label


def build(name: str, fmap: FeatureMap, hp: dict = HP, **kw):
    torch.manual_seed(0)
    if name == "autofis" and "architecture" not in kw:
        kw["architecture"] = ["factorize", "naive", "factorize"]
    return get_model(name)(fmap, hp, **kw)


# --------------------------------------------------------------------------- hand counts
def mlp_params(d_in: int, hidden) -> int:
    """Linear + LayerNorm (gamma, beta) per hidden layer, then a Linear to one logit."""
    n = 0
    for h in hidden:
        n += d_in * h + h + 2 * h
        d_in = h
    return n + d_in + 1


def hand_count(name: str, fmap: FeatureMap, hp: dict = HP) -> int:
    s1, s2, mlp = hp["s1"], hp["s2"], hp["mlp"]
    V, P, nf = sum(CAT_VOCAB), len(fmap.pairs), len(CAT_VOCAB) + N_CONT
    pair_v = sum(p["vocab"] for p in [{"vocab": 13 + 4 * k} for k in range(P)])
    first = V + N_CONT + 1
    emb = (V + N_CONT) * s1
    crossed_v = sum(v for v, c in zip(CAT_VOCAB, CROSSED) if c)
    sub = [40, 5]
    pin_sub = P * ((3 * s1) * sub[0] + 3 * sub[0] + sub[0] * sub[1] + sub[1])  # last: Linear
    return {
        "lr": first,
        "poly2": first + pair_v,
        "fm": first + V * s1,  # continuous fields are not paired: no latent vectors
        "fnn": emb + mlp_params(nf * s1, mlp),
        "ipnn": emb + mlp_params(nf * s1 + P, mlp),
        "deepfm": first + emb + mlp_params(nf * s1, mlp),
        "pin": emb + pin_sub + mlp_params(nf * s1 + P * sub[1], mlp),
        "autofis": first + emb + mlp_params(nf * s1, mlp) + 2,  # two kept gates
        "optinter_m": emb + pair_v * s2 + mlp_params(nf * s1 + P * s2, mlp),
        "optinter_f": emb + crossed_v * s2 + mlp_params(nf * s1 + P * s2, mlp),
    }[name]


@pytest.mark.parametrize("name", MODELS)
def test_output_shape_and_parameter_count(fmap, name):
    model = build(name, fmap)
    cat, cont, cross, _ = batch(fmap, n=37)
    out = model(cat, cont, cross)
    assert out.shape == (37,) and torch.isfinite(out).all()
    assert count_parameters(model) == hand_count(name, fmap)
    counts = model.extra_outputs()["architecture_counts"]
    assert sum(counts.values()) == len(fmap.pairs)


@pytest.mark.parametrize("name", MODELS)
def test_training_step_lowers_loss_on_fixed_batch(fmap, name):
    model = build(name, fmap)
    b = batch(fmap, n=128, seed=1)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    opts = build_optimizers(model, HP)
    with torch.no_grad():
        model.eval()
        loss0 = F.binary_cross_entropy_with_logits(model(*b[:3]), b[3]).item()
        model.train()
    for _ in range(3):
        train_step(model, opts, b)
    model.eval()
    with torch.no_grad():
        loss1 = F.binary_cross_entropy_with_logits(model(*b[:3]), b[3]).item()
    assert loss1 < loss0
    # every parameter takes part in training (the released code never trained PIN's sub-net)
    frozen = [n for n, p in model.named_parameters() if p.numel() and torch.equal(p, before[n])]
    assert frozen == []


# --------------------------------------------------------------------------- brute force
def _offsets(sizes):
    return np.concatenate([[0], np.cumsum(sizes)[:-1]])


def test_fm_pairwise_equals_brute_force(fmap):
    model = build("fm", fmap)
    with torch.no_grad():  # non-zero first-order weights so that every term is exercised
        for p in model.first.parameters():
            p.uniform_(-0.5, 0.5)
    cat, cont, cross, _ = batch(fmap, n=20, seed=2)
    c, x = cat.numpy(), cont.numpy()
    W = model.emb.table.weight.detach().numpy()
    off = _offsets(CAT_VOCAB)
    names = [f.name for f in fmap.categorical]
    w1 = model.first.cat.weight.detach().numpy()[:, 0]
    wc = model.first.cont.detach().numpy()
    expect_pair, expect_all = [], []
    for r in range(20):
        total = 0.0
        for p in fmap.pairs:  # sum over pairs of <e_i, e_j>, one pair at a time
            i, j = names.index(p.fields[0]), names.index(p.fields[1])
            total += float(W[off[i] + c[r, i]] @ W[off[j] + c[r, j]])
        expect_pair.append(total)
        first = sum(w1[off[i] + c[r, i]] for i in range(len(names))) + float(x[r] @ wc)
        expect_all.append(total + first + model.first.bias.item())
    got = model.pairwise(cat, cont).detach().numpy()
    np.testing.assert_allclose(got, expect_pair, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model(cat, cont, cross).detach().numpy(), expect_all,
                               rtol=1e-5, atol=1e-6)
    # the uncrossed field C4 must not interact: changing it moves only the first-order term
    cat2 = cat.clone()
    cat2[:, 3] = (cat2[:, 3] + 1) % CAT_VOCAB[3]
    assert torch.allclose(model.pairwise(cat2, cont), model.pairwise(cat, cont))


def pair_fmap(crossed, pairs=None) -> FeatureMap:
    """Six categorical fields (two continuous); `pairs` (field positions) overrides the pairs
    of every crossed field."""
    cat = [f"C{i + 1}" for i in range(len(crossed))]
    if pairs is None:
        pairs = list(itertools.combinations([i for i, c in enumerate(crossed) if c], 2))
    return FeatureMap.from_dict({
        "dataset": "pairs", "fields":
        [{"name": f"I{i + 1}", "type": "continuous"} for i in range(N_CONT)]
        + [{"name": n, "type": "categorical", "vocab_size": 4 + k, "crossed": c}
           for k, (n, c) in enumerate(zip(cat, crossed))],
        "pairs": [{"name": f"{cat[i]}_x_{cat[j]}", "fields": [cat[i], cat[j]], "vocab_size": 5}
                  for i, j in pairs]})


PAIR_SETS = {  # all crossed (the Criteo case), a crossed subset, pair sets the identity can't sum
    "all": pair_fmap([True] * 6),
    "subset": pair_fmap([True, False, True, True, False, True]),
    "incomplete": pair_fmap([True] * 6, pairs=[(0, 1), (2, 1), (3, 5), (0, 4)]),
    "repeated": pair_fmap([True] * 6, pairs=[(0, 1), (1, 2), (0, 2), (2, 0)]),
}


def test_complete_pair_fields():
    assert complete_pair_fields([(0, 1), (0, 2), (1, 2)]) == [0, 1, 2]
    assert complete_pair_fields([(3, 1), (1, 5), (5, 3)]) == [1, 3, 5]  # any order
    assert complete_pair_fields(np.zeros((0, 2), np.int64)) == []
    assert complete_pair_fields([(0, 1), (0, 2)]) is None
    assert complete_pair_fields([(0, 1), (1, 0)]) is None
    assert complete_pair_fields([(0, 0)]) is None


def old_forward(model, cat, cont) -> torch.Tensor:
    """FM / DeepFM logits with the pair sum taken pair by pair (the code before the identity)."""
    e = model.emb(cat, cont)
    out = model.first(cat, cont) + inner_pairs(e[:, :model.n_cat], model.pair_index).sum(1)
    return out + model.mlp(e.flatten(1)).squeeze(-1) if hasattr(model, "mlp") else out


@pytest.mark.parametrize("pairs", PAIR_SETS)
@pytest.mark.parametrize("name", ["fm", "deepfm"])
def test_fast_pair_sum_equals_pair_by_pair(name, pairs):
    """Same logits and gradients as summing every pair's inner product one by one."""
    fmap = PAIR_SETS[pairs]
    model = build(name, fmap)
    assert model.fm_identity == (pairs in ("all", "subset"))
    with torch.no_grad():  # embeddings of unit scale, so the identity's cancellation shows
        model.emb.table.weight.normal_()
    cat, cont, cross, label = batch(fmap, n=50, seed=6)
    grads = []
    for fwd in (lambda: model(cat, cont, cross), lambda: old_forward(model, cat, cont)):
        model.zero_grad()
        out = fwd()
        F.binary_cross_entropy_with_logits(out, label).backward()
        grads.append((out.detach(), [p.grad for p in model.parameters()]))
    (new, g_new), (old, g_old) = grads
    assert new.abs().max() > 1  # the pair term is not negligible
    torch.testing.assert_close(new, old, rtol=1e-5, atol=1e-5)
    assert [a is None for a in g_new] == [b is None for b in g_old]
    for a, b in zip(g_new, g_old):
        if a is not None:
            torch.testing.assert_close(a.to_dense(), b.to_dense(), rtol=1e-5, atol=1e-6)


def test_inner_pairs_gram_keeps_order():
    e = torch.randn(7, 6, 5, dtype=torch.float64)
    idx = torch.tensor([[0, 1], [4, 2], [1, 5], [3, 3], [0, 5], [2, 4]])
    torch.testing.assert_close(inner_pairs_gram(e, idx), inner_pairs(e, idx), rtol=1e-12,
                               atol=1e-12)


@pytest.mark.parametrize("name", ["ipnn", "autofis_search", "autofis"])
def test_gram_models_match_pair_by_pair(name, monkeypatch):
    """IPNN's MLP input and AutoFIS's gated sums (search, and a re-train keeping more pairs
    than there are fields: the Gram path) equal those of per-pair inner products, in order."""
    fmap = pair_fmap([True] * 6)
    if name == "autofis_search":
        torch.manual_seed(0)
        model = AutoFISSearch(fmap, HP)
    else:
        kept = ["factorize"] * 10 + ["naive"] * 5
        model = build(name, fmap, **({"architecture": kept[::-1]} if name == "autofis" else {}))
    cat, cont, cross, _ = batch(fmap, n=40, seed=7)
    e = model.emb(cat, cont)
    torch.testing.assert_close(model.pairwise_inner(e), inner_pairs(e[:, :6], model.pair_index))
    new = model(cat, cont, cross)  # train mode: BatchNorm scales AutoFIS's tiny products up
    monkeypatch.setattr(baselines, "pair_inner", inner_pairs)
    torch.testing.assert_close(new, model(cat, cont, cross))


def test_deepfm_is_fm_plus_mlp(fmap):
    deepfm, fm = build("deepfm", fmap), build("fm", fmap)
    fm.emb.table.load_state_dict(deepfm.emb.table.state_dict())
    fm.first.load_state_dict(deepfm.first.state_dict())
    cat, cont, cross, _ = batch(fmap, n=16, seed=3)
    deep = deepfm.mlp(deepfm.emb(cat, cont).flatten(1)).squeeze(-1)
    torch.testing.assert_close(deepfm(cat, cont, cross), fm(cat, cont, cross) + deep)


def test_poly2_adds_one_weight_per_cross_id(fmap):
    model = build("poly2", fmap)
    with torch.no_grad():
        for p in model.parameters():
            p.uniform_(-1, 1)
    cat, cont, cross, _ = batch(fmap, n=10, seed=4)
    w1 = model.first.cat.weight.detach().numpy()[:, 0]
    wp = model.first.pairs.weight.detach().numpy()[:, 0]
    off_c, off_p = _offsets(CAT_VOCAB), _offsets(fmap.pair_vocab)
    expect = [model.first.bias.item() + float(cont[r] @ model.first.cont.detach())
              + sum(w1[off_c[i] + cat[r, i]] for i in range(len(CAT_VOCAB)))
              + sum(wp[off_p[k] + cross[r, k]] for k in range(len(fmap.pairs)))
              for r in range(10)]
    np.testing.assert_allclose(model(cat, cont, cross).detach().numpy(), expect, rtol=1e-5)


def test_pin_subnetwork_is_per_pair(fmap):
    """Each pair's output depends only on its own sub-network's weights."""
    model = build("pin", fmap)
    cat, cont, cross, _ = batch(fmap, n=8, seed=5)
    e = model.emb(cat, cont)[:, :3]
    idx = model.pair_index
    x = torch.cat([e[:, idx[:, 0]], e[:, idx[:, 1]], e[:, idx[:, 0]] * e[:, idx[:, 1]]], -1)
    out = model.subnet(x)
    for k in range(len(fmap.pairs)):  # the same computation with plain layers, pair k alone
        net = model.subnet
        h = F.layer_norm(torch.relu(x[:, k] @ net.weights[0][k] + net.biases[0][k]), (40,))
        h = h * net.gammas[0][k] + net.betas[0][k]
        torch.testing.assert_close(out[:, k], h @ net.weights[1][k] + net.biases[1][k])


# --------------------------------------------------------------------------- AutoFIS / GRDA
def test_grda_matches_closed_form():
    lr, c, mu = 0.1, 0.05, 0.8
    w0 = np.array([0.5, -0.02, 0.3])
    grads = np.random.default_rng(0).normal(0, 0.2, (6, 3))
    p = torch.nn.Parameter(torch.tensor(w0, dtype=torch.float64))
    opt = GRDA([p], lr=lr, c=c, mu=mu)
    for n, g in enumerate(grads, start=1):
        p.grad = torch.tensor(g)
        opt.step()
        acc = w0 - lr * grads[:n].sum(0)
        thr = c * math.sqrt(lr) * (n * lr) ** mu
        np.testing.assert_allclose(p.detach().numpy(),
                                   np.sign(acc) * np.maximum(np.abs(acc) - thr, 0), atol=1e-12)
    assert grda_threshold(6, lr, c, mu) == pytest.approx(c * math.sqrt(lr) * (6 * lr) ** mu)
    assert p[1].item() == 0.0  # small weight, noisy gradient: pruned exactly


def test_autofis_rejects_memorize_and_needs_gates(fmap):
    with pytest.raises(ValueError, match="factorize and naive"):
        build("autofis", fmap, architecture=["memorize", "naive", "naive"])
    with pytest.raises(ValueError, match="search_stage"):
        get_model("autofis")(fmap, HP)
    with pytest.raises(ValueError, match="no search stage"):
        search_stage("fm", "unused", HP, {}, 1, "unused")


def test_arch_optimizer_hook(fmap):
    """The "arch" group gets the model's arch_optimizer: GRDA (step size grda_lr, not lr_a)
    for AutoFIS's gates, Adam for the models that keep the default."""
    hp = {**HP, "grda_lr": 0.5, "grda_c": 0.01}
    model = AutoFISSearch(fmap, hp)
    opt = build_optimizers(model, hp)["arch"]
    assert isinstance(opt, GRDA) and opt.param_groups[0]["params"] == [model.gates]
    assert (opt.param_groups[0]["lr"], opt.param_groups[0]["c"]) == (0.5, 0.01)
    assert model.extra_outputs() == {"grda": {"grda_c": 0.01, "grda_mu": 0.8, "grda_lr": 0.5}}
    from optinter.model.optinter import Supernet
    sup = Supernet(fmap, HP, {"relaxation": "softmax"}, steps_per_epoch=1)
    arch = build_optimizers(sup, HP)["arch"]
    assert type(arch) is torch.optim.Adam and arch.param_groups[0]["lr"] == HP["lr_a"]


def test_autofis_search_prunes_and_retrain_keeps_survivors(tiny_processed, tmp_path):
    """On the tiny data only pair C1_x_C2 carries an interaction: a strong GRDA threshold
    prunes most pairs and C1_x_C2 keeps the largest gate; the re-train gates the survivors."""
    hp = {**HP, "batch_size": 128, "epochs": 3, "grda_c": 0.03, "grda_lr": 1.0}
    tc = {"seed": 1, "checkpoint_every_steps": 0, "sparse_embeddings": True, "device": "cpu"}
    arch = search_stage("autofis", tiny_processed, hp, tc, 1, tmp_path / "search",
                        out_arch=tmp_path / "architecture.json")
    kept = [p["name"] for p in arch["pairs"] if p["choice"] == "factorize"]
    assert 0 < arch["counts"]["naive"] < 10
    assert max(arch["pairs"], key=lambda p: abs(p["gate"]))["name"] == "C1_x_C2"
    assert all((p["gate"] == 0.0) == (p["choice"] == "naive") for p in arch["pairs"])
    on_disk = json.loads((tmp_path / "architecture.json").read_text())
    assert on_disk["counts"] == arch["counts"] and on_disk["pairs"] == arch["pairs"]
    # same seed, fresh directory: the same gates (the search is deterministic)
    again = search_stage("autofis", tiny_processed, hp, tc, 1, tmp_path / "search2")
    assert [p["gate"] for p in again["pairs"]] == [p["gate"] for p in arch["pairs"]]
    # the re-train from the written file (as the workflow passes it) equals the one from the dict
    out = run_model("autofis", tiny_processed, hp, tc, 1, tmp_path / "autofis.json",
                    tmp_path / "ckpt", architecture=tmp_path / "architecture.json")
    same = run_model("autofis", tiny_processed, hp, tc, 1, tmp_path / "autofis2.json",
                     tmp_path / "ckpt2", architecture=arch)
    assert out["architecture_counts"] == arch["counts"]
    assert out["test_auc"] == same["test_auc"] and out["valid_auc"] == same["valid_auc"]
    fmap = FeatureMap.load(tiny_processed)
    base = count_parameters(AutoFISSearch(fmap, hp))
    assert out["params"] == base - fmap.n_pairs + len(kept)
    # c = 0: GRDA reduces to dual averaging and prunes nothing
    none = search_stage("autofis", tiny_processed, {**hp, "grda_c": 0.0, "epochs": 1}, tc, 1,
                        tmp_path / "search0")
    assert none["counts"]["naive"] == 0


def test_every_model_beats_chance_on_tiny_data(tiny_processed, tmp_path):
    """End to end through run_model: each model learns the planted signal (AUC well above
    0.5 on test) and reports the results keys of docs/design.md."""
    hp = {**HP, "batch_size": 128, "epochs": 3, "lr": 3e-2, "lr_c": 3e-2}
    tc = {"seed": 1, "checkpoint_every_steps": 0, "sparse_embeddings": True, "device": "cpu"}
    keys = {"dataset", "model", "seed", "valid_auc", "valid_logloss", "test_auc", "test_logloss",
            "params", "architecture_counts", "epochs", "best_epoch", "train_seconds",
            "samples_per_second", "device", "config", "run"}
    aucs = {}
    for name in ["lr", "fm", "poly2", "fnn", "ipnn", "deepfm", "pin", "optinter_m", "optinter_f"]:
        out = run_model(name, tiny_processed, hp, tc, 1, tmp_path / f"{name}.json",
                        tmp_path / f"ck_{name}")
        assert keys <= set(out), name
        aucs[name] = out["test_auc"]
    print(aucs)
    assert min(aucs.values()) > 0.6, aucs
