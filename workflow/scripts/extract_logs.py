from logged import call
from optinter.data.download import extract_logs

call(snakemake.log[0], extract_logs, snakemake.input.archive, snakemake.params.patterns,
     snakemake.output[0])
