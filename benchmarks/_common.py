"""Shared timing helpers for the benchmarks (not part of the library)."""

from __future__ import annotations

import gc
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Callable

import torch

RESULTS = Path(__file__).resolve().parent / "results"


def timeit(fn: Callable[[], object], *, repeats: int = 15, warmup: int = 3, min_time: float = 0.0) -> float:
    """Median wall time of ``fn()`` in seconds over ``repeats`` runs, after ``warmup`` runs."""
    for _ in range(warmup):
        fn()
    times = []
    gc.disable()
    try:
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            times.append(time.perf_counter() - t0)
    finally:
        gc.enable()
    return statistics.median(times)


def interleaved(
    fns: dict[str, Callable[[], object]], *, rounds: int = 7, inner: int = 3, warmup: int = 2
) -> dict[str, float]:
    """Median seconds per call of each function, measured in interleaved rounds.

    Interleaving puts every candidate under the same machine noise, which matters far
    more for ratios than the absolute numbers.
    """
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    samples: dict[str, list[float]] = {k: [] for k in fns}
    gc.disable()
    try:
        for _ in range(rounds):
            for name, fn in fns.items():
                t0 = time.perf_counter()
                for _ in range(inner):
                    fn()
                samples[name].append((time.perf_counter() - t0) / inner)
    finally:
        gc.enable()
    return {k: statistics.median(v) for k, v in samples.items()}


def machine() -> str:
    """A one-line description of where the numbers were measured."""
    dev = torch.cuda.get_device_name() if torch.cuda.is_available() else "no GPU"
    return (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs visible, "
        f"torch {torch.__version__} ({torch.get_num_threads()} threads), {dev}"
    )


def render_table(title: str, measured_on: str, header: list[str], rows: list[list[str]], notes: str = "") -> str:
    """A titled markdown table with a "Measured on" line and optional notes."""
    lines = [f"### {title}", "", f"Measured on: {measured_on}", ""]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "|".join("---" for _ in header) + "|")
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    if notes:
        lines += ["", notes]
    return "\n".join(lines) + "\n"


def write_table(name: str, title: str, header: list[str], rows: list[list[str]], notes: str = "") -> str:
    """Write a markdown table to ``benchmarks/results/<name>.md`` and return it."""
    RESULTS.mkdir(exist_ok=True)
    text = render_table(title, machine(), header, rows, notes)
    (RESULTS / f"{name}.md").write_text(text)
    return text
