from logged import call
from optinter.analysis.recovery import summarise

p = snakemake.params
call(snakemake.log[0], summarise, list(p.sizes), list(p.seeds), list(p.baselines), "data/planted",
     "results/planted", snakemake.output[0], settings=dict(p.settings))
