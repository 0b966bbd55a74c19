"""The `shortlist` search recipe (beyond the paper; docs/planted.md): decide the architecture
with a bounded number of re-trains, whatever the number of pairs worth keeping.

The paper's decision is the argmax of α per pair (Eq. 19). The `validated` recipe re-trains one
candidate after another down α's and the argmax re-train's importance rankings; its cost grows
with the answer (48 re-trains where 40 pairs matter), and a pair whose right method is not its
argmax, whose α hardly separates from noise, or whose value shows only once the noise pairs
are gone never gets a fair trial. The shortlist recipe instead screens inside the trained
supernet, whose weights are shared by every architecture (with Gumbel sampling each pair's slot
saw memorize, factorize and naive during the search, so the network is used to any of them):

1. screen: every pair alone with each method, the others naive: the validation AUC it adds
   over "all naive" (gain[i, m]). A pair is judged on its own, beside no noise pair, and on
   both methods whatever its α or argmax;
2. rank pairs by their best gain, with that method; also α's ranking with the argmax methods
   (1 - p(naive)); score the top-k architecture of each ranking on the whole grid of k (no
   early stop: a scoring is one validation pass, not a fit), and the paper's argmax;
3. refine the best: flip each kept pair's method, keep where the score improves;
4. the best architecture of each family in score order (screen; lean: the screen ranking's
   smallest k within one standard error of its best; alpha; argmax): the first `finalists`
   of them are re-trained in full (separate jobs), and the one with the best validation AUC
   is the architecture; its fit is the final re-train, not repeated.

All scores are on a uniform sample of the validation split (holdout.py); nothing reads test
or a planted truth. Its cost: the search, `finalists` re-trains (2 by default: at most twice
the paper recipe's search plus re-train, at any number of kept pairs) and forward passes.
"""

from __future__ import annotations

import logging
from typing import Callable, Sequence

import numpy as np

log = logging.getLogger(__name__)
METHODS = ("memorize", "factorize", "naive")
DEFAULTS = {"finalists": 2, "screen_rows": 50_000, "growth": 1.4, "linear_until": 6,
            "refine": True}


def settings(search_cfg: dict) -> dict:
    out = {**DEFAULTS, **(search_cfg.get("shortlist") or {})}
    if int(out["finalists"]) < 1:
        raise ValueError(f"search.shortlist.finalists: expected >= 1, got {out['finalists']}")
    if float(out["growth"]) <= 1:
        raise ValueError(f"search.shortlist.growth: expected > 1, got {out['growth']}")
    return out


def grid(n_pairs: int, growth: float = 1.4, linear_until: int = 6) -> list[int]:
    """Every k up to `linear_until`, then x `growth`, then all pairs."""
    ks = list(range(0, min(linear_until, n_pairs) + 1))
    k = float(ks[-1])
    while ks[-1] < n_pairs:
        k = max(k * growth, ks[-1] + 1)
        ks.append(min(int(round(k)), n_pairs))
    return ks


def top_k(order: Sequence[int], methods: Sequence[str], k: int) -> list[str]:
    out = ["naive"] * len(methods)
    for i in order[:k]:
        out[int(i)] = methods[int(i)]
    return out


def screen(score: Callable[[Sequence[str]], float], n_pairs: int) -> tuple[float, np.ndarray]:
    """Step 1: AUC of "all naive" and gain[i, m] (m = memorize, factorize) of pair i alone."""
    base = score(["naive"] * n_pairs)
    gain = np.zeros((n_pairs, 2))
    for i in range(n_pairs):
        for m in (0, 1):
            choices = ["naive"] * n_pairs
            choices[i] = METHODS[m]
            gain[i, m] = score(choices) - base
    return base, gain


def _sweep(score, order, methods, ks) -> tuple[list[dict], dict]:
    trail, best = [], None
    for k in ks:
        choices = top_k(order, methods, k)
        row = {"k": k, "score": score(choices)}
        trail.append(row)
        if best is None or row["score"] > best["score"]:
            best = {**row, "choices": choices}
    return trail, best


def decide(score: Callable[[Sequence[str]], float], probs: np.ndarray, cfg: dict,
           tolerance: Callable[[float], float] = lambda auc: 0.0) -> dict:
    """Steps 1-4 up to the finalists: {"finalists": [{"family", "choices", "score"}], ...}
    with the screen's gains, each ranking's trail over k and the flips tried. `tolerance(auc)`
    (the standard error of an AUC on the sample): the `lean` family is the smallest k of the
    screen ranking that scores within it of that ranking's best (Breiman's one-standard-error
    rule), so the finalists include a parsimonious answer the full re-train can prefer."""
    probs = np.asarray(probs, dtype=np.float64)
    n = len(probs)
    base, gain = screen(score, n)
    ks = grid(n, float(cfg["growth"]), int(cfg["linear_until"]))
    screen_order = np.argsort(-gain.max(axis=1), kind="stable")
    screen_methods = [METHODS[int(np.argmax(g))] for g in gain]
    alpha_order = np.argsort(-(1.0 - probs[:, 2]), kind="stable")
    alpha_methods = ["memorize" if p[0] >= p[1] else "factorize" for p in probs]
    trails, family = {}, {}
    for name, order, methods in (("screen", screen_order, screen_methods),
                                 ("alpha", alpha_order, alpha_methods)):
        trails[name], family[name] = _sweep(score, order, methods, ks)
        log.info("shortlist (%s ranking): best k %d, score %.5f", name, family[name]["k"],
                 family[name]["score"])
    lean = next(t for t in trails["screen"]
                if t["score"] >= family["screen"]["score"] - tolerance(family["screen"]["score"]))
    if lean["k"] < family["screen"]["k"]:
        family["lean"] = {**lean, "choices": top_k(screen_order, screen_methods, lean["k"])}
    argmax = [METHODS[int(np.argmax(p))] for p in probs]
    family["argmax"] = {"k": None, "score": score(argmax), "choices": argmax}
    flips = []
    if cfg["refine"]:
        best_name = max(family, key=lambda f: family[f]["score"])
        best_name = "screen" if best_name == "lean" else best_name
        best = family[best_name]
        for i in [i for i, c in enumerate(best["choices"]) if c != "naive"]:
            choices = list(best["choices"])
            choices[i] = "factorize" if choices[i] == "memorize" else "memorize"
            s = score(choices)
            kept = s > best["score"]
            flips.append({"pair": i, "to": choices[i], "score": s, "kept": kept})
            if kept:
                best = {**best, "score": s, "choices": choices}
        family[best_name] = best
    ranked = sorted(family, key=lambda f: -family[f]["score"])
    finalists, seen = [], set()
    for name in ranked:
        key = tuple(family[name]["choices"])
        if key in seen:
            continue
        seen.add(key)
        finalists.append({"family": name, "k": family[name]["k"],
                          "score": family[name]["score"], "choices": family[name]["choices"]})
    return {"finalists": finalists[:int(cfg["finalists"])], "base_score": base,
            "lean_tolerance": tolerance(family["screen"]["score"]),
            "gain": gain.tolist(), "trails": trails, "flips": flips,
            "family_scores": {f: family[f]["score"] for f in family}}


def pick(fits: Sequence[dict]) -> int:
    """Step 4's choice among the finalists' fits: best validation AUC, ties to the fewer
    interacting pairs, then the earlier finalist."""
    def key(i):
        f = fits[i]
        return (-f["valid_auc"], sum(c != "naive" for c in f["choices"]), i)
    return min(range(len(fits)), key=key)
