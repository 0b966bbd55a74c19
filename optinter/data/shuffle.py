"""split.order: shuffled — train.parquet rewritten in a seeded random order, out of core.

The raw files are time-ordered (Criteo covers 7 days in order, Avazu is sorted by hour), and the
streaming loader mixes only a few row groups per buffer, so in row_id order every mini-batch
would come from a few hours of traffic. DuckDB sorts the encoded split by a hash of
(row_id, split seed) (sql/shuffle_rows.sql); the loader's per-epoch row-group permutation and
buffer shuffle still run on top. row_id stays in every row.
"""

from __future__ import annotations

import os
from pathlib import Path

import duckdb

from optinter.data import sql
from optinter.io import atomic_path

ROW_GROUP_ROWS = 1 << 17   # the loader's streaming unit: its buffers hold several of these
# salt: the order must not be the split's own hash (u < train_end picked the train rows)
ORDER_SALT = 0x5BD1E995


def order_seed(split_seed: int) -> int:
    return (int(split_seed) ^ ORDER_SALT) & 0xFFFFFFFF


def shuffle_parquet(con: duckdb.DuckDBPyConnection, path: str | os.PathLike, split_seed: int,
                    row_group_rows: int | None = None) -> None:
    """Replace the Parquet file `path` by its rows in the seeded order (same schema); row
    groups of `row_group_rows` (default ROW_GROUP_ROWS, read at call time)."""
    path, rows = Path(path), int(row_group_rows or ROW_GROUP_ROWS)
    with atomic_path(path, suffix=".parquet") as tmp:
        rel = sql.relation(con, "shuffle_rows", src=sql.literal_path(path),
                           order_seed=order_seed(split_seed))
        rel.to_parquet(os.fspath(tmp), compression="zstd", row_group_size=rows)
