from logged import call
from optinter.data.prepare import prepare

p = snakemake.params
call(snakemake.log[0], prepare, "criteo", snakemake.input.raw, p.out_dir, p.min_count,
     p.cross_min_count, dict(p.split), False, dict(p.duckdb), p.work_dir, p.min_split_rows,
     f"planted/{snakemake.wildcards.case}")
