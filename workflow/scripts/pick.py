from logged import call
from optinter.pick import pick

p = snakemake.params
call(snakemake.log[0], pick, list(snakemake.input.candidates), dict(p.run), p.monitor,
     "results", snakemake.wildcards.dataset, snakemake.output[0],
     bundles=list(snakemake.input.bundles), bundle_out=snakemake.output.bundle)
