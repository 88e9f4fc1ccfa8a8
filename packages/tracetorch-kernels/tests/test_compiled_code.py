"""The code the kernels compile to for sm_90, checked on CPU (no GPU needed).

Runs ``benchmarks/kernels/compile_check.py --quick`` in a fresh process (Triton must
compile, not interpret): with the launchers' runtime specialisation (16-byte aligned
pointers, ``E`` specialised on divisibility by 16) every checked kernel must use
vector global accesses, spill nothing, convert no layouts inside the time loop and
compute its block offset in 64 bits.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = ROOT / "benchmarks" / "kernels" / "compile_check.py"


def _can_compile() -> bool:
    try:
        import triton  # noqa: F401
        from triton.backends.nvidia import compiler  # noqa: F401
    except Exception:
        return False
    return True


@pytest.mark.slow
@pytest.mark.skipif(not SCRIPT.exists(), reason="benchmarks/ is not part of this checkout")
@pytest.mark.skipif(not _can_compile(), reason="Triton's NVIDIA backend is not installed")
def test_compiled_kernels_are_vectorised_spill_free_and_64_bit() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("TRITON_INTERPRET", "TRACETORCH_KERNELS")}
    res = subprocess.run([sys.executable, str(SCRIPT), "--quick"], capture_output=True, text=True, env=env, timeout=900)
    lines = [ln for ln in res.stdout.splitlines() if ": " in ln and ("ok" in ln or "FAIL" in ln)]
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-4000:]
    # scan fwd/bwd, LIB and DSRLITS fwd/bwd in fp32, LIB in bf16, and the checkpointed
    # and strided fwd/bwd of LIB and DSRLITS: all checked, all ok
    assert len(lines) == 16 and all(ln.endswith(": ok") for ln in lines), res.stdout
    assert sum("checkpoint=8" in ln for ln in lines) == 4, res.stdout
    assert sum("strided" in ln for ln in lines) == 4, res.stdout
