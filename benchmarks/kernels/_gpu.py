"""Shared helpers of the GPU kernel benchmarks (not part of the library)."""

from __future__ import annotations

import statistics
import sys
from pathlib import Path
from typing import Callable, Optional

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _common import RESULTS, render_table  # noqa: E402  (benchmarks/_common.py)

# Peak HBM bandwidth from the vendors' data sheets, GB/s (10^9 bytes / s).
HBM_PEAK_GBS = {
    "H100 80GB HBM3": 3350.0,  # H100 SXM5
    "H100 SXM": 3350.0,
    "H100 NVL": 3900.0,
    "H100 PCIe": 2000.0,
    "H200": 4800.0,
    "A100-SXM4-80GB": 2039.0,
    "A100-SXM4-40GB": 1555.0,
    "A100 80GB PCIe": 1935.0,
    "A100-PCIE-40GB": 1555.0,
    "L40S": 864.0,
    "L4": 300.0,
    "A10": 600.0,
    "RTX 4090": 1008.0,
}


DEV = "cuda"
"""The device the benchmark runs on: ``cuda``, or ``cpu`` for a ``--smoke`` run."""


def require_gpu(script: str) -> None:
    """Exit with a clear message when no CUDA device is available.

    With ``--smoke`` on the command line the script instead runs at tiny sizes on CPU
    through Triton's interpreter, to check that it works (its numbers mean nothing).
    """
    global DEV
    if "--smoke" in sys.argv:
        import os

        os.environ["TRITON_INTERPRET"] = "1"
        DEV = "cpu"
        return
    if not torch.cuda.is_available():
        print(
            f"{script}: this benchmark measures the Triton kernels and needs a CUDA GPU; "
            "none is available here, so nothing was measured.",
            file=sys.stderr,
        )
        sys.exit(0)


def hbm_peak_gbs() -> Optional[float]:
    """The data-sheet HBM bandwidth of the current device, when known."""
    if DEV != "cuda":
        return None
    name = torch.cuda.get_device_name()
    for key, value in HBM_PEAK_GBS.items():
        if key in name:
            return value
    return None


def cuda_time(fn: Callable[[], object], *, warmup: int = 3, repeats: int = 20) -> float:
    """Median seconds per call, timed with CUDA events."""
    if DEV != "cuda":
        import time

        fn()
        t0 = time.perf_counter()
        fn()
        return time.perf_counter() - t0
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end) / 1e3)
    return statistics.median(times)


def peak_memory(fn: Callable[[], object]) -> int:
    """Peak CUDA memory allocated during ``fn()`` above what was allocated before, bytes."""
    if DEV != "cuda":
        fn()
        return 0
    torch.cuda.synchronize()
    base = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    fn()
    torch.cuda.synchronize()
    return torch.cuda.max_memory_allocated() - base


def copy_gbs(nbytes: int) -> float:
    """Achieved bandwidth of a plain device copy moving ``nbytes`` (read + write), GB/s."""
    n = nbytes // 8  # float32 elements: read n*4 + write n*4
    src = torch.empty(n, device=DEV)
    dst = torch.empty_like(src)
    t = cuda_time(lambda: dst.copy_(src))
    return 8 * n / t / 1e9


def device_line() -> str:
    if DEV != "cuda":
        return "CPU smoke run through Triton's interpreter (numbers meaningless)"
    p = torch.cuda.get_device_properties(0)
    peak = hbm_peak_gbs()
    peak_s = f"{peak:.0f} GB/s data-sheet HBM peak" if peak else "HBM peak unknown"
    return f"{p.name} ({p.total_memory / 2**30:.0f} GiB, {peak_s}), torch {torch.__version__}"


def write(name: str, title: str, header: list[str], rows: list[list[str]], notes: str = "") -> str:
    """Write ``benchmarks/results/kernels_<name>.md`` and return its text."""
    RESULTS.mkdir(exist_ok=True)
    text = render_table(title, device_line(), header, rows, notes)
    if DEV == "cuda":  # a smoke run never overwrites real results
        (RESULTS / f"kernels_{name}.md").write_text(text)
    return text
