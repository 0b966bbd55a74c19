# Config validation, path templates, per-dataset lookups and the final target list.
# No modelling logic lives here: rules call functions of the optinter package.

import glob
import os
from pathlib import Path

from snakemake.exceptions import WorkflowError

import optinter.config as oconfig
from optinter.model.selection import RECIPE_KEYS
from optinter.model.shortlist import settings as shortlist_settings
import optinter.paths as opaths

try:
    oconfig.validate(config, origin="config.yaml (with --config/--configfile overrides)")
except oconfig.ConfigError as e:
    raise WorkflowError(str(e)) from None

REPO = Path(workflow.basedir)
RES = config["resources"]

RAW = "data/raw/{dataset}"
INTERIM = "data/interim/{dataset}"
PROCESSED = "data/processed/{dataset}"
RESULTS = "results/{dataset}"
CKPT = "data/checkpoints/{dataset}"
SPLITS = ("train", "valid", "test")


def _names(pred) -> str:
    """Regex alternation of the dataset names for which pred(dataset config) holds."""
    names = [n for n, ds in config["datasets"].items() if pred(ds)]
    return "|".join(names) if names else "(?!)"  # (?!) matches nothing


wildcard_constraints:
    dataset=_names(lambda ds: True),
    model="|".join(config["runs"]),  # only declared runs (config `runs`)
    seed=r"\d+",


def _by_source(kind: str, key: str | None = None) -> str:
    """Names of the datasets fetched by `kind` (and whose source has `key`)."""
    return _names(lambda ds: oconfig.source_kind(ds) == kind and (key is None or key in ds["source"]))


GENERATED = _by_source("generate")
DOWNLOADED = _by_source("url")
WITH_MEMBER = _by_source("url", "member")
WITH_LOGS = _by_source("url", "logs")
KAGGLE = _by_source("kaggle")
# Pre-split sources (source.splits: train / valid / test files, e.g. the reczoo/BARS splits)
PRESPLIT = _names(lambda ds: "splits" in ds["source"])
SPLIT_DOWNLOADED = _names(lambda ds: any("url" in e for e in ds["source"].get("splits", {}).values()))


def res(key: str):
    """A rule resource (or threads) from config `resources`, with the dataset's overrides."""
    return lambda wc: dcfg(wc).get("resources", {}).get(key, RES[key])


def train_mem_mb(model: str | None = None):
    """mem_mb of a training job (search: `model` optinter or autofis; else the run's model).
    resources.train_mem_mb: auto = optinter.model.memory's estimate for the job's model on the
    dataset's feature map (+15 %), known once feature_map.json exists (Snakemake shows <TBD>
    until the data stage wrote it); a number fixes it."""
    def mem(wc, input):
        fixed = res("train_mem_mb")(wc)
        if fixed != "auto":
            return fixed
        fm = input.feature_map
        if not os.path.exists(fm):  # Snakemake: evaluate again once the input exists
            raise FileNotFoundError(2, "not yet built", fm)
        from optinter.model import memory
        name = model or base_model(wc.model)
        params = model_hp(wc) if model is None else oconfig.model_hparams(config, wc.dataset, name)
        return memory.mem_mb(name, Path(fm).parent, params, config["train"],
                             search=model is not None,
                             search_cfg=oconfig.search_settings(config, wc.dataset))
    return mem


def train_resources(search_model: str | None = None) -> dict:
    """A training job's request; mem_mb from the memory estimate (common.smk train_mem_mb)."""
    return dict(mem_mb=train_mem_mb(search_model), runtime=res("train_runtime"),
                gpu=res("train_gpus"))


def dcfg(wc) -> dict:
    return config["datasets"][wc.dataset]


def src(wc) -> dict:
    return config["datasets"][wc.dataset]["source"]


def url_file(url: str) -> str:
    """File name a download is saved under: the last path segment of the URL, a plain file
    name (optinter.paths; config validation has refused any other already)."""
    try:
        return opaths.url_file(url)
    except ValueError as e:
        raise WorkflowError(str(e)) from None


def archive_path(wc) -> str:
    return f"data/raw/{wc.dataset}/download/{url_file(src(wc)['url'])}"


def split_entry(wc) -> dict:
    """One split's entry of a pre-split source (source.splits.<split>)."""
    return src(wc)["splits"][wc.split]


def split_archive(wc) -> str:
    """The archive a split's member comes out of: its own download, else the source's."""
    entry = split_entry(wc)
    if "url" in entry:
        return f"data/raw/{wc.dataset}/splits/{wc.split}/download/{url_file(entry['url'])}"
    return archive_path(wc)


def split_files(wc) -> list[str]:
    """The train, valid and test files of a pre-split source, in that order (ingest stacks them)."""
    out = []
    for split in SPLITS:
        entry = src(wc)["splits"][split]
        if "path" in entry:
            if not os.path.exists(entry["path"]):
                raise WorkflowError(
                    f"datasets.{wc.dataset}.source.splits.{split}.path: {entry['path']} does not "
                    f"exist (relative paths start at {os.getcwd()})")
            out.append(entry["path"])
        elif "member" in entry:
            out.append(f"data/raw/{wc.dataset}/splits/{split}/{entry['member']}")
        else:
            out.append(f"data/raw/{wc.dataset}/splits/{split}/download/{url_file(entry['url'])}")
    return out


def raw_source(wc) -> str | list[str]:
    """The raw input of ingest: a local path, a generated file, or what the fetch rules leave
    (for a pre-split source: its three files)."""
    ds, s = dcfg(wc), src(wc)
    if "splits" in s:
        return split_files(wc)
    kind = oconfig.source_kind(ds)
    if kind == "path":
        if not os.path.exists(s["path"]):
            # else Snakemake's MissingInputException, which names no config key
            raise WorkflowError(
                f"datasets.{wc.dataset}.source.path: {s['path']} does not exist (relative paths "
                f"start at {os.getcwd()}); set datasets.{wc.dataset}.source.path in config.yaml "
                "(or --config) to the raw file, or for iPinYou the folder of imp.*/clk.* logs")
        return s["path"]
    if kind == "generate":
        return f"data/raw/{wc.dataset}/train.txt"
    if kind == "kaggle" or "member" in s:
        return f"data/raw/{wc.dataset}/{s['member']}"
    if "logs" in s:
        return f"data/raw/{wc.dataset}/logs"
    return archive_path(wc)


# SQL files are rule inputs, so editing one re-runs the stage that executes it (and what
# follows). A file is claimed by the first stage whose name prefix it starts with; a file no
# stage claims is given to every data stage, which re-runs too much but never too little.
SQL_DIRS = {"data": REPO / "optinter/data/sql", "analysis": REPO / "optinter/analysis/sql"}
SQL_PREFIXES = {
    "ingest": ("ingest", "read", "criteo", "avazu", "ipinyou"),
    "vocab": ("vocab", "row_split", "split", "cross"),
    "encode": ("encode",),
    "shuffle": ("shuffle",),  # run by encode, for datasets with split.order: shuffled only
    "presplit": ("presplit",),  # ingest, vocab and encode of pre-split sources only
}


def sql_inputs(stage: str) -> list[str]:
    if stage == "mutual_info":
        return sorted(glob.glob(str(SQL_DIRS["analysis"] / "*.sql")))
    files = sorted(glob.glob(str(SQL_DIRS["data"] / "*.sql")))
    claimed = {f: next((s for s, pre in SQL_PREFIXES.items() if Path(f).name.startswith(pre)), None)
               for f in files}
    return [f for f, owner in claimed.items() if owner in (stage, None)]


def encode_sql(wc) -> list[str]:
    """SQL of the encode stage; the shuffle's only where the dataset shuffles, so that a
    source-ordered dataset's encode neither depends on it nor re-runs for it."""
    shuffled = dcfg(wc)["split"].get("order", "source") == "shuffled"
    return sorted(set(sql_inputs("encode") + (sql_inputs("shuffle") if shuffled else [])
                      + presplit_sql(wc)))


def presplit_sql(wc) -> list[str]:
    """The pre-split readers' SQL (sql/presplit_*.sql): inputs of ingest, vocab and encode of
    pre-split datasets only, so that the other datasets' inputs stay as they were."""
    return sql_inputs("presplit") if "splits" in src(wc) else []


def stage_sql(stage: str):
    """Input function: the stage's SQL files, plus the pre-split ones where they run."""
    return lambda wc: sql_inputs(stage) + presplit_sql(wc)


def processed(wc=None) -> dict:
    """The data -> model contract of one dataset (three Parquet splits + feature_map.json)."""
    files = {s: f"{PROCESSED}/{s}.parquet" for s in SPLITS}
    files["feature_map"] = f"{PROCESSED}/feature_map.json"
    if wc is not None:
        files = {k: v.format(dataset=wc.dataset) for k, v in files.items()}
    return files


def hp(wc) -> dict:
    """What the searches train with: model `optinter`'s hyper-parameters (Table IV's OptInter
    rows, e.g. lr_a), so that search and re-train read the same settings."""
    return oconfig.model_hparams(config, wc.dataset, "optinter")


# A run (config `runs`): a registered model, the architecture it re-trains and hp overrides.
# Runs are named in `models` / `ablations`; nothing here reads meaning out of a name.
# OptInter-M/F are the re-train network with one fixed method: of the search settings only the
# factorize table shapes them, so only it is passed (and only its change re-runs them).
FIXED_METHOD_MODELS = {"optinter_m", "optinter_f"}


def run_cfg(wc) -> dict:
    """The `runs` entry of the job's run, with its name (kept in its results JSON)."""
    return oconfig.run_entry(config, wc.model)


def base_model(model: str) -> str:
    """The registry name run `model` trains."""
    return config["runs"][model]["model"]


def architecture_of(wc) -> str | None:
    """The architecture.json a run re-trains, if any: a per-seed run re-trains the search of
    its own seed (so the spread over seeds includes the search's), the single run
    results/{dataset}/{model}.json the search at search.seed (AutoFIS's: at train.seed). A
    generated dataset's oracle is one file for every seed."""
    run = config["runs"][wc.model]
    arch = run.get("architecture")
    if arch is None:
        return None
    if arch == "oracle":
        return f"results/{wc.dataset}/oracle/architecture.json"
    from optinter.analysis.cost import own_search_folder

    parts = ["results", wc.dataset, arch]
    if "draw" in run:
        parts.append(f"draw{run['draw']}")
    if own := own_search_folder(oconfig.run_entry(config, wc.model)):
        parts.append(own)
    return Path(*parts, *seed_folder(wc), "architecture.json").as_posix()


# Runs picked on validation from candidate runs (runs.<name>.pick, optinter/pick.py): rule
# pick_run writes them; every other run is trained by train_model.
PICKED = [n for n, run in config["runs"].items() if "pick" in run]
PICKED_RE = "|".join(PICKED) or "(?!)"  # (?!) matches nothing


def pick_inputs(wc) -> dict:
    """The candidates' results JSONs and bundles, in the order of runs.<name>.pick."""
    runs = ["runs"] if "seed" in wc.keys() else []
    stems = [Path("results", wc.dataset, *runs, n, *seed_folder(wc)).as_posix()
             for n in config["runs"][wc.model]["pick"]]
    return {"candidates": [f"{s}.json" for s in stems], "bundles": [f"{s}.model" for s in stems]}


def search_seed_cfg(wc) -> dict:
    """The search settings of one search job (the dataset's: top-level `search` with its own
    overrides): a seed{s} folder searches with seed s."""
    cfg = oconfig.search_settings(config, wc.dataset)
    if "seed" in wc.keys():
        cfg["seed"] = int(wc.seed)
    return cfg


def paper_search_cfg(wc) -> dict:
    """The paper search's settings: the supernet's, recipe paper (the other recipes' settings
    do not change it)."""
    cfg = {k: v for k, v in search_seed_cfg(wc).items() if k not in RECIPE_KEYS}
    return {**cfg, "recipe": "paper"}


def draw_search_cfg(wc) -> dict:
    """A random architecture's draw n: seeded 1000 x (seed) + n, so draws and seeds differ."""
    cfg = search_seed_cfg(wc)
    return {**cfg, "mode": "random", "recipe": "paper",
            "seed": 1000 * int(cfg["seed"]) + int(wc.draw)}


def seed_folder(wc) -> list[str]:
    """The per-seed folder of a job's paths: ["seed{s}"] for a seed{s} job, [] otherwise."""
    return [f"seed{wc.seed}"] if "seed" in wc.keys() else []


def selection_inputs(wc) -> dict:
    """The inputs of the decision (rule search), the paper search's architecture, and with the
    shortlist recipe its shortlist and every finalist's fit."""
    tail = seed_folder(wc)
    paper = Path("results", wc.dataset, "search_paper", *tail)
    search = Path("results", wc.dataset, "search", *tail)
    files = {**processed(wc), "search": (paper / "architecture.json").as_posix()}
    cfg = search_seed_cfg(wc)
    if cfg.get("recipe") == "shortlist":
        n = int(shortlist_settings(cfg)["finalists"])
        files["shortlist"] = (search / "shortlist.json").as_posix()
        files["scan"] = (search / "scan.json").as_posix()
        files["finalists"] = [(search / "finalists" / f"f{i}.json").as_posix()
                              for i in range(n)]
    return files


def finalist_inputs(wc) -> dict:
    """A finalist's inputs: the screen (shortlist) and the scan."""
    tail = seed_folder(wc)
    search = Path("results", wc.dataset, "search", *tail)
    files = {**processed(wc), "shortlist": (search / "shortlist.json").as_posix(),
             "scan": (search / "scan.json").as_posix()}
    # the paper recipe's re-train measures the budget of training samples
    paper = next((n for n, r in config["runs"].items() if r.get("model") == "optinter"
                  and r.get("architecture") == "search_paper" and "hp" not in r), None)
    if paper is not None:
        run = (Path("results", wc.dataset, "runs", paper, f"seed{wc.seed}.json") if tail
               else Path("results", wc.dataset, f"{paper}.json"))
        files["paper_run"] = run.as_posix()
    return files


def finalist_hp(wc) -> dict:
    """A finalist fits as run `optinter` re-trains (so its fit can be that re-train)."""
    return oconfig.run_hparams(config, wc.dataset, "optinter")


def finalist_search_cfg(wc) -> dict:
    """The dataset's search settings: the recipe's for the finalist, the rest as run
    `optinter` passes them to its model (search_cfg of that run, seed included)."""
    return oconfig.search_settings(config, wc.dataset)


def search_ckpt(wc) -> str:
    """Supernet checkpoints, shared by the paper and validated recipes of one seed."""
    tail = seed_folder(wc)
    return Path("data", "checkpoints", wc.dataset, "search", *tail).as_posix()


def model_hp(wc) -> dict:
    """The run's hyper-parameters: the dataset's preset with its model's models_hparams (top
    level, then the dataset's), then the run's `hp` (optinter.config.run_hparams)."""
    return oconfig.run_hparams(config, wc.dataset, wc.model)


def model_inputs(wc) -> dict:
    files = processed(wc)
    if arch := architecture_of(wc):
        files["architecture"] = arch
    return files


def search_cfg(wc) -> dict | None:
    """The search settings a model depends on: all for OptInter re-trains, else none."""
    name = base_model(wc.model)
    search = oconfig.search_settings(config, wc.dataset)
    if name == "optinter":
        # the decision's settings shape no model: changing them re-runs the decisions only
        return {k: v for k, v in search.items() if k not in RECIPE_KEYS}
    if name in FIXED_METHOD_MODELS:
        return {"factorize_table": search["factorize_table"]}
    return None


def predict_input(wc) -> str:
    """The raw file configured as datasets.<dataset>.predict.<name> (rule predict)."""
    files = dcfg(wc).get("predict", {})
    if wc.name not in files:
        raise WorkflowError(
            f"datasets.{wc.dataset}.predict.{wc.name} is not set: name the raw file to score "
            f"there (configured: {sorted(files) or 'none'}), or run python -m optinter.predict "
            f"MODEL INPUT OUT on it")
    if not os.path.exists(files[wc.name]):
        raise WorkflowError(f"datasets.{wc.dataset}.predict.{wc.name}: {files[wc.name]} does "
                            f"not exist (relative paths start at {os.getcwd()})")
    return files[wc.name]


def models(dataset: str) -> list[str]:
    """The dataset's `models` if it sets them, else the top-level list."""
    return config["datasets"][dataset].get("models", config["models"])


def seeds(dataset: str) -> list[int]:
    """The dataset's `seeds` if it sets them, else the top-level list."""
    return config["datasets"][dataset].get("seeds", config["seeds"])


def run_models(dataset: str) -> list[str]:
    """Runs trained once per seed: `models` plus the `ablations` behind Tables VIII-IX."""
    return oconfig.run_names(config, dataset)


def run_architectures(wc) -> list[str]:
    """The architecture.json of every run and seed the tables read (optinter.analysis.cost)."""
    from optinter.analysis.cost import architecture_file

    files = {str(architecture_file("results", wc.dataset, oconfig.run_entry(config, m), s))
             for m in run_models(wc.dataset) for s in seeds(wc.dataset)
             if config["runs"][m].get("architecture")}
    return sorted(files)


def duckdb_cfg() -> dict:
    return config["duckdb"]


def final_outputs(dataset: str) -> list[str]:
    """Everything `snakemake` builds for one dataset: re-train, baselines, tables, MI figures."""
    return [
        f"results/{dataset}/optinter.json",
        f"results/{dataset}/tables",
        f"results/{dataset}/analysis/mutual_info.json",
        f"results/{dataset}/analysis/fig5_mi_by_method.png",
        f"results/{dataset}/analysis/fig6_mi_heatmap.png",
    ]


# The planted benchmark's cases (workflow/rules/planted.smk, docs/planted.md): config
# `planted` ("") and each of planted.variants.
PL_VARIANTS = oconfig.planted_variants(config)


def pl_variant(wc) -> str:
    return wc.get("variant", "")


def planted_case_files(wc, kind: str) -> list[str]:
    """One file per case of the layout optinter.analysis.recovery reads (recovery.case_files),
    for the rule's planted configuration."""
    from optinter.analysis.recovery import case_files

    variant = pl_variant(wc)
    pl = PL_VARIANTS[variant]
    out = []
    for size in pl["sizes"]:
        for seed in pl["seeds"]:
            f = case_files(size, seed, oconfig.planted_models(pl), variant=variant)[kind]
            out += list(f.values()) if isinstance(f, dict) else [f]
    return out


def planted_params(wc) -> dict:
    """What the recovery report of the rule's planted configuration is told."""
    variant = pl_variant(wc)
    pl = PL_VARIANTS[variant]
    return {"sizes": pl["sizes"], "seeds": pl["seeds"], "baselines": pl["baselines"],
            "random": [n for n, run in oconfig.planted_runs(pl).items() if "draw" in run],
            "variant": variant,
            "settings": {"planted": pl, "search": {**config["search"], **pl["search"]},
                         "hp": oconfig.preset_hparams(config, pl["hparams"], pl["hp"]),
                         "train": config["train"]}}
