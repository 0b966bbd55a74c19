"""The pair scan of the shortlist recipe (beyond the paper; docs/planted.md): every pair a
trial of memorize and of factorize, each with parameters of its own.

A factorized pair of OptInter multiplies its two fields' vectors, and those vectors are shared
by every pair of the field (25 of Criteo's 325). Inside the supernet or a re-train with most
pairs factorized, a low-rank pair's product competes with ~300 others for the same vectors, and
measured on the held-out planted case it then adds nothing, while the true architecture gains
0.09 AUC from it. The scan is a linear model in which each pair (i, j) has terms of its own:

    logit = first order + sum over pairs (w[cross_ij]  +  <v[x_i, j], v[x_j, i]>)

one weight per cross id (memorize, as Poly2) and a field-aware factorization machine term
(Juan et al., 2016) of rank `scan_rank` (factorize). Each term takes its gradient straight
from the loss, never through a shared MLP, so a pair that carries an interaction fits it
whatever the other pairs do. Which terms the model uses is measured on validation rows
(`term_importance`), where terms that only fitted training noise cost nothing.

Fitted apart, as two scans of one method each, the memorize scan (Poly2, a weight per cross
id) overfitted within a quarter epoch and took nothing from pairs whose tables the joint scan
and the truth call memorize (the held-out case, docs/planted.md): fitted together, a pair's
frequent crosses go to its table and the rest to its product.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from optinter.model.featuremap import FeatureMap
from optinter.model.holdout import uniform_sample
from optinter.model.layers import CTRModel, FirstOrder, MultiTable, register
from optinter.model.metrics import auc

SCAN_RANK = 4
SCAN_INIT_STD = 0.1
TERMS = ("memorize", "factorize")


@register("pairscan")
class PairScan(CTRModel):
    """First order + per pair a memorized weight per cross id and a rank-`scan_rank`
    factorized term with the pair's own field vectors (hp `scan_rank`, default 4).
    Parameters: the cross vocabularies + vocabulary x categorical fields x rank (Criteo at
    min_count 20: ~1.1M x 26 x 4)."""

    def __init__(self, fmap: FeatureMap, hp: dict, **_):
        super().__init__()
        self.fmap = fmap
        self.rank = int(hp.get("scan_rank", SCAN_RANK))
        self.n_cat = fmap.n_categorical
        self.first = FirstOrder(fmap.cat_vocab, fmap.n_continuous)
        self.memo = MultiTable(fmap.pair_vocab, 1, group="cross")
        nn.init.zeros_(self.memo.weight)
        # v[x_f] holds field f's vector for its pair with every other field g (slot g)
        self.vec = MultiTable(fmap.cat_vocab, self.n_cat * self.rank, group="emb")
        nn.init.normal_(self.vec.weight, 0.0, SCAN_INIT_STD)
        index = torch.as_tensor(np.asarray(fmap.pair_index), dtype=torch.long).reshape(-1, 2)
        self.register_buffer("pair_index", index, persistent=False)

    def pair_terms(self, cat: torch.Tensor, cross: torch.Tensor) -> torch.Tensor:
        """Each pair's terms of the logit [B, 2, n_pairs]: memorized, factorized (TERMS)."""
        v = self.vec(cat).view(cat.shape[0], self.n_cat, self.n_cat, self.rank)
        i, j = self.pair_index[:, 0], self.pair_index[:, 1]
        fact = (v[:, i, j] * v[:, j, i]).sum(-1)
        return torch.stack([self.memo(cross).squeeze(-1), fact], dim=1)

    def forward(self, cat: torch.Tensor, cont: torch.Tensor, cross: torch.Tensor) -> torch.Tensor:
        return self.first(cat, cont) + self.pair_terms(cat, cross).sum((1, 2))


@torch.no_grad()
def term_importance(model: PairScan, loader, seed: int, max_rows: int | None) -> dict:
    """Validation AUC lost per pair when its terms are permuted across the rows of a uniform
    sample of `loader`'s split (one seeded permutation shared by all): "pair" both terms at
    once, "memorize" and "factorize" each alone; arrays of n_pairs."""
    was_training = model.training
    model.eval()
    labels, logits, terms = [], [], []
    for cat, cont, cross, y in uniform_sample(loader, max_rows, seed).iterate(0):
        t = model.pair_terms(cat, cross)
        labels.append(y.cpu())
        logits.append((model.first(cat, cont) + t.sum((1, 2))).float().cpu())
        terms.append(t.float().cpu())
    model.train(was_training)
    y = torch.cat(labels).numpy()
    z = torch.cat(logits).numpy().astype(np.float64)
    t = torch.cat(terms).numpy().astype(np.float64)
    perm = np.random.default_rng(int(seed)).permutation(len(y))
    ref = auc(y, z)

    def loss(delta: np.ndarray) -> float:
        return ref - auc(y, z + delta)
    moved = t[perm] - t  # each term's change when permuted
    out = {"pair": np.array([loss(moved[:, :, p].sum(1)) for p in range(t.shape[2])])}
    for k, name in enumerate(TERMS):
        out[name] = np.array([loss(moved[:, k, p]) for p in range(t.shape[2])])
    return out
