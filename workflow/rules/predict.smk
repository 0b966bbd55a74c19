# Scoring new raw rows with a trained run's model bundle (optinter/predict.py): the file named
# datasets.<dataset>.predict.<name> goes through the training data's readers and SQL and the
# bundle's vocabularies (unseen values -> OOV), then the model:
#   snakemake --cores 2 results/demo/predictions/optinter/seed1/new_rows.parquet
# The same without Snakemake: python -m optinter.predict MODEL INPUT OUT


rule predict:
    input:
        bundle=f"{RESULTS}/runs/{{model}}/seed{{seed}}.model",
        rows=predict_input,
    output:
        f"{RESULTS}/predictions/{{model}}/seed{{seed}}/{{name}}.parquet",
        metrics=f"{RESULTS}/predictions/{{model}}/seed{{seed}}/{{name}}.json",
    params:
        duckdb=duckdb_cfg(),
    wildcard_constraints:
        name=r"[A-Za-z0-9_.-]+",
    log:
        "logs/predict/{dataset}/{model}/seed{seed}/{name}.log",
    benchmark:
        "benchmarks/predict/{dataset}/{model}/seed{seed}/{name}.tsv"
    threads: config["duckdb"]["threads"]
    resources:
        mem_mb=res("data_mem_mb"),
        runtime=res("data_runtime"),
    conda:
        "../../envs/train.yaml"
    script:
        "../scripts/predict.py"
