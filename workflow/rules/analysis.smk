# analysis: paper tables from the per-seed runs, and the mutual-information study (Fig. 5-6).


rule tables:
    input:
        runs=lambda wc: expand(
            f"results/{wc.dataset}/runs/{{model}}/seed{{seed}}.json",
            model=run_models(wc.dataset),
            seed=seeds(wc.dataset),
        ),
        # what each run's architecture cost (Table V) and the supernets' metrics (Table IX)
        architectures=run_architectures,
    output:
        report(
            directory(f"{RESULTS}/tables"),
            # HTML: shown in the report's page; CSV: its download; PNG: Fig. 4
            patterns=["{name}.html", "{name}.csv", "{name}.png"],
            caption="../report/tables.rst",
            category="Tables",
            subcategory="{dataset}",
        ),
    params:
        models=lambda wc: models(wc.dataset),
        ablations=config["ablations"],
        seeds=lambda wc: seeds(wc.dataset),
        runs=lambda wc: {n: config["runs"][n] for n in run_models(wc.dataset)},
    log:
        "logs/tables/{dataset}.log",
    threads: 1
    resources:
        mem_mb=1000,
        runtime=30,
    conda:
        "../../envs/analysis.yaml"
    script:
        "../scripts/tables.py"


rule mutual_info:
    input:
        unpack(processed),
        architecture=f"{RESULTS}/search/architecture.json",
        sql=sql_inputs("mutual_info"),
    output:
        parquet=f"{RESULTS}/analysis/mutual_info.parquet",
        json=f"{RESULTS}/analysis/mutual_info.json",
    params:
        duckdb=duckdb_cfg(),
    log:
        "logs/mutual_info/{dataset}.log",
    benchmark:
        "benchmarks/mutual_info/{dataset}.tsv"
    threads: config["duckdb"]["threads"]
    resources:
        mem_mb=res("data_mem_mb"),
        runtime=res("data_runtime"),
    conda:
        "../../envs/analysis.yaml"
    script:
        "../scripts/mutual_info.py"


rule mutual_info_figures:
    input:
        rules.mutual_info.output.parquet,
    output:
        fig5=report(
            f"{RESULTS}/analysis/fig5_mi_by_method.png",
            caption="../report/fig5.rst",
            category="Mutual information",
            subcategory="{dataset}",
        ),
        fig6=report(
            f"{RESULTS}/analysis/fig6_mi_heatmap.png",
            caption="../report/fig6.rst",
            category="Mutual information",
            subcategory="{dataset}",
        ),
    log:
        "logs/mutual_info_figures/{dataset}.log",
    threads: 1
    resources:
        mem_mb=1000,
        runtime=30,
    conda:
        "../../envs/analysis.yaml"
    script:
        "../scripts/mutual_info_figures.py"
