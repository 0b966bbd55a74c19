from logged import call
from optinter.data.download import fetch_kaggle

call(snakemake.log[0], fetch_kaggle, snakemake.params.competition, snakemake.wildcards.member,
     snakemake.output.file, sha256=snakemake.params.sha256, dataset=snakemake.wildcards.dataset)
