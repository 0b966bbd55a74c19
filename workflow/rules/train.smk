# search -> re-train, and every model of config `models` once per seed of config `seeds`.
# Training rules ask a cluster for a GPU (config resources.train_gpus); checkpoints live under
# data/checkpoints/ (not declared outputs, so a failed job keeps them and resumes).

# The paper's search (Alg. 1, argmax per pair): results/{dataset}/search_paper/, re-trained
# as model optinter_paper. rule search then decides the architecture that model `optinter`
# re-trains with config search.recipe (paper: the same file; validated: from its ranking, on
# validation data). A seed{s} folder is the same with search seed s (the per-seed runs).
rule search_paper:
    input:
        **processed(),
    output:
        f"{RESULTS}/search_paper/architecture.json",
        weights=f"{RESULTS}/search_paper/supernet.pt",
    params:
        hp=hp,
        search=paper_search_cfg,
        train=config["train"],
        ckpt_dir=search_ckpt,
    log:
        "logs/search_paper/{dataset}.log",
    benchmark:
        "benchmarks/search_paper/{dataset}.tsv"
    threads: res("train_threads")
    resources:
        **train_resources("optinter"),
    conda:
        "../../envs/train.yaml"
    script:
        "../scripts/search.py"


use rule search_paper as search_paper_seed with:
    output:
        f"{RESULTS}/search_paper/seed{{seed}}/architecture.json",
        weights=f"{RESULTS}/search_paper/seed{{seed}}/supernet.pt",
    log:
        "logs/search_paper/{dataset}/seed{seed}.log",
    benchmark:
        "benchmarks/search_paper/{dataset}/seed{seed}.tsv"


# search.recipe shortlist: every pair is screened in the paper search's supernet (rule
# shortlist) and scanned (rule scan); the finalists, each re-trained by its own job (in
# parallel under --cores and on SLURM), come from both, then rule search picks.
rule shortlist:
    input:
        **processed(),
        search=f"{RESULTS}/search_paper/architecture.json",
        weights=f"{RESULTS}/search_paper/supernet.pt",
    output:
        f"{RESULTS}/search/shortlist.json",
    params:
        hp=hp,
        search=search_seed_cfg,
        train=config["train"],
    log:
        "logs/shortlist/{dataset}.log",
    benchmark:
        "benchmarks/shortlist/{dataset}.tsv"
    threads: res("train_threads")
    resources:
        **train_resources("optinter"),  # bounded by the supernet's estimate
    conda:
        "../../envs/train.yaml"
    script:
        "../scripts/shortlist.py"


use rule shortlist as shortlist_seed with:
    input:
        **processed(),
        search=f"{RESULTS}/search_paper/seed{{seed}}/architecture.json",
        weights=f"{RESULTS}/search_paper/seed{{seed}}/supernet.pt",
    output:
        f"{RESULTS}/search/seed{{seed}}/shortlist.json",
    log:
        "logs/shortlist/{dataset}/seed{seed}.log",
    benchmark:
        "benchmarks/shortlist/{dataset}/seed{seed}.tsv"


# The pair scan: every pair factorized with vectors of its own (optinter/model/pairscan.py),
# within the training samples of the paper search it follows.
rule scan:
    input:
        **processed(),
        search=f"{RESULTS}/search_paper/architecture.json",
    output:
        f"{RESULTS}/search/scan.json",
    params:
        hp=finalist_hp,
        search=finalist_search_cfg,
        train=config["train"],
        seed=config["train"]["seed"],
        ckpt_dir=f"{CKPT}/search/scan",
    log:
        "logs/scan/{dataset}.log",
    benchmark:
        "benchmarks/scan/{dataset}.tsv"
    threads: res("train_threads")
    resources:
        **train_resources("optinter"),  # bounded by the supernet's estimate
    conda:
        "../../envs/train.yaml"
    script:
        "../scripts/scan.py"


use rule scan as scan_seed with:
    input:
        **processed(),
        search=f"{RESULTS}/search_paper/seed{{seed}}/architecture.json",
    output:
        f"{RESULTS}/search/seed{{seed}}/scan.json",
    params:
        hp=finalist_hp,
        search=finalist_search_cfg,
        train=config["train"],
        seed=lambda wc: int(wc.seed),
        ckpt_dir=f"{CKPT}/search/seed{{seed}}/scan",
    log:
        "logs/scan/{dataset}/seed{seed}.log",
    benchmark:
        "benchmarks/scan/{dataset}/seed{seed}.tsv"


# One finalist's fit, with the hp, search settings and seed of the run that re-trains the
# decided architecture (run `optinter`): the winner's checkpoints are that run's. f0 is the
# union of the screen and the scan, f1 the scan's pairs alone; they do not wait for each other.
rule finalist:
    input:
        unpack(finalist_inputs),
    output:
        f"{RESULTS}/search/finalists/f{{index}}.json",
    params:
        hp=finalist_hp,
        search=finalist_search_cfg,
        train=config["train"],
        seed=config["train"]["seed"],
        index=lambda wc: int(wc.index),
        ckpt_dir=f"{CKPT}/search/finalists/f{{index}}",
    wildcard_constraints:
        index=r"\d+",
    log:
        "logs/finalist/{dataset}/f{index}.log",
    benchmark:
        "benchmarks/finalist/{dataset}/f{index}.tsv"
    threads: res("train_threads")
    resources:
        **train_resources("optinter"),  # bounded by the supernet's estimate
    conda:
        "../../envs/train.yaml"
    script:
        "../scripts/finalist.py"


use rule finalist as finalist_seed with:
    output:
        f"{RESULTS}/search/seed{{seed}}/finalists/f{{index}}.json",
    params:
        hp=finalist_hp,
        search=finalist_search_cfg,
        train=config["train"],
        seed=lambda wc: int(wc.seed),
        index=lambda wc: int(wc.index),
        ckpt_dir=f"{CKPT}/search/seed{{seed}}/finalists/f{{index}}",
    log:
        "logs/finalist/{dataset}/seed{seed}/f{index}.log",
    benchmark:
        "benchmarks/finalist/{dataset}/seed{seed}/f{index}.tsv"


rule search:
    input:
        unpack(selection_inputs),
    output:
        f"{RESULTS}/search/architecture.json",
    params:
        hp=hp,
        search=search_seed_cfg,
        train=config["train"],
        ckpt_dir=lambda wc: f"{search_ckpt(wc)}/select",
    log:
        "logs/search/{dataset}.log",
    benchmark:
        "benchmarks/search/{dataset}.tsv"
    threads: res("train_threads")
    resources:
        **train_resources("optinter"),
    conda:
        "../../envs/train.yaml"
    script:
        "../scripts/select.py"


use rule search as search_seed with:
    output:
        f"{RESULTS}/search/seed{{seed}}/architecture.json",
    log:
        "logs/search/{dataset}/seed{seed}.log",
    benchmark:
        "benchmarks/search/{dataset}/seed{seed}.tsv"


# The validated recipe's decision whatever search.recipe says (run optinter_validated), to
# compare the recipes on the same searches.
use rule search as search_validated with:
    input:
        **processed(),
        search=f"{RESULTS}/search_paper/architecture.json",
    output:
        f"{RESULTS}/search_validated/architecture.json",
    params:
        hp=hp,
        search=lambda wc: {**search_seed_cfg(wc), "recipe": "validated"},
        train=config["train"],
        ckpt_dir=lambda wc: f"{search_ckpt(wc)}/select",
    log:
        "logs/search_validated/{dataset}.log",
    benchmark:
        "benchmarks/search_validated/{dataset}.tsv"


use rule search_validated as search_validated_seed with:
    input:
        **processed(),
        search=f"{RESULTS}/search_paper/seed{{seed}}/architecture.json",
    output:
        f"{RESULTS}/search_validated/seed{{seed}}/architecture.json",
    log:
        "logs/search_validated/{dataset}/seed{seed}.log",
    benchmark:
        "benchmarks/search_validated/{dataset}/seed{seed}.tsv"


# Search with another mode (Table VIII: random, bilevel) for the optinter_{mode} runs.
use rule search_paper as search_mode with:
    output:
        f"{RESULTS}/search_{{mode}}/architecture.json",
    params:
        hp=hp,
        search=lambda wc: {**search_seed_cfg(wc), "mode": wc.mode, "recipe": "paper"},
        train=config["train"],
        ckpt_dir=f"{CKPT}/search_{{mode}}",
    wildcard_constraints:
        mode="random|bilevel",
    log:
        "logs/search/{dataset}_{mode}.log",
    benchmark:
        "benchmarks/search/{dataset}_{mode}.tsv"


use rule search_mode as search_mode_seed with:
    output:
        f"{RESULTS}/search_{{mode}}/seed{{seed}}/architecture.json",
    params:
        hp=hp,
        search=lambda wc: {**search_seed_cfg(wc), "mode": wc.mode, "recipe": "paper"},
        train=config["train"],
        ckpt_dir=f"{CKPT}/search_{{mode}}/seed{{seed}}",
    log:
        "logs/search/{dataset}_{mode}/seed{seed}.log",
    benchmark:
        "benchmarks/search/{dataset}_{mode}/seed{seed}.tsv"


# The draw-th random architecture (runs with architecture: search_random and draw: n): no
# training, a uniform draw seeded 1000 x seed + n (the planted cases' random1..N controls).
use rule search_paper as search_random_draw with:
    output:
        f"{RESULTS}/search_random/draw{{draw}}/architecture.json",
    params:
        hp=hp,
        search=draw_search_cfg,
        train=config["train"],
        ckpt_dir=f"{CKPT}/search_random/draw{{draw}}",
    wildcard_constraints:
        draw=r"\d+",
    log:
        "logs/search/{dataset}_random/draw{draw}.log",
    benchmark:
        "benchmarks/search/{dataset}_random/draw{draw}.tsv"


use rule search_random_draw as search_random_draw_seed with:
    output:
        f"{RESULTS}/search_random/draw{{draw}}/seed{{seed}}/architecture.json",
    params:
        hp=hp,
        search=draw_search_cfg,
        train=config["train"],
        ckpt_dir=f"{CKPT}/search_random/draw{{draw}}/seed{{seed}}",
    log:
        "logs/search/{dataset}_random/draw{draw}/seed{seed}.log",
    benchmark:
        "benchmarks/search/{dataset}_random/draw{draw}/seed{seed}.tsv"


# A generated dataset's true architecture (its truth.json), re-trained by the runs with
# architecture: oracle: a control for the planted benchmark, never an input of a search.
rule oracle_architecture:
    input:
        truth=f"{RAW}/truth.json",
        feature_map=f"{PROCESSED}/feature_map.json",
    output:
        f"{RESULTS}/oracle/architecture.json",
    wildcard_constraints:
        dataset=GENERATED,
    log:
        "logs/oracle_architecture/{dataset}.log",
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../../envs/analysis.yaml"
    script:
        "../scripts/oracle_architecture.py"


# AutoFIS's first stage (GRDA prunes its gates): results/{dataset}/search_autofis/, re-trained
# by the runs with architecture: search_autofis. Seeded like the re-train: train.seed, or s in
# a seed{s} folder.
rule search_autofis:
    input:
        **processed(),
    output:
        f"{RESULTS}/search_autofis/architecture.json",
    params:
        name="autofis",
        hp=lambda wc: oconfig.model_hparams(config, wc.dataset, "autofis"),
        train=config["train"],
        seed=config["train"]["seed"],
        ckpt_dir=f"{CKPT}/search_autofis/seed{config['train']['seed']}",
    log:
        "logs/search_autofis/{dataset}.log",
    benchmark:
        "benchmarks/search_autofis/{dataset}.tsv"
    threads: res("train_threads")
    resources:
        **train_resources("autofis"),
    conda:
        "../../envs/train.yaml"
    script:
        "../scripts/search_stage.py"


use rule search_autofis as search_autofis_seed with:
    output:
        f"{RESULTS}/search_autofis/seed{{seed}}/architecture.json",
    params:
        name="autofis",
        hp=lambda wc: oconfig.model_hparams(config, wc.dataset, "autofis"),
        train=config["train"],
        seed=lambda wc: int(wc.seed),
        ckpt_dir=f"{CKPT}/search_autofis/seed{{seed}}",
    log:
        "logs/search_autofis/{dataset}/seed{seed}.log",
    benchmark:
        "benchmarks/search_autofis/{dataset}/seed{seed}.tsv"


# An AutoFIS run with its own `hp` searches its gates with them (each candidate of a tuned
# AutoFIS is such a run): results/{dataset}/search_autofis/{run}[/seed{s}]/.
use rule search_autofis as search_autofis_own with:
    output:
        f"{RESULTS}/search_autofis/{{model}}/architecture.json",
    params:
        name="autofis",
        hp=model_hp,
        train=config["train"],
        seed=config["train"]["seed"],
        ckpt_dir=f"{CKPT}/search_autofis/{{model}}/seed{config['train']['seed']}",
    log:
        "logs/search_autofis/{dataset}/{model}.log",
    benchmark:
        "benchmarks/search_autofis/{dataset}/{model}.tsv"


use rule search_autofis as search_autofis_own_seed with:
    output:
        f"{RESULTS}/search_autofis/{{model}}/seed{{seed}}/architecture.json",
    params:
        name="autofis",
        hp=model_hp,
        train=config["train"],
        seed=lambda wc: int(wc.seed),
        ckpt_dir=f"{CKPT}/search_autofis/{{model}}/seed{{seed}}",
    log:
        "logs/search_autofis/{dataset}/{model}/seed{seed}.log",
    benchmark:
        "benchmarks/search_autofis/{dataset}/{model}/seed{seed}.tsv"


# results/{dataset}/{model}.json: one run at train.seed; for model `optinter` this is the
# re-train of the searched architecture (paper Alg. 2). Beside each results JSON, the run's
# model bundle {model}.model/ (optinter/model/bundle.py): weights, feature map, vocabularies.
rule train_model:
    input:
        unpack(model_inputs),
        vocab=f"{INTERIM}/vocab/stats.json",  # the vocab stage's files go into the bundle
        vocab_tables=[f"{INTERIM}/vocab/fields.parquet", f"{INTERIM}/vocab/crosses.parquet"],
    output:
        f"{RESULTS}/{{model}}.json",
        bundle=directory(f"{RESULTS}/{{model}}.model"),
    params:
        name=lambda wc: base_model(wc.model),
        run=run_cfg,
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
        **train_resources(),
    conda:
        "../../envs/train.yaml"
    script:
        "../scripts/train_model.py"


use rule train_model as train_model_seed with:
    output:
        f"{RESULTS}/runs/{{model}}/seed{{seed}}.json",
        bundle=directory(f"{RESULTS}/runs/{{model}}/seed{{seed}}.model"),
    params:
        name=lambda wc: base_model(wc.model),
        run=run_cfg,
        hp=model_hp,
        train=config["train"],
        search=search_cfg,
        seed=lambda wc: int(wc.seed),
        ckpt_dir=f"{CKPT}/{{model}}/seed{{seed}}",
    log:
        "logs/train_model/{dataset}/{model}/seed{seed}.log",
    benchmark:
        "benchmarks/train_model/{dataset}/{model}/seed{seed}.tsv"


# A run picked on validation from its candidate runs (runs.<name>.pick, optinter/pick.py): the
# candidates are ordinary runs, each its own job; this one only compares and copies.
rule pick_run:
    input:
        unpack(pick_inputs),
    output:
        f"{RESULTS}/{{model}}.json",
        bundle=directory(f"{RESULTS}/{{model}}.model"),
    params:
        run=run_cfg,
        monitor=config["train"]["monitor"],
    wildcard_constraints:
        model=PICKED_RE,
    log:
        "logs/pick_run/{dataset}/{model}.log",
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../../envs/analysis.yaml"
    script:
        "../scripts/pick.py"


use rule pick_run as pick_run_seed with:
    output:
        f"{RESULTS}/runs/{{model}}/seed{{seed}}.json",
        bundle=directory(f"{RESULTS}/runs/{{model}}/seed{{seed}}.model"),
    log:
        "logs/pick_run/{dataset}/{model}/seed{seed}.log",


ruleorder: pick_run > train_model
ruleorder: pick_run_seed > train_model_seed
