"""Summary statistics over seeds for the paper's tables: mean ± std and the paired t-test."""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np
from scipy import stats


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof=1); std is NaN for a single value.

    ddof=1 because the seeds are a sample of the runs one could have made, and that is the
    spread a reader compares against the differences between models.
    """
    arr = np.asarray(values, dtype=float)
    if arr.size == 0:
        return math.nan, math.nan
    std = float(arr.std(ddof=1)) if arr.size > 1 else math.nan
    return float(arr.mean()), std


def paired_ttest(a: Mapping[int, float], b: Mapping[int, float]) -> tuple[float, float, int]:
    """Two-tailed paired t-test of `a` against `b`, paired by seed.

    Returns (t statistic, p-value, number of pairs). Only seeds present in both take part;
    with fewer than two pairs, or identical paired values, the test is undefined and t and p
    are NaN.
    """
    common = sorted(set(a) & set(b))
    if len(common) < 2:
        return math.nan, math.nan, len(common)
    x = np.array([a[s] for s in common], dtype=float)
    y = np.array([b[s] for s in common], dtype=float)
    if np.all(x - y == 0):
        return math.nan, math.nan, len(common)
    res = stats.ttest_rel(x, y, alternative="two-sided")
    return float(res.statistic), float(res.pvalue), len(common)
