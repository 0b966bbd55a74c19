"""Planted-structure benchmark: does the search recover the planted method of each pair, and how
close does OptInter come to the oracle (the same model re-trained with the true architecture)?

Layout of one case (one data size and seed), shared with workflow/rules/planted.smk:
``{data_root}/{case}/raw/train.txt`` with ``truth.json`` beside it,
``{data_root}/{case}/processed/…`` (the data layer's outputs) and
``{results_root}/{case}/search/architecture.json``, ``{results_root}/{case}/{model}.json``
(``oracle.json`` for the oracle), where ``case = case_name(size, seed)``.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from optinter.analysis.stats import mean_std, paired_ttest
from optinter.io import read_json, write_json

METHODS = ("memorize", "factorize", "naive")


def case_name(size: int, seed: int) -> str:
    return f"n{int(size)}_s{int(seed)}"


def _read(path: str | os.PathLike, what: str) -> dict:
    try:
        return read_json(path)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: {what} not found") from None
    except ValueError as e:
        raise ValueError(f"{path}: {what} is not valid JSON ({e})") from None


def truth_choices(truth: Mapping, pair_names: Sequence[str], source: str = "truth.json") -> dict:
    """Method per pair name: the planted ones from truth['pairs'], every other pair naive."""
    planted = dict(truth["pairs"])
    unknown = sorted(set(planted) - set(pair_names))
    if unknown:
        raise ValueError(f"{source}: planted pairs {unknown} are not pairs of the feature map")
    bad = {k: v for k, v in planted.items() if v not in METHODS}
    if bad:
        raise ValueError(f"{source}: pairs {bad}: expected methods from {METHODS}")
    return {name: planted.get(name, "naive") for name in pair_names}


def oracle_architecture(truth_json: str | os.PathLike, feature_map_json: str | os.PathLike,
                        out_arch: str | os.PathLike) -> dict:
    """Write architecture.json (design.md format) holding the true method of every pair."""
    truth = _read(truth_json, "truth.json")
    fmap = _read(feature_map_json, "feature_map.json")
    names = [p["name"] for p in fmap["pairs"]]
    choices = truth_choices(truth, names, str(truth_json))
    pairs = [{"name": p["name"], "fields": list(p["fields"]),
              "probs": [float(m == choices[p["name"]]) for m in METHODS],
              "choice": choices[p["name"]]} for p in fmap["pairs"]]
    arch = {"dataset": fmap.get("dataset"), "seed": truth.get("seed"), "relaxation": "oracle",
            "temperature": None, "methods": list(METHODS), "pairs": pairs,
            "counts": {m: sum(c == m for c in choices.values()) for m in METHODS},
            "settings": {"source": str(truth_json)}}
    write_json(out_arch, arch)
    return arch


def recovery_scores(truth: Mapping[str, str], chosen: Mapping[str, str]) -> dict:
    """Per-method precision / recall / F1 of chosen methods against the truth, macro-F1 over the
    methods present in the truth, and the confusion counts truth -> chosen.

    Precision is None where a method was never chosen; its F1 is then 0 (if it has support).
    """
    if set(truth) != set(chosen):
        raise ValueError(f"pairs differ between truth and search: "
                         f"{sorted(set(truth) ^ set(chosen))[:5]}")
    confusion = {t: {c: 0 for c in METHODS} for t in METHODS}
    for name, t in truth.items():
        confusion[t][chosen[name]] += 1
    per = {}
    for m in METHODS:
        tp = confusion[m][m]
        support = sum(confusion[m].values())
        picked = sum(confusion[t][m] for t in METHODS)
        precision = tp / picked if picked else None
        recall = tp / support if support else None
        f1 = (2 * tp / (support + picked)) if support + picked else None
        per[m] = {"precision": precision, "recall": recall, "f1": f1, "support": support,
                  "chosen": picked}
    present = [per[m]["f1"] for m in METHODS if per[m]["support"]]
    return {"per_method": per, "macro_f1": float(np.mean(present)) if present else None,
            "confusion": confusion}


def separation_auc(truth: Mapping[str, str], arch_pairs: Sequence[Mapping]) -> float | None:
    """AUC of 1 - p(naive) for telling planted pairs from irrelevant ones: whether the search
    ranks the planted pairs first even where the argmax (Eq. 19) cannot mark a pair naive."""
    from optinter.data.demo import auc

    planted = np.array([truth[p["name"]] != "naive" for p in arch_pairs])
    score = np.array([1.0 - p["probs"][METHODS.index("naive")] for p in arch_pairs])
    return auc(planted, score)


def bayes_test_auc(truth: Mapping, raw_path: str | os.PathLike,
                   test_parquet: str | os.PathLike) -> float | None:
    """AUC of the generator's own logit on the test split: the ceiling any model can reach."""
    import pandas as pd
    import pyarrow.parquet as pq

    from optinter.data.demo import auc, oracle_logit

    test = pq.read_table(test_parquet, columns=["row_id", "label"]).to_pandas()
    raw = pd.read_csv(raw_path, sep="\t", header=None, dtype=str, keep_default_na=False,
                      na_filter=False)
    rows = raw.to_numpy()[test["row_id"].to_numpy()]
    if not np.array_equal(rows[:, 0].astype(int), test["label"].to_numpy()):
        raise ValueError(f"{test_parquet}: labels do not match {raw_path} at their row_id")
    return auc(test["label"].to_numpy(), oracle_logit(rows, truth))


def _case(data_root: Path, results_root: Path, size: int, seed: int,
          models: Sequence[str]) -> dict:
    case = case_name(size, seed)
    truth_path = data_root / case / "raw" / "truth.json"
    arch_path = results_root / case / "search" / "architecture.json"
    truth = _read(truth_path, "truth.json")
    arch = _read(arch_path, "architecture.json")
    chosen = {p["name"]: p["choice"] for p in arch["pairs"]}
    want = truth_choices(truth, list(chosen), str(truth_path))
    probs = {t: np.mean([p["probs"] for p in arch["pairs"] if want[p["name"]] == t], axis=0)
             for t in METHODS if any(v == t for v in want.values())}
    out = {"size": size, "seed": seed, "case": case, "planted": truth["pairs"],
           "recovery": recovery_scores(want, chosen),
           "separation_auc": separation_auc(want, arch["pairs"]),
           "mean_probs_by_truth": {t: [float(x) for x in v] for t, v in probs.items()},
           "missed": {n: {"truth": want[n], "chosen": chosen[n]} for n in want
                      if want[n] != "naive" and chosen[n] != want[n]},
           "test_auc": {}, "bayes_auc": truth.get("bayes_auc"),
           # the searched supernet itself, argmax-fixed, without re-train (None if not recorded)
           "supernet_test_auc": (arch.get("supernet") or {}).get("test_auc"),
           "search_settings": {k: (arch.get("settings") or {}).get(k) for k in
                               ("mode", "epochs", "best_epoch", "tau_decay_steps")}}
    for model in ["optinter", "oracle", *models]:
        res = _read(results_root / case / f"{model}.json", f"{model} result")
        out["test_auc"][model] = float(res["test_auc"])
    raw = data_root / case / "raw" / "train.txt"
    test = data_root / case / "processed" / "test.parquet"
    if raw.exists() and test.exists():
        out["bayes_test_auc"] = bayes_test_auc(truth, raw, test)
    return out


def _stat(values: Sequence[float | None]) -> dict:
    vals = [v for v in values if v is not None and not math.isnan(v)]
    m, s = mean_std(vals)
    return {"mean": None if math.isnan(m) else m, "std": None if math.isnan(s) else s,
            "n": len(vals)}


def _size_summary(cases: list[dict], models: Sequence[str], tolerance: float,
                  alpha: float) -> dict:
    by_model = {m: {c["seed"]: c["test_auc"][m] for c in cases} for m in cases[0]["test_auc"]}
    auc = {m: _stat(list(v.values())) for m, v in by_model.items()}
    tests = {}
    for other in ["oracle", *models]:
        t, p, n = paired_ttest(by_model["optinter"], by_model[other])
        diff = [by_model["optinter"][s] - by_model[other][s] for s in by_model["optinter"]]
        tests[f"optinter_vs_{other}"] = {"t": None if math.isnan(t) else t,
                                         "p": None if math.isnan(p) else p, "n": n,
                                         "mean_diff": float(np.mean(diff))}
    rec = {m: {k: _stat([c["recovery"]["per_method"][m][k] for c in cases])
               for k in ("precision", "recall", "f1")} for m in METHODS}

    def above(other: str) -> bool | None:
        key = f"optinter_vs_{other}"
        if key not in tests or tests[key]["p"] is None:
            return None
        return tests[key]["mean_diff"] > 0 and tests[key]["p"] < alpha

    gap = tests["optinter_vs_oracle"]["mean_diff"]
    f1 = _stat([c["recovery"]["macro_f1"] for c in cases])
    return {"seeds": [c["seed"] for c in cases],
            "macro_f1": f1,
            "separation_auc": _stat([c["separation_auc"] for c in cases]),
            "per_method": rec, "test_auc": auc, "ttests": tests,
            "bayes_test_auc": _stat([c.get("bayes_test_auc") for c in cases]),
            "supernet_test_auc": _stat([c.get("supernet_test_auc") for c in cases]),
            "goals": {"macro_f1_ge_0.8": f1["mean"] is not None and f1["mean"] >= 0.8,
                      f"auc_within_{tolerance}_of_oracle": abs(gap) <= tolerance,
                      "significantly_above_optinter_f": above("optinter_f"),
                      "significantly_above_fnn": above("fnn")}}


def summarise(sizes: Sequence[int], seeds: Sequence[int], models: Sequence[str],
              data_root: str | os.PathLike, results_root: str | os.PathLike,
              out_json: str | os.PathLike, settings: Mapping | None = None,
              tolerance: float = 0.003, alpha: float = 0.05) -> dict:
    """Collect every (size, seed) case into results/planted/recovery.json.

    `models` are the baselines compared with OptInter besides the oracle (e.g. optinter_m,
    optinter_f, fnn); t-tests are two-tailed, paired by seed, OptInter minus the other model.
    """
    data_root, results_root = Path(data_root), Path(results_root)
    cases = [_case(data_root, results_root, int(n), int(s), models)
             for n in sizes for s in seeds]
    by_size = {str(n): _size_summary([c for c in cases if c["size"] == int(n)], models,
                                     tolerance, alpha) for n in sizes}
    out = {"sizes": [int(n) for n in sizes], "seeds": [int(s) for s in seeds],
           "models": ["optinter", "oracle", *models], "by_size": by_size, "cases": cases,
           "settings": dict(settings or {}), "tolerance": tolerance, "alpha": alpha}
    write_json(out_json, out)
    return out
