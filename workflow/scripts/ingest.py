from logged import call
from optinter.data.ingest import ingest

p = snakemake.params
call(snakemake.log[0], ingest, p.fmt, snakemake.input.source, snakemake.output[0],
     dict(p.duckdb), p.spec)
