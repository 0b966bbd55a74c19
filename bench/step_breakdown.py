"""Where a search step's time goes, at the Criteo shape: phases timed round-robin in one run.

Each turn runs a phase twice and times the second run, so the phase starts with its own data in
the caches, as a training step does after the step before.

Prints the median time of: the bare MLP's forward + backward (with the input gradient, the
floor for any model with embeddings below the MLP) and its full step; the supernet's forward,
forward + backward, + dense and architecture Adam, and the full step; then the differences:
embedding work in forward + backward, dense/arch Adam, LazyAdam.

    .venv/bin/python bench/step_breakdown.py
    OPTINTER_KERNELS=torch .venv/bin/python bench/step_breakdown.py   # PyTorch ops only
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import torch.nn.functional as F

from optinter.model import native
from optinter.model.optinter import Supernet
from optinter.model.train import build_optimizers, train_step
from train_step import BENCH_SEARCH, BareMLPInputGrad, fake_batch, fake_fmap


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=2000)
    ap.add_argument("--cross-rows", type=int, default=1_000_000)
    ap.add_argument("--steps", type=int, default=15)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    torch.manual_seed(a.seed)
    gen = torch.Generator().manual_seed(a.seed)
    hp = {"s1": 20, "s2": 10, "mlp": [700] * 5, "lr": 5e-4, "lr_c": 1e-4, "lr_a": 3e-5,
          "l2_o": 0.0, "l2_c": 3e-8, "eps": 1e-8}
    fmap = fake_fmap(13, 26, 514_798, a.cross_rows)
    in_dim = fmap.n_fields * hp["s1"] + fmap.n_pairs * hp["s2"]
    batches = [fake_batch(fmap, a.batch, torch.device("cpu"), gen) for _ in range(3)]
    dense = [(torch.randn(a.batch, in_dim, generator=gen), None, None, b[3]) for b in batches]
    mlp = BareMLPInputGrad(in_dim, hp["mlp"])
    mlp_opts = build_optimizers(mlp, hp)
    net = Supernet(fmap, hp, BENCH_SEARCH)
    opts = build_optimizers(net, hp)

    def fwd_bwd(model, b):
        for o in opts.values():
            o.zero_grad(set_to_none=True)
        model.zero_grad(set_to_none=True)
        F.binary_cross_entropy_with_logits(model(*b[:3]), b[3]).backward()

    def no_lazy(b):
        fwd_bwd(net, b)
        opts["dense"].step()
        opts["arch"].step()

    def forward(b):
        with torch.no_grad():
            net(*b[:3])

    phases = {
        "bare MLP + input gradient: forward + backward": lambda k: fwd_bwd(mlp, dense[k]),
        "bare MLP + input gradient: step": lambda k: train_step(mlp, mlp_opts, dense[k]),
        "search: forward (no grad)": lambda k: forward(batches[k]),
        "search: forward + backward": lambda k: fwd_bwd(net, batches[k]),
        "search: + dense and arch Adam": lambda k: no_lazy(batches[k]),
        "search: step": lambda k: train_step(net, opts, batches[k]),
    }
    times = {name: [] for name in phases}
    for i in range(a.steps + 1):
        for name, fn in phases.items():
            fn(i % len(batches))  # a turn starts warm, as in training: time the second run
            t = time.perf_counter()
            fn((i + 1) % len(batches))
            times[name].append(time.perf_counter() - t)
    ms = {name: 1e3 * float(np.median(v[1:])) for name, v in times.items()}
    kern = "fused C kernels" if native.kernels() is not None else "PyTorch ops"
    print(f"threads {torch.get_num_threads()}, batch {a.batch}, cross rows {a.cross_rows:,}, "
          f"{kern}, median of {a.steps} turns")
    for name, v in ms.items():
        print(f"{name:<48} {v:8.1f} ms")
    names = list(ms)
    print(f"{'embeddings in forward + backward (4 - 1)':<48} {ms[names[3]] - ms[names[0]]:8.1f} ms")
    print(f"{'dense and arch Adam (5 - 4)':<48} {ms[names[4]] - ms[names[3]]:8.1f} ms")
    print(f"{'LazyAdam, all sparse tables (6 - 5)':<48} {ms[names[5]] - ms[names[4]]:8.1f} ms")
    print(f"{'search step over the input-gradient floor (6 - 2)':<48} "
          f"{ms[names[5]] - ms[names[1]]:8.1f} ms")


if __name__ == "__main__":
    main()
