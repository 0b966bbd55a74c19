"""A seeded, uniform sample of a split's rows, held as tensor batches.

The decisions made on validation data (permutation importance, the shortlist's screening)
read many passes over the same rows. On the real datasets `valid.parquet` stays in time order,
so its first rows would be its earliest hours: the sample is drawn from the whole split, every
row with the same probability, in file order.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np
import torch

Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]


class SampledBatches:
    """Batches of a uniform row sample (`iterate` as ParquetBatches, for evaluate and friends)."""

    def __init__(self, batches: list[Batch], total_rows: int):
        self.batches = batches
        self.total_rows = int(total_rows)
        self.rows = sum(int(b[3].shape[0]) for b in batches)
        self.batch_size = max((int(b[3].shape[0]) for b in batches), default=1)

    def __len__(self) -> int:
        return len(self.batches)

    def iterate(self, epoch: int = 0, start: int = 0) -> Iterator[Batch]:
        yield from self.batches[start:]


def uniform_sample(loader, max_rows: int | None, seed: int) -> SampledBatches:
    """About `max_rows` rows of `loader`'s split (all rows when None or more than it holds):
    each row kept with probability max_rows / rows, decided by a generator seeded with `seed`,
    so the same seed keeps the same rows."""
    total = int(loader.rows)
    keep_p = 1.0 if max_rows is None or max_rows >= total else float(max_rows) / total
    rng = np.random.default_rng(int(seed))
    out = []
    for batch in loader.iterate(0):
        n = int(batch[3].shape[0])
        if keep_p >= 1.0:
            out.append(batch)
            continue
        mask = torch.from_numpy(rng.random(n) < keep_p).to(batch[3].device)
        if bool(mask.any()):
            out.append(tuple(x[mask] for x in batch))
    return SampledBatches(out, total)
