"""Training-step throughput of every Table V model, beside a bare MLP timed in the same run.

One step = forward + backward + optimiser step (train.build_optimizers / train.train_step,
sparse embeddings + LazyAdam as in training). The bare MLP is the yardstick of bench/
train_step.py (same hidden layers, input of OptInter's width n_fields*s1 + n_pairs*s2, random
dense input), so "vs MLP" compares across models and with that bench; the baselines' MLP
inputs are narrower (no pair vectors), so theirs can exceed 1. Steps of all models
take turns (bench/train_step.interleaved_rates), so a busy machine slows every row alike.

Shapes: demo (config.yaml hparams.demo over the demo's 13 + 26 fields) and criteo (Table IV:
s1 20, s2 10, MLP 5 x 700, batch 2000). `optinter` is the re-train with a random architecture
of the paper's Criteo counts (117/98/110); `autofis` the re-train keeping a random half.

    .venv/bin/python bench/models.py                        # both shapes, 1-2.5 min on 2 cores
    .venv/bin/python bench/models.py --shape criteo --models fm,deepfm,ipnn --steps 6
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from train_step import BareMLP, fake_batch, fake_fmap, interleaved_rates

from optinter.model.optinter import METHODS
from optinter.model.registry import get_model
from optinter.model.train import build_optimizers, pick_device, train_step

MODELS = ["lr", "fm", "poly2", "fnn", "ipnn", "deepfm", "pin", "autofis", "optinter_m",
          "optinter_f", "optinter"]
# cat/cross rows: the demo's feature map (data/planted/n60000_s1 has 1,097 and 219,144);
# Criteo's field rows at min_count 20, cross rows as bench/train_step.py's default.
# threads: the demo trains one thread per job (config.yaml resources); 0 = torch's default.
# steps: demo steps are ~20x cheaper, and need more turns to get past a busy machine's noise.
SHAPES = {
    "demo": dict(batch=1024, s1=16, s2=8, mlp=[128, 64], cat_rows=1_100, cross_rows=220_000,
                 threads=1, steps=15),
    "criteo": dict(batch=2000, s1=20, s2=10, mlp=[700] * 5, cat_rows=514_798,
                   cross_rows=1_000_000, threads=0, steps=3),
}
PAPER_COUNTS = {"memorize": 117, "factorize": 98, "naive": 110}


def architecture(name: str, n_pairs: int, rng: np.random.Generator):
    if name == "optinter":
        scale = n_pairs / sum(PAPER_COUNTS.values())
        choices = [m for m in METHODS for _ in range(round(PAPER_COUNTS[m] * scale))]
        return list(rng.permutation((choices + ["naive"] * n_pairs)[:n_pairs]))
    if name == "autofis":
        return list(rng.permutation(["factorize", "naive"] * (n_pairs // 2)
                                    + ["factorize"] * (n_pairs % 2)))
    return None


def cases_for(shape: str, names, device, seed: int):
    s = SHAPES[shape]
    hp = {"s1": s["s1"], "s2": s["s2"], "mlp": s["mlp"], "lr": 5e-4, "lr_c": 1e-4,
          "lr_a": 3e-5, "l2_o": 0.0, "l2_c": 3e-8, "eps": 1e-8}
    fmap = fake_fmap(13, 26, s["cat_rows"], s["cross_rows"])
    gen = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    nb = 3  # distinct batches cycled, so gathers do not hit one cached set of rows
    batches = [fake_batch(fmap, s["batch"], device, gen) for _ in range(nb)]
    in_dim = fmap.n_fields * s["s1"] + fmap.n_pairs * s["s2"]
    dense_in = [(torch.randn(s["batch"], in_dim, generator=gen).to(device), None, None, b[3])
                for b in batches]
    out = []

    def add(label, model, data):
        model.to(device).set_sparse(True)
        opts = build_optimizers(model, hp)
        out.append((f"{shape}:{label}", lambda b, m=model, o=opts: train_step(m, o, b), data))

    torch.manual_seed(seed)
    add("bare MLP", BareMLP(in_dim, s["mlp"]), dense_in)
    for name in names:
        arch = architecture(name, fmap.n_pairs, rng)
        kw = {} if arch is None else {"architecture": arch}
        add(name, get_model(name)(fmap, hp, **kw), batches)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shape", choices=["demo", "criteo", "both"], default="both")
    ap.add_argument("--models", default=",".join(MODELS),
                    help="comma-separated registry names (pin's 325 sub-networks take about "
                         "half of a default run: leave it out to halve the time)")
    ap.add_argument("--steps", type=int, default=0,
                    help="timed turns per model (0: 15 at the demo shape, 3 at Criteo's)")
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--block", type=int, default=2, help="consecutive steps per turn, all but "
                                                          "the first timed (see train_step.py)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=0,
                    help="torch threads (0: 1 at the demo shape, as it trains; else torch's)")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    names = [m for m in a.models.split(",") if m]
    unknown = sorted(set(names) - set(MODELS))
    if unknown:
        ap.error(f"--models: not Table V models: {unknown}; choose from {MODELS}")
    default_threads = torch.get_num_threads()
    device = pick_device(a.device)
    shapes = list(SHAPES) if a.shape == "both" else [a.shape]
    t0 = time.perf_counter()
    rates, notes = {}, []
    for shape in shapes:  # one interleaved run per shape: its rows share the machine's load
        s = SHAPES[shape]
        torch.set_num_threads(a.threads or s["threads"] or default_threads)
        steps = a.steps or s["steps"]
        cases = cases_for(shape, names, device, a.seed)
        got = interleaved_rates([(f, b) for _, f, b in cases], device, a.warmup, steps, a.block)
        rates.update(zip((label for label, _, _ in cases), got))
        notes.append(f"{shape}: batch {s['batch']}, fields 13+26, pairs 325, s1 {s['s1']}, "
                     f"s2 {s['s2']}, mlp {s['mlp']}, threads {torch.get_num_threads()}, "
                     f"median of {steps * max(a.block - 1, 1)} steps per row")
    print(f"device {device}, {time.perf_counter() - t0:.0f} s")
    print("\n".join(notes))
    head = "".join(f" {shape + ' samples/s':>20} {'vs MLP':>7}" for shape in shapes)
    print(f"{'model':<12}{head}")
    for name in ["bare MLP"] + names:
        row = ""
        for shape in shapes:
            r, base = rates[f"{shape}:{name}"], rates[f"{shape}:bare MLP"]
            row += f" {r:>20,.0f} {r / base:>7.2f}"
        print(f"{name:<12}{row}")


if __name__ == "__main__":
    main()
