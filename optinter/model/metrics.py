"""Exact evaluation metrics on numpy arrays (float64 throughout)."""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

# What picks the best evaluation (higher is better). "auc" is the paper's; "auc-logloss" is
# FuxiCTR's default monitor: on small data a memorising model's AUC still creeps up while its
# log loss has passed a constant predictor's, and AUC alone would keep those weights.
MONITORS: dict[str, Callable[[dict], float]] = {
    "auc": lambda m: m["auc"],
    "auc-logloss": lambda m: m["auc"] - m["logloss"],
    "logloss": lambda m: -m["logloss"],
}


def auc(labels, scores) -> float:
    """Exact ROC AUC: P(score_pos > score_neg) + 0.5 P(equal), via average ranks (ties share
    the mean rank, i.e. the Mann-Whitney U statistic)."""
    y = np.asarray(labels).astype(bool).ravel()
    s = np.asarray(scores, dtype=np.float64).ravel()
    if y.shape != s.shape:
        raise ValueError(f"auc: {y.size} labels but {s.size} scores")
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    if n_pos == 0 or n_neg == 0:
        raise ValueError(f"auc: needs both classes, got {n_pos} positives and {n_neg} negatives")
    if np.isnan(s).any():
        raise ValueError("auc: scores contain NaN")
    order = np.argsort(s, kind="mergesort")
    s_sorted = s[order]
    # first index of each run of equal scores, and the average 1-based rank of that run
    starts = np.flatnonzero(np.r_[True, s_sorted[1:] != s_sorted[:-1]])
    ends = np.r_[starts[1:], s.size]
    run_rank = (starts + ends + 1) / 2.0
    ranks = np.empty(s.size)
    ranks[order] = np.repeat(run_rank, ends - starts)
    u = ranks[y].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def log_loss(labels, probs, eps: float = 1e-7) -> float:
    """Mean binary cross-entropy with probabilities clipped into [eps, 1 - eps]."""
    y = np.asarray(labels, dtype=np.float64).ravel()
    p = np.clip(np.asarray(probs, dtype=np.float64).ravel(), eps, 1 - eps)
    if y.shape != p.shape:
        raise ValueError(f"log_loss: {y.size} labels but {p.size} probabilities")
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log1p(-p)))


def log_loss_from_logits(labels, logits) -> float:
    """Mean binary cross-entropy computed stably from logits (no clipping needed)."""
    y = np.asarray(labels, dtype=np.float64).ravel()
    z = np.asarray(logits, dtype=np.float64).ravel()
    return float(np.mean(np.logaddexp(0.0, z) - y * z))


def auc_standard_error(pos: int, neg: int, auc: float) -> float:
    """Standard error of an AUC estimated from `pos` positives and `neg` negatives.

    Hanley & McNeil (1982), Radiology 143:29, eq. 1, with Q1 = A/(2-A), Q2 = 2A^2/(1+A).
    """
    if pos < 1 or neg < 1:
        return math.inf
    q1, q2 = auc / (2 - auc), 2 * auc * auc / (1 + auc)
    a2 = auc * auc
    var = (auc * (1 - auc) + (pos - 1) * (q1 - a2) + (neg - 1) * (q2 - a2)) / (pos * neg)
    return math.sqrt(var)
