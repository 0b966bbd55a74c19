from pathlib import Path

from logged import call
from optinter.model.stages import run_shortlist

p = snakemake.params
call(snakemake.log[0], run_shortlist, Path(snakemake.input.feature_map).parent, dict(p.hp),
     dict(p.search), dict(p.train), snakemake.input.search, snakemake.input.weights,
     snakemake.output[0])
