# preprocess: raw -> raw.parquet -> vocabularies (train only) -> encoded splits + feature_map.json.
# Every stage bounds DuckDB's memory (config duckdb) and declares the SQL it runs as input.


rule ingest:
    input:
        source=raw_source,
        sql=stage_sql("ingest"),
    output:
        f"{INTERIM}/raw.parquet",
    params:
        fmt=lambda wc: dcfg(wc)["format"],
        # format table's declared columns and read options (None for a built-in format)
        spec=lambda wc: oconfig.table_spec(dcfg(wc)),
        duckdb=duckdb_cfg(),
    log:
        "logs/ingest/{dataset}.log",
    benchmark:
        "benchmarks/ingest/{dataset}.tsv"
    threads: config["duckdb"]["threads"]
    resources:
        mem_mb=res("data_mem_mb"),
        runtime=res("data_runtime"),
    conda:
        "../../envs/data.yaml"
    script:
        "../scripts/ingest.py"


rule vocab:
    input:
        raw=rules.ingest.output[0],
        sql=stage_sql("vocab"),
    output:
        fields=f"{INTERIM}/vocab/fields.parquet",
        crosses=f"{INTERIM}/vocab/crosses.parquet",
        stats=f"{INTERIM}/vocab/stats.json",
    params:
        split=lambda wc: dcfg(wc)["split"],
        min_count=lambda wc: dcfg(wc)["min_count"],
        cross_min_count=lambda wc: dcfg(wc)["cross_min_count"],
        log_bucket=lambda wc: dcfg(wc)["log_bucket"],
        min_split_rows=lambda wc: dcfg(wc)["min_split_rows"],
        pairs=lambda wc: dcfg(wc).get("pairs"),  # None: every pair of categorical fields
        field_min_count=lambda wc: oconfig.field_min_counts(dcfg(wc)),
        duckdb=duckdb_cfg(),
    log:
        "logs/vocab/{dataset}.log",
    benchmark:
        "benchmarks/vocab/{dataset}.tsv"
    threads: config["duckdb"]["threads"]
    resources:
        mem_mb=res("data_mem_mb"),
        runtime=res("data_runtime"),
    conda:
        "../../envs/data.yaml"
    script:
        "../scripts/vocab.py"


rule encode:
    input:
        raw=rules.ingest.output[0],
        fields=rules.vocab.output.fields,
        crosses=rules.vocab.output.crosses,
        stats=rules.vocab.output.stats,
        sql=encode_sql,
    output:
        **processed(),
    params:
        duckdb=duckdb_cfg(),
    log:
        "logs/encode/{dataset}.log",
    benchmark:
        "benchmarks/encode/{dataset}.tsv"
    threads: config["duckdb"]["threads"]
    resources:
        mem_mb=res("data_mem_mb"),
        runtime=res("data_runtime"),
    conda:
        "../../envs/data.yaml"
    script:
        "../scripts/encode.py"
