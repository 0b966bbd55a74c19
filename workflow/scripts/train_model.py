from pathlib import Path

from logged import call
from optinter.model.stages import run_model

p = snakemake.params
call(snakemake.log[0], run_model, p.name,
     Path(snakemake.input.feature_map).parent, dict(p.hp), dict(p.train), int(p.seed),
     snakemake.output[0], p.ckpt_dir, architecture=snakemake.input.get("architecture"),
     search_cfg=dict(p.search) if p.search else None, run=dict(p.run),
     bundle_out=snakemake.output.bundle, vocab_dir=Path(snakemake.input.vocab).parent)
