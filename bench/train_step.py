"""Training-step throughput at the Criteo shape, all rows measured in one run (ratios matter).

Prints samples/s of: the bare MLP (same MLP, random dense input, Adam) and the same with the
gradient w.r.t. its input, which every model with embeddings below the MLP must also compute
(so "search / (bare MLP + input gradient)" is the share of the reachable speed); the search
step (supernet, joint) with the fused CPU kernels (torch.ops.optinter) and, in the same run,
with PyTorch ops only (OPTINTER_KERNELS=torch) and those under torch.compile (--compile;
compiled before the timing; a model that does not compile gets the error as its row); the
re-train step (a random architecture with the paper's Criteo counts 117/98/110); and the search
step with cross tables of each --cross-rows total (sparse gradients + LazyAdam; --dense adds
dense Adam for comparison).

    .venv/bin/python bench/train_step.py                      # Criteo shape, CPU
    .venv/bin/python bench/train_step.py --device cuda --steps 50
    .venv/bin/python bench/train_step.py --batch 500 --mlp 128,128 --cross-rows 100000,1000000
"""

from __future__ import annotations

import argparse
import itertools
import time
import types

import numpy as np
import torch

from optinter.model import native
from optinter.model.featuremap import FeatureMap
from optinter.model.layers import MLP, CTRModel
from optinter.model.optinter import METHODS, OptInterNet, Supernet
from optinter.model.train import build_optimizers, pick_device, train_step

# the fake feature map has no row counts, so give the temperature schedule a fixed length
BENCH_SEARCH = {"tau_decay_steps": 20000}


def fake_fmap(n_cont: int, n_cat: int, cat_rows: int, cross_rows: int) -> FeatureMap:
    cats = [f"C{i + 1}" for i in range(n_cat)]
    pairs = list(itertools.combinations(cats, 2))
    return FeatureMap.from_dict({
        "dataset": "bench",
        "fields": [{"name": f"I{i + 1}", "type": "continuous"} for i in range(n_cont)]
        + [{"name": c, "type": "categorical", "vocab_size": max(1, cat_rows // n_cat),
            "crossed": True} for c in cats],
        "pairs": [{"name": f"{a}_x_{b}", "fields": [a, b],
                   "vocab_size": max(1, cross_rows // len(pairs))} for a, b in pairs]})


def fake_batch(fmap: FeatureMap, batch: int, device, gen: torch.Generator,
               skewed: bool = False):
    """Random ids: uniform per column (worst case: most ids in a batch distinct) or
    log-uniform (P(id) ~ 1/id, closer to the long tail of real CTR features)."""
    def ids(vocab):
        v = torch.tensor(vocab, dtype=torch.float64)
        u = torch.rand(batch, len(vocab), generator=gen, dtype=torch.float64)
        if skewed:
            return (torch.exp(u * torch.log(v + 1)) - 1).long().clamp_(max=v.long() - 1)
        return (u * v).long()
    return (ids(fmap.cat_vocab).to(device), torch.rand(batch, fmap.n_continuous,
                                                       generator=gen).to(device),
            ids(fmap.pair_vocab).to(device),
            (torch.rand(batch, generator=gen) < 0.25).float().to(device))


def sync(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def interleaved_rates(cases, device, warmup: int, steps: int, block: int = 2) -> list[float]:
    """Samples/s per case from the median step time. The cases take turns (round-robin), so
    load from other processes hits every case alike and ratios stay meaningful on a busy box;
    each turn runs `block` consecutive steps of one case and times all but the first, as in
    training, where a step follows a step of the same model (block 1: every timed step follows
    other cases' steps, with their data in the caches instead of its own)."""
    for step, batches in cases:
        for b in batches[:warmup]:
            step(b)
    times: list[list[float]] = [[] for _ in cases]
    for i in range(steps):
        for k, (step, batches) in enumerate(cases):
            for j in range(block):
                sync(device)
                t = time.perf_counter()
                step(batches[(i * block + j) % len(batches)])
                sync(device)
                if j or block == 1:
                    times[k].append(time.perf_counter() - t)
    return [batches[0][3].shape[0] / float(np.median(t)) for t, (_, batches) in zip(times, cases)]


def pair_mix(e_o, x, e_m, w_m, w_f, i, j):
    """The mixing (Eq. 18) as plain PyTorch ops, for torch.compile to fuse when the whole
    model does not compile."""
    e_b = w_m[:, None] * e_m + w_f[:, None] * (x.index_select(1, i) * x.index_select(1, j))
    return torch.cat([e_o, e_b.flatten(1)], 1)


def compile_pair_mix(net: Supernet) -> Supernet:
    """`net` with only pair_mix compiled (the embeddings, the MLP and autograd stay eager)."""
    mix = torch.compile(pair_mix)

    def forward(self, cat, cont, cross):
        e_o = self.emb(cat, cont)
        fact_emb = self.fact(cat) if self.fact is not None else e_o[:, :self.n_cat]
        w = self.mixing_weights().to(self.memo.weight.dtype)
        x = mix(e_o.flatten(1), fact_emb, self.memo(cross), w[:, 0], w[:, 1], self.pair_i,
                self.pair_j)
        return self.mlp(x).squeeze(-1)
    net.forward = types.MethodType(forward, net)
    return net


class BareMLP(CTRModel):
    def __init__(self, in_dim: int, hidden):
        super().__init__()
        self.mlp = MLP(in_dim, hidden)

    def forward(self, x, _cont, _cross):
        return self.mlp(x).squeeze(-1)


class BareMLPInputGrad(BareMLP):
    """The bare MLP plus the gradient w.r.t. its input, which any model with embeddings
    below the MLP must compute (a [B, hidden] x [hidden, in_dim] product)."""

    def forward(self, x, _cont, _cross):
        return self.mlp(x.detach().requires_grad_()).squeeze(-1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--batch", type=int, default=2000)
    ap.add_argument("--cont", type=int, default=13)
    ap.add_argument("--cat", type=int, default=26)
    ap.add_argument("--s1", type=int, default=20)
    ap.add_argument("--s2", type=int, default=10)
    ap.add_argument("--mlp", default="700,700,700,700,700")
    ap.add_argument("--cat-rows", type=int, default=514_798)
    ap.add_argument("--cross-rows", default="1000000,21000000")
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--block", type=int, default=2,
                    help="consecutive steps per turn; all but the first are timed (1: every "
                         "timed step follows another case's steps, caches cold)")
    ap.add_argument("--dense", action="store_true", help="also time dense-gradient Adam")
    ap.add_argument("--ids", choices=["uniform", "loguniform"], default="uniform",
                    help="distribution of the random ids (uniform = most rows distinct)")
    ap.add_argument("--compile", choices=["auto", "model", "pairmix", "off"], default=None,
                    help="time the PyTorch-ops search step under torch.compile: the whole "
                         "model, only the pair mixing, or auto (the model, else the mixing "
                         "where the model fails); default auto on CPU, off elsewhere")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    a = ap.parse_args()
    device = pick_device(a.device)
    if a.compile is None:
        a.compile = "auto" if device.type == "cpu" else "off"
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    gen = torch.Generator().manual_seed(a.seed)
    hidden = [int(x) for x in a.mlp.split(",") if x]
    hp = {"s1": a.s1, "s2": a.s2, "mlp": hidden, "lr": 5e-4, "lr_c": 1e-4, "lr_a": 3e-5,
          "l2_o": 0.0, "l2_c": 3e-8, "eps": 1e-8}
    cross_rows = [int(x) for x in a.cross_rows.split(",")]
    nb = 3  # distinct batches cycled, so gathers do not hit one cached set of rows
    labels, cases = [], []
    failed: list[str] = []  # rows that could not run, with the reason

    def add(label: str, model: CTRModel, batches, sparse: bool = True,
            kernels: str = "auto", compiled: str | None = None) -> None:
        model.to(device).set_sparse(sparse)
        opts = build_optimizers(model, hp)
        run = model
        if compiled == "model":
            run = torch.compile(model)  # train_step reaches the hooks through the wrapper
        elif compiled == "pairmix":
            run = compile_pair_mix(model)

        def step(b, m=run, o=opts):
            with native.forced(kernels):
                train_step(m, o, b)
        if compiled:
            # compile (and any recompile on the second step) before the timed warm-up
            t = time.perf_counter()
            try:
                for b in batches:
                    step(b)
            except Exception as exc:  # noqa: BLE001 - the reason is the row
                failed.append(f"{label}: failed ({compiled}): {type(exc).__name__}: "
                              f"{str(exc).splitlines()[0][:200]}")
                return
            print(f"{label}: compiled in {time.perf_counter() - t:.1f} s", flush=True)
        labels.append(label)
        cases.append((step, batches))

    fmap = fake_fmap(a.cont, a.cat, a.cat_rows, cross_rows[0])
    in_dim = fmap.n_fields * a.s1 + fmap.n_pairs * a.s2
    dense_in = [(torch.randn(a.batch, in_dim, generator=gen).to(device), None, None,
                 (torch.rand(a.batch, generator=gen) < 0.25).float().to(device))
                for _ in range(nb)]
    add("bare MLP (random input)", BareMLP(in_dim, hidden), dense_in)
    add("bare MLP + input gradient", BareMLPInputGrad(in_dim, hidden), dense_in)
    counts = {"memorize": 117, "factorize": 98, "naive": 110}
    base_batches = None
    for i, rows_total in enumerate(cross_rows):
        fmap = fake_fmap(a.cont, a.cat, a.cat_rows, rows_total)
        if base_batches is None:
            base_batches = [fake_batch(fmap, a.batch, device, gen, a.ids == "loguniform")
                            for _ in range(nb)]
            base_vocab = torch.tensor(fmap.pair_vocab, device=device)
            batches = base_batches
        else:
            # the first size's ids spread over the larger tables (id * ratio): the same
            # duplicate structure and touched-row count, so only the table size differs
            ratio = torch.tensor(fmap.pair_vocab, device=device) // base_vocab
            batches = [(c, x, cr * ratio, y) for c, x, cr, y in base_batches]
        add(f"search step, cross {rows_total:,} rows", Supernet(fmap, hp, BENCH_SEARCH), batches)
        if i == 0:
            if native.kernels() is not None and device.type == "cpu":
                add("search step, PyTorch ops only", Supernet(fmap, hp, BENCH_SEARCH), batches,
                    kernels="torch")
            if a.compile != "off":
                n_before = len(cases)
                for how in (("model", "pairmix") if a.compile == "auto" else (a.compile,)):
                    what = "PyTorch ops" if how == "model" else "pair mix only"
                    add(f"search step, torch.compile ({what})",
                        Supernet(fmap, hp, BENCH_SEARCH), batches, kernels="torch",
                        compiled=how)
                    if len(cases) > n_before:
                        break
            scale = fmap.n_pairs / sum(counts.values())
            choices = [m for m in METHODS for _ in range(round(counts[m] * scale))]
            choices = (choices + ["naive"] * fmap.n_pairs)[:fmap.n_pairs]
            choices = list(np.random.default_rng(a.seed).permutation(choices))
            add("re-train step (117/98/110 architecture)",
                OptInterNet(fmap, hp, architecture=choices), batches)
        if a.dense:
            add(f"search step, dense Adam, {rows_total:,} rows", Supernet(fmap, hp, BENCH_SEARCH), batches,
                sparse=False)
    rates = interleaved_rates(cases, device, a.warmup, a.steps, a.block)
    print(f"device {device}, threads {torch.get_num_threads()}, batch {a.batch}, fields "
          f"{a.cont}+{a.cat}, pairs {a.cat * (a.cat - 1) // 2}, s1 {a.s1}, s2 {a.s2}, "
          f"mlp {hidden}, {a.ids} ids, median of {a.steps * max(a.block - 1, 1)} steps "
          f"({a.steps} turns of {a.block} consecutive steps)")
    kern = ("fused CPU kernels (torch.ops.optinter)"
            if native.kernels() is not None and device.type == "cpu" else "PyTorch ops")
    print(f"cross embeddings and LazyAdam: {kern}")
    print(f"{'step':<44} {'samples/s':>12} {'vs MLP':>7}")
    for label, r in zip(labels, rates):
        print(f"{label:<44} {r:>12,.0f} {r / rates[0]:>7.2f}")
    for line in failed:
        print(line)
    rows = list(zip(labels, rates))
    base = rates[0]
    search = [r for label, r in rows if label.startswith("search step, cross")]
    print(f"\nsearch / bare MLP: {search[0] / base:.2f} (goal >= 0.70); "
          f"search / (bare MLP + input gradient): {search[0] / rates[1]:.2f}")
    by_label = dict(rows)
    fused = [r for label, r in rows if label.startswith("search step, torch.compile")]
    if fused and "search step, PyTorch ops only" in by_label:
        print(f"search step, torch.compile / with the kernels: {fused[0] / search[0]:.2f}; "
              f"/ PyTorch ops eager: {fused[0] / by_label['search step, PyTorch ops only']:.2f}")
    if len(search) > 1:
        print(f"step time {cross_rows[-1]:,} rows / {cross_rows[0]:,} rows: "
              f"{search[0] / search[-1]:.3f} (goal <= 1.10)")


if __name__ == "__main__":
    main()
