"""The CUDA path against the CPU on the tiny fixture: a few training steps of the supernet and of
OptInterNet with sparse gradients + LazyAdam, the pinned-memory loader, and short end-to-end
runs. Marked `cuda` and skipped without a GPU (bench/gpu_check.sh runs them with `-m cuda`).

CUDA always takes the PyTorch path (docs/design.md, CPU kernels), so the same comparison runs
on every machine as the CPU's C kernels against its PyTorch ops: the harness is exercised
even where no GPU ever is."""

from __future__ import annotations

import math

import pytest
import torch

from optinter.model import native
from optinter.model.featuremap import FeatureMap
from optinter.model.loader import ParquetBatches
from optinter.model.optinter import OptInterNet, Supernet
from optinter.model.stages import run_model, run_search, search_stage
from optinter.model.train import build_optimizers, train_step

HP = dict(batch_size=128, s1=4, s2=3, mlp=[8, 6], lr=1e-2, lr_c=1e-2, lr_a=1e-2, l2_o=0.0,
          l2_c=1e-4, eps=1e-8, epochs=2, patience=1)
STEPS = 6
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")


def batches(fmap: FeatureMap, n: int = STEPS) -> list:
    loader = ParquetBatches(fmap, "train", HP["batch_size"], shuffle=True, seed=3, prefetch=0)
    return [b for _, b in zip(range(n), loader.iterate(0))]


def run_steps(make, device: str, data: list, sparse: bool, kernels: str = "auto"):
    """Losses of `len(data)` steps and the final weights (on the CPU) of a model built on the
    CPU with seed 0, then moved to `device`: both devices start from the same weights."""
    torch.manual_seed(0)
    model = make().to(device)
    model.set_sparse(sparse)
    opts = build_optimizers(model, HP)
    losses = []
    with native.forced(kernels):
        for b in data:
            losses.append(float(train_step(model, opts, tuple(x.to(device) for x in b))))
    return losses, {k: v.detach().cpu() for k, v in model.state_dict().items()}


def assert_same_run(a, b) -> None:
    (la, wa), (lb, wb) = a, b
    assert all(math.isfinite(x) for x in la + lb)
    torch.testing.assert_close(torch.tensor(la), torch.tensor(lb), rtol=1e-4, atol=1e-5)
    assert wa.keys() == wb.keys()
    for k in wa:
        torch.testing.assert_close(wa[k], wb[k], rtol=1e-3, atol=1e-4, msg=lambda m: f"{k}: {m}")


def models(fmap: FeatureMap):
    choices = (["memorize", "factorize", "naive"] * fmap.n_pairs)[:fmap.n_pairs]
    return {
        "supernet": lambda: Supernet(fmap, HP, {"relaxation": "softmax"}, steps_per_epoch=20),
        "optinter": lambda: OptInterNet(fmap, HP, architecture=choices),
    }


CASES = [("supernet", True), ("supernet", False), ("optinter", True)]


@pytest.mark.parametrize("name,sparse", CASES)
def test_harness_cpu_kernels_vs_torch_ops(tiny_processed, name, sparse):
    """The comparison below on the CPU: C kernels (where they build) against PyTorch ops."""
    fmap = FeatureMap.load(tiny_processed)
    data = batches(fmap)
    make = models(fmap)[name]
    assert_same_run(run_steps(make, "cpu", data, sparse),
                    run_steps(make, "cpu", data, sparse, kernels="torch"))


@pytest.mark.cuda
@needs_cuda
@pytest.mark.parametrize("name,sparse", CASES)
def test_cuda_steps_match_cpu(tiny_processed, name, sparse):
    """Supernet (sparse + LazyAdam, dense + Adam) and OptInterNet with sparse LazyAdam: the same
    losses and weights after a few steps on CUDA as on the CPU, to float tolerance."""
    fmap = FeatureMap.load(tiny_processed)
    data = batches(fmap)
    make = models(fmap)[name]
    assert_same_run(run_steps(make, "cpu", data, sparse), run_steps(make, "cuda", data, sparse))


@pytest.mark.cuda
@needs_cuda
@pytest.mark.parametrize("in_memory_max_mb", [1024, 0])
def test_cuda_loader_pinned_matches_cpu(tiny_processed, in_memory_max_mb):
    """The loader pins host memory for a CUDA target and copies asynchronously (with the
    prefetch thread): the batches arrive on the GPU equal to the CPU loader's, in memory and
    streaming."""
    fmap = FeatureMap.load(tiny_processed)
    kw = dict(shuffle=True, seed=5, in_memory_max_mb=in_memory_max_mb, buffer_rows=1000)
    cpu = ParquetBatches(fmap, "train", 100, device="cpu", **kw)
    gpu = ParquetBatches(fmap, "train", 100, device="cuda", **kw)
    for epoch in (0, 1):
        got = list(gpu.iterate(epoch))
        want = list(cpu.iterate(epoch))
        assert len(got) == len(want) == len(cpu)
        for g, w in zip(got, want):
            assert all(x.device.type == "cuda" for x in g)
            for x, y in zip(g, w):
                assert x.dtype == y.dtype and torch.equal(x.cpu(), y)
    chunk = next(cpu._numpy_batches(0, 0))
    assert all(x.is_pinned() for x in gpu._to_torch(chunk))


@pytest.mark.cuda
@needs_cuda
@pytest.mark.parametrize("name", ["fm", "optinter_m", "autofis"])
def test_cuda_run_model_close_to_cpu(tiny_processed, tmp_path, name):
    """End to end through run_model (AutoFIS: its GRDA search stage too): same epochs, valid AUC
    within 0.01 of the CPU run, the device recorded."""
    hp = {**HP, "grda_c": 0.03}
    out = {}
    for dev in ("cpu", "cuda"):
        tc = {"seed": 1, "checkpoint_every_steps": 0, "sparse_embeddings": True, "device": dev}
        arch = None
        if name == "autofis":
            arch = tmp_path / f"{dev}_arch.json"
            search_stage(name, tiny_processed, hp, tc, 1, tmp_path / f"cks_{dev}", out_arch=arch)
        out[dev] = run_model(name, tiny_processed, hp, tc, 1, tmp_path / f"{dev}.json",
                             tmp_path / f"ck_{dev}", architecture=arch)
    assert out["cuda"]["device"].startswith("cuda")
    assert out["cuda"]["epochs"] == out["cpu"]["epochs"]
    assert abs(out["cuda"]["valid_auc"] - out["cpu"]["valid_auc"]) < 0.01, out


@pytest.mark.cuda
@needs_cuda
def test_cuda_search_runs_and_resumes(tiny_processed, tmp_path):
    """The Gumbel search on CUDA (its noise from the CUDA generator, so no CPU comparison):
    valid probabilities, and a rerun on its finished checkpoint gives the same architecture."""
    tc = {"seed": 1, "checkpoint_every_steps": 3, "sparse_embeddings": True, "device": "cuda"}
    search = {"mode": "joint", "recipe": "paper", "seed": 1}
    a = run_search(tiny_processed, HP, search, tc, tmp_path / "a.json", tmp_path / "ck")
    assert a["settings"]["device"].startswith("cuda")
    assert all(abs(sum(p["probs"]) - 1) < 1e-5 for p in a["pairs"])
    b = run_search(tiny_processed, HP, search, tc, tmp_path / "b.json", tmp_path / "ck")
    assert [p["probs"] for p in a["pairs"]] == [p["probs"] for p in b["pairs"]]
