from pathlib import Path

from logged import call
from optinter.model.stages import run_finalist

p = snakemake.params
call(snakemake.log[0], run_finalist, Path(snakemake.input.feature_map).parent, dict(p.hp),
     dict(p.search), dict(p.train), int(p.seed), snakemake.input.shortlist,
     snakemake.input.scan, int(p.index), snakemake.output[0], p.ckpt_dir,
     paper_run=snakemake.input.get("paper_run"))
