# Planted-structure benchmark (docs/planted.md): config `planted` adds one generated dataset per
# size x seed, planted_n{size}_s{seed} (optinter.config.add_planted), trained through the
# ordinary rules at that seed: the searches, the re-trains (optinter, optinter_paper), the
# oracle (its true architecture), the baselines and the random architectures. This rule only
# compares them:
#   snakemake results/planted/recovery.json --cores 2


rule planted_recovery:
    input:
        truth=lambda wc: planted_case_files(wc, "truth"),
        arch=lambda wc: planted_case_files(wc, "architecture"),
        results=lambda wc: planted_case_files(wc, "run"),
        test=lambda wc: planted_case_files(wc, "test"),
    output:
        json="results/planted/recovery.json",
        fig=report(
            "results/planted/recovery_by_size.png",
            caption="../report/planted.rst",
            category="Planted benchmark",
        ),
    params:
        case=planted_params,
    log:
        "logs/planted/recovery.log",
    threads: 1
    conda:
        "../../envs/analysis.yaml"
    script:
        "../scripts/planted_recovery.py"


# A variant of config planted.variants (e.g. heldout, dense): results/planted_{variant}/.
use rule planted_recovery as planted_variant_recovery with:
    output:
        json="results/planted_{variant}/recovery.json",
        fig=report(
            "results/planted_{variant}/recovery_by_size.png",
            caption="../report/planted.rst",
            category="Planted benchmark",
        ),
    wildcard_constraints:
        variant="|".join(v for v in PL_VARIANTS if v) or "(?!)",
    log:
        "logs/planted/recovery_{variant}.log",
