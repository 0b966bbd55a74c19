"""bench/gpu_check.sh where no GPU is: it parses, says it found none, and runs its CPU-only
parts (the GPU run itself is for a machine that has one)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "bench" / "gpu_check.sh"


def test_gpu_check_parses_and_refuses_unknown_arguments():
    subprocess.run(["bash", "-n", str(SCRIPT)], check=True)
    r = subprocess.run(["bash", str(SCRIPT), "--nope"], capture_output=True, text=True)
    assert r.returncode == 2 and "unknown argument --nope" in r.stderr
    r = subprocess.run(["bash", str(SCRIPT), "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "--cpu-only" in r.stdout


@pytest.mark.slow
def test_gpu_check_cpu_only_quick(tmp_path):
    """--cpu-only --quick: tiny benchmarks on the CPU, one table, logs where asked (~10 s)."""
    env = {**os.environ, "GPU_CHECK_LOGS": str(tmp_path / "logs"), "PYTHON": sys.executable}
    r = subprocess.run(["bash", str(SCRIPT), "--cpu-only", "--quick"], capture_output=True,
                       text=True, env=env, cwd=ROOT, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "no GPU found (--cpu-only" in r.stdout
    table = r.stdout.split("logs in", 1)[1]
    for part in ("train_step (cpu)", "loader in-memory (cpu)", "loader streaming (cpu)"):
        assert re.search(rf"^{re.escape(part)} +PASS +\d+ +\S", table, re.M), table
    assert re.search(r"^tests +skip", table, re.M) and re.search(r"^demo +skip", table, re.M)
    assert "x the step's" in table  # the loader against the search step's rate
    assert {"step.log", "loader.log"} <= {p.name for p in (tmp_path / "logs").iterdir()}
