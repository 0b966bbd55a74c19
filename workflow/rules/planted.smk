# Planted-structure benchmark (issue 7, docs/planted.md): for every data size and seed of config
# `planted`, generate a dataset whose true method per pair is known, preprocess it, run the
# search, re-train the searched architecture, re-train the true one (the oracle) and the
# baselines; then results/planted/recovery.json compares them.
#   snakemake results/planted/recovery.json --cores 2
# Layout (shared with optinter.analysis.recovery): data/planted/{case}/raw/{train.txt,truth.json},
# data/planted/{case}/processed/, results/planted/{case}/{search/architecture.json,<model>.json},
# with case = n{size}_s{seed}.

import re

from optinter.analysis.recovery import case_name

PLANTED = config["planted"]
PL_DATA = "data/planted/{case}"
PL_RES = "results/planted/{case}"
PL_CKPT = "data/checkpoints/planted/{case}"
PL_CASE = r"n\d+_s\d+"
PL_RANDOM = [f"random{r}" for r in range(1, int(PLANTED.get("random_architectures", 0)) + 1)]
# optinter: the configured recipe (search.recipe + planted.search); optinter_paper: the paper's
# argmax; random{r}: re-trains of uniformly random architectures (the paper's Table VIII control)
PL_MODELS = ["optinter", "optinter_paper", "oracle", *PLANTED["baselines"], *PL_RANDOM]
PL_SPLITS = ("train", "valid", "test")


def pl_size_seed(wc) -> tuple[int, int]:
    size, seed = re.fullmatch(r"n(\d+)_s(\d+)", wc.case).groups()
    return int(size), int(seed)


def pl_processed(wc=None) -> dict:
    files = {s: f"{PL_DATA}/processed/{s}.parquet" for s in PL_SPLITS}
    files["feature_map"] = f"{PL_DATA}/processed/feature_map.json"
    return files


def pl_hp(wc=None) -> dict:
    return {**config["hparams"][PLANTED["hparams"]], **PLANTED["hp"]}


def pl_search(wc) -> dict:
    # every case searches with its own seed, so seeds differ in data, split of work and noise
    return {**config["search"], **PLANTED["search"], "seed": pl_size_seed(wc)[1]}


def pl_train(wc) -> dict:
    return {**config["train"], "seed": pl_size_seed(wc)[1]}


def pl_model_inputs(wc) -> dict:
    files = pl_processed(wc)
    arch = {"optinter": "search", "optinter_paper": "search_paper"}.get(wc.pmodel)
    if arch:
        files["architecture"] = f"{PL_RES}/{arch}/architecture.json"
    elif wc.pmodel == "oracle":
        files["architecture"] = f"{PL_RES}/oracle_architecture.json"
    elif wc.pmodel.startswith("random"):
        files["architecture"] = f"{PL_RES}/search_{wc.pmodel}/architecture.json"
    return files


def pl_is_optinter(name: str) -> bool:
    return name in ("optinter", "optinter_paper", "oracle") or name.startswith("random")


rule planted_generate:
    output:
        raw=f"{PL_DATA}/raw/train.txt",
        truth=f"{PL_DATA}/raw/truth.json",
    params:
        size_seed=pl_size_seed,
        structure=PLANTED["generate"],
    wildcard_constraints:
        case=PL_CASE,
    log:
        "logs/planted/{case}/generate.log",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    conda:
        "../../envs/data.yaml"
    script:
        "../scripts/planted_generate.py"


rule planted_prepare:
    input:
        raw=rules.planted_generate.output.raw,
    output:
        **pl_processed(),
    params:
        min_count=PLANTED["min_count"],
        cross_min_count=PLANTED["cross_min_count"],
        min_split_rows=PLANTED["min_split_rows"],
        split=PLANTED["split"],
        duckdb=config["duckdb"],
        out_dir=f"{PL_DATA}/processed",
        work_dir=f"{PL_DATA}/interim",
    wildcard_constraints:
        case=PL_CASE,
    log:
        "logs/planted/{case}/prepare.log",
    threads: config["duckdb"]["threads"]
    resources:
        mem_mb=config["resources"]["data_mem_mb"],
        runtime=config["resources"]["data_runtime"],
    conda:
        "../../envs/data.yaml"
    script:
        "../scripts/planted_prepare.py"


rule planted_search_paper:
    input:
        **pl_processed(),
    output:
        f"{PL_RES}/search_paper/architecture.json",
    params:
        hp=pl_hp,
        search=lambda wc: {**pl_search(wc), "recipe": "paper"},
        train=pl_train,
        data_dir=f"{PL_DATA}/processed",
        ckpt_dir=f"{PL_CKPT}/search",
    wildcard_constraints:
        case=PL_CASE,
    log:
        "logs/planted/{case}/search_paper.log",
    benchmark:
        "benchmarks/planted/{case}/search_paper.tsv"
    threads: config["resources"]["train_threads"]
    resources:
        mem_mb=config["resources"]["train_mem_mb"],
        runtime=config["resources"]["train_runtime"],
        gpu=config["resources"]["train_gpus"],
    conda:
        "../../envs/train.yaml"
    script:
        "../scripts/planted_search.py"


# a random architecture per control run, seeded by the case and the run (no training)
use rule planted_search_paper as planted_search_random with:
    output:
        f"{PL_RES}/search_random{{r}}/architecture.json",
    params:
        hp=pl_hp,
        search=lambda wc: {**pl_search(wc), "mode": "random", "recipe": "paper",
                           "seed": 1000 * pl_size_seed(wc)[1] + int(wc.r)},
        train=pl_train,
        data_dir=f"{PL_DATA}/processed",
        ckpt_dir=f"{PL_CKPT}/search_random{{r}}",
    wildcard_constraints:
        case=PL_CASE,
        r=r"\d+",
    log:
        "logs/planted/{case}/search_random{r}.log",
    benchmark:
        "benchmarks/planted/{case}/search_random{r}.tsv"


rule planted_search:
    input:
        **pl_processed(),
        search=f"{PL_RES}/search_paper/architecture.json",
    output:
        f"{PL_RES}/search/architecture.json",
    params:
        hp=pl_hp,
        search=pl_search,
        train=pl_train,
        data_dir=f"{PL_DATA}/processed",
        ckpt_dir=f"{PL_CKPT}/search/select",
    wildcard_constraints:
        case=PL_CASE,
    log:
        "logs/planted/{case}/search.log",
    benchmark:
        "benchmarks/planted/{case}/search.tsv"
    threads: config["resources"]["train_threads"]
    resources:
        mem_mb=config["resources"]["train_mem_mb"],
        runtime=config["resources"]["train_runtime"],
        gpu=config["resources"]["train_gpus"],
    conda:
        "../../envs/train.yaml"
    script:
        "../scripts/select.py"


rule planted_oracle_architecture:
    input:
        truth=rules.planted_generate.output.truth,
        feature_map=f"{PL_DATA}/processed/feature_map.json",
    output:
        f"{PL_RES}/oracle_architecture.json",
    wildcard_constraints:
        case=PL_CASE,
    log:
        "logs/planted/{case}/oracle_architecture.log",
    threads: 1
    conda:
        "../../envs/analysis.yaml"
    script:
        "../scripts/planted_oracle_architecture.py"


# optinter = re-train of the searched architecture, oracle = re-train of the true one (both the
# "optinter" model), any other name = a registered baseline.
rule planted_train:
    input:
        unpack(pl_model_inputs),
    output:
        f"{PL_RES}/{{pmodel}}.json",
    params:
        name=lambda wc: "optinter" if pl_is_optinter(wc.pmodel) else wc.pmodel,
        hp=pl_hp,
        train=pl_train,
        search=pl_search,
        seed=lambda wc: pl_size_seed(wc)[1],
        data_dir=f"{PL_DATA}/processed",
        ckpt_dir=f"{PL_CKPT}/{{pmodel}}",
    wildcard_constraints:
        case=PL_CASE,
        pmodel="|".join(PL_MODELS),
    log:
        "logs/planted/{case}/{pmodel}.log",
    benchmark:
        "benchmarks/planted/{case}/{pmodel}.tsv"
    threads: config["resources"]["train_threads"]
    resources:
        mem_mb=config["resources"]["train_mem_mb"],
        runtime=config["resources"]["train_runtime"],
        gpu=config["resources"]["train_gpus"],
    conda:
        "../../envs/train.yaml"
    script:
        "../scripts/planted_train.py"


PL_CASES = [case_name(n, s) for n in PLANTED["sizes"] for s in PLANTED["seeds"]]


rule planted_recovery:
    input:
        truth=expand(f"{PL_DATA}/raw/truth.json", case=PL_CASES),
        arch=expand(f"{PL_RES}/{{search}}/architecture.json", case=PL_CASES,
                    search=["search", "search_paper"]),
        results=expand(f"{PL_RES}/{{pmodel}}.json", case=PL_CASES, pmodel=PL_MODELS),
        test=expand(f"{PL_DATA}/processed/test.parquet", case=PL_CASES),
    output:
        json="results/planted/recovery.json",
        fig=report(
            "results/planted/recovery_by_size.png",
            caption="../report/planted.rst",
            category="Planted benchmark",
        ),
    params:
        sizes=PLANTED["sizes"],
        seeds=PLANTED["seeds"],
        baselines=PLANTED["baselines"],
        random=PL_RANDOM,
        settings=lambda wc: {"planted": PLANTED, "search": {**config["search"], **PLANTED["search"]},
                             "hp": pl_hp(), "train": config["train"]},
    log:
        "logs/planted/recovery.log",
    threads: 1
    conda:
        "../../envs/analysis.yaml"
    script:
        "../scripts/planted_recovery.py"
