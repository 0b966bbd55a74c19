from logged import call
from optinter.analysis.tables import build

p = snakemake.params
call(snakemake.log[0], build, "results", snakemake.wildcards.dataset, list(p.models),
     list(p.seeds), snakemake.output[0], ablations=list(p.ablations), runs=dict(p.runs))
