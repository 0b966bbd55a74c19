"""Name -> model class. Every class follows the model interface in docs/design.md:
`cls(fmap: FeatureMap, hp: dict, **kw)`, forward(cat, cont, cross) -> logits [B],
param_groups(hp), sparse_parameters() (see layers.CTRModel)."""

from __future__ import annotations

from typing import Callable

MODELS: dict[str, Callable] = {}


def register(name: str) -> Callable:
    """Class decorator adding the class to MODELS under `name` (unique)."""
    def deco(cls):
        if name in MODELS and MODELS[name] is not cls:
            raise ValueError(f"model {name!r} registered twice ({MODELS[name]} and {cls})")
        MODELS[name] = cls
        return cls
    return deco


def get_model(name: str) -> Callable:
    """Look a model up, importing the modules that register models first."""
    import optinter.model.optinter  # noqa: F401  (registers "optinter")
    try:
        import optinter.model.baselines  # noqa: F401
    except ModuleNotFoundError as e:
        if e.name != "optinter.model.baselines":
            raise
    if name not in MODELS:
        raise KeyError(f"unknown model {name!r}; registered: {sorted(MODELS)}")
    return MODELS[name]
