"""Shared fixtures: the real samples in ../shared and a tiny processed dataset per docs/design.md."""

from __future__ import annotations

import os
from pathlib import Path

# Test models are tiny: one thread is faster than two. OPTINTER_TEST_THREADS runs the whole suite
# at another torch thread count (CI runs it at 1, 2 and 3): no test may depend on the count.
THREADS = os.environ.get("OPTINTER_TEST_THREADS", "1")
os.environ["OMP_NUM_THREADS"] = THREADS

import pytest
import torch

from synth import make_processed

torch.set_num_threads(int(THREADS))

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "data" / "samples"


def pytest_configure(config):
    # registered here rather than in pyproject.toml's markers, which lists `slow`
    config.addinivalue_line("markers", "cuda: needs a CUDA device (skipped without one); "
                                       "bench/gpu_check.sh runs them with -m cuda")


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
