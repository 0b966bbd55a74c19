"""The `validated` search recipe: decide the architecture from the search's ranking with the
validation data, beyond the paper.

The paper's decision (Eq. 19) is the argmax of alpha per pair. On planted data the search ranks
the interacting pairs first (1 - p(naive)), yet the argmax almost never says naive: a cross
table or a factorised product can always fit a little noise on the training loss, so the
re-train carries hundreds of useless interactions. This recipe keeps the search and its
ranking, and lets held-out data decide how far down the ranking to go and, for the kept pairs,
memorize or factorize:

1. rank pairs by 1 - p(naive) (softmax of alpha, ties by pair order);
2. for k on a grid (0, 1, 2, ... growing geometrically), re-train the architecture "top-k pairs
   with their argmax of memorize / factorize, the rest naive" and read its validation AUC;
   stop once `patience` grid points in a row are no better than the best;
3. for each kept pair, in rank order, re-train with its other non-naive method, keep the
   change where validation AUC improves;
4. re-train the paper's own decision (the argmax of every pair) and keep it where its
   validation AUC beats the result of steps 2-3: where the ranking is too noisy for a short
   list (small data), the recipe falls back to the paper's architecture instead of below it.

Only the train and validation splits are read (never test, never a planted truth). The
re-trains are ordinary fits of the `optinter` model, each resumable from its checkpoint.
"""

from __future__ import annotations

import logging
from typing import Callable, Sequence

import numpy as np

log = logging.getLogger(__name__)
RECIPES = ("paper", "validated")
METHODS = ("memorize", "factorize", "naive")
DEFAULTS = {"growth": 1.4, "linear_until": 6, "patience": 3, "refine": True, "max_pairs": None,
            "argmax": True}


def recipe(search_cfg: dict) -> str:
    name = search_cfg.get("recipe", "paper")
    if name not in RECIPES:
        raise ValueError(f"search.recipe: expected one of {RECIPES}, got {name!r}")
    return name


def settings(search_cfg: dict) -> dict:
    out = {**DEFAULTS, **(search_cfg.get("select") or {})}
    if float(out["growth"]) <= 1:
        raise ValueError(f"search.select.growth: expected > 1, got {out['growth']}")
    if int(out["patience"]) < 1:
        raise ValueError(f"search.select.patience: expected >= 1, got {out['patience']}")
    return out


def ranking(probs: np.ndarray) -> np.ndarray:
    """Pair indices by 1 - p(naive), most interacting first; ties keep pair order."""
    return np.argsort(-(1.0 - probs[:, 2]), kind="stable")


def grid(n_pairs: int, growth: float = 1.4, linear_until: int = 6,
         max_pairs: int | None = None) -> list[int]:
    """Numbers of kept pairs to try: every k up to `linear_until`, then x `growth`, then all."""
    top = n_pairs if max_pairs is None else min(int(max_pairs), n_pairs)
    ks = list(range(0, min(linear_until, top) + 1))
    k = float(ks[-1])
    while ks[-1] < top:
        k = max(k * growth, ks[-1] + 1)
        ks.append(min(int(round(k)), top))
    return ks


def top_k(order: np.ndarray, methods: Sequence[str], k: int) -> list[str]:
    """Choices with the first k pairs of `order` at their method, every other pair naive."""
    out = ["naive"] * len(methods)
    for i in order[:k]:
        out[int(i)] = methods[int(i)]
    return out


def decide(probs: np.ndarray, fit: Callable[[list[str], str], dict], cfg: dict) -> dict:
    """Run steps 1-4. `fit(choices, tag)` re-trains one architecture and returns at least
    {"valid_auc", "valid_logloss"}. Returns the chosen choices and the full trail."""
    probs = np.asarray(probs, dtype=np.float64)
    order = ranking(probs)
    methods = ["memorize" if p[0] >= p[1] else "factorize" for p in probs]
    trail, best, bad = [], None, 0
    for k in grid(len(probs), float(cfg["growth"]), int(cfg["linear_until"]), cfg["max_pairs"]):
        choices = top_k(order, methods, k)
        res = fit(choices, f"k{k}")
        row = {"k": k, "valid_auc": res["valid_auc"], "valid_logloss": res["valid_logloss"]}
        trail.append(row)
        log.info("validated recipe: top %d pairs -> valid AUC %.5f", k, res["valid_auc"])
        if best is None or res["valid_auc"] > best["valid_auc"]:
            best, bad = {**row, "choices": choices}, 0
        else:
            bad += 1
            if bad >= int(cfg["patience"]):
                break
    flips = []
    if cfg["refine"]:
        for i in order[:best["k"]]:
            i = int(i)
            other = "factorize" if best["choices"][i] == "memorize" else "memorize"
            choices = list(best["choices"])
            choices[i] = other
            res = fit(choices, f"k{best['k']}_flip{i}")
            kept = res["valid_auc"] > best["valid_auc"]
            flips.append({"pair": i, "to": other, "valid_auc": res["valid_auc"],
                          "valid_logloss": res["valid_logloss"], "kept": kept})
            log.info("validated recipe: pair %d as %s -> valid AUC %.5f (%s)", i, other,
                     res["valid_auc"], "kept" if kept else "reverted")
            if kept:
                best = {**best, "valid_auc": res["valid_auc"],
                        "valid_logloss": res["valid_logloss"], "choices": choices}
    argmax = None
    if cfg.get("argmax", True):
        choices = [METHODS[int(np.argmax(p))] for p in probs]
        res = fit(choices, "argmax")
        kept = res["valid_auc"] > best["valid_auc"]
        argmax = {"valid_auc": res["valid_auc"], "valid_logloss": res["valid_logloss"],
                  "kept": kept}
        log.info("validated recipe: the paper's argmax -> valid AUC %.5f (%s)",
                 res["valid_auc"], "kept" if kept else "not kept")
        if kept:
            best = {**best, "k": None, "valid_auc": res["valid_auc"],
                    "valid_logloss": res["valid_logloss"], "choices": choices}
    return {"choices": best["choices"], "k": best["k"], "valid_auc": best["valid_auc"],
            "valid_logloss": best["valid_logloss"], "grid": trail, "flips": flips,
            "argmax": argmax, "order": [int(i) for i in order]}
