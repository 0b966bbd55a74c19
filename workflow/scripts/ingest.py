from logged import call
from optinter.data.ingest import ingest

call(snakemake.log[0], ingest, snakemake.params.fmt, snakemake.input.source, snakemake.output[0],
     dict(snakemake.params.duckdb))
