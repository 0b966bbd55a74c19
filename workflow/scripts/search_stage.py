from pathlib import Path

from logged import call
from optinter.model.stages import search_stage

p = snakemake.params
call(snakemake.log[0], search_stage, p.name, Path(snakemake.input.feature_map).parent,
     dict(p.hp), dict(p.train), int(p.seed), p.ckpt_dir, out_arch=snakemake.output[0])
