from logged import call
from optinter.data.demo import generate

opts = dict(snakemake.params.generate)
call(snakemake.log[0], generate, snakemake.output.raw, snakemake.output.truth,
     rows=opts.pop("rows"), seed=opts.pop("seed"), **opts)
