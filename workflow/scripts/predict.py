from logged import call
from optinter.predict import predict

call(snakemake.log[0], predict, snakemake.input.bundle, snakemake.input.rows,
     snakemake.output[0], snakemake.output.metrics, dict(snakemake.params.duckdb))
