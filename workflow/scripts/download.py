from logged import call
from optinter.data.download import fetch

lim = snakemake.params.limits
call(snakemake.log[0], fetch, snakemake.params.url, snakemake.output.file,
     md5=snakemake.params.md5, sha256=snakemake.params.sha256, timeout=lim["timeout_s"],
     deadline=lim["deadline_s"], min_rate=lim["min_rate"])
