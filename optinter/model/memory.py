"""Memory a training job needs, estimated before it starts, so that a model that cannot fit is
refused with the number and the setting to change instead of dying in the out-of-memory killer
an hour in; also what Snakemake asks a cluster for (workflow/rules/common.smk, `mem_mb`).

The model is built on PyTorch's meta device (shapes only, no storage: milliseconds even for a
billion parameters) and counted by parts:
- weights: every parameter, float32;
- optimiser state: Adam's two moments for dense parameters, LazyAdam's two float32 moments for
  the embedding tables, plus LazyAdam's per-row scratch maps (a bit and an int32 slot per
  table row on CPU; an int64 slot elsewhere);
- gradients: dense parameters (float32); the sparse tables' gradients are per batch
  (lookups x dim), counted with the activations;
- activations: batch x (MLP input + hidden widths) floats, a few copies for the backward pass;
- data: the splits the loader holds in memory (train when it fits `in_memory_max_mb`, else its
  shuffle buffer; valid always read once per evaluation) at 4 bytes a column;
- runtime: the interpreter, torch and the kernels (a constant, measured by bench/full_size.py).
bench/full_size.py prints this estimate beside the measured peak of each model.
"""

from __future__ import annotations

import dataclasses

import torch

from optinter.model import accel
from optinter.model.featuremap import FeatureMap

MB = 2 ** 20
RUNTIME_MB = 600           # python + torch + kernels, measured (bench/full_size.py: lr's peak)
ACTIVATION_COPIES = 6      # forward values, their gradients, LayerNorm/ReLU saved tensors


@dataclasses.dataclass
class Estimate:
    """Bytes by part, and what the model is made of."""
    params: int
    sparse_params: int
    sparse_rows: int
    weights: int
    optimizer: int
    gradients: int
    activations: int
    data: int
    runtime: int

    @property
    def total(self) -> int:
        return (self.weights + self.optimizer + self.gradients + self.activations + self.data
                + self.runtime)

    @property
    def total_mb(self) -> int:
        return -(-self.total // MB)

    def table(self) -> str:
        parts = ("weights", "optimizer", "gradients", "activations", "data", "runtime")
        return ", ".join(f"{p} {getattr(self, p) / MB:,.0f} MB" for p in parts)


def meta_model(name: str, fmap: FeatureMap, hp: dict, architecture=None,
               search_cfg: dict | None = None, search: bool = False):
    """The model (the search model with `search`: the supernet for optinter, the model class's
    `search_model` otherwise) built with meta tensors: parameters have shapes, no storage."""
    from optinter.model.optinter import Supernet
    from optinter.model.registry import get_model
    with torch.device("meta"):
        if search and name == "optinter":
            return Supernet(fmap, hp, {**(search_cfg or {}), "tau_decay_steps": 1})
        cls = get_model(name)
        if search:
            return cls.search_model(fmap, hp)
        return cls(fmap, hp, architecture=architecture, search_cfg=search_cfg)


def _widths(model) -> tuple[int, int]:
    """(floats per example through the model's Linear layers, embedding values looked up per
    example): what its activations scale with."""
    from torch import nn

    from optinter.model.layers import MultiTable
    width = looked = 0
    for m in model.modules():
        if isinstance(m, nn.Linear):
            width += m.in_features + m.out_features
        elif isinstance(m, MultiTable):
            cols = getattr(m, "columns", None)
            n = len(cols) if cols is not None else len(m.vocab_sizes)
            looked += n * m.weight.shape[1]
        # batched per-pair layers (PIN's sub-networks): weights [pairs, in, out]
        for w in m.parameters(recurse=False):
            if w.dim() == 3:
                width += w.shape[0] * (w.shape[1] + w.shape[2])
    return width + looked, looked


def _rows(fmap: FeatureMap, split: str) -> int:
    rows = getattr(fmap, "rows", None) or {}
    return int(rows.get(split, 0) or 0)


def estimate(model, fmap: FeatureMap, hp: dict, train_cfg: dict | None = None,
             device: str = "cpu") -> Estimate:
    """Peak bytes of training `model` (a real or meta-device CTRModel) on `fmap`'s data."""
    train_cfg = train_cfg or {}
    sparse_ids = {id(p) for p in model.sparse_parameters()} \
        if bool(train_cfg.get("sparse_embeddings", True)) else set()
    params = sparse = rows = 0
    for p in model.parameters():
        params += p.numel()
        if id(p) in sparse_ids:
            sparse += p.numel()
            rows += p.shape[0] if p.dim() == 2 else p.numel()
    dense = params - sparse
    moment = 4  # float32 moments
    scratch = rows * (4 + 1 / 8) if device == "cpu" else rows * 8
    batch = int(hp.get("batch_size", 2000))
    eval_bs = int(train_cfg.get("eval_batch_size", max(batch, 8192)))
    width, looked = _widths(model)
    # forward values and their gradients per Linear; sparse gradients: a row per lookup,
    # values + int64 index, and their summed copy
    train_act = batch * width * 4 * ACTIVATION_COPIES + batch * looked * 4 * 3
    activations = max(train_act, eval_bs * width * 4 * 2)
    limit = int(train_cfg.get("in_memory_max_mb", 1024)) * MB
    train_b = accel.split_bytes(fmap, _rows(fmap, "train"))
    valid_b = accel.split_bytes(fmap, _rows(fmap, "valid"))
    buffer_b = accel.split_bytes(fmap, int(train_cfg.get("shuffle_buffer_rows", 500_000))) * 3
    # valid is read in file order: a streamed one holds a row group and the prefetched batches
    valid_stream = accel.split_bytes(fmap, eval_bs * 6)
    data = ((train_b if train_b <= limit else buffer_b)
            + (valid_b if valid_b <= limit else valid_stream))
    if device != "cpu":  # device memory: the resident splits, else the batches in flight
        data = (train_b + valid_b if accel.resident(train_cfg, train_b + valid_b)
                else accel.split_bytes(fmap, batch * 8))
    return Estimate(params=params, sparse_params=sparse, sparse_rows=rows,
                    weights=params * 4, optimizer=int(dense * 8 + sparse * 2 * moment + scratch),
                    gradients=dense * 4, activations=int(activations), data=int(data),
                    runtime=RUNTIME_MB * MB)


def estimate_job(name: str, fmap: FeatureMap, hp: dict, train_cfg: dict | None = None,
                 architecture=None, search_cfg: dict | None = None, search: bool = False,
                 device: str = "cpu") -> Estimate:
    """estimate() of a job: model `name` (its search stage with `search`) on `fmap`."""
    arch = architecture
    if arch is not None and not isinstance(arch, list):
        from optinter.model.optinter import load_choices
        arch = load_choices(arch, fmap)
    model = meta_model(name, fmap, hp, arch, search_cfg, search)
    return estimate(model, fmap, hp, train_cfg, device)


def limit_mb(train_cfg: dict | None = None, device: str = "cpu") -> int | None:
    """The memory a job may use: train.memory_limit_mb, else on an accelerator its memory,
    else the cgroup's limit or the machine's memory."""
    train_cfg = train_cfg or {}
    if train_cfg.get("memory_limit_mb"):
        return int(train_cfg["memory_limit_mb"])
    if device == "cuda" and torch.cuda.is_available():
        return torch.cuda.get_device_properties(torch.cuda.current_device()).total_memory // MB
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            raw = open(path).read().strip()
        except OSError:
            continue
        if raw.isdigit() and int(raw) < 2 ** 60:
            return int(raw) // MB
    try:
        import os
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // MB
    except (ValueError, OSError, AttributeError):
        return None


class DoesNotFit(MemoryError):
    """A job whose estimate exceeds the memory it may use."""


def check(est: Estimate, what: str, train_cfg: dict | None = None, device: str = "cpu") -> None:
    """Refuse before training when `est` (of `device`'s memory) exceeds the limit, naming the
    number and the settings that shrink it."""
    limit = limit_mb(train_cfg, device)
    if limit is None or est.total_mb <= limit:
        return
    raise DoesNotFit(
        f"{what}: needs ~{est.total_mb:,} MB ({est.table()}; {est.params:,} parameters, "
        f"{est.sparse_params:,} in embedding tables) but {limit:,} MB are available "
        f"(train.memory_limit_mb, else the device's, the cgroup's or the machine's memory). "
        f"Shrink it: a larger datasets.<name>.cross_min_count (fewer cross rows), a smaller hp s2, "
        f"train.in_memory_max_mb / device_resident false (the loader holds "
        f"{est.data / MB:,.0f} MB), or "
        f"run it where more memory is (a cluster job asks for resources mem_mb = the estimate)")


def mem_mb(name: str, data_dir, hp: dict, train_cfg: dict | None = None, search: bool = False,
           search_cfg: dict | None = None, margin: float = 1.15, floor_mb: int = 1000) -> int:
    """Snakemake `mem_mb` of a training job on the dataset in `data_dir`: the estimate of model
    `name` (its search stage with `search`) with a margin. A job that re-trains a searched
    architecture is costed as its search model, which holds every table the re-train could
    keep (OptInter: the supernet, AutoFIS: its gated model): an upper bound known before the
    search ran, and the size of the validated recipe's largest candidates."""
    fmap = FeatureMap.load(data_dir)
    if name in ("optinter", "autofis"):
        search = True
    est = estimate_job(name, fmap, hp, train_cfg, search_cfg=search_cfg, search=search)
    return max(floor_mb, int(est.total_mb * margin))
