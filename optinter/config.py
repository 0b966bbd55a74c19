"""Load and check config.yaml against workflow/schemas/config.schema.yaml.

The schema is the single description of every key; this module adds the checks a JSON schema
cannot express (cross references, fractions summing to 1) and fills in the schema's defaults,
so the Snakefile, tests and users all see the same validated dictionary.
"""

from __future__ import annotations

import copy
import functools
import math
import os
import warnings
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from optinter import paths

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "workflow" / "schemas" / "config.schema.yaml"

SOURCE_KINDS = ("path", "generate", "url", "kaggle", "splits")  # splits: per-split files only

# What a dataset gets for the keys it leaves out, per format: the paper's protocol (Sec. V-A:
# 80 % of the randomly shuffled data for training and validation, 20 % for testing; OOV
# thresholds 20 for Criteo, 5 for Avazu and iPinYou; Table IV's preset of that dataset), the
# values of the configured criteo / avazu / ipinyou entries. A key set explicitly wins; a
# given `split` replaces the default split as a whole (its fractions must sum to 1).
PAPER_SPLIT = {"train": 0.7, "valid": 0.1, "test": 0.2, "seed": 2022, "order": "shuffled"}
FORMAT_DEFAULTS = {
    "criteo": {"min_count": 20, "cross_min_count": 20, "split": PAPER_SPLIT, "hparams": "criteo"},
    "avazu": {"min_count": 5, "cross_min_count": 5, "split": PAPER_SPLIT, "hparams": "avazu"},
    "ipinyou": {"min_count": 5, "cross_min_count": 5, "split": PAPER_SPLIT, "hparams": "ipinyou"},
    # your own data (format table): Avazu's / iPinYou's thresholds, Table IV's Criteo column
    "table": {"min_count": 5, "cross_min_count": 5, "split": PAPER_SPLIT, "hparams": "criteo"},
}
TABLE_KEYS = ("label", "categorical", "numeric", "missing", "read")

# A pre-split source (source.splits: train / valid / test files, e.g. the reczoo/BARS splits)
# is not re-split: its default split takes the files as they are, with train.parquet in a seeded
# random order (the BARS files keep the raw time order within each file).
FILE_SPLIT = {"from": "files", "seed": 2022, "order": "shuffled"}

# Keys the schema no longer has but older configs still carry: dropped with a warning (not an
# error) so that those configs keep working. (section, key) -> why.
RETIRED = {
    ("train", "num_workers"): "nothing read it (the loader prefetches in one background "
                              "thread of the training process, not in worker processes)",
}


# What a run's `architecture` names (config runs.<name>.architecture) -> the model that can
# re-train it. A two-stage model needs its own search's: TWO_STAGE.
ARCHITECTURES = {"search": "optinter", "search_paper": "optinter", "search_validated": "optinter",
                 "search_random": "optinter",
                 "search_bilevel": "optinter", "search_autofis": "autofis", "oracle": "optinter"}
TWO_STAGE = {"autofis": "search_autofis"}


class ConfigError(ValueError):
    """A config.yaml problem, with the offending key path in the message."""


def load_schema(path: str | os.PathLike = SCHEMA_PATH) -> dict:
    """The schema as a fresh dict (callers may modify it)."""
    return copy.deepcopy(_read_schema(str(path)))


@functools.lru_cache(maxsize=4)
def _read_schema(path: str) -> dict:
    with open(path) as f:
        return yaml.safe_load(f)


def load(path: str | os.PathLike, schema_path: str | os.PathLike = SCHEMA_PATH) -> dict:
    """Read a YAML config file and return it validated, with defaults filled in."""
    path = Path(path)
    try:
        with open(path) as f:
            cfg = yaml.safe_load(f)
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown position"
        raise ConfigError(f"{path}: {where}: not valid YAML ({e.problem})") from None
    if not isinstance(cfg, dict):
        raise ConfigError(f"{path}: expected a mapping of keys at the top level")
    return validate(cfg, schema_path, origin=str(path))


def _key_path(parts) -> str:
    return ".".join(str(p) for p in parts) or "<top level>"


def _fill_defaults(value: Any, schema: dict, root: dict) -> None:
    """Insert the schema's `default`s into `value` (in place), following properties and $refs."""
    if "$ref" in schema:
        ref = schema["$ref"].removeprefix("#/").split("/")
        target = root
        for part in ref:
            target = target[part]
        _fill_defaults(value, target, root)
    if not isinstance(value, dict):
        return
    for key, sub in schema.get("properties", {}).items():
        if key not in value and "default" in sub:
            value[key] = copy.deepcopy(sub["default"])
        if key in value:
            _fill_defaults(value[key], sub, root)
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        for key, item in value.items():
            if key not in schema.get("properties", {}):
                _fill_defaults(item, extra, root)


def validate(cfg: dict, schema_path: str | os.PathLike = SCHEMA_PATH,
             origin: str = "config") -> dict:
    """Check `cfg` in place (filling defaults) and return it; raise ConfigError on any problem."""
    schema = _read_schema(str(schema_path))
    _drop_retired(cfg, origin)
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(cfg),
                    key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        lines = [f"{_key_path(e.absolute_path)}: {e.message}" for e in errors[:10]]
        raise ConfigError(f"{origin}: invalid configuration:\n  " + "\n  ".join(lines))
    defaulted = {name: apply_format_defaults(ds) for name, ds in cfg["datasets"].items()}
    _fill_defaults(cfg, schema, schema)
    added = add_planted(cfg)
    for name in added:
        defaulted[name] = apply_format_defaults(cfg["datasets"][name])
    _fill_defaults(cfg, schema, schema)
    _check_references(cfg, origin, defaulted)
    return cfg


def planted_name(size: int, seed: int, variant: str = "") -> str:
    """The dataset of one planted case (config `planted`: one per size x seed; a variant of
    `planted.variants` has its own cases)."""
    return f"planted_{variant + '_' if variant else ''}n{int(size)}_s{int(seed)}"


def planted_variants(cfg: dict) -> dict[str, dict]:
    """The planted configurations: "" (config `planted` itself) and each of
    `planted.variants` (a name -> overrides of `planted`, e.g. another `generate`)."""
    planted = cfg.get("planted") or {}
    base = {k: v for k, v in planted.items() if k != "variants"}
    out = {"": base} if base else {}
    for name, over in (planted.get("variants") or {}).items():
        out[name] = {**base, **over}
    return out


def planted_report(variant: str) -> str:
    """The folder of a planted configuration's report: results/planted[_variant]/."""
    return f"results/planted{'_' + variant if variant else ''}"


def planted_runs(planted: dict) -> dict[str, dict]:
    """The runs every planted case trains beside OptInter and the paper recipe: the oracle (the
    true architecture re-trained) and random1..N (uniformly random architectures)."""
    runs = {"oracle": {"model": "optinter", "architecture": "oracle", "label": "Oracle"}}
    for r in range(1, int(planted.get("random_architectures", 0)) + 1):
        runs[f"random{r}"] = {"model": "optinter", "architecture": "search_random", "draw": r,
                              "label": f"Random {r}"}
    return runs


def planted_models(planted: dict) -> list[str]:
    return ["optinter", "optinter_paper", "oracle", *planted["baselines"],
            *[n for n in planted_runs(planted) if n != "oracle"]]


def add_planted(cfg: dict) -> list[str]:
    """Add the planted cases to `datasets` (and their runs to `runs`) as ordinary generated
    datasets; names already configured are left as they are. Returns the names added."""
    added = []
    for variant, planted in planted_variants(cfg).items():
        added += _add_planted(cfg, planted, variant)
    return added


def _add_planted(cfg: dict, planted: dict, variant: str) -> list[str]:
    for name, run in planted_runs(planted).items():
        cfg["runs"].setdefault(name, run)
    added = []
    for size in planted["sizes"]:
        for seed in planted["seeds"]:
            name = planted_name(size, seed, variant)
            if name in cfg["datasets"]:
                continue
            cfg["datasets"][name] = {
                "format": planted["generate"].get("layout", "criteo"),
                "source": {"generate": {"rows": int(size), "seed": int(seed),
                                        **planted["generate"]}},
                "min_count": planted["min_count"], "cross_min_count": planted["cross_min_count"],
                "min_split_rows": planted["min_split_rows"], "split": dict(planted["split"]),
                "log_bucket": False, "hparams": planted["hparams"], "hp": dict(planted["hp"]),
                "search": copy.deepcopy(planted["search"]), "models": planted_models(planted),
                # each case's seed generates its data and seeds its searches and runs
                "seeds": [int(seed)]}
            added.append(name)
    return added


def apply_format_defaults(ds: dict) -> list[str]:
    """Fill a dataset's missing keys from FORMAT_DEFAULTS of its format (in place); return the
    keys filled in. Explicit settings win."""
    filled = []
    defaults = dict(FORMAT_DEFAULTS[ds["format"]])
    if isinstance(ds.get("source"), dict) and "splits" in ds["source"]:
        defaults["split"] = FILE_SPLIT
    for key, value in defaults.items():
        if key not in ds:
            ds[key] = copy.deepcopy(value)
            filled.append(key)
    return filled


def _drop_retired(cfg: dict, origin: str) -> None:
    for (section, key), why in RETIRED.items():
        part = cfg.get(section)
        if isinstance(part, dict) and key in part:
            del part[key]
            warnings.warn(f"{origin}: {section}.{key} is no longer a setting ({why}); it is "
                          f"ignored: remove it from the config", FutureWarning, stacklevel=3)


def _check_references(cfg: dict, origin: str, defaulted: dict | None = None) -> None:
    problems, defaulted = [], defaulted or {}
    if cfg["default_dataset"] not in cfg["datasets"]:
        problems.append(f"default_dataset: {cfg['default_dataset']!r} is not a key of datasets "
                        f"({', '.join(cfg['datasets'])})")
    for name, ds in cfg["datasets"].items():
        if ds["hparams"] not in cfg["hparams"]:
            why = (f" (the default of format {ds['format']}: set datasets.{name}.hparams)"
                   if "hparams" in defaulted.get(name, ()) else "")
            problems.append(f"datasets.{name}.hparams: {ds['hparams']!r} is not a key of hparams "
                            f"({', '.join(cfg['hparams'])}){why}")
        split, src = ds["split"], ds["source"]
        if "from" not in split:
            total = split["train"] + split["valid"] + split["test"]
            if not math.isclose(total, 1.0, abs_tol=1e-9):
                problems.append(f"datasets.{name}.split: train + valid + test = {total:g}, "
                                "expected 1")
        problems += _presplit_problems(name, src, split)
        problems += _path_problems(name, src)
        layout = (src.get("generate") or {}).get("layout", "criteo")
        if "generate" in src and ds["format"] != layout:
            problems.append(f"datasets.{name}.source.generate: the generator writes the "
                            f"{layout} layout, but format is {ds['format']!r}")
        problems += _table_problems(name, ds)
        if "logs" in src and "member" in src:
            problems.append(f"datasets.{name}.source: give either `member` or `logs`, not both")
    problems += _run_problems(cfg)
    planted = cfg.get("planted")
    if planted and planted["hparams"] not in cfg["hparams"]:
        problems.append(f"planted.hparams: {planted['hparams']!r} is not a key of hparams")
    if problems:
        raise ConfigError(f"{origin}: invalid configuration:\n  " + "\n  ".join(problems))


def _column_name(entry) -> str:
    return entry if isinstance(entry, str) else entry["name"]


def _table_problems(name: str, ds: dict) -> list[str]:
    """Format table's columns: each named once, the label not a feature, no reserved name,
    the pairs among the categorical columns (any format's pairs: two distinct columns, each
    pair once)."""
    out = []
    cats = [_column_name(c) for c in ds.get("categorical", [])]
    nums = list(ds.get("numeric", []))
    if ds["format"] != "table":
        out += [f"datasets.{name}.{key}: only format table declares its columns (format "
                f"{ds['format']} has its own)" for key in TABLE_KEYS if key in ds]
    else:
        seen: dict[str, int] = {}
        for col in [ds["label"], *nums, *cats]:
            seen[col] = seen.get(col, 0) + 1
        dup = [c for c, n in seen.items() if n > 1]
        if dup:
            out.append(f"datasets.{name}: column {dup[0]!r} is declared more than once (label, "
                       "numeric and categorical columns are distinct)")
        reserved = [c for c in (*nums, *cats) if c in ("row_id", "label")]
        if reserved:
            out.append(f"datasets.{name}: a feature column cannot be called {reserved[0]!r} "
                       "(raw.parquet's own row_id and label columns)")
        read = ds.get("read", {})
        if read.get("header") is False and not read.get("names"):
            out.append(f"datasets.{name}.read: header: false needs names (the file's columns "
                       "in order)")
    pairs = [tuple(p) for p in ds.get("pairs", [])]
    for i, (a, b) in enumerate(pairs):
        if a == b:
            out.append(f"datasets.{name}.pairs[{i}]: [{a}, {b}] crosses a column with itself")
        elif cats and not {a, b} <= set(cats):
            bad = next(c for c in (a, b) if c not in cats)
            out.append(f"datasets.{name}.pairs[{i}]: {bad!r} is not a categorical column "
                       f"({', '.join(cats)})")
    keys = [frozenset(p) for p in pairs]
    if len(set(keys)) != len(keys):
        out.append(f"datasets.{name}.pairs: a pair is listed twice")
    return out


def table_spec(ds: dict) -> dict | None:
    """What ingest needs of a `format: table` dataset (optinter.data.table.TableSpec), None
    for a built-in format."""
    if ds["format"] != "table":
        return None
    return {k: copy.deepcopy(ds[k]) for k in TABLE_KEYS if k in ds}


def field_min_counts(ds: dict) -> dict[str, int]:
    """The categorical columns of a `format: table` dataset with their own min_count."""
    return {c["name"]: int(c["min_count"]) for c in ds.get("categorical", [])
            if isinstance(c, dict) and "min_count" in c}


def _run_problems(cfg: dict) -> list[str]:
    """Every name of models / ablations is a run; a run's architecture fits its model."""
    out, runs = [], cfg["runs"]
    named = [("models", cfg["models"]), ("ablations", cfg["ablations"])]
    named += [(f"datasets.{n}.models", ds["models"]) for n, ds in cfg["datasets"].items()
              if "models" in ds]
    for key, names in named:
        for name in names:
            if name not in runs:
                out.append(f"{key}: {name!r} is not a key of runs (add runs.{name}: "
                           "{model: ..., architecture: ...})")
    for key, names in named[2:]:
        ds = cfg["datasets"][key.split(".")[1]]
        oracle = [n for n in names if runs.get(n, {}).get("architecture") == "oracle"]
        if oracle and "generate" not in ds["source"]:
            out.append(f"{key}: {oracle[0]!r} re-trains the oracle architecture, which only a "
                       "generated dataset (source.generate, with its truth.json) has")
    for name, run in runs.items():
        arch, model = run.get("architecture"), run["model"]
        if "pick" in run:
            out += _pick_problems(name, run, runs)
            continue
        if "draw" in run and arch != "search_random":
            out.append(f"runs.{name}.draw: only a random architecture (architecture: "
                       f"search_random) has draws, not {arch}")
        if arch is not None and ARCHITECTURES[arch] != model:
            out.append(f"runs.{name}.architecture: {arch} is an architecture of model "
                       f"{ARCHITECTURES[arch]!r}, not of {model!r}")
        need = TWO_STAGE.get(model, "search" if model == "optinter" else None)
        if arch is None and need is not None:
            out.append(f"runs.{name}: model {model} re-trains a searched architecture: set "
                       f"architecture (e.g. {need})")
    return out


def _pick_problems(name: str, run: dict, runs: dict) -> list[str]:
    """A picked run (optinter.pick) names candidate runs of its own model and trains nothing
    itself: its architecture, hp and draw are the candidates'."""
    out = [f"runs.{name}.{key}: a picked run trains nothing itself; set {key} on its "
           f"candidates (runs.{name}.pick)" for key in ("architecture", "hp", "draw") if key in run]
    for cand in run["pick"]:
        if cand not in runs:
            out.append(f"runs.{name}.pick: {cand!r} is not a key of runs")
        elif "pick" in runs[cand]:
            out.append(f"runs.{name}.pick: {cand!r} is itself picked; name its candidates")
        elif runs[cand]["model"] != run["model"]:
            out.append(f"runs.{name}.pick: {cand!r} trains model {runs[cand]['model']!r}, "
                       f"not {run['model']!r}")
    return out


def run_names(cfg: dict, dataset: str) -> list[str]:
    """The runs trained once per seed on `dataset`: its `models` (else the top-level list),
    then `ablations`."""
    own = cfg["datasets"][dataset].get("models", cfg["models"])
    return list(dict.fromkeys([*own, *cfg["ablations"]]))


def run_entry(cfg: dict, name: str) -> dict:
    """A run's `runs` entry with its name, as results JSONs and the tables carry it."""
    return {"name": name, **cfg["runs"][name]}


def run_hparams(cfg: dict, dataset: str, name: str) -> dict:
    """What run `name` trains with on `dataset`: its model's hyper-parameters
    (model_hparams), then the run's own `hp`."""
    run = cfg["runs"][name]
    return {**model_hparams(cfg, dataset, run["model"]), **run.get("hp", {})}


def _presplit_problems(name: str, src: dict, split: dict) -> list[str]:
    """A pre-split source and `split: {from: files}` go together; a split member needs an
    archive (its own `url` or the source's)."""
    out = []
    if "splits" not in src:
        if "from" in split:
            out.append(f"datasets.{name}.split: {{from: files}} needs source.splits (train, "
                       "valid and test files); give split fractions for a single source file")
        return out
    if "from" not in split:
        out.append(f"datasets.{name}.split: the source is pre-split (source.splits): set split "
                   "to {from: files, seed: ..., order: ...} (the files are the split), not fractions")
    for key in ("path", "generate", "kaggle", "member", "logs"):
        if key in src:
            out.append(f"datasets.{name}.source: `{key}` and `splits` exclude each other (give "
                       f"the files under splits.<train|valid|test>)")
    for part, entry in src["splits"].items():
        if "member" in entry and "url" not in entry and "url" not in src:
            out.append(f"datasets.{name}.source.splits.{part}.member: no archive to take it "
                       "from; set source.url (one archive of all splits) or the split's own url")
        if "path" in entry and len(entry) > 1:
            out.append(f"datasets.{name}.source.splits.{part}: `path` is read in place; drop "
                       f"{', '.join(sorted(set(entry) - {'path'}))}")
    return out


def _path_problems(name: str, src: dict) -> list[str]:
    """Every configured name that becomes a file name (optinter.paths): `member`, the last
    segment of each `url`, and the `logs` patterns; a `..` here once cleared data/raw."""
    out, where = [], f"datasets.{name}.source"
    entries = [(where, src)] + [(f"{where}.splits.{s}", e)
                                for s, e in src.get("splits", {}).items()]
    for key, entry in entries:
        if "member" in entry and (problem := paths.name_problem(entry["member"])):
            out.append(f"{key}.member: {entry['member']!r}: {problem}")
        if "url" in entry and (problem := paths.url_problem(entry["url"])):
            out.append(f"{key}.url: {entry['url']!r}: {problem}")
        elif "url" in entry:
            try:
                paths.url_file(entry["url"])
            except ValueError as e:
                out.append(f"{key}.url: {e}")
    for i, pattern in enumerate(src.get("logs", [])):
        if problem := paths.pattern_problem(pattern):
            out.append(f"{where}.logs[{i}]: {pattern!r}: {problem}")
    return out


def source_kind(ds: dict) -> str:
    """How a dataset's raw data is obtained: the first of path, generate, url, kaggle it names."""
    return next(kind for kind in SOURCE_KINDS if kind in ds["source"])


def preset_hparams(cfg: dict, preset: str, over: dict | None = None) -> dict:
    """The general row of hyper-parameter preset `preset` (without its per-model rows
    `models`), with `over` over it."""
    row = {k: v for k, v in cfg["hparams"][preset].items() if k != "models"}
    return {**row, **(over or {})}


def hparams(cfg: dict, dataset: str) -> dict:
    """The general row of the hyper-parameter preset a dataset names (model_hparams adds the
    per-model row of a model)."""
    return preset_hparams(cfg, cfg["datasets"][dataset]["hparams"])


def model_hparams(cfg: dict, dataset: str, model: str) -> dict:
    """What `model` (a registry name: optinter also for its searches) trains with on `dataset`:
    the preset's general row, its per-model row `models[model]` (a whole column of Table IV:
    e.g. OptInter's lr 1e-4 under hparams.criteo), the dataset's `hp`, the top-level
    models_hparams[model], then the dataset's own models_hparams[model] (only what differs
    from its preset)."""
    ds = cfg["datasets"][dataset]
    preset = cfg["hparams"][ds["hparams"]].get("models", {})
    own = ds.get("models_hparams", {})
    return {**hparams(cfg, dataset), **preset.get(model, {}), **ds.get("hp", {}),
            **cfg["models_hparams"].get(model, {}), **own.get(model, {})}


def search_settings(cfg: dict, dataset: str) -> dict:
    """The top-level `search` with the dataset's own `search` overrides."""
    return {**cfg["search"], **cfg["datasets"][dataset].get("search", {})}
