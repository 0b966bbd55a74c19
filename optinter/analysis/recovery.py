"""Planted-structure benchmark: does the search recover the planted method of each pair, and how
close does OptInter come to the oracle (the same model re-trained with the true architecture)?

A case (one data size and seed) is the ordinary generated dataset ``planted_n{size}_s{seed}``
(optinter.config.add_planted) trained at that seed, so its files are where the workflow puts
any dataset's (``case_files``): ``{data_root}/raw/{case}/{train.txt,truth.json}``,
``{data_root}/processed/{case}/…``, ``{results_root}/{case}/{search,search_paper}/seed{s}/
architecture.json`` and ``{results_root}/{case}/runs/{model}/seed{s}.json`` (``oracle`` for the
oracle re-train).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from optinter.analysis import cost
from optinter.analysis.stats import mean_std, paired_ttest, tost_paired
from optinter.config import planted_name
from optinter.io import read_json, write_json

METHODS = ("memorize", "factorize", "naive")


def case_name(size: int, seed: int, variant: str = "") -> str:
    return planted_name(size, seed, variant)


# run -> the architecture folder it re-trains: the configured recipe, the paper's and, where
# a planted configuration lists it among its baselines, the validated recipe's
RECIPES = {"optinter": "search", "optinter_paper": "search_paper",
           "optinter_validated": "search_validated"}
ALWAYS = ("optinter", "optinter_paper")


def recipes_of(models: Sequence[str]) -> list[str]:
    return [m for m in RECIPES if m in ALWAYS or m in models]


def case_files(size: int, seed: int, models: Sequence[str], data_root: str | os.PathLike = "data",
               results_root: str | os.PathLike = "results", variant: str = "") -> dict:
    """Where one case's inputs of the report are: truth, raw, processed, train / test,
    architectures (one per recipe of RECIPES), runs (one per model), by path."""
    case, d, r = case_name(size, seed, variant), Path(data_root), Path(results_root)
    processed = d / "processed" / case
    return {"truth": str(d / "raw" / case / "truth.json"), "raw": str(d / "raw" / case / "train.txt"),
            "processed": str(processed), "test": str(processed / "test.parquet"),
            "train": str(processed / "train.parquet"),
            "architecture": {m: str(r / case / RECIPES[m] / f"seed{seed}" / "architecture.json")
                             for m in recipes_of(models)},
            "run": {m: str(r / case / "runs" / m / f"seed{seed}.json") for m in models}}


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
    import pyarrow.parquet as pq

    from optinter.data.demo import auc, oracle_logit, read_raw

    test = pq.read_table(test_parquet, columns=["row_id", "label"]).to_pandas()
    labels, rows = read_raw(raw_path, truth)
    labels, rows = labels[test["row_id"].to_numpy()], rows[test["row_id"].to_numpy()]
    if not np.array_equal(labels, test["label"].to_numpy()):
        raise ValueError(f"{test_parquet}: labels do not match {raw_path} at their row_id")
    return auc(test["label"].to_numpy(), oracle_logit(rows, truth))


def _recipe_scores(want: Mapping[str, str], arch: Mapping) -> dict:
    chosen = {p["name"]: p["choice"] for p in arch["pairs"]}
    planted = [n for n, t in want.items() if t != "naive"]
    memorize = [n for n, t in want.items() if t == "memorize"]
    irrelevant = [n for n, t in want.items() if t == "naive"]
    probs = {t: np.mean([p["probs"] for p in arch["pairs"] if want[p["name"]] == t], axis=0)
             for t in METHODS if any(v == t for v in want.values())}
    return {"recovery": recovery_scores(want, chosen),
            "separation_auc": separation_auc(want, arch["pairs"]),
            "counts": {m: sum(c == m for c in chosen.values()) for m in METHODS},
            "irrelevant_naive": float(np.mean([chosen[n] == "naive" for n in irrelevant])),
            "planted_kept": float(np.mean([chosen[n] != "naive" for n in planted])),
            "memorize_kept": all(chosen[n] != "naive" for n in memorize),
            "mean_probs_by_truth": {t: [float(x) for x in v] for t, v in probs.items()},
            "missed": {n: {"truth": want[n], "chosen": chosen[n]} for n in planted
                       if chosen[n] != want[n]},
            "selection": {k: (arch.get("selection") or {}).get(k) for k in ("k", "ranking", "grid", "grids", "flips", "argmax")}
            if arch.get("selection") else None}


def _constant_logloss(train_parquet: Path, test_parquet: Path) -> float | None:
    """Test log loss of predicting the train click rate for every row: a model worse than
    this has learnt nothing usable about the click probability."""
    import pyarrow.parquet as pq

    if not (train_parquet.exists() and test_parquet.exists()):
        return None
    p = float(np.mean(pq.read_table(train_parquet, columns=["label"])["label"].to_numpy()))
    y = pq.read_table(test_parquet, columns=["label"])["label"].to_numpy().astype(float)
    p = min(max(p, 1e-7), 1 - 1e-7)
    return float(-np.mean(y * math.log(p) + (1 - y) * math.log(1 - p)))


def _case(data_root: Path, results_root: Path, size: int, seed: int,
          models: Sequence[str], random: Sequence[str] = (), variant: str = "") -> dict:
    case = case_name(size, seed, variant)
    files = case_files(size, seed, [*ALWAYS, "oracle", *models, *random], data_root,
                       results_root, variant)
    truth_path = files["truth"]
    truth = _read(truth_path, "truth.json")
    recipes, want, runs = {}, None, {}
    for model, path in files["architecture"].items():
        path = Path(path)
        if model == "optinter" or path.exists():
            arch = _read(path, "architecture.json")
            if want is None:
                names = [p["name"] for p in arch["pairs"]]
                want = truth_choices(truth, names, str(truth_path))
            recipes[model] = _recipe_scores(want, arch)
            runs[model] = _read(files["run"][model], f"{model} result")
            # training samples, search and selection included (cost.py)
            recipes[model]["train_samples"] = cost.run_cost(runs[model], arch)
            if model == "optinter":
                first = arch
    paper_cost = recipes.get("optinter_paper", {}).get("train_samples")
    for r in recipes.values():
        r["cost_vs_paper"] = (r["train_samples"] / paper_cost
                              if paper_cost and r["train_samples"] is not None else None)
    out = {"size": size, "seed": seed, "case": case, "planted": truth["pairs"],
           **recipes["optinter"], "recipes": recipes,
           "test_auc": {}, "test_logloss": {}, "valid_auc": {}, "bayes_auc": truth.get("bayes_auc"),
           # the searched supernet itself, argmax-fixed, without re-train (None if not recorded)
           "supernet_test_auc": (first.get("supernet") or {}).get("test_auc"),
           "search_settings": {k: (first.get("settings") or {}).get(k) for k in
                               ("mode", "recipe", "epochs", "best_epoch", "tau_decay_steps")}}
    present = [m for m in RECIPES if m in recipes]
    for model in dict.fromkeys([*present, "oracle", *models, *random]):
        res = runs.get(model) or _read(files["run"][model], f"{model} result")
        for key in ("test_auc", "test_logloss", "valid_auc"):
            out[key][model] = float(res[key]) if res.get(key) is not None else math.nan
    if random:
        for key in ("test_auc", "test_logloss", "valid_auc"):
            out[key]["random_mean"] = float(np.mean([out[key][r] for r in random]))
    raw, test = Path(files["raw"]), Path(files["test"])
    if raw.exists() and test.exists():
        out["bayes_test_auc"] = bayes_test_auc(truth, raw, test)
    out["constant_test_logloss"] = _constant_logloss(Path(files["train"]), test)
    return out


def _stat(values: Sequence[float | None]) -> dict:
    vals = [v for v in values if v is not None and not math.isnan(v)]
    m, s = mean_std(vals)
    return {"mean": None if math.isnan(m) else m, "std": None if math.isnan(s) else s,
            "n": len(vals)}


def _ttests(by_model: Mapping[str, Mapping[int, float]], ours: str,
            others: Sequence[str], margin: float) -> dict:
    """Paired t-tests of `ours` minus each other model, with the TOST equivalence p-value at
    `margin` (p < alpha: equivalent within it)."""
    tests = {}
    for other in others:
        if other == ours or other not in by_model:
            continue
        t, p, n = paired_ttest(by_model[ours], by_model[other])
        eq, _ = tost_paired(by_model[ours], by_model[other], margin)
        diff = [by_model[ours][s] - by_model[other][s] for s in by_model[ours]]
        tests[f"{ours}_vs_{other}"] = {"t": None if math.isnan(t) else t,
                                       "p": None if math.isnan(p) else p, "n": n,
                                       "mean_diff": float(np.mean(diff)),
                                       "tost_p": None if math.isnan(eq) else eq}
    return tests


def _size_summary(cases: list[dict], models: Sequence[str], tolerance: float,
                  alpha: float) -> dict:
    by_model = {m: {c["seed"]: c["test_auc"][m] for c in cases} for m in cases[0]["test_auc"]}
    auc = {m: _stat(list(v.values())) for m, v in by_model.items()}
    others = list(dict.fromkeys(["oracle", *RECIPES, *models, "random_mean"]))
    tests = {}
    for ours in RECIPES:
        if ours in by_model and ours in cases[0]["recipes"]:
            tests.update(_ttests(by_model, ours, others, tolerance))
    recipes = {}
    for ours in RECIPES:
        if ours not in cases[0]["recipes"]:
            continue
        rc = [c["recipes"][ours] for c in cases]

        def above(other: str, ours=ours) -> bool | None:
            key = f"{ours}_vs_{other}"
            if key not in tests or tests[key]["p"] is None:
                return None
            return tests[key]["mean_diff"] > 0 and tests[key]["p"] < alpha

        gap = tests[f"{ours}_vs_oracle"]["mean_diff"]
        eq = tests[f"{ours}_vs_oracle"]["tost_p"]
        f1 = _stat([r["recovery"]["macro_f1"] for r in rc])
        naive = _stat([r["irrelevant_naive"] for r in rc])
        recipes[ours] = {
            "macro_f1": f1, "separation_auc": _stat([r["separation_auc"] for r in rc]),
            "irrelevant_naive": naive, "planted_kept": _stat([r["planted_kept"] for r in rc]),
            "counts": {m: _stat([r["counts"][m] for r in rc]) for m in METHODS},
            "train_samples": _stat([r.get("train_samples") for r in rc]),
            "cost_vs_paper": _stat([r.get("cost_vs_paper") for r in rc]),
            "per_method": {m: {k: _stat([r["recovery"]["per_method"][m][k] for r in rc])
                               for k in ("precision", "recall", "f1")} for m in METHODS},
            "goals": {"macro_f1_ge_0.8": f1["mean"] is not None and f1["mean"] >= 0.8,
                      f"auc_within_{tolerance}_of_oracle": abs(gap) <= tolerance,
                      f"equivalent_to_oracle_at_{tolerance}": eq is not None and eq < alpha,
                      "cost_le_2x_paper": all(r.get("cost_vs_paper") is not None
                                              and r["cost_vs_paper"] <= 2.0 for r in rc),
                      **{f"significantly_above_{o}": above(o)
                         for o in [*models, "random_mean"] if o in by_model},
                      "irrelevant_naive_ge_0.95": naive["mean"] is not None
                      and naive["mean"] >= 0.95,
                      "every_memorize_pair_kept": all(r["memorize_kept"] for r in rc)}}
    worse = {m: [c["seed"] for c in cases if c.get("constant_test_logloss") is not None
                 and not math.isnan(c["test_logloss"][m])
                 and c["test_logloss"][m] > c["constant_test_logloss"]]
             for m in cases[0]["test_logloss"] if m != "random_mean"}
    return {"seeds": [c["seed"] for c in cases],
            # headline recovery: the configured recipe (model optinter)
            "macro_f1": recipes["optinter"]["macro_f1"],
            "separation_auc": recipes["optinter"]["separation_auc"],
            "per_method": recipes["optinter"]["per_method"],
            "recipes": recipes, "test_auc": auc, "ttests": tests,
            "test_logloss": {m: _stat([c["test_logloss"][m] for c in cases])
                             for m in cases[0]["test_logloss"]},
            "constant_test_logloss": _stat([c.get("constant_test_logloss") for c in cases]),
            "worse_than_constant": {m: s for m, s in worse.items() if s},
            "bayes_test_auc": _stat([c.get("bayes_test_auc") for c in cases]),
            "supernet_test_auc": _stat([c.get("supernet_test_auc") for c in cases]),
            "goals": recipes["optinter"]["goals"]}


def summarise(sizes: Sequence[int], seeds: Sequence[int], models: Sequence[str],
              data_root: str | os.PathLike, results_root: str | os.PathLike,
              out_json: str | os.PathLike, settings: Mapping | None = None,
              tolerance: float = 0.005, alpha: float = 0.05,
              random: Sequence[str] = (), variant: str = "") -> dict:
    """Collect every (size, seed) case into results/planted/recovery.json.

    `models` are the baselines compared with OptInter besides the oracle (e.g. optinter_m,
    optinter_f, fnn), `random` the re-trains of random architectures (averaged per case as
    `random_mean`); t-tests are two-tailed, paired by seed, each recipe minus the other model.
    """
    data_root, results_root = Path(data_root), Path(results_root)
    cases = [_case(data_root, results_root, int(n), int(s), models, random, variant)
             for n in sizes for s in seeds]
    by_size = {str(n): _size_summary([c for c in cases if c["size"] == int(n)], models,
                                     tolerance, alpha) for n in sizes}
    out = {"sizes": [int(n) for n in sizes], "seeds": [int(s) for s in seeds],
           "models": [*RECIPES, "oracle", *models, *(["random_mean"] if random else [])],
           "random_architectures": len(random), "by_size": by_size, "cases": cases,
           "settings": dict(settings or {}), "tolerance": tolerance, "alpha": alpha,
           "variant": variant}
    write_json(out_json, out)
    return out


def report(sizes: Sequence[int], seeds: Sequence[int], models: Sequence[str],
           random: Sequence[str], data_root, results_root, out_json, out_fig,
           settings: Mapping | None = None, variant: str = "") -> dict:
    """recovery.json and its figure (recovery and test AUC against the data size)."""
    from optinter.analysis.figures import plot_recovery

    out = summarise(sizes, seeds, models, data_root, results_root, out_json, settings,
                    random=random, variant=variant)
    plot_recovery(out, out_fig)
    return out


def _ms(stat: Mapping | None, digits: int = 3) -> str:
    if not stat or stat.get("mean") is None:
        return "n/a"
    if stat.get("std") is None or stat.get("n", 0) < 2:
        return f"{stat['mean']:.{digits}f}"
    return f"{stat['mean']:.{digits}f} ± {stat['std']:.{digits}f}"


def markdown(out: Mapping) -> str:
    """recovery.json as the tables docs/planted.md quotes: per size, each recipe's choices,
    recovery and test AUC beside the oracle, the baselines and the random mean, then the
    paired t-tests and the goals."""
    lines = []
    for size, s in sorted(out["by_size"].items(), key=lambda kv: int(kv[0])):
        models = [m for m in out["models"] if m in s["test_auc"]]
        lines += [f"### {int(size):,} rows, seeds {', '.join(map(str, s['seeds']))}", "",
                  "| recipe | mem. / fact. / naive chosen | macro-F1 | separation AUC "
                  "| irrelevant naive | planted kept | test AUC | train samples | × paper |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for name, r in s["recipes"].items():
            counts = " / ".join(_ms(r["counts"][m], 1) for m in METHODS)
            samples = (r.get("train_samples") or {}).get("mean")
            lines.append(f"| {name} | {counts} | {_ms(r['macro_f1'])} | "
                         f"{_ms(r['separation_auc'])} | {_ms(r['irrelevant_naive'])} | "
                         f"{_ms(r['planted_kept'])} | {_ms(s['test_auc'].get(name), 4)} | "
                         f"{'n/a' if samples is None else f'{samples / 1e6:.2f}M'} | "
                         f"{_ms(r.get('cost_vs_paper'), 2)} |")
        lines += ["", "| model | test AUC | test log loss |", "|---|---|---|"]
        lines += [f"| {m} | {_ms(s['test_auc'][m], 4)} | {_ms(s['test_logloss'].get(m), 4)} |"
                  for m in models]
        lines.append(f"| (constant: train click rate) | | "
                     f"{_ms(s['constant_test_logloss'], 4)} |")
        lines += ["", f"| paired t-test | mean diff. | p | TOST p (±{out['tolerance']}) | n |",
                  "|---|---|---|---|---|"]
        for key, t in s["ttests"].items():
            p = "n/a" if t["p"] is None else f"{t['p']:.2g}"
            eq = "n/a" if t.get("tost_p") is None else f"{t['tost_p']:.2g}"
            lines.append(f"| {key.replace('_vs_', ' − ')} | {t['mean_diff']:+.4f} | {p} | "
                         f"{eq} | {t['n']} |")
        for name, r in s["recipes"].items():
            met = ", ".join(f"{g} {'yes' if v else ('n/a' if v is None else 'no')}"
                            for g, v in r["goals"].items())
            lines.append(f"\nGoals ({name}): {met}.")
        worse = s.get("worse_than_constant") or {}
        lines.append("\nTest log loss worse than the constant: "
                     + (", ".join(f"{m} (seeds {v})" for m, v in worse.items()) or "none")
                     + ".\n")
    return "\n".join(lines)


if __name__ == "__main__":  # python -m optinter.analysis.recovery results/planted/recovery.json
    import sys

    print(markdown(read_json(sys.argv[1])))
