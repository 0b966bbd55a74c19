"""Name -> model class. Every class follows the model interface in docs/design.md:
`cls(fmap: FeatureMap, hp: dict, **kw)`, forward(cat, cont, cross) -> logits [B],
param_groups(hp), sparse_parameters() (see layers.CTRModel).

Models register themselves with `layers.register(name)`; this module imports every module that
defines models, so MODELS is complete once it is imported. Nothing under optinter.model imports
it except train.py and bundle.py (no import circle: registry -> baselines -> optinter -> layers).
"""

from __future__ import annotations

from typing import Callable

import optinter.model.baselines  # noqa: F401  (registers the baselines)
import optinter.model.optinter  # noqa: F401  (registers "optinter")
import optinter.model.pairscan  # noqa: F401  (registers "pairscan")
from optinter.model.layers import MODELS, register

__all__ = ["MODELS", "register", "get_model"]


def get_model(name: str) -> Callable:
    """The registered model class called `name`."""
    if name not in MODELS:
        raise KeyError(f"unknown model {name!r}; registered: {sorted(MODELS)}")
    return MODELS[name]
