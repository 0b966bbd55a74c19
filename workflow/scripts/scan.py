from pathlib import Path

from logged import call
from optinter.model.stages import run_scan

p = snakemake.params
call(snakemake.log[0], run_scan, Path(snakemake.input.feature_map).parent, dict(p.hp),
     dict(p.search), dict(p.train), int(p.seed), snakemake.input.search, snakemake.output[0],
     p.ckpt_dir)
