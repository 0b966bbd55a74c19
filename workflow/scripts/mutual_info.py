from pathlib import Path

from logged import call
from optinter.analysis.mutual_info import compute

call(snakemake.log[0], compute, Path(snakemake.input.feature_map).parent,
     snakemake.input.architecture, snakemake.output.parquet, snakemake.output.json,
     dict(snakemake.params.duckdb))
