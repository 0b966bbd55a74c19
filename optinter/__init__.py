"""optinter: OptInter (ICDE 2022) as a reproducible Snakemake + DuckDB + PyTorch workflow."""

__version__ = "0.1.0"
