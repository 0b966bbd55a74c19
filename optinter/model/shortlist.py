"""The `shortlist` search recipe (beyond the paper; docs/planted.md): decide the architecture
with a scan and at most two re-trains, whatever the number of pairs worth keeping.

The paper's decision is the argmax of α per pair (Eq. 19). The `validated` recipe re-trains one
candidate after another down α's and the argmax re-train's importance rankings; its cost grows
with the answer (48 re-trains where 40 pairs matter), and a pair whose right method is not its
argmax, whose α hardly separates from noise, or whose value shows only once the noise pairs
are gone never gets a fair trial. The shortlist recipe:

1. screen (memorize and factorize in the supernet): inside the trained supernet (its weights
   are shared by every architecture; with Gumbel sampling each pair's slot saw memorize,
   factorize and naive during the search), every pair alone with each method, the others
   naive: the validation AUC it adds over "all naive" (gain[i, m]). The pairs whose best gain
   stands out of the bulk (robust z-score above `screen_z`: median and MAD over all pairs, most
   of which are noise) are screened in at their better method. The supernet's factorize branch
   shares each field's vectors among all of its pairs, and a low-rank pair can add nothing
   there (measured on the held-out planted case), so:
2. scan (each method with parameters of its own, pairscan.py): a linear model gives every
   pair a memorized weight per cross id and a factorized term with its own rank-`scan_rank`
   vectors (a field-aware factorization machine); each pair's terms are permuted on a
   uniform validation sample. A pair's score is the robust z-score of its AUC loss; its
   method memorize where the memorized term alone carries at least `scan_memorize_share` of
   that loss (frequent crosses), else factorize (`scanned`);
3. finalists, each re-trained as the final model, independent of each other (parallel jobs):
   0 "wide": the pairs scoring above `scan_z_wide` at the scan's method and the other screened
   pairs at the screen's; 1 "confirmed": only the pairs scoring above `scan_z`. A finalist
   whose architecture equals an earlier one's is not fitted;
4. of the fits, the one with the better validation AUC is the architecture, and its fit is the
   final re-train (not repeated).

Only train and validation rows are read (never test, never a planted truth). The scan and the
finalists share a budget of training samples (`budget`) measured on the paper recipe's own
search and re-train, so that the whole recipe stays within twice the paper recipe's search plus
re-train at any number of kept pairs: the scan may spend what the search did, the finalists
share the rest (each stops there, with its best weights so far). Forward passes come on top
(1 + 2 x pairs scorings of the screen's sample, 3 x pairs of the scan's).
"""

from __future__ import annotations

import logging
from typing import Callable, Sequence

import numpy as np

from optinter.model.metrics import MONITORS

log = logging.getLogger(__name__)
METHODS = ("memorize", "factorize", "naive")
FAMILIES = ("wide", "confirmed")
DEFAULTS = {"finalists": 2, "screen_rows": 50_000, "screen_z": 5.0, "scan_z": 10.0,
            "scan_z_wide": 3.0, "scan_rank": 4, "scan_lr": 0.02, "scan_memorize_share": 0.2,
            "importance_rows": 50_000, "scan_monitor": "auc"}


def settings(search_cfg: dict) -> dict:
    out = {**DEFAULTS, **(search_cfg.get("shortlist") or {})}
    if int(out["finalists"]) not in (1, 2):
        raise ValueError(f"search.shortlist.finalists: expected 1 (the wide set of the screen "
                         f"and the scan) or 2 (and the scan's confirmed pairs alone), got "
                         f"{out['finalists']}")
    if not 0 <= float(out["scan_memorize_share"]) <= 1:
        raise ValueError(f"search.shortlist.scan_memorize_share: expected a share in [0, 1], "
                         f"got {out['scan_memorize_share']}")
    if out["scan_monitor"] not in MONITORS:
        raise ValueError(f"search.shortlist.scan_monitor: expected one of {sorted(MONITORS)}, "
                         f"got {out['scan_monitor']!r}")
    for key in ("screen_z", "scan_z", "scan_z_wide", "scan_lr"):
        if float(out[key]) <= 0:
            raise ValueError(f"search.shortlist.{key}: expected > 0, got {out[key]}")
    return out


def robust_z(values: np.ndarray) -> np.ndarray:
    """(v - median) / (1.4826 MAD) (MAD: the median absolute deviation, a standard deviation
    robust to the outliers it looks for; floored so that a bulk of identical values still has
    a scale)."""
    v = np.asarray(values, dtype=np.float64)
    med = float(np.median(v))
    return (v - med) / max(1.4826 * float(np.median(np.abs(v - med))), 1e-6)


def outliers(values: np.ndarray, z: float) -> np.ndarray:
    """Which values stand out of the bulk upwards: robust z-score above `z`, and positive."""
    return (robust_z(values) > z) & (np.asarray(values, dtype=np.float64) > 0)


def screen(score: Callable[[Sequence[str]], float], n_pairs: int) -> tuple[float, np.ndarray]:
    """Step 1's scorings: AUC of "all naive" and gain[i, m] (m = memorize, factorize) of pair i
    alone."""
    base = score(["naive"] * n_pairs)
    gain = np.zeros((n_pairs, 2))
    for i in range(n_pairs):
        for m in (0, 1):
            choices = ["naive"] * n_pairs
            choices[i] = METHODS[m]
            gain[i, m] = score(choices) - base
    return base, gain


def decide(score: Callable[[Sequence[str]], float], n_pairs: int, cfg: dict) -> dict:
    """Step 1: {"screened": pairs kept, "methods": their better method, "gain", ...}."""
    base, gain = screen(score, n_pairs)
    kept = outliers(gain.max(axis=1), float(cfg["screen_z"]))
    log.info("shortlist: %d of %d pairs stand out of the screen", int(kept.sum()), n_pairs)
    return {"screened": [int(i) for i in np.flatnonzero(kept)],
            "methods": [METHODS[int(np.argmax(g))] for g in gain],
            "base_score": base, "gain": gain.tolist()}


def scanned(pair: Sequence[float], memorize: Sequence[float], cfg: dict) -> dict:
    """Step 2's reading of the scan's term importances (validation AUC lost per pair, both
    terms permuted: `pair`; the memorized term alone: `memorize`): "z" the robust z-score of
    each pair's among all pairs (most of them noise), "found" the pairs above `scan_z`,
    "found_wide" those above `scan_z_wide`, and "methods" per pair: memorize where the
    memorized term alone carries at least `scan_memorize_share` of the pair's importance (its
    crosses are frequent enough for a table), else factorize (too rare: the memorized term
    carries nothing, the factorized one all)."""
    pair, memorize = np.asarray(pair, float), np.asarray(memorize, float)
    z = robust_z(pair)
    share = float(cfg["scan_memorize_share"])
    methods = ["memorize" if p > 0 and m >= share * p else "factorize"
               for p, m in zip(pair, memorize)]
    return {"z": z.tolist(), "methods": methods,
            "found": [int(i) for i in np.flatnonzero((z > float(cfg["scan_z"])) & (pair > 0))],
            "found_wide": [int(i) for i in np.flatnonzero((z > float(cfg["scan_z_wide"]))
                                                          & (pair > 0))]}


def finalists(short: dict, scan: dict, cfg: dict) -> list[dict]:
    """Step 3's architectures, FAMILIES order, `finalists` of them: {"family", "choices"}.
    `short`: decide's output; `scan`: scanned's output."""
    n = len(short["methods"])
    wide, found, screened = set(scan["found_wide"]), set(scan["found"]), set(short["screened"])

    def arch(pairs):
        return [("naive" if i not in pairs else scan["methods"][i] if i in wide
                 else short["methods"][i]) for i in range(n)]
    pairs = (screened | wide, found)  # FAMILIES order
    return [{"family": f, "choices": arch(p)}
            for f, p in zip(FAMILIES, pairs)][:int(cfg["finalists"])]


def budget(search_samples: int, paper_retrain_samples: int | None) -> int | None:
    """Training samples the scan and the finalists may spend together so that search + scan +
    re-trains stay within twice the paper recipe's search + re-train: 2 (S + R) - S = S + 2 R
    (None: no paper re-train to measure against, no cap)."""
    if paper_retrain_samples is None:
        return None
    return int(search_samples) + 2 * int(paper_retrain_samples)


def finalist_cap(total: int | None, scan_samples: int, n_finalists: int) -> int | None:
    """One finalist's share of the budget `total` once the scan has spent `scan_samples`."""
    if total is None:
        return None
    return max(0, int(total) - int(scan_samples)) // max(1, int(n_finalists))


def pick(fits: Sequence[dict]) -> int:
    """Step 4's choice among the finalists' fits: best validation AUC, ties to the fewer
    interacting pairs, then the earlier finalist."""
    def key(i):
        f = fits[i]
        return (-f["valid_auc"], sum(c != "naive" for c in f["choices"]), i)
    return min(range(len(fits)), key=key)
