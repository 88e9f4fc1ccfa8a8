"""The GPU acceptance script's CPU mode: ``benchmarks/kernels/gpu_acceptance.py smoke``
runs its sweep at tiny sizes through Triton's interpreter, so the script keeps
working against today's code (launch signatures, layouts, dtype promotion) before a
GPU ever runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = ROOT / "benchmarks" / "kernels" / "gpu_acceptance.py"


@pytest.mark.slow
@pytest.mark.skipif(not SCRIPT.exists(), reason="benchmarks/ is not part of this checkout")
def test_gpu_acceptance_smoke_passes_on_cpu() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("TRITON_INTERPRET", "TRACETORCH_KERNELS")}
    env["OMP_NUM_THREADS"] = "1"
    env["REPO"] = str(ROOT)
    res = subprocess.run(
        [sys.executable, str(SCRIPT), "smoke"], capture_output=True, text=True, env=env, cwd=ROOT, timeout=600
    )
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-4000:]
    assert "[FAIL]" not in out, out[-4000:]
    assert out.count("[PASS]") >= 20, out[-4000:]
