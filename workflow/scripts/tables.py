from pathlib import Path

from logged import call
from optinter.analysis.tables import build

# architecture.json sits at results/{dataset}/search/: the results root is two levels above it
results_dir = Path(snakemake.input.architecture).parents[2]
call(snakemake.log[0], build, results_dir, snakemake.wildcards.dataset,
     list(snakemake.params.models), list(snakemake.params.seeds), snakemake.output[0])
