"""Sequence mode of spiking layers with neuron options (issues 13 and 18, "Measure").

``forward_sequence`` (one autograd function with the hand-written BPTT) against

* the reference loop it replaced for these layers: `leaky_sequence_reference` (the
  step's PyTorch update in a loop, differentiated by autograd), on the same layer's
  activated parameters, and
* stepping the layer (``layer(x[t])`` for every ``t``),

forward+backward (sum of all outputs), for six configurations:

* LIB as SpikingJelly's IF with hard reset: ``beta=1.0, learn_beta=False,
  reset="value", detach_reset=True``;
* LIB as snnTorch's ``Leaky`` default: ``reset_timing="next", detach_reset=True``;
* SLIB with ``decay_input=True``;
* LIB with ``adaptive=True`` (an adaptive threshold, ALIF);
* LIB with ``refractory=2``;
* RLIB with ``all_to_all=True`` (a learned ``[N, N]`` recurrent matrix).

Sizes: T=100, B=64, N=1024 and T=25, B=32, N=256. Times are medians over rounds with
the three implementations interleaved in every round (2 CPU threads unless ``--threads``; the load average
is printed: the machine is shared, so only the ratios count). Peak memory (largest
size only): each variant in a fresh subprocess, peak resident set (``VmHWM`` of
``/proc/self/status``, reset through ``/proc/self/clear_refs``) during one
forward+backward minus the resident set just before it, as in
``benchmarks/snn_sequence.py``.

Heaviside spike with the arctan surrogate. Writes its section of
``benchmarks/RESULTS.md`` (between the ``snn-options`` markers) and
``benchmarks/results/snn_options.md``.

Run: ``uv run python benchmarks/snn_options.py [--quick] [--no-write] [--threads N]``
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import pathlib
import platform
import statistics
import subprocess
import sys
import time
from typing import Any, Callable

import torch
import tracetorch as tt
from tracetorch import snn
from tracetorch.snn.functional import leaky_sequence_reference

HERE = pathlib.Path(__file__).resolve().parent
RESULTS_MD = HERE / "RESULTS.md"
BEGIN, END = "<!-- snn-options:begin -->", "<!-- snn-options:end -->"
SPIKE = tt.functional.heaviside_atan(2.0)

CASES: dict[str, tuple[str, dict[str, Any]]] = {
    "LIB IF, hard reset, detached": ("LIB", dict(beta=1.0, learn_beta=False, reset="value", detach_reset=True)),
    "LIB snnTorch default (next, detached)": ("LIB", dict(reset_timing="next", detach_reset=True)),
    "SLIB decay_input": ("SLIB", dict(decay_input=True)),
    "LIB adaptive (ALIF)": ("LIB", dict(adaptive=True)),
    "LIB refractory=2": ("LIB", dict(refractory=2)),
    "RLIB all_to_all": ("RLIB", dict(all_to_all=True)),
}
SIZES = ((100, 64, 1024), (25, 32, 256))
IMPLS = ("forward_sequence", "reference loop", "stepping")


def variants(case: str, n: int) -> dict[str, Callable[[torch.Tensor], torch.Tensor]]:
    """The three implementations of one case, on one layer's parameters."""
    name, options = CASES[case]
    layer = getattr(snn, name)(n, spike_fn=SPIKE, quant_fn="round", **options)
    cfg = layer.config

    def seq(x: torch.Tensor) -> torch.Tensor:
        layer.zero_states()
        return layer.forward_sequence(x)

    def reference(x: torch.Tensor) -> torch.Tensor:
        states = tuple(torch.zeros_like(x[0]) for _ in cfg.states)
        params = tuple(getattr(layer, p) for p in cfg.param_names)  # activated, differentiable
        y, _ = leaky_sequence_reference(cfg, x, states, params, layer.spike_fn)
        return y

    def step(x: torch.Tensor) -> torch.Tensor:
        layer.zero_states()
        return torch.stack([layer(xt) for xt in x.unbind(0)])

    return {"forward_sequence": seq, "reference loop": reference, "stepping": step}


def fwd_bwd(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> float:
    t0 = time.perf_counter()
    fn(x).sum().backward()
    return time.perf_counter() - t0


def measure(vs: dict[str, Callable], x: torch.Tensor, rounds: int) -> dict[str, float]:
    """Median (and, as ``best:<name>``, minimum) seconds of each implementation, interleaved in every round."""
    for fn in vs.values():
        fwd_bwd(fn, x)
    times: dict[str, list[float]] = {k: [] for k in vs}
    gc.disable()
    try:
        for _ in range(rounds):
            for k, fn in vs.items():
                times[k].append(fwd_bwd(fn, x))
    finally:
        gc.enable()
    return {k: statistics.median(v) for k, v in times.items()} | {f"best:{k}": min(v) for k, v in times.items()}


def _status_kb(field: str) -> int:
    for line in pathlib.Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(field)


def memory_probe(case: str, impl: str) -> None:
    """Subprocess mode: print the peak extra resident memory (MiB) of one fwd+bwd."""
    T, B, N = SIZES[0]
    fn = variants(case, N)[impl]
    torch.manual_seed(0)
    x = torch.randn(T, B, N) * 0.6 + 0.15
    fwd_bwd(fn, x[:2].contiguous())  # warm up code paths on a tiny input
    base = _status_kb("VmRSS")
    pathlib.Path("/proc/self/clear_refs").write_text("5")
    fn(x).sum().backward()
    peak = _status_kb("VmHWM")
    print(json.dumps({"peak_extra_mib": (peak - base) / 1024}))


def splice(section: str) -> None:
    """Replace (or append) the text between this script's markers in RESULTS.md."""
    text = RESULTS_MD.read_text() if RESULTS_MD.exists() else ""
    block = f"{BEGIN}\n{section.rstrip()}\n{END}"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        text = head + block + tail
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    RESULTS_MD.write_text(text)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer rounds (noisier)")
    ap.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md as it is")
    ap.add_argument("--threads", type=int, default=2, help="intra-op threads (1 is steadier on a loaded machine)")
    ap.add_argument("--memory-probe", nargs=2, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.memory_probe:
        memory_probe(*args.memory_probe)
        return
    load_start = os.getloadavg()
    print(f"load average at start: {load_start[0]:.2f} {load_start[1]:.2f} {load_start[2]:.2f}", flush=True)
    rounds = 3 if args.quick else 9
    rows = []
    for T, B, N in SIZES:
        torch.manual_seed(0)
        x = torch.randn(T, B, N) * 0.6 + 0.15
        for case in CASES:
            med = measure(variants(case, N), x, rounds)
            rows.append((case, f"T={T} B={B} N={N}", med))
            print(case, T, B, N, {k: round(v * 1e3, 2) for k, v in med.items()}, flush=True)
    mem: dict[str, dict[str, float]] = {}
    for case in CASES:
        mem[case] = {}
        for impl in IMPLS:
            out = subprocess.run(
                [sys.executable, __file__, "--threads", str(args.threads), "--memory-probe", case, impl],
                capture_output=True,
                text=True,
                check=True,
            )
            mem[case][impl] = json.loads(out.stdout.strip().splitlines()[-1])["peak_extra_mib"]
            print("memory", case, impl, round(mem[case][impl], 1), flush=True)
    load_end = os.getloadavg()

    T, B, N = SIZES[0]
    lines = [
        "## snn sequence mode with neuron options (`benchmarks/snn_options.py`)",
        "",
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs. Load average (1 min) {load_start[0]:.1f} at the start and {load_end[0]:.1f} at the end: "
        "the machine is shared, so only the ratios (all measured in one process, the three implementations "
        f"interleaved in each of {rounds} rounds, medians) count. Heaviside spike with the arctan surrogate; "
        "forward+backward of the sum of all outputs. `forward_sequence` is the hand-written BPTT; the reference "
        "loop (`leaky_sequence_reference`, autograd through the step) is what `forward_sequence` ran for these "
        "layers before.",
        "",
        "| configuration | size | forward_sequence ms | reference loop ms | stepping ms "
        "| × reference loop | × stepping | best: × reference loop | best: × stepping |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for case, size, med in rows:
        s, r, p = med["forward_sequence"], med["reference loop"], med["stepping"]
        bs, br, bp = med["best:forward_sequence"], med["best:reference loop"], med["best:stepping"]
        lines.append(
            f"| {case} | {size} | {s * 1e3:.1f} | {r * 1e3:.1f} | {p * 1e3:.1f} | {s / r:.2f} | {s / p:.2f} "
            f"| {bs / br:.2f} | {bs / bp:.2f} |"
        )
    lines += [
        "",
        "The `best:` columns give the same ratios from each implementation's minimum time, which contention "
        "can only inflate.",
    ]
    lines += [
        "",
        f"Peak memory of one forward+backward, T={T} B={B} N={N} (extra resident memory at the peak, fresh "
        "process per variant; one timestep's tensor is 0.25 MiB, the input is allocated before the measurement).",
        "",
        "| configuration | forward_sequence MiB | reference loop MiB | stepping MiB | × reference loop | × stepping |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for case, m in mem.items():
        s, r, p = m["forward_sequence"], m["reference loop"], m["stepping"]
        lines.append(f"| {case} | {s:.1f} | {r:.1f} | {p:.1f} | {s / r:.2f} | {s / p:.2f} |")
    section = "\n".join(lines) + "\n"
    print(section)
    if not args.no_write:
        (HERE / "results").mkdir(exist_ok=True)
        (HERE / "results" / "snn_options.md").write_text(section)
        splice(section)


if __name__ == "__main__":
    main()
