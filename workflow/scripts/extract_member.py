from logged import call
from optinter.data.download import extract_member

call(snakemake.log[0], extract_member, snakemake.input.archive, snakemake.params.member,
     snakemake.output[0], md5=snakemake.params.md5, sha256=snakemake.params.sha256)
