"""Permutation importance of each interaction of a re-trained OptInter model, on validation data.

Where the search's α carries little signal (small data: few architecture steps, noisy
gradients), its ranking of pairs by 1 - p(naive) is close to random past the first few. A model
re-trained with the paper's argmax architecture has fitted a cross table or a product for
most pairs; shuffling one pair's input columns across the rows of a batch, and measuring how
much validation AUC that costs, says which of them the model actually uses (Breiman's
permutation importance, on held-out rows so that tables that only memorised training noise
cost nothing).
"""

from __future__ import annotations

import numpy as np
import torch

from optinter.model.holdout import uniform_sample
from optinter.model.metrics import auc


@torch.no_grad()
def permutation_importance(model, loader, seed: int, max_rows: int | None = 200_000) -> np.ndarray:
    """Validation AUC lost per pair when its columns of the MLP input are permuted within each
    batch (one seeded permutation per batch, shared by all pairs); NaN for pairs the model
    does not use (naive). Reads a uniform sample of about `max_rows` rows of `loader`'s split
    (holdout.uniform_sample, seeded with `seed`), not its first rows."""
    spans = model.pair_spans()
    out = np.full(model.fmap.n_pairs, np.nan)
    if not spans:
        return out
    was_training = model.training
    model.eval()
    gen = torch.Generator().manual_seed(int(seed))
    labels, base, shuffled = [], [], {i: [] for i in spans}
    for cat, cont, cross, y in uniform_sample(loader, max_rows, seed).iterate(0):
        x = model.features(cat, cont, cross)
        perm = torch.randperm(len(y), generator=gen).to(x.device)
        labels.append(y.cpu())
        base.append(model.mlp(x).squeeze(-1).float().cpu())
        for i, cols in spans.items():
            kept = x[:, cols].clone()
            x[:, cols] = kept[perm]
            shuffled[i].append(model.mlp(x).squeeze(-1).float().cpu())
            x[:, cols] = kept
    model.train(was_training)
    y = torch.cat(labels).numpy()
    ref = auc(y, torch.cat(base).numpy())
    for i, z in shuffled.items():
        out[i] = ref - auc(y, torch.cat(z).numpy())
    return out
