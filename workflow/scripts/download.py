from logged import call
from optinter.data.download import fetch

call(snakemake.log[0], fetch, snakemake.params.url, snakemake.output.file,
     md5=snakemake.params.md5, sha256=snakemake.params.sha256)
