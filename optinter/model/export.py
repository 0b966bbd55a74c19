"""A trained model as a program a serving system runs without optinter: `torch.export`.

The exported program takes what the model takes, for any batch size B:
  cat   int64   [B, n_categorical]  field ids (0 = OOV), feature-map order
  cont  float32 [B, n_continuous]   min-max scaled values in [0, 1] (missing -> 0)
  cross int64   [B, n_pairs]        pair ids (0 = OOV), feature-map order
and returns the click logit float32 [B] (sigmoid for the probability). It is traced from a CPU
copy in eval mode with dense embedding lookups and plain PyTorch operators (no
torch.ops.optinter kernel), so `torch.export.load` needs nothing but torch. Ids come from the
bundle's vocabularies (README, "Using the trained model").
"""

from __future__ import annotations

import copy
import os

import torch

from optinter.model import native
from optinter.model.featuremap import FeatureMap

INPUTS = ("cat", "cont", "cross")


def example_inputs(fmap: FeatureMap, rows: int = 3, seed: int = 0) -> tuple[torch.Tensor, ...]:
    """A batch of valid ids (OOV and known ones) and values in [0, 1] for tracing and checks."""
    g = torch.Generator().manual_seed(seed)
    cat = torch.stack([torch.randint(0, v, (rows,), generator=g) for v in fmap.cat_vocab], 1) \
        if fmap.n_categorical else torch.zeros(rows, 0, dtype=torch.long)
    cross = torch.stack([torch.randint(0, v, (rows,), generator=g) for v in fmap.pair_vocab], 1) \
        if fmap.n_pairs else torch.zeros(rows, 0, dtype=torch.long)
    cont = torch.rand(rows, fmap.n_continuous, generator=g)
    return cat, cont, cross


def serving_copy(model: torch.nn.Module) -> torch.nn.Module:
    """A CPU copy in eval mode with dense embedding lookups (export has no sparse gradients)."""
    m = copy.deepcopy(model).cpu().eval()
    if hasattr(m, "set_sparse"):
        m.set_sparse(False)
    for p in m.parameters():
        p.requires_grad_(False)
    return m


def export_program(model: torch.nn.Module, fmap: FeatureMap) -> torch.export.ExportedProgram:
    """torch.export of `model` with a dynamic batch dimension (raises where export cannot)."""
    m = serving_copy(model)
    batch = torch.export.Dim("batch", min=1, max=1 << 30)
    with native.forced("torch"), torch.no_grad():
        return torch.export.export(m, example_inputs(fmap), strict=False,
                                   dynamic_shapes=tuple({0: batch} for _ in INPUTS))


def save_program(program: torch.export.ExportedProgram, path: str | os.PathLike) -> None:
    torch.export.save(program, os.fspath(path))
