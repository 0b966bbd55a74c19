from logged import call
from optinter.analysis.mutual_info import plot

call(snakemake.log[0], plot, snakemake.input[0], snakemake.output.fig5, snakemake.output.fig6)
