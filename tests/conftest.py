"""Shared fixtures: the real samples in ../shared and a tiny processed dataset per docs/design.md."""

from __future__ import annotations

import os
from pathlib import Path

# Test models are tiny: one thread is faster than two and keeps results independent of the machine.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest

from synth import make_processed

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "data" / "samples"


@pytest.fixture(scope="session")
def samples_dir() -> Path:
    """The real dataset samples; skipped where absent, a failure under CI=true."""
    if not SAMPLES.is_dir():
        msg = f"real samples not found at {SAMPLES} (they live in ../shared, outside the repo)"
        if os.environ.get("CI") == "true":
            pytest.fail(msg)
        pytest.skip(msg)
    return SAMPLES


@pytest.fixture(scope="session")
def tiny_processed(tmp_path_factory) -> Path:
    """A small processed dataset (Parquet + feature_map.json) with a planted signal."""
    out = tmp_path_factory.mktemp("tiny_processed")
    make_processed(out, rows=3000, n_cont=2, n_cat=5, seed=0)
    return out
