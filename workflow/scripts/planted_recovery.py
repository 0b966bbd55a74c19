from logged import call
from optinter.analysis.recovery import report

c = snakemake.params.case
call(snakemake.log[0], report, list(c["sizes"]), list(c["seeds"]), list(c["baselines"]),
     list(c["random"]), "data", "results", snakemake.output.json, snakemake.output.fig,
     settings=dict(c["settings"]), variant=c["variant"])
