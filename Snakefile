# optinter: OptInter (ICDE 2022) as a Snakemake workflow. Wiring only; see README.md.
#   snakemake --cores 2                              demo results, offline
#   snakemake --cores 8 results/avazu/optinter.json  one configured dataset
#   snakemake --cores 8 --config default_dataset=criteo   everything for another dataset

from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/fetch.smk"
include: "workflow/rules/preprocess.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/analysis.smk"
include: "workflow/rules/planted.smk"
include: "workflow/rules/predict.smk"


localrules:
    all,


rule all:
    default_target: True
    input:
        final_outputs(config["default_dataset"]),


# Tell the user what they got: where optinter.json, Table V and the report are, and Table V's
# headline (optinter/analysis/summary.py).
onsuccess:
    from optinter.analysis import summary

    summary.on_success(workflow, config)
