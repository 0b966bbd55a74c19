from logged import call
from optinter.data.demo import generate

rows, seed = snakemake.params.size_seed
call(snakemake.log[0], generate, snakemake.output.raw, snakemake.output.truth, rows=rows,
     seed=seed, **dict(snakemake.params.structure))
