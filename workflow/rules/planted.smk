# Planted-structure benchmark (docs/planted.md): config `planted` adds one generated dataset per
# size x seed, planted_n{size}_s{seed} (optinter.config.add_planted), trained through the
# ordinary rules at that seed: the searches, the re-trains (optinter, optinter_paper), the
# oracle (its true architecture), the baselines and the random architectures. This rule only
# compares them:
#   snakemake results/planted/recovery.json --cores 2

PL_VARIANTS = oconfig.planted_variants(config)


def pl_variant(wc) -> str:
    return wc.get("variant", "")


def planted_files(kind: str):
    """One file per case of the layout optinter.analysis.recovery reads (recovery.case_files),
    for the rule's planted configuration."""
    from optinter.analysis.recovery import case_files

    def files(wc) -> list[str]:
        variant = pl_variant(wc)
        pl = PL_VARIANTS[variant]
        out = []
        for size in pl["sizes"]:
            for seed in pl["seeds"]:
                f = case_files(size, seed, oconfig.planted_models(pl), variant=variant)[kind]
                out += list(f.values()) if isinstance(f, dict) else [f]
        return out

    return files


def planted_params(wc) -> dict:
    variant = pl_variant(wc)
    pl = PL_VARIANTS[variant]
    return {"sizes": pl["sizes"], "seeds": pl["seeds"], "baselines": pl["baselines"],
            "random": [n for n, run in oconfig.planted_runs(pl).items() if "draw" in run],
            "variant": variant,
            "settings": {"planted": pl, "search": {**config["search"], **pl["search"]},
                         "hp": {**config["hparams"][pl["hparams"]], **pl["hp"]},
                         "train": config["train"]}}


rule planted_recovery:
    input:
        truth=planted_files("truth"),
        arch=planted_files("architecture"),
        results=planted_files("run"),
        test=planted_files("test"),
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
