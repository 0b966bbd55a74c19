"""Metrics against independent brute-force computations."""

import numpy as np
import pytest

from optinter.model.metrics import auc, log_loss, log_loss_from_logits


def brute_auc(y, s):
    pos, neg = s[y == 1], s[y == 0]
    diff = pos[:, None] - neg[None, :]
    return ((diff > 0).sum() + 0.5 * (diff == 0).sum()) / (pos.size * neg.size)


@pytest.mark.parametrize("seed", range(5))
def test_auc_equals_pair_count_with_ties(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(20, 400))
    y = (rng.random(n) < 0.3).astype(int)
    y[:2] = [0, 1]
    s = np.round(rng.normal(size=n) + y, 1)  # rounding makes many ties, also across classes
    assert auc(y, s) == pytest.approx(brute_auc(y, s), abs=1e-12)


def test_auc_edge_cases():
    assert auc([0, 1], [0.2, 0.2]) == 0.5
    assert auc([0, 0, 1, 1], [1, 2, 3, 4]) == 1.0
    assert auc([1, 1, 0, 0], [1, 2, 3, 4]) == 0.0
    with pytest.raises(ValueError, match="both classes"):
        auc([1, 1], [0.1, 0.2])
    with pytest.raises(ValueError, match="labels but"):
        auc([0, 1], [0.1])


def test_log_loss_matches_definition():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    z = rng.normal(scale=3, size=200)
    p = 1 / (1 + np.exp(-z))
    direct = -np.mean([np.log(pi) if yi else np.log(1 - pi) for yi, pi in zip(y, p)])
    assert log_loss(y, p) == pytest.approx(direct, rel=1e-9)
    assert log_loss_from_logits(y, z) == pytest.approx(direct, rel=1e-9)
    assert np.isfinite(log_loss([1, 0], [0.0, 1.0]))  # clipped, not infinite
