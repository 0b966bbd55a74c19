"""Loader-only throughput: samples/s that ParquetBatches delivers to a device, with no model.

Compare with the search step's rate (bench/train_step.py) to see whether training is starved
by its input: a loader much faster than the step keeps the device busy (it reads in a
background thread while the step runs). Data: a processed dataset (--data), or a synthetic one
of the Criteo shape written first (13 continuous, 26 categorical fields, 325 pairs; ids are
read and checked the same whatever the vocabulary).

    .venv/bin/python bench/loader_rate.py --device cuda                # Criteo shape, 200k rows
    .venv/bin/python bench/loader_rate.py --data data/processed/demo --batch 1024
    .venv/bin/python bench/loader_rate.py --versus 850000              # prints loader / step

Prints one line per mode: `loader <mode> <device>: <samples/s> samples/s ...` (in-memory: the
split preloaded and permuted each epoch; streaming: row groups read as it goes; resident: the
split held as tensors on the device, batches drawn there, train.device_resident).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

from optinter.model.featuremap import FeatureMap
from optinter.model.loader import ParquetBatches
from optinter.model.train import pick_device

ROOT = Path(__file__).resolve().parents[1]


def synthetic(out: Path, rows: int, n_cont: int, n_cat: int) -> Path:
    sys.path.insert(0, str(ROOT / "tests"))
    from synth import make_processed  # the tests' contract-following writer
    make_processed(out, rows=rows, n_cont=n_cont, n_cat=n_cat, vocab=50, seed=0)
    return out


def rate(loader: ParquetBatches, device: torch.device, epochs: int) -> float:
    """Samples/s over `epochs` full epochs after one warm-up epoch, each batch on the device."""
    def run(epoch: int) -> int:
        n = 0
        for b in loader.iterate(epoch):
            n += int(b[3].shape[0])
        if device.type == "cuda":
            torch.cuda.synchronize()
        return n
    run(0)
    t = time.perf_counter()
    n = sum(run(e) for e in range(1, epochs + 1))
    return n / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--data", help="a processed dataset folder (default: synthetic)")
    ap.add_argument("--rows", type=int, default=200_000, help="synthetic train+valid+test rows")
    ap.add_argument("--cont", type=int, default=13)
    ap.add_argument("--cat", type=int, default=26)
    ap.add_argument("--batch", type=int, default=2000)
    ap.add_argument("--epochs", type=int, default=2, help="timed epochs (after one warm-up)")
    ap.add_argument("--modes", default="in-memory,streaming,resident")
    ap.add_argument("--versus", type=float, default=None,
                    help="a training step's samples/s to compare with (e.g. the search step's)")
    a = ap.parse_args()
    device = pick_device(a.device)
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(a.data) if a.data else synthetic(Path(tmp) / "data", a.rows, a.cont, a.cat)
        fmap = FeatureMap.load(data)
        for mode in a.modes.split(","):
            mb = 1 << 30 if mode == "in-memory" else 0
            loader = ParquetBatches(fmap, "train", a.batch, shuffle=True, seed=0, device=device,
                                    in_memory_max_mb=mb, buffer_rows=100_000,
                                    resident=mode == "resident").preload()
            r = rate(loader, device, a.epochs)
            vs = f", {r / a.versus:.2f}x the step's {a.versus:,.0f}" if a.versus else ""
            print(f"loader {mode} {device}: {r:,.0f} samples/s ({loader.rows:,} train rows, "
                  f"{fmap.n_fields} fields + {fmap.n_pairs} pairs, batch {a.batch}{vs})")


if __name__ == "__main__":
    main()
