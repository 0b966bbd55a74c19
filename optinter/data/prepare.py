"""ingest + vocab + encode in one call (tests, benchmarks, notebooks)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

from optinter.data import checks
from optinter.data.encode import encode
from optinter.data.ingest import ingest
from optinter.data.vocab import build_vocab


def prepare(fmt: str, source: str | os.PathLike, out_dir: str | os.PathLike, min_count: int,
            cross_min_count: int, split: Mapping[str, Any], log_bucket: bool = False,
            duckdb_cfg: Mapping[str, Any] | None = None,
            work_dir: str | os.PathLike | None = None,
            min_split_rows: int | None = checks.MIN_SPLIT_ROWS, dataset: str | None = None,
            spec: Mapping[str, Any] | None = None, pairs: list | None = None,
            field_min_count: Mapping[str, int] | None = None) -> dict:
    """Raw source -> `out_dir` with {train,valid,test}.parquet and feature_map.json.

    Intermediates (raw.parquet, vocab/) go to `work_dir` (default: `out_dir`/../.{name}-work)
    and are kept, as the workflow keeps data/interim. Returns the feature map. A split with
    fewer than `min_split_rows` rows or one label only is refused (build_vocab); `dataset`
    (default: the name of `out_dir`) names the data in that message. `spec`: a `format: table`
    dataset's columns (optinter.config.table_spec); `pairs`, `field_min_count`: build_vocab's.
    """
    out_dir = Path(out_dir)
    work = Path(work_dir) if work_dir is not None else out_dir.parent / f".{out_dir.name}-work"
    raw = work / "raw.parquet"
    ingest(fmt, source, raw, duckdb_cfg, spec)
    build_vocab(raw, work / "vocab", split, min_count, cross_min_count, log_bucket, duckdb_cfg,
                min_split_rows, dataset or out_dir.name, pairs, field_min_count)
    return encode(raw, work / "vocab", out_dir, duckdb_cfg)
