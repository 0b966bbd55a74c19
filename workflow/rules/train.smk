# search -> re-train, and every model of config `models` once per seed of config `seeds`.
# Training rules ask a cluster for a GPU (config resources.train_gpus); checkpoints live under
# data/checkpoints/ (not declared outputs, so a failed job keeps them and resumes).

TRAIN_RESOURCES = dict(
    mem_mb=res("train_mem_mb"),
    runtime=res("train_runtime"),
    gpu=res("train_gpus"),
)


rule search:
    input:
        **processed(),
    output:
        f"{RESULTS}/search/architecture.json",
    params:
        hp=hp,
        search=config["search"],
        train=config["train"],
        ckpt_dir=f"{CKPT}/search",
    log:
        "logs/search/{dataset}.log",
    benchmark:
        "benchmarks/search/{dataset}.tsv"
    threads: res("train_threads")
    resources:
        **TRAIN_RESOURCES,
    script:
        "../scripts/search.py"


# Search with another mode (Table VIII: random, bilevel) for the optinter_{mode} runs.
use rule search as search_mode with:
    output:
        f"{RESULTS}/search_{{mode}}/architecture.json",
    params:
        hp=hp,
        search=lambda wc: {**config["search"], "mode": wc.mode},
        train=config["train"],
        ckpt_dir=f"{CKPT}/search_{{mode}}",
    wildcard_constraints:
        mode="random|bilevel",
    log:
        "logs/search/{dataset}_{mode}.log",
    benchmark:
        "benchmarks/search/{dataset}_{mode}.tsv"


# results/{dataset}/{model}.json: one run at train.seed; for model `optinter` this is the
# re-train of the searched architecture (paper Alg. 2).
rule train_model:
    input:
        unpack(model_inputs),
    output:
        f"{RESULTS}/{{model}}.json",
    params:
        name=lambda wc: base_model(wc.model),
        hp=model_hp,
        train=config["train"],
        search=search_cfg,
        seed=config["train"]["seed"],
        ckpt_dir=f"{CKPT}/{{model}}/seed{config['train']['seed']}",
    log:
        "logs/train_model/{dataset}/{model}.log",
    benchmark:
        "benchmarks/train_model/{dataset}/{model}.tsv"
    threads: res("train_threads")
    resources:
        **TRAIN_RESOURCES,
    script:
        "../scripts/train_model.py"


use rule train_model as train_model_seed with:
    output:
        f"{RESULTS}/runs/{{model}}/seed{{seed}}.json",
    params:
        name=lambda wc: base_model(wc.model),
        hp=model_hp,
        train=config["train"],
        search=search_cfg,
        seed=lambda wc: int(wc.seed),
        ckpt_dir=f"{CKPT}/{{model}}/seed{{seed}}",
    log:
        "logs/train_model/{dataset}/{model}/seed{seed}.log",
    benchmark:
        "benchmarks/train_model/{dataset}/{model}/seed{seed}.tsv"
