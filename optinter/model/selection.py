"""The `validated` search recipe: decide the architecture from the search's ranking with the
validation data, beyond the paper.

The paper's decision (Eq. 19) is the argmax of alpha per pair. On planted data the search ranks
the interacting pairs first (1 - p(naive)), yet the argmax almost never says naive: a cross
table or a factorised product can always fit a little noise on the training loss, so the
re-train carries hundreds of useless interactions. This recipe keeps the search and its
ranking, and lets held-out data decide how far down the ranking to go and, for the kept pairs,
memorize or factorize:

1. rank pairs (`rankings`): "alpha", by 1 - p(naive) (softmax of alpha, ties by pair order);
   "permutation", by how much validation AUC the re-train of the paper's argmax architecture
   loses when a pair's inputs are shuffled (importance.py), for where α is too noisy;
2. per ranking, for k on a grid (0, 1, 2, ... growing geometrically), re-train the
   architecture "top-k pairs with their argmax of memorize / factorize, the rest naive" and
   read its validation AUC; stop once `patience` grid points in a row are no better than the
   best; the best over rankings goes on;
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
RECIPES = ("paper", "validated", "shortlist")
# search settings of the decision, not of the supernet nor of a re-train's model
RECIPE_KEYS = ("recipe", "select", "shortlist")
RANKINGS = ("alpha", "permutation")
METHODS = ("memorize", "factorize", "naive")
DEFAULTS = {"growth": 1.4, "linear_until": 6, "patience": 3, "refine": True, "max_pairs": None,
            "argmax": True, "rankings": ["alpha", "permutation"], "importance_rows": 200_000}


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


def importance_order(importance: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """Pairs the argmax re-train uses, by permutation importance (largest AUC loss first),
    then the pairs it left naive, by 1 - p(naive)."""
    used = ~np.isnan(importance)
    by_alpha = ranking(probs)
    first = np.flatnonzero(used)[np.argsort(-importance[used], kind="stable")]
    return np.concatenate([first, by_alpha[~used[by_alpha]]]).astype(np.int64)


def _sweep(order: np.ndarray, methods: Sequence[str], fit, cfg: dict, n: int,
           name: str) -> tuple[dict, list]:
    """Step 2 on one ranking: the best top-k architecture and the trail of the grid."""
    trail, best, bad = [], None, 0
    for k in grid(n, float(cfg["growth"]), int(cfg["linear_until"]), cfg["max_pairs"]):
        choices = top_k(order, methods, k)
        res = fit(choices, f"k{k}" if name == "alpha" else f"{name}_k{k}")
        row = {"k": k, "valid_auc": res["valid_auc"], "valid_logloss": res["valid_logloss"]}
        trail.append(row)
        log.info("validated recipe (%s ranking): top %d pairs -> valid AUC %.5f", name, k,
                 res["valid_auc"])
        if best is None or res["valid_auc"] > best["valid_auc"]:
            best, bad = {**row, "choices": choices, "ranking": name, "order": order}, 0
        else:
            bad += 1
            if bad >= int(cfg["patience"]):
                break
    return best, trail


def decide(probs: np.ndarray, fit: Callable[..., dict], cfg: dict) -> dict:
    """Run steps 1-4. `fit(choices, tag, importance=False)` re-trains one architecture and
    returns at least {"valid_auc", "valid_logloss"}, plus "importance" (per pair, NaN where
    naive) when asked. Returns the chosen choices and the full trail."""
    probs = np.asarray(probs, dtype=np.float64)
    methods = ["memorize" if p[0] >= p[1] else "factorize" for p in probs]
    rankings = list(cfg.get("rankings") or ["alpha"])
    unknown = sorted(set(rankings) - set(RANKINGS))
    if unknown:
        raise ValueError(f"search.select.rankings: expected some of {RANKINGS}, got {unknown}")
    cache: dict[tuple, dict] = {}

    def fit_once(choices, tag, importance=False):
        # k = 0 (and any architecture two rankings share) is trained once
        key = tuple(choices)
        if key not in cache or (importance and "importance" not in cache[key]):
            cache[key] = fit(choices, tag, importance=True) if importance else fit(choices, tag)
        return cache[key]

    argmax_choices = [METHODS[int(np.argmax(p))] for p in probs]
    argmax_res = None
    if cfg.get("argmax", True) or "permutation" in rankings:
        argmax_res = fit_once(argmax_choices, "argmax", importance="permutation" in rankings)
        log.info("validated recipe: the paper's argmax -> valid AUC %.5f",
                 argmax_res["valid_auc"])
    orders = {"alpha": ranking(probs)}
    if "permutation" in rankings:
        orders["permutation"] = importance_order(np.asarray(argmax_res["importance"]), probs)
    best, grids = None, {}
    for name in rankings:
        cand, grids[name] = _sweep(orders[name], methods, fit_once, cfg, len(probs), name)
        if best is None or cand["valid_auc"] > best["valid_auc"]:
            best = cand
    flips = []
    if cfg["refine"]:
        for i in best["order"][:best["k"]]:
            i = int(i)
            other = "factorize" if best["choices"][i] == "memorize" else "memorize"
            choices = list(best["choices"])
            choices[i] = other
            res = fit_once(choices, f"k{best['k']}_flip{i}" if best["ranking"] == "alpha"
                           else f"{best['ranking']}_k{best['k']}_flip{i}")
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
        kept = argmax_res["valid_auc"] > best["valid_auc"]
        argmax = {"valid_auc": argmax_res["valid_auc"],
                  "valid_logloss": argmax_res["valid_logloss"], "kept": kept}
        if kept:
            best = {**best, "k": None, "ranking": None, "valid_auc": argmax_res["valid_auc"],
                    "valid_logloss": argmax_res["valid_logloss"], "choices": argmax_choices}
    return {"choices": best["choices"], "k": best["k"], "ranking": best["ranking"],
            "valid_auc": best["valid_auc"], "valid_logloss": best["valid_logloss"],
            "grid": grids.get("alpha", []), "grids": grids, "flips": flips, "argmax": argmax,
            "importance": None if argmax_res is None or "importance" not in argmax_res
            else [None if np.isnan(v) else float(v) for v in argmax_res["importance"]],
            "order": [int(i) for i in orders[rankings[0]]]}
