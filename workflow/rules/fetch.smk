# fetch: raw data under data/raw/{dataset}/ (generated offline, downloaded, or a local path).
# Network rules are local rules: cluster compute nodes often have no internet access.

localrules: download, download_split, fetch_kaggle


rule generate_dataset:
    output:
        raw=f"{RAW}/train.txt",
        truth=f"{RAW}/truth.json",
    params:
        generate=lambda wc: src(wc)["generate"],
    wildcard_constraints:
        dataset=GENERATED,
    log:
        "logs/generate_dataset/{dataset}.log",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    conda:
        "../../envs/data.yaml"
    script:
        "../scripts/generate_dataset.py"


rule download:
    output:
        file=f"{RAW}/download/{{file}}",
        sha256=f"{RAW}/download/{{file}}.sha256",
    params:
        url=lambda wc: src(wc)["url"],
        limits=config["download"],
        md5=lambda wc: src(wc).get("md5"),
        sha256=lambda wc: src(wc).get("sha256"),
    wildcard_constraints:
        dataset=DOWNLOADED,
        file=r"[^./][^/]*(?<!\.sha256)",
    log:
        "logs/download/{dataset}/{file}.log",
    threads: 1
    resources:
        mem_mb=1000,
        runtime=res("fetch_runtime"),
    conda:
        "../../envs/data.yaml"
    script:
        "../scripts/download.py"


rule extract_member:
    input:
        archive=archive_path,
    output:
        # Big (Criteo train.txt is 11 GB) and re-creatable from the kept archive.
        temp(f"{RAW}/{{member}}"),
    params:
        member=lambda wc: src(wc)["member"],
        md5=lambda wc: src(wc).get("member_md5"),
        sha256=lambda wc: src(wc).get("member_sha256"),
    wildcard_constraints:
        dataset=WITH_MEMBER,
        member=r"[^./][^/]*",  # a plain file name (optinter.paths)
    log:
        "logs/extract_member/{dataset}/{member}.log",
    benchmark:
        "benchmarks/extract_member/{dataset}/{member}.tsv"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=res("data_runtime"),
    conda:
        "../../envs/data.yaml"
    script:
        "../scripts/extract_member.py"


rule extract_logs:
    input:
        archive=archive_path,
    output:
        temp(directory(f"{RAW}/logs")),
    params:
        patterns=lambda wc: src(wc)["logs"],
    wildcard_constraints:
        dataset=WITH_LOGS,
    log:
        "logs/extract_logs/{dataset}.log",
    benchmark:
        "benchmarks/extract_logs/{dataset}.tsv"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=res("data_runtime"),
    conda:
        "../../envs/data.yaml"
    script:
        "../scripts/extract_logs.py"


rule fetch_kaggle:
    output:
        file=f"{RAW}/{{member}}",
        sha256=f"{RAW}/{{member}}.sha256",
    params:
        competition=lambda wc: src(wc)["kaggle"],
        sha256=lambda wc: src(wc).get("member_sha256"),
    wildcard_constraints:
        dataset=KAGGLE,
        member=r"[^./][^/]*(?<!\.sha256)",
    log:
        "logs/fetch_kaggle/{dataset}/{member}.log",
    threads: 1
    resources:
        mem_mb=1000,
        runtime=res("fetch_runtime"),
    conda:
        "../../envs/data.yaml"
    script:
        "../scripts/fetch_kaggle.py"


# Pre-split sources (source.splits.<split>, docs/design.md): each of train / valid / test is a
# member of the source's archive (the reczoo/BARS zips), a download of its own (`url`, with a
# `member` when that is an archive) or a local `path`, read in place.
rule download_split:
    output:
        file=f"{RAW}/splits/{{split}}/download/{{file}}",
        sha256=f"{RAW}/splits/{{split}}/download/{{file}}.sha256",
    params:
        url=lambda wc: split_entry(wc)["url"],
        limits=config["download"],
        md5=lambda wc: split_entry(wc).get("md5"),
        sha256=lambda wc: split_entry(wc).get("sha256"),
    wildcard_constraints:
        dataset=SPLIT_DOWNLOADED,
        split="train|valid|test",
        file=r"[^./][^/]*(?<!\.sha256)",
    log:
        "logs/download_split/{dataset}/{split}/{file}.log",
    threads: 1
    resources:
        mem_mb=1000,
        runtime=res("fetch_runtime"),
    conda:
        "../../envs/data.yaml"
    script:
        "../scripts/download.py"


rule extract_split:
    input:
        archive=split_archive,
    output:
        temp(f"{RAW}/splits/{{split}}/{{member}}"),
    params:
        member=lambda wc: split_entry(wc)["member"],
        md5=lambda wc: split_entry(wc).get("member_md5"),
        sha256=lambda wc: split_entry(wc).get("member_sha256"),
    wildcard_constraints:
        dataset=PRESPLIT,
        split="train|valid|test",
        member=r"[^./][^/]*",  # a plain file name (optinter.paths)
    log:
        "logs/extract_split/{dataset}/{split}/{member}.log",
    benchmark:
        "benchmarks/extract_split/{dataset}/{split}/{member}.tsv"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=res("data_runtime"),
    conda:
        "../../envs/data.yaml"
    script:
        "../scripts/extract_member.py"
