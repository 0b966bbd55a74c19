"""What runs where on an accelerator: splits kept on the device (the loader's resident mode)
and mixed precision of the forward pass; the same code runs on the CPU (device=cpu), where the
tests cover it."""

from __future__ import annotations

import torch

from optinter.model.featuremap import FeatureMap

MB = 2 ** 20
AMP = (None, False, "off", "bf16")


def resident(train_cfg: dict, nbytes: int) -> bool:
    """Whether splits of `nbytes` are kept on an accelerator (train.device_resident, where
    auto: when they fit train.device_resident_max_mb, default 60000: an H200's 141 GB hold
    Criteo's 47 GB train split beside the largest model's ~4 GB of weights and moments)."""
    how = train_cfg.get("device_resident", "auto")
    if how in (True, False):
        return bool(how)
    return nbytes <= int(train_cfg.get("device_resident_max_mb", 60_000)) * MB


def use_resident(fmap: FeatureMap, train_cfg: dict, device) -> bool:
    """train.device_resident: true / false, or auto (default): on an accelerator, when the
    train and valid splits together fit `device_resident_max_mb`; never on the CPU, where the
    in-memory loader's background thread already overlaps batching with the step."""
    how = train_cfg.get("device_resident", "auto")
    if how in (True, False):
        return bool(how)
    if how != "auto":
        raise ValueError(f"train.device_resident: expected auto, true or false, got {how!r}")
    if torch.device(device).type == "cpu":
        return False
    rows = sum(int((fmap.rows or {}).get(k, 0) or 0) for k in ("train", "valid"))
    return resident(train_cfg, split_bytes(fmap, rows))


def autocast(amp, device):
    """train.amp: off (default) or bf16, autocast of the model's forward pass (the MLP's matrix
    products in bfloat16; embeddings, optimiser state and the loss stay float32)."""
    if amp not in AMP:
        raise ValueError(f"train.amp: expected off or bf16, got {amp!r}")
    dev = torch.device(device).type
    return torch.autocast(dev, dtype=torch.bfloat16, enabled=amp == "bf16")


def split_bytes(fmap: FeatureMap, rows: int) -> int:
    """Bytes of `rows` rows of a processed split as the loader holds them (4 bytes a column)."""
    width = fmap.n_categorical + fmap.n_continuous + fmap.n_pairs + 1
    return int(rows) * width * 4
