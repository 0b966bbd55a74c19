"""The pair scan (optinter/model/pairscan.py): its terms against an independent computation,
and that it finds a low-rank and a full-rank pair among pairs that carry nothing, each at the
method that fits it."""

import numpy as np
import torch

from optinter.model import shortlist
from optinter.model.featuremap import FeatureMap
from optinter.model.loader import ParquetBatches
from optinter.model.pairscan import PairScan, term_importance
from optinter.model.stages import fit_model, scan_hp
from synth import make_processed

HP = {"batch_size": 200, "s1": 4, "s2": 3, "mlp": [16, 8], "lr": 3e-3, "lr_c": 3e-3,
      "lr_a": 1e-2, "l2_o": 0.0, "l2_c": 1e-6, "eps": 1e-8, "epochs": 6, "patience": 1}
TRAIN = {"seed": 5, "checkpoint_every_steps": 0, "sparse_embeddings": True, "device": "cpu"}


def test_terms_are_each_pairs_own(tiny_processed):
    fm = FeatureMap.load(tiny_processed)
    torch.manual_seed(0)
    model = PairScan(fm, {"scan_rank": 3})
    with torch.no_grad():
        model.memo.weight.normal_()
    cat, cont, cross, _ = next(iter(ParquetBatches(fm, "valid", 16).iterate(0)))
    w, off = model.vec.weight.detach().numpy(), model.vec.offsets.numpy()
    m, moff = model.memo.weight.detach().numpy()[:, 0], model.memo.offsets.numpy()
    n, r = fm.n_categorical, 3
    fact = np.zeros((len(cat), fm.n_pairs))
    memo = np.zeros((len(cat), fm.n_pairs))
    for b in range(len(cat)):
        for p, (i, j) in enumerate(fm.pair_index):
            vi = w[off[i] + int(cat[b, i])].reshape(n, r)[j]  # field i's vector for field j
            vj = w[off[j] + int(cat[b, j])].reshape(n, r)[i]
            fact[b, p] = vi @ vj
            memo[b, p] = m[moff[p] + int(cross[b, p])]
    with torch.no_grad():
        got = model.pair_terms(cat, cross).numpy()
        logit = model(cat, cont, cross).numpy()
        first = model.first(cat, cont).numpy()
    np.testing.assert_allclose(got[:, 0], memo, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got[:, 1], fact, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(logit, first + fact.sum(1) + memo.sum(1), rtol=1e-5, atol=1e-5)
    # a vector serves one pair only: changing field 0's vector for its pair with field 1
    # changes that pair's term and no other
    with torch.no_grad():
        model.vec.weight[off[0]:off[0] + fm.cat_vocab[0], 1 * r:2 * r] += 1.0
        changed = model.pair_terms(cat, cross)[:, 1].numpy() != got[:, 1]
    pair01 = [p for p, (i, j) in enumerate(fm.pair_index) if (i, j) == (0, 1)][0]
    assert changed[:, pair01].all() and not np.delete(changed, pair01, axis=1).any()


def test_scan_finds_the_pairs_at_their_methods(tmp_path):
    """Pair 0 carries a full-rank effect over 8 x 8 frequent crosses, the last pair a rank-1
    one over 40 x 40 values (about 4 train rows per cross, most crosses below the threshold),
    the other eight nothing: the two score highest, pair 0 at memorize, the last at
    factorize."""
    data = tmp_path / "data"
    make_processed(data, rows=8000, n_cat=5, vocab=8, seed=3, lowrank=2.0, lowrank_vocab=40)
    cfg = shortlist.settings({"shortlist": {"scan_rank": 3}})
    model, st, fm, loaders, *_ = fit_model("pairscan", data, scan_hp(HP, cfg), TRAIN, 5,
                                           tmp_path / "ck")
    imp = term_importance(model, loaders["valid"], 5, None)
    out = shortlist.scanned(imp["pair"], imp["memorize"], cfg)
    last = fm.n_pairs - 1
    assert set(np.argsort(out["z"])[-2:].tolist()) == {0, last}, imp
    assert out["methods"][0] == "memorize" and out["methods"][last] == "factorize", imp
    noise = np.delete(imp["pair"], [0, last])
    assert min(imp["pair"][0], imp["pair"][last]) > 5 * max(noise.max(), 1e-4)
