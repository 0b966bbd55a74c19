from pathlib import Path

from logged import call
from optinter.data.vocab import build_vocab

p = snakemake.params
call(snakemake.log[0], build_vocab, snakemake.input.raw, Path(snakemake.output.fields).parent,
     dict(p.split), p.min_count, p.cross_min_count, p.log_bucket, dict(p.duckdb),
     p.min_split_rows, snakemake.wildcards.dataset, p.pairs, dict(p.field_min_count))
