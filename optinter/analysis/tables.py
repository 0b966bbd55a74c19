"""The paper's result tables (V, VI, VIII, IX) and Fig. 4, rebuilt from per-seed results JSONs.

Inputs are `results/{dataset}/runs/{name}/seed{seed}.json` (keys as `optinter.json`, see
docs/design.md) for the runs of `models` and `ablations`, and, for Table IX, the search stage's
`results/{dataset}/search/architecture.json`. What a run is comes from its config `runs` entry
(model, architecture, hp, label), which its JSON carries too: Table VIII takes the runs that
re-train search_random / search_bilevel, Fig. 4 those that set hp.s2; nothing is read from a
run's name or from files that were not named. Table V is required: a missing or malformed run
is an error naming the file. The other tables are optional ablations: when their runs are
absent they are skipped with a note in the index.
"""

from __future__ import annotations

import csv
import html
import io
import json
import math
import os
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from optinter.analysis import cost
from optinter.analysis.stats import mean_std, paired_ttest
from optinter.io import atomic_path

METHODS = ("memorize", "factorize", "naive")
NUMERIC_KEYS = ("test_auc", "test_logloss", "params")
SIGNIFICANCE = 0.005  # the paper stars improvements with p < 0.005

NAMES = {
    "lr": "LR", "fm": "FM", "poly2": "Poly2", "fnn": "FNN", "ipnn": "IPNN", "deepfm": "DeepFM",
    "pin": "PIN", "autofis": "AutoFIS", "optinter_m": "OptInter-M", "optinter_f": "OptInter-F",
    "optinter": "OptInter", "optinter_paper": "OptInter (paper recipe)",
    "optinter_random": "Random", "optinter_bilevel": "Bi-level",
}
CATEGORY = {
    "lr": "naive", "fnn": "naive", "fm": "factorized", "ipnn": "factorized",
    "deepfm": "factorized", "pin": "factorized", "optinter_f": "factorized",
    "poly2": "memorized", "optinter_m": "memorized", "autofis": "hybrid", "optinter": "hybrid", "optinter_paper": "hybrid",
}
OURS = "optinter"
TABLE8 = ("search_random", "search_bilevel")  # architectures of Table VIII's rows, in order
FIG4_MODELS = ("optinter", "optinter_m")
RUN_FIELDS = ("model", "architecture", "hp")  # what a results JSON's `run` must agree on

Run = dict[str, Any]
Runs = dict[int, Run]  # seed -> run


# ---------------------------------------------------------------- loading
def run_path(results_dir: Path, dataset: str, model: str, seed: int) -> Path:
    return Path(results_dir) / dataset / "runs" / model / f"seed{seed}.json"


def _finite(path: Path, run: Run, key: str) -> float:
    value = run.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{path}: field {key!r} must be a finite number, got {value!r}")
    return float(value)


def load_run(path: Path, seed: int | None = None, entry: Mapping | None = None) -> Run:
    """Read and check one results JSON; errors name the file and the offending field. With
    `entry` (the run's config `runs` entry), a JSON whose `run` says otherwise is refused: it
    was trained as another run (a stale file)."""
    path = Path(path)
    try:
        run = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON (line {exc.lineno}: {exc.msg})") from exc
    if not isinstance(run, dict):
        raise ValueError(f"{path}: expected a JSON object, got {type(run).__name__}")
    for key in NUMERIC_KEYS:
        _finite(path, run, key)
    for key in ("test_auc", "valid_auc"):
        if key in run and run[key] is not None and not 0.0 <= _finite(path, run, key) <= 1.0:
            raise ValueError(f"{path}: field {key!r} must lie in [0, 1], got {run[key]!r}")
    if seed is not None and "seed" in run and run["seed"] != seed:
        raise ValueError(f"{path}: field 'seed' is {run['seed']!r}, expected {seed} from the "
                         "file name")
    recorded = run.get("run")
    if entry is not None and isinstance(recorded, dict):
        for key in RUN_FIELDS:
            if recorded.get(key) != entry.get(key):
                raise ValueError(f"{path}: field 'run.{key}' is {recorded.get(key)!r}, but the "
                                 f"config's runs entry says {entry.get(key)!r}: the file is "
                                 "from another run (re-run it)")
    counts = run.get("architecture_counts")
    if counts is not None:
        if not isinstance(counts, dict) or any(
                not isinstance(counts.get(m), int) or counts[m] < 0 for m in METHODS):
            raise ValueError(f"{path}: field 'architecture_counts' must be null or map "
                             f"{list(METHODS)} to non-negative integers, got {counts!r}")
    return run


def load_runs(results_dir: Path, dataset: str, model: str, seeds: Iterable[int],
              entry: Mapping | None = None) -> tuple[Runs, list[Path]]:
    """The runs of `model` that exist for `seeds`, and the paths that are missing."""
    runs, missing = {}, []
    for seed in seeds:
        path = run_path(results_dir, dataset, model, seed)
        if path.is_file():
            runs[seed] = load_run(path, seed, entry)
        else:
            missing.append(path)
    return runs, missing


# ---------------------------------------------------------------- formatting
def _pm(mean: float, std: float, digits: int | None = 4) -> str:
    """`mean ± std` with fixed decimals; digits=None picks 4, or 6 for small values such as
    iPinYou's log loss (~0.0056), as the paper prints them."""
    if math.isnan(mean):
        return "n/a"
    if digits is None:
        digits = 4 if abs(mean) >= 0.01 else 6
    return f"{mean:.{digits}f}" if math.isnan(std) else f"{mean:.{digits}f} ± {std:.{digits}f}"


def human_count(n: float) -> str:
    """Parameter counts the way the paper prints them (0.5M, 13M, 1012M)."""
    if math.isnan(n):
        return "n/a"
    if n >= 1e7:
        return f"{n / 1e6:.0f}M"
    if n >= 1e5:
        return f"{n / 1e6:.1f}M".replace(".0M", "M") if n >= 1e6 else f"{n / 1e6:.2f}M"
    if n >= 1e3:
        return f"{n / 1e3:.1f}K"
    return f"{n:.0f}"


def _p(p: float) -> str:
    return "n/a" if math.isnan(p) else f"{p:.3g}"


def _counts_str(counts: Mapping[str, float] | None) -> str:
    if counts is None:
        return "-"
    return "[" + ",".join(f"{counts[m]:.0f}" if float(counts[m]).is_integer()
                          else f"{counts[m]:.1f}" for m in METHODS) + "]"


def markdown(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _csv(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if isinstance(v, float) and math.isnan(v) else v)
                         for k, v in row.items() if k in columns})
    return buf.getvalue()


# ---------------------------------------------------------------- summaries
def summarise(model: str, runs: Runs, entry: Mapping | None = None) -> dict[str, Any]:
    """Mean ± std over seeds of one model's runs; `entry` (its `runs` entry) names it."""
    entry = entry or {}
    base = entry.get("model", model)
    seeds = sorted(runs)
    auc_m, auc_s = mean_std([runs[s]["test_auc"] for s in seeds])
    ll_m, ll_s = mean_std([runs[s]["test_logloss"] for s in seeds])
    params = [runs[s]["params"] for s in seeds]
    counts = [runs[s].get("architecture_counts") for s in seeds]
    mean_counts = None
    if counts and all(c is not None for c in counts):
        mean_counts = {m: sum(c[m] for c in counts) / len(counts) for m in METHODS}
    costs = [runs[s].get("cost") for s in seeds]
    return {
        "model": model, "base": base,
        "name": entry.get("label") or NAMES.get(model) or NAMES.get(base, model),
        "category": entry.get("category") or CATEGORY.get(model) or CATEGORY.get(base, "other"),
        "n_seeds": len(seeds), "seeds": " ".join(map(str, seeds)),
        "test_auc_mean": auc_m, "test_auc_std": auc_s,
        "test_logloss_mean": ll_m, "test_logloss_std": ll_s,
        "params": (int(params[0]) if min(params) == max(params) else sum(params) / len(params)),
        "params_min": int(min(params)), "params_max": int(max(params)),
        "counts": mean_counts,
        # training samples, search and selection included (cost.py); NaN where not recorded
        "train_samples_mean": (sum(costs) / len(costs) if costs and None not in costs
                               else math.nan),
        "counts_vary": len({tuple(c[m] for m in METHODS) for c in counts if c}) > 1,
    }


def best_baseline(summaries: Mapping[str, dict]) -> str | None:
    """The baseline with the highest mean test AUC (the paper's comparison point): never a
    re-train of an OptInter search (the paper recipe, another recipe, an ablation), only
    other models (OptInter-M and -F are Table V's own baselines)."""
    others = [s for m, s in summaries.items() if m != OURS and s.get("base") != OURS]
    return max(others, key=lambda s: s["test_auc_mean"])["model"] if others else None


# ---------------------------------------------------------------- tables
TableOut = tuple[list[dict], list[str], str]  # csv rows, csv columns, markdown body


def table5(all_runs: Mapping[str, Runs], models: Sequence[str],
           entries: Mapping[str, Mapping] | None = None) -> tuple[TableOut, list[str]]:
    """Overall comparison: AUC, log loss, params; p-values of OptInter against the best baseline."""
    entries = entries or {}
    summaries = {m: summarise(m, all_runs[m], entries.get(m)) for m in models}
    notes = []
    best = best_baseline(summaries)
    for s in summaries.values():
        s.update(p_auc=math.nan, p_logloss=math.nan, n_pairs=0, compared_to="")
    if OURS in summaries and best is not None:
        ours = summaries[OURS]
        _, p_auc, n = paired_ttest({k: r["test_auc"] for k, r in all_runs[OURS].items()},
                                   {k: r["test_auc"] for k, r in all_runs[best].items()})
        _, p_ll, _ = paired_ttest({k: r["test_logloss"] for k, r in all_runs[OURS].items()},
                                  {k: r["test_logloss"] for k, r in all_runs[best].items()})
        ours.update(p_auc=p_auc, p_logloss=p_ll, n_pairs=n, compared_to=best)
        if n < 2:
            notes.append(f"Table V: only {n} seed(s) shared by {OURS} and {best}; no t-test.")
    else:
        notes.append("Table V: no p-value (needs both 'optinter' and at least one baseline).")
    columns = ["model", "name", "category", "n_seeds", "seeds", "test_auc_mean", "test_auc_std",
               "test_logloss_mean", "test_logloss_std", "params", "params_min", "params_max",
               "train_samples_mean", "compared_to", "n_pairs", "p_auc", "p_logloss"]
    md_rows = []
    for m in models:
        s = summaries[m]
        star = ""
        if m == OURS and s["p_auc"] < SIGNIFICANCE and best is not None \
                and s["test_auc_mean"] > summaries[best]["test_auc_mean"]:
            star = "*"
        label = s["name"] + (" (best baseline)" if m == best and OURS in summaries else "")
        md_rows.append([label, s["category"], _pm(s["test_auc_mean"], s["test_auc_std"]) + star,
                        _pm(s["test_logloss_mean"], s["test_logloss_std"], None),
                        human_count(s["params"]), human_count(s["train_samples_mean"]),
                        _p(s["p_auc"]), _p(s["p_logloss"])])
    body = markdown(["Model", "Category", "AUC", "Log loss", "Param.", "Train samples",
                     "p (AUC)", "p (log loss)"], md_rows)
    body += (f"\nMean ± sample std over seeds. p: two-tailed paired t-test (paired by seed) of "
             f"OptInter against the best baseline by mean AUC ({NAMES.get(best, best)}); "
             f"* marks p < {SIGNIFICANCE} with a higher AUC. Train samples: mean per seed of "
             f"the samples trained on (forward + backward), search and selection included.\n")
    return ([summaries[m] for m in models], columns, body), notes


def table6(summaries: Sequence[dict]) -> TableOut | None:
    """Method counts [memorize, factorize, naive] per model (mean over seeds where they vary)."""
    rows = [s for s in summaries if s["counts"] is not None]
    if not rows:
        return None
    out = [{"model": s["model"], "name": s["name"], **s["counts"], "n_seeds": s["n_seeds"],
            "varies_over_seeds": s["counts_vary"]} for s in rows]
    body = markdown(["Model", "[memorize, factorize, naive]", "seeds"],
                    [[s["name"], _counts_str(s["counts"]) + (" (mean)" if s["counts_vary"] else ""),
                      s["n_seeds"]] for s in rows])
    return out, ["model", "name", *METHODS, "n_seeds", "varies_over_seeds"], body


def table8(summaries: Mapping[str, dict], order: Sequence[str]) -> TableOut:
    """Search ablation: random architecture, bi-level search, OptInter's joint search."""
    rows = [summaries[m] for m in order if m in summaries]
    out = [{"model": s["model"], "name": s["name"], "n_seeds": s["n_seeds"],
            "test_auc_mean": s["test_auc_mean"], "test_auc_std": s["test_auc_std"],
            "test_logloss_mean": s["test_logloss_mean"], "test_logloss_std": s["test_logloss_std"],
            **(s["counts"] or {m: math.nan for m in METHODS}), "params": s["params"]} for s in rows]
    body = markdown(["Model", "AUC", "Log loss", "Arch [m,f,n]", "Param."],
                    [[s["name"], _pm(s["test_auc_mean"], s["test_auc_std"]),
                      _pm(s["test_logloss_mean"], s["test_logloss_std"], None),
                      _counts_str(s["counts"]), human_count(s["params"])] for s in rows])
    columns = ["model", "name", "n_seeds", "test_auc_mean", "test_auc_std", "test_logloss_mean",
               "test_logloss_std", *METHODS, "params"]
    return out, columns, body


def search_metrics(path: Path) -> dict[str, float] | None:
    """The supernet's own test metrics from architecture.json (`supernet`), if recorded."""
    if not Path(path).is_file():
        return None
    arch = json.loads(Path(path).read_text())
    metrics = arch.get("supernet")
    if not isinstance(metrics, dict):
        return None
    return {k: _finite(Path(path), metrics, k) for k in ("test_auc", "test_logloss")}


def table9(with_runs: Runs, without: Mapping[int, dict], name: str) -> TableOut:
    """Re-train ablation of one recipe on the same seeds: its re-trained model against its
    search's supernet fixed to the same architecture (the paper's argmax) without re-train."""
    seeds = sorted(set(with_runs) & set(without))
    out, md = [], []
    for key, label, digits in (("test_auc", "AUC", 4), ("test_logloss", "log loss", None)):
        w = {s: with_runs[s][key] for s in seeds}
        wo = {s: without[s][key] for s in seeds}
        (wm, ws), (om, os_) = mean_std(list(w.values())), mean_std(list(wo.values()))
        _, p, n = paired_ttest(w, wo)
        out.append({"metric": key, "with_retrain": wm, "with_retrain_std": ws,
                    "without_retrain": om, "without_retrain_std": os_, "n_seeds": n, "p": p})
        md.append([label, _pm(wm, ws, digits), _pm(om, os_, digits), _p(p)])
    body = markdown(["Metric", "w. re-train", "w.o. re-train", "p"], md)
    body += (f"\n{name} on seeds {' '.join(map(str, seeds))}: w. = its re-trained model, w.o. = "
             f"its search's supernet (best-epoch weights) fixed to the same argmax architecture, "
             f"evaluated on test; p: paired t-test by seed.\n")
    return out, ["metric", "with_retrain", "with_retrain_std", "without_retrain",
                 "without_retrain_std", "n_seeds", "p"], body


def fig4_points(series: Mapping[str, Runs], entries: Mapping[str, Mapping],
                base: Mapping[str, Runs]) -> list[dict]:
    """Trade-off points: the `series` runs (those whose entry sets hp.s2, of model optinter or
    optinter_m), plus the default-s2 runs of those models in `base`."""
    found: dict[tuple[str, int], Runs] = {}
    for name, runs in series.items():
        if runs:
            found[(entries[name]["model"], int(entries[name]["hp"]["s2"]))] = runs
    if not found:
        return []
    for model, runs in base.items():
        s2 = {((r.get("config") or {}).get("hp") or {}).get("s2") for r in runs.values()}
        if len(s2) == 1 and isinstance(k := s2.pop(), int) and (model, k) not in found:
            found[(model, k)] = runs
    points = []
    for (model, k), runs in sorted(found.items()):
        s = summarise(model, runs)
        points.append({"series": NAMES[model], "s2": k, "label": f"{NAMES[model]}({k})",
                       "params": s["params"], "test_auc_mean": s["test_auc_mean"],
                       "test_auc_std": s["test_auc_std"], "n_seeds": s["n_seeds"]})
    return points


def plot_fig4(points: Sequence[dict], out_png: Path, dataset: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4))
    for series in sorted({p["series"] for p in points}):
        pts = sorted((p for p in points if p["series"] == series), key=lambda p: p["params"])
        ax.errorbar([p["params"] for p in pts], [p["test_auc_mean"] for p in pts],
                    yerr=[0 if math.isnan(p["test_auc_std"]) else p["test_auc_std"] for p in pts],
                    marker="o", capsize=3, label=series)
        for p in pts:
            ax.annotate(p["label"], (p["params"], p["test_auc_mean"]), fontsize=7,
                        textcoords="offset points", xytext=(4, 4))
    ax.set_xscale("log")
    ax.set_xlabel("parameters")
    ax.set_ylabel("test AUC")
    ax.set_title(f"Fig. 4: parameters vs AUC ({dataset})")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out_png, dpi=120)
    plt.close(fig)


# ---------------------------------------------------------------- entry point
def html_page(title: str, body: str) -> str:
    """A standalone HTML page of a table's Markdown body (pipe tables and paragraphs): the
    form `snakemake --report` shows in its page (a CSV is only a download there)."""
    parts, table = [], []

    def flush() -> None:
        if not table:
            return
        cells = [[c.strip() for c in line.strip().strip("|").split("|")] for line in table
                 if not set(line.replace("|", "").strip()) <= {"-", ":"}]
        head, *rows = cells
        parts.append("<table>\n<thead><tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in head)
                     + "</tr></thead>\n<tbody>\n" + "".join(
                         "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>\n"
                         for row in rows) + "</tbody>\n</table>")
        table.clear()

    for line in body.splitlines():
        if line.lstrip().startswith("|"):
            table.append(line)
            continue
        flush()
        if line.strip():
            parts.append(f"<p>{html.escape(line.strip())}</p>")
    flush()
    style = ("body{font-family:sans-serif;font-size:14px;margin:1em}table{border-collapse:collapse}"
             "th,td{border:1px solid #ccc;padding:2px 8px;text-align:left}th{background:#eee}")
    return (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{html.escape(title)}"
            f"</title><style>{style}</style></head>\n<body>\n<h1>{html.escape(title)}</h1>\n"
            + "\n".join(parts) + "\n</body></html>\n")


def _write(out: Path, stem: str, title: str, table: TableOut, written: list[str]) -> None:
    rows, columns, body = table
    (out / f"{stem}.csv").write_text(_csv(rows, columns))
    (out / f"{stem}.md").write_text(f"# {title}\n\n{body}")
    (out / f"{stem}.html").write_text(html_page(title, body))
    written += [f"{stem}.csv", f"{stem}.md", f"{stem}.html"]


def build(results_dir: str | os.PathLike, dataset: str, models: Sequence[str],
          seeds: Sequence[int], out_dir: str | os.PathLike, ablations: Sequence[str] = (),
          runs: Mapping[str, Mapping] | None = None) -> dict[str, Any]:
    """Write Tables V, VI, VIII, IX and Fig. 4 (CSV + Markdown + HTML, PNG) into `out_dir`,
    atomically, from the runs of `models` (Table V) and `ablations` (the optional tables).

    `runs`: config `runs` entries by name (model, architecture, hp, label; a name without one
    is the model of that name). Only the runs named are read. Table V needs every (model,
    seed) run; the optional tables are skipped, with the reason recorded in
    `out_dir/README.md` and the returned dict, when their runs are not among the ablations.
    Table V's train samples and Table IX read the architecture.json each run re-trains
    (cost.architecture_file).
    """
    results_dir, models, seeds = Path(results_dir), list(models), [int(s) for s in seeds]
    if not models or not seeds:
        raise ValueError("tables.build: need at least one model and one seed")
    names = list(dict.fromkeys([*models, *ablations]))
    entries = {n: {"model": n, **((runs or {}).get(n) or {}), "name": n} for n in names}
    all_runs, missing = {}, []
    for name in names:
        all_runs[name], miss = load_runs(results_dir, dataset, name, seeds,
                                         entries[name] if runs and name in runs else None)
        missing += [m for m in miss if name in models]
        for seed, run in all_runs[name].items():
            run["cost"] = cost.load_run_cost(results_dir, dataset, entries[name], seed, run)
    if missing:
        listed = "\n  ".join(map(str, missing))
        raise FileNotFoundError(f"Table V needs a run for every model and seed; "
                                f"missing:\n  {listed}")

    t5, notes = table5(all_runs, models, entries)
    summaries = {s["model"]: s for s in t5[0]}
    written: list[str] = []
    skipped: dict[str, str] = {}
    with atomic_path(out_dir) as out:
        out.mkdir()
        _write(out, "table5", f"Table V: overall performance ({dataset})", t5, written)

        t6 = table6(t5[0])
        if t6 is None:
            skipped["table6"] = "no run records architecture_counts"
        else:
            _write(out, "table6", f"Table VI: methods per feature interaction ({dataset})", t6,
                   written)

        searches = {arch: next((n for n in names if entries[n]["model"] == OURS
                                and entries[n].get("architecture") == arch and all_runs[n]), None)
                    for arch in TABLE8}
        ablation = dict(summaries)
        for name in filter(None, searches.values()):
            ablation[name] = summarise(name, all_runs[name], entries[name])
        absent = [a for a, n in searches.items() if n is None]
        if len(absent) > 1 or OURS not in summaries:
            skipped["table8"] = ("no runs of " + " or ".join(absent) if OURS in summaries
                                 else f"'{OURS}' is not among the models")
        else:
            if absent:
                notes.append(f"Table VIII: no run re-trains {absent[0]}; row left out.")
            order = [*filter(None, searches.values()), OURS]
            _write(out, "table8", f"Table VIII: search algorithms ({dataset})",
                   table8(ablation, order), written)

        paper = next((n for n in names if entries[n]["model"] == OURS
                      and entries[n].get("architecture") == "search_paper" and all_runs[n]), None)
        without = {} if paper is None else {
            s: m for s in all_runs[paper]
            if (m := search_metrics(cost.architecture_file(results_dir, dataset, entries[paper], s)))}
        if paper is None:
            skipped["table9"] = "no run re-trains search_paper (the paper recipe)"
        elif not without:
            skipped["table9"] = (f"no {dataset}/search_paper/seed*/architecture.json records "
                                 f"the supernet's metrics")
        else:
            _write(out, "table9", f"Table IX: with vs without re-train ({dataset})",
                   table9(all_runs[paper], without, summaries[paper]["name"]
                          if paper in summaries else paper), written)

        series = {n: all_runs[n] for n in names if n not in (OURS, "optinter_m")
                  and entries[n]["model"] in FIG4_MODELS and "s2" in (entries[n].get("hp") or {})
                  and entries[n].get("architecture") in (None, "search")}
        base = {m: all_runs[m] for m in FIG4_MODELS if m in all_runs and all_runs[m]}
        points = fig4_points(series, entries, base)
        if not points:
            skipped["fig4"] = "no run of optinter or optinter_m sets hp.s2"
        else:
            body = markdown(["Model", "s2", "Param.", "AUC"],
                            [[p["label"], p["s2"], human_count(p["params"]),
                              _pm(p["test_auc_mean"], p["test_auc_std"])] for p in points])
            _write(out, "fig4_tradeoff", f"Fig. 4: parameters vs AUC ({dataset})",
                   (points, ["series", "s2", "label", "params", "test_auc_mean", "test_auc_std",
                             "n_seeds"], body), written)
            plot_fig4(points, out / "fig4_tradeoff.png", dataset)
            written.append("fig4_tradeoff.png")

        index = [f"# Tables for {dataset}", "", f"Seeds: {', '.join(map(str, seeds))}", "",
                 "Written: " + ", ".join(written), ""]
        index += [f"- skipped {name}: {why}" for name, why in skipped.items()]
        index += [f"- note: {n}" for n in notes]
        (out / "README.md").write_text("\n".join(index) + "\n")
    return {"written": written, "skipped": skipped, "notes": notes}
