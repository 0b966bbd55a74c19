from logged import call
from optinter.analysis.recovery import oracle_architecture

call(snakemake.log[0], oracle_architecture, snakemake.input.truth, snakemake.input.feature_map,
     snakemake.output[0])
