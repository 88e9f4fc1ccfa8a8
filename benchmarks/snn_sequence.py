"""Sequence mode of traceTorch spiking layers (issue 5, "Measure").

* T=100, B=64, N=1024, forward (``torch.no_grad``) and forward+backward (sum of all
  outputs): ``forward_sequence`` of LIB, LI and DSRLITS against the per-step loop
  of the same layer and against a hand-written PyTorch loop of the same maths.
* LI at T=1000, N=1024, B=1 and B=64: ``forward_sequence`` against stepping.
* Peak memory of LIB forward+backward at T=100, B=64, N=1024, sequence vs stepping
  vs the hand-written loop. Method: each variant runs in a fresh subprocess; the
  peak resident set (``VmHWM`` of ``/proc/self/status``, reset through
  ``/proc/self/clear_refs``) during forward+backward minus the resident set just
  before it. This counts everything the CPU allocator holds at the peak (saved
  tensors, graph, gradients), so it is an upper bound of the autograd memory, the
  same for every variant.

Medians over repeats with the variants interleaved; 2 CPU threads. Heaviside spike
with the arctan surrogate. Writes ``benchmarks/results/snn_sequence.md``.

Run: ``uv run python benchmarks/snn_sequence.py [--quick]``
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import statistics
import subprocess
import sys
import time
from typing import Callable

import torch
from torch import nn

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import snn_step as S  # noqa: E402  (the hand-written loops and constants)
from tracetorch import snn  # noqa: E402

torch.set_num_threads(2)


def loop_li(raw_beta: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    beta = torch.sigmoid(raw_beta)
    mem = torch.zeros_like(x[0])
    outs = []
    for xt in x.unbind(0):
        mem = beta * mem + xt
        outs.append(mem)
    return torch.stack(outs)


def make(layer: str, n: int) -> tuple[nn.Module, Callable[[torch.Tensor], torch.Tensor]]:
    """The traceTorch layer and the hand-written loop with its own parameters."""
    if layer == "LIB":
        rb = nn.Parameter(torch.full((n,), S.LOGIT_09))
        rt = nn.Parameter(torch.full((n,), S.SP_INV_1))
        return snn.LIB(n, spike_fn=S.SPIKE), lambda x: torch.stack(S.loop_lib(rb, rt, list(x.unbind(0))))
    if layer == "LI":
        rb = nn.Parameter(torch.full((n,), S.LOGIT_09))
        return snn.LI(n), lambda x: loop_li(rb, x)
    raws = [nn.Parameter(torch.full((n,), v)) for _, v, _ in S.DSRLITS_RAW]
    tl = snn.DSRLITS(n, pos_rec_weight=0.1, neg_rec_weight=0.1, spike_fn=S.SPIKE)
    return tl, lambda x: torch.stack(S.loop_dsrlits(raws, list(x.unbind(0))))


def variants(layer: str, n: int) -> dict[str, Callable[[torch.Tensor], torch.Tensor]]:
    tl, hand = make(layer, n)

    def seq(x: torch.Tensor) -> torch.Tensor:
        tl.zero_states()
        return tl.forward_sequence(x)

    def step(x: torch.Tensor) -> torch.Tensor:
        tl.zero_states()
        return torch.stack([tl(xt) for xt in x.unbind(0)])

    return {"forward_sequence": seq, "per-step loop of the layer": step, "hand-written loop": hand}


def run_once(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, backward: bool) -> float:
    t0 = time.perf_counter()
    if backward:
        fn(x).sum().backward()
    else:
        with torch.no_grad():
            fn(x)
    return time.perf_counter() - t0


def measure(vs: dict[str, Callable], x: torch.Tensor, backward: bool, repeats: int) -> dict[str, float]:
    for fn in vs.values():
        run_once(fn, x, backward)
    times: dict[str, list[float]] = {k: [] for k in vs}
    for _ in range(repeats):
        for k, fn in vs.items():
            times[k].append(run_once(fn, x, backward))
    return {k: statistics.median(v) for k, v in times.items()} | {f"best:{k}": min(v) for k, v in times.items()}


def _status_kb(field: str) -> int:
    for line in pathlib.Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(field)


def memory_probe(variant: str) -> None:
    """Subprocess mode: print the peak extra resident memory (MiB) of one LIB fwd+bwd."""
    T, B, N = 100, 64, 1024
    vs = variants("LIB", N)
    fn = vs[variant]
    x = torch.randn(T, B, N) * 0.6 + 0.15
    run_once(fn, x[:2].contiguous(), True)  # warm up code paths on a tiny input
    base = _status_kb("VmRSS")
    pathlib.Path("/proc/self/clear_refs").write_text("5")
    fn(x).sum().backward()
    peak = _status_kb("VmHWM")
    print(json.dumps({"peak_extra_mib": (peak - base) / 1024}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--memory-probe", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.memory_probe:
        memory_probe(args.memory_probe)
        return
    torch.manual_seed(0)
    reps = 3 if args.quick else 9
    rows = []
    T, B, N = 100, 64, 1024
    x = torch.randn(T, B, N) * 0.6 + 0.15
    for layer in ("LIB", "LI", "DSRLITS"):
        for backward in (False, True):
            med = measure(variants(layer, N), x, backward, reps)
            hand = med["hand-written loop"]
            step = med["per-step loop of the layer"]
            for k in ("forward_sequence", "per-step loop of the layer", "hand-written loop"):
                t = med[k]
                b = med[f"best:{k}"]
                rows.append(
                    (
                        layer,
                        f"T={T} B={B} N={N}",
                        "fwd+bwd" if backward else "fwd",
                        k,
                        t * 1e3,
                        t / hand,
                        t / step,
                        b / med["best:hand-written loop"],
                        b / med["best:per-step loop of the layer"],
                    )
                )
            print(
                layer, backward, {k: round(v / hand, 3) for k, v in med.items() if not k.startswith("best")}, flush=True
            )
    li_rows = []
    for b in (1, 64):
        T2 = 1000
        x2 = torch.randn(T2, b, N)
        for backward in (False, True):
            vs = variants("LI", N)
            vs.pop("hand-written loop")
            med = measure(vs, x2, backward, max(3, reps // 2) if b == 64 else reps)
            speed = med["per-step loop of the layer"] / med["forward_sequence"]
            best = med["best:per-step loop of the layer"] / med["best:forward_sequence"]
            li_rows.append(
                (
                    f"T={T2} B={b} N={N}",
                    "fwd+bwd" if backward else "fwd",
                    med["forward_sequence"] * 1e3,
                    med["per-step loop of the layer"] * 1e3,
                    speed,
                    best,
                )
            )
            print("LI long", b, backward, round(speed, 2), flush=True)
    mem = {}
    for variant in ("forward_sequence", "per-step loop of the layer", "hand-written loop"):
        out = subprocess.run(
            [sys.executable, __file__, "--memory-probe", variant], capture_output=True, text=True, check=True
        )
        mem[variant] = json.loads(out.stdout.strip().splitlines()[-1])["peak_extra_mib"]
        print("memory", variant, mem[variant], flush=True)

    lines = [
        "## snn sequence mode (`benchmarks/snn_sequence.py`)",
        "",
        f"Median of repeats, torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"{platform.processor() or platform.machine()}. Spike: Heaviside with arctan surrogate. "
        "`fwd` under `torch.no_grad()`; `fwd+bwd` backpropagates the sum of all outputs.",
        "",
        f"Load average when the run started: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs. "
        "The `best:` columns give the same ratios from each implementation's minimum time, which contention can only inflate.",
        "",
        "| layer | size | pass | implementation | median ms | × hand-written loop | × per-step layer | best: × hand-written | best: × per-step |",
        "|---|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for layer, size, kind, k, ms, rh, rs, bh, bs in rows:
        lines.append(f"| {layer} | {size} | {kind} | {k} | {ms:.1f} | {rh:.2f} | {rs:.2f} | {bh:.2f} | {bs:.2f} |")
    lines += [
        "",
        "LI, long sequences: `forward_sequence` (chunked scan at B=1, fused sequential scan at B=64) vs stepping.",
        "",
        "| size | pass | forward_sequence median ms | stepping median ms | speed-up (medians) | speed-up (best times) |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for size, kind, a, b, sp, bsp in li_rows:
        lines.append(f"| {size} | {kind} | {a:.1f} | {b:.1f} | {sp:.2f}× | {bsp:.2f}× |")
    lines += [
        "",
        "Peak memory of LIB forward+backward, T=100, B=64, N=1024 (extra resident memory at the peak, "
        "fresh process per variant; see the script's docstring for the method). One timestep's tensor is 0.25 MiB; "
        "inputs (25 MiB) are allocated before the measurement.",
        "",
        "| implementation | peak extra MiB | × per-step layer |",
        "|---|---:|---:|",
    ]
    for k, v in mem.items():
        lines.append(f"| {k} | {v:.1f} | {v / mem['per-step loop of the layer']:.2f} |")
    out = HERE / "results" / "snn_sequence.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
