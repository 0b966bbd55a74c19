"""The `shortlist` search recipe (beyond the paper; docs/planted.md): decide the architecture
with two re-trains, whatever the number of pairs worth keeping.

The paper's decision is the argmax of α per pair (Eq. 19). The `validated` recipe re-trains one
candidate after another down α's and the argmax re-train's importance rankings; its cost grows
with the answer (48 re-trains where 40 pairs matter), and a pair whose right method is not its
argmax, whose α hardly separates from noise, or whose value shows only once the noise pairs
are gone never gets a fair trial. The shortlist recipe:

1. screen: inside the trained supernet (its weights are shared by every architecture; with
   Gumbel sampling each pair's slot saw memorize, factorize and naive during the search),
   every pair alone with each method, the others naive: the validation AUC it adds over "all
   naive" (gain[i, m]). The pairs whose best gain stands out of the bulk (robust z-score of
   the gains above `screen_z`: median and MAD over all pairs, most of which are noise) are
   kept at their better method: a judgement of each pair on its own, beside no noise pair,
   on both methods whatever its α or argmax;
2. probe (finalist 0): re-train the kept pairs at their methods with every other pair
   factorized. A factorized pair costs its field vectors only, so the model can afford all of
   them, and a low-rank pair the supernet could not tell from noise gets its fair trial as
   factorize. Permutation importance of every pair on a uniform validation sample (the
   validation AUC lost when its columns of the MLP input are shuffled) says which it uses;
3. lean (finalist 1): re-train only the pairs whose importance in the probe stands out
   (robust z-score above `keep_z` among the probe's pairs), at the probe's methods, the rest
   naive: the noise pairs gone;
4. of the two fits, the one with the better validation AUC is the architecture, and its fit
   is the final re-train (not repeated).

Only train and validation rows are read (never test, never a planted truth). Its cost is the
search plus two re-trains, and the re-trains share a budget of training samples (`budget`)
measured on the paper recipe's own re-train, so the whole recipe stays within twice the paper
recipe's search plus re-train at any number of kept pairs: the probe may spend half, the lean
re-train the rest (each stops there, with its best weights so far). Forward passes come on top
(1 + 2 x pairs scorings of the sample). Step 3 depends on step 2's fit, so the two re-trains
run one after the other, each its own job.
"""

from __future__ import annotations

import logging
from typing import Callable, Sequence

import numpy as np

log = logging.getLogger(__name__)
METHODS = ("memorize", "factorize", "naive")
DEFAULTS = {"finalists": 2, "screen_rows": 50_000, "screen_z": 5.0, "keep_z": 4.0,
            "importance_rows": 50_000}


def settings(search_cfg: dict) -> dict:
    out = {**DEFAULTS, **(search_cfg.get("shortlist") or {})}
    if int(out["finalists"]) not in (1, 2):
        raise ValueError(f"search.shortlist.finalists: expected 1 (the probe) or 2 (the probe "
                         f"and the lean re-train), got {out['finalists']}")
    for key in ("screen_z", "keep_z"):
        if float(out[key]) <= 0:
            raise ValueError(f"search.shortlist.{key}: expected > 0, got {out[key]}")
    return out


def outliers(values: np.ndarray, z: float) -> np.ndarray:
    """Which values stand out of the bulk upwards: (v - median) / (1.4826 MAD) > z and v > 0
    (MAD: the median absolute deviation, a standard deviation robust to the outliers it looks
    for; floored so that a bulk of identical values still has a scale)."""
    v = np.asarray(values, dtype=np.float64)
    med = float(np.median(v))
    mad = 1.4826 * float(np.median(np.abs(v - med)))
    scale = max(mad, 1e-6)
    return ((v - med) / scale > z) & (v > 0)


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
    """Step 1 and the probe's architecture (step 2): {"finalists": [probe], "gain", ...}."""
    base, gain = screen(score, n_pairs)
    best = gain.max(axis=1)
    kept = outliers(best, float(cfg["screen_z"]))
    methods = [METHODS[int(np.argmax(g))] for g in gain]
    probe = [methods[i] if kept[i] else "factorize" for i in range(n_pairs)]
    log.info("shortlist: %d of %d pairs stand out of the screen", int(kept.sum()), n_pairs)
    return {"finalists": [{"family": "probe", "choices": probe,
                           "screened": [int(i) for i in np.flatnonzero(kept)]}],
            "base_score": base, "gain": gain.tolist(), "screened": int(kept.sum())}


def lean(probe: Sequence[str], importance: Sequence[float | None], cfg: dict) -> list[str]:
    """Step 3's architecture: the probe's pairs whose importance stands out, at their method."""
    used = [i for i, c in enumerate(probe) if c != "naive" and importance[i] is not None]
    keep = outliers(np.array([importance[i] for i in used]), float(cfg["keep_z"]))
    out = ["naive"] * len(probe)
    for i, k in zip(used, keep):
        if k:
            out[i] = probe[i]
    return out


def budget(search_samples: int, paper_retrain_samples: int | None) -> int | None:
    """Training samples the two re-trains may spend together so that search + re-trains stay
    within twice the paper recipe's search + re-train: 2 (S + R) - S = S + 2 R (None: no
    paper re-train to measure against, no cap)."""
    if paper_retrain_samples is None:
        return None
    return int(search_samples) + 2 * int(paper_retrain_samples)


def pick(fits: Sequence[dict]) -> int:
    """Step 4's choice among the finalists' fits: best validation AUC, ties to the fewer
    interacting pairs, then the earlier finalist."""
    def key(i):
        f = fits[i]
        return (-f["valid_auc"], sum(c != "naive" for c in f["choices"]), i)
    return min(range(len(fits)), key=key)
