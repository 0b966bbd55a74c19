from pathlib import Path

from logged import call
from optinter.model.stages import run_select

p = snakemake.params
call(snakemake.log[0], run_select, Path(snakemake.input.feature_map).parent, dict(p.hp),
     dict(p.search), dict(p.train), snakemake.input.search, snakemake.output[0], p.ckpt_dir,
     shortlist_json=snakemake.input.get("shortlist"), scan_json=snakemake.input.get("scan"),
     candidates=list(snakemake.input.get("finalists", [])))
