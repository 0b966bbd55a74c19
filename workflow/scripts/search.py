from pathlib import Path

from logged import call
from optinter.model.stages import run_search

p = snakemake.params
call(snakemake.log[0], run_search, Path(snakemake.input.feature_map).parent, dict(p.hp),
     dict(p.search), dict(p.train), snakemake.output[0], p.ckpt_dir,
     out_weights=snakemake.output.get("weights"))
