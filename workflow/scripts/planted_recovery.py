from logged import call
from optinter.analysis.recovery import report

p = snakemake.params
call(snakemake.log[0], report, list(p.sizes), list(p.seeds), list(p.baselines), list(p.random),
     "data", "results", snakemake.output.json, snakemake.output.fig,
     settings=dict(p.settings))
