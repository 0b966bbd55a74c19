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


def tost_paired(a: Mapping[int, float], b: Mapping[int, float],
                margin: float) -> tuple[float, int]:
    """Two one-sided paired t-tests (TOST) of |mean(a - b)| < margin, paired by seed.

    Returns (p-value, number of pairs): the larger of the two one-sided p-values of
    H0: mean diff <= -margin and H0: mean diff >= +margin; p < alpha shows the two are
    equivalent within the margin (a t-test's large p does not). NaN with fewer than two pairs;
    identical pairs of differences (zero spread) give p 0 inside the margin and 1 outside.
    """
    common = sorted(set(a) & set(b))
    if len(common) < 2:
        return math.nan, len(common)
    d = np.array([a[s] - b[s] for s in common], dtype=float)
    if np.all(d == d[0]):
        return (0.0 if abs(d[0]) < margin else 1.0), len(common)
    lower = stats.ttest_1samp(d, -margin, alternative="greater").pvalue
    upper = stats.ttest_1samp(d, margin, alternative="less").pvalue
    return float(max(lower, upper)), len(common)
