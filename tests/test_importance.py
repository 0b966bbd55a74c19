"""Permutation importance of a re-trained OptInter model's pairs (importance.py)."""

import numpy as np
import torch

from optinter.model.featuremap import FeatureMap
from optinter.model.importance import permutation_importance
from optinter.model.loader import ParquetBatches
from optinter.model.optinter import OptInterNet

HP = {"s1": 4, "s2": 3, "mlp": [8]}
ARCH = ["memorize", "naive", "factorize", "memorize", "naive",
        "factorize", "memorize", "naive", "naive", "memorize"]


def _model(fm):
    torch.manual_seed(0)
    return OptInterNet(fm, HP, architecture=ARCH, search_cfg={"factorize_table": "separate"})


def test_spans_tile_the_pair_columns_of_the_mlp_input(tiny_processed):
    fm = FeatureMap.load(tiny_processed)
    m = _model(fm)
    spans = m.pair_spans()
    assert sorted(spans) == [i for i, c in enumerate(ARCH) if c != "naive"]
    cols = sorted((s.start, s.stop) for s in spans.values())
    assert cols[0][0] == fm.n_fields * 4 and cols[-1][1] == m.mlp.net[0].in_features
    assert all(a[1] == b[0] for a, b in zip(cols, cols[1:]))  # contiguous, no overlap
    # memorised pairs take s2 columns each, in pair order, before the factorised ones
    mem = [spans[i] for i in m.mem_pairs]
    assert all(s.stop - s.start == 3 for s in mem) and mem[-1].stop == spans[2].start


def test_unused_inputs_cost_nothing_and_used_ones_do(tiny_processed):
    fm = FeatureMap.load(tiny_processed)
    m = _model(fm)
    loader = ParquetBatches(fm, "valid", 128)
    cat, cont, cross, _ = next(iter(loader.iterate(0)))
    with torch.no_grad():  # forward is features -> MLP, unchanged
        assert torch.equal(m(cat, cont, cross), m.mlp(m.features(cat, cont, cross)).squeeze(-1))
        m.mlp.net[0].weight[:, m.pair_spans()[3]] = 0.0   # the MLP ignores pair 3
        m.mlp.net[0].weight[:, m.pair_spans()[6]] *= 50.0  # and leans on pair 6
    imp = permutation_importance(m, loader, seed=1)
    assert np.isnan(imp[[1, 4, 7, 8]]).all() and not np.isnan(imp[[0, 2, 3, 5, 6, 9]]).any()
    assert imp[3] == 0.0
    assert abs(imp[6]) > 0.01  # untrained: shuffling moves AUC, in either direction
    assert np.array_equal(imp, permutation_importance(m, loader, seed=1), equal_nan=True)
    assert m.training  # left as it was found
