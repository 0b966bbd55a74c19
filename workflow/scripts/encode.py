from pathlib import Path

from logged import call
from optinter.data.encode import encode

call(snakemake.log[0], encode, snakemake.input.raw, Path(snakemake.input.fields).parent,
     Path(snakemake.output.feature_map).parent, dict(snakemake.params.duckdb))
