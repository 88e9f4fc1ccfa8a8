"""Per-step speed of traceTorch spiking layers (issue 3, "Measure").

For LIB, SLIB and DSRLITS, 100 steps of one layer are timed at batch x neurons 1x128
and 64x1024, forward only (under ``torch.no_grad``) and forward+backward (sum of the
outputs, then ``backward``), against

* a hand-written PyTorch loop of the same maths (parameters activated once, state a
  local variable),
* a minimal ``nn.Module`` doing the same maths per call with a plain attribute state
  (the floor of any per-step module), and, for LIB only,
* snnTorch ``Leaky(reset_mechanism="subtract")`` and SpikingJelly
  ``LIFNode(v_reset=None)`` (soft reset) when they are installed
  (``uv sync --group bench``); otherwise those rows are skipped with a note.

All use a Heaviside spike with the arctan surrogate (snnTorch's default; set
explicitly for SpikingJelly). Times are medians over repeats, with the implementations
interleaved within each repeat; 2 CPU threads. Writes
``benchmarks/results/snn_step.md``.

Run: ``uv run python benchmarks/snn_step.py [--quick] [--layers LIB] [--sizes 64x1024]
[--passes fwd+bwd] [--repeats 21]``
"""

from __future__ import annotations

import argparse
import math
import os
import pathlib
import platform
import statistics
import time
import warnings
from typing import Callable, Optional

import torch
import tracetorch as tt
from torch import nn
from tracetorch import snn

torch.set_num_threads(2)
SPIKE = tt.functional.heaviside_atan(2.0)
STEPS = 100
LOGIT_09 = math.log(0.9 / 0.1)
LOGIT_05 = 0.0
SP_INV_1 = math.log(math.expm1(1.0))


# ----------------------------------------------------------------------------- LIB
class MinimalLIB(nn.Module):
    """The least a per-step module can do: LIB maths with a plain attribute state."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.raw_beta = nn.Parameter(torch.full((n,), LOGIT_09))
        self.raw_threshold = nn.Parameter(torch.full((n,), SP_INV_1))
        self.mem: Optional[torch.Tensor] = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mem is None:
            self.mem = torch.zeros_like(x)
        beta = torch.sigmoid(self.raw_beta)
        th = nn.functional.softplus(self.raw_threshold)
        mem = beta * self.mem + x
        s = SPIKE(mem - th)
        self.mem = mem - s * th
        return s


def loop_lib(raw_beta: torch.Tensor, raw_th: torch.Tensor, xs: list[torch.Tensor]) -> list[torch.Tensor]:
    beta = torch.sigmoid(raw_beta)
    th = nn.functional.softplus(raw_th)
    mem = torch.zeros_like(xs[0])
    outs = []
    for x in xs:
        mem = beta * mem + x
        s = SPIKE(mem - th)
        mem = mem - s * th
        outs.append(s)
    return outs


# ----------------------------------------------------------------------------- SLIB
class MinimalSLIB(nn.Module):
    def __init__(self, n: int) -> None:
        super().__init__()
        self.raw_alpha = nn.Parameter(torch.full((n,), LOGIT_05))
        self.raw_beta = nn.Parameter(torch.full((n,), LOGIT_09))
        self.raw_threshold = nn.Parameter(torch.full((n,), SP_INV_1))
        self.mem: Optional[torch.Tensor] = None
        self.syn: Optional[torch.Tensor] = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mem is None:
            self.mem = torch.zeros_like(x)
            self.syn = torch.zeros_like(x)
        alpha = torch.sigmoid(self.raw_alpha)
        beta = torch.sigmoid(self.raw_beta)
        th = nn.functional.softplus(self.raw_threshold)
        syn = alpha * self.syn + (1.0 - alpha) * x
        mem = beta * self.mem + syn
        s = SPIKE(mem - th)
        self.syn = syn
        self.mem = mem - s * th
        return s


def loop_slib(ra: torch.Tensor, rb: torch.Tensor, rt: torch.Tensor, xs: list[torch.Tensor]) -> list[torch.Tensor]:
    alpha = torch.sigmoid(ra)
    beta = torch.sigmoid(rb)
    th = nn.functional.softplus(rt)
    mem = torch.zeros_like(xs[0])
    syn = torch.zeros_like(xs[0])
    outs = []
    for x in xs:
        syn = alpha * syn + (1.0 - alpha) * x
        mem = beta * mem + syn
        s = SPIKE(mem - th)
        mem = mem - s * th
        outs.append(s)
    return outs


# ----------------------------------------------------------------------------- DSRLITS
def _p(v: torch.Tensor) -> torch.Tensor:
    return torch.clamp_min(v, 0.0)


def _n(v: torch.Tensor) -> torch.Tensor:
    return v - torch.clamp_min(v, 0.0)


def dsrlits_step(x, st, pa, na, pb, nb, pg, ng, pth, nth, psc, nsc, pw, nw):
    pm, nm, ps, ns, pr, nr, o = st
    ps = pa * ps + (1.0 - pa) * _p(x)
    ns = na * ns + (1.0 - na) * _n(x)
    d = ps + ns
    pr = pg * pr + (1.0 - pg) * _p(o)
    nr = ng * nr + (1.0 - ng) * _n(o)
    r = pr + nr
    pm = pb * pm + (_p(d) + pw * _p(r))
    nm = nb * nm + (_n(d) + nw * _n(r))
    mem = pm + nm
    sp = SPIKE(mem - pth)
    sn = -SPIKE(-nth - mem)
    half = (sp * pth + sn * nth) * 0.5
    out = psc * sp + nsc * sn
    return out, (pm - half, nm - half, ps, ns, pr, nr, out)


DSRLITS_RAW = [
    ("pos_alpha", LOGIT_05, torch.sigmoid),
    ("neg_alpha", LOGIT_05, torch.sigmoid),
    ("pos_beta", LOGIT_09, torch.sigmoid),
    ("neg_beta", LOGIT_09, torch.sigmoid),
    ("pos_gamma", LOGIT_09, torch.sigmoid),
    ("neg_gamma", LOGIT_09, torch.sigmoid),
    ("pos_threshold", SP_INV_1, nn.functional.softplus),
    ("neg_threshold", SP_INV_1, nn.functional.softplus),
    ("pos_scale", 1.0, None),
    ("neg_scale", 1.0, None),
    ("pos_rec_weight", 0.1, None),
    ("neg_rec_weight", 0.1, None),
]


class MinimalDSRLITS(nn.Module):
    def __init__(self, n: int) -> None:
        super().__init__()
        for name, v, _ in DSRLITS_RAW:
            setattr(self, "raw_" + name, nn.Parameter(torch.full((n,), v)))
        self.st: Optional[tuple] = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.st is None:
            self.st = tuple(torch.zeros_like(x) for _ in range(7))
        ps = [
            act(getattr(self, "raw_" + name)) if act else getattr(self, "raw_" + name) for name, _, act in DSRLITS_RAW
        ]
        out, self.st = dsrlits_step(x, self.st, *ps)
        return out


def loop_dsrlits(raws: list[torch.Tensor], xs: list[torch.Tensor]) -> list[torch.Tensor]:
    ps = [act(r) if act else r for r, (_, _, act) in zip(raws, DSRLITS_RAW)]
    st = tuple(torch.zeros_like(xs[0]) for _ in range(7))
    outs = []
    for x in xs:
        o, st = dsrlits_step(x, st, *ps)
        outs.append(o)
    return outs


# ----------------------------------------------------------------------------- peers
def make_snntorch(n: int) -> Optional[nn.Module]:
    try:
        import snntorch
    except Exception:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return snntorch.Leaky(
            beta=0.9, threshold=1.0, reset_mechanism="subtract", learn_beta=True, learn_threshold=True
        )


def make_spikingjelly(n: int) -> Optional[nn.Module]:
    try:
        from spikingjelly.activation_based import neuron
    except Exception:
        return None
    from spikingjelly.activation_based import surrogate

    # tau = 1/(1-beta) with decay_input=False gives v = beta*v + x (the same charge)
    return neuron.LIFNode(
        tau=10.0,
        decay_input=False,
        v_reset=None,
        v_threshold=1.0,
        step_mode="s",
        surrogate_function=surrogate.ATan(),
    )


# ----------------------------------------------------------------------------- timing
def module_runner(mod: nn.Module, reset: Callable[[], None]) -> Callable[[list[torch.Tensor]], list[torch.Tensor]]:
    def run(xs: list[torch.Tensor]) -> list[torch.Tensor]:
        reset()
        return [mod(x) for x in xs]

    return run


def time_case(fn: Callable[[list[torch.Tensor]], list[torch.Tensor]], xs: list[torch.Tensor], backward: bool) -> float:
    t0 = time.perf_counter()
    if backward:
        outs = fn(xs)
        torch.stack(outs).sum().backward()
    else:
        with torch.no_grad():
            fn(xs)
    return time.perf_counter() - t0


def build(layer: str, b: int, n: int) -> dict[str, Callable[[list[torch.Tensor]], list[torch.Tensor]]]:
    runners: dict[str, Callable] = {}
    if layer == "LIB":
        rb = nn.Parameter(torch.full((n,), LOGIT_09))
        rt = nn.Parameter(torch.full((n,), SP_INV_1))
        runners["hand-written loop"] = lambda xs: loop_lib(rb, rt, xs)
        m = MinimalLIB(n)
        runners["minimal nn.Module"] = module_runner(m, lambda: setattr(m, "mem", None))
        tl = snn.LIB(n, spike_fn=SPIKE)
        runners["tt.snn.LIB"] = module_runner(tl, tl.zero_states)
        st = make_snntorch(n)
        if st is not None:

            def run_snntorch(xs: list[torch.Tensor]) -> list[torch.Tensor]:
                st.reset_mem()
                return [st(x)[0] for x in xs]  # Leaky returns (spikes, membrane)

            runners["snnTorch Leaky"] = run_snntorch
        sj = make_spikingjelly(n)
        if sj is not None:
            runners["SpikingJelly LIFNode"] = module_runner(sj, sj.reset)
    elif layer == "SLIB":
        ra = nn.Parameter(torch.full((n,), LOGIT_05))
        rb = nn.Parameter(torch.full((n,), LOGIT_09))
        rt = nn.Parameter(torch.full((n,), SP_INV_1))
        runners["hand-written loop"] = lambda xs: loop_slib(ra, rb, rt, xs)
        m = MinimalSLIB(n)
        runners["minimal nn.Module"] = module_runner(m, lambda: (setattr(m, "mem", None), setattr(m, "syn", None)))
        tl = snn.SLIB(n, spike_fn=SPIKE)
        runners["tt.snn.SLIB"] = module_runner(tl, tl.zero_states)
    else:
        raws = [nn.Parameter(torch.full((n,), v)) for _, v, _ in DSRLITS_RAW]
        runners["hand-written loop"] = lambda xs: loop_dsrlits(raws, xs)
        m = MinimalDSRLITS(n)
        runners["minimal nn.Module"] = module_runner(m, lambda: setattr(m, "st", None))
        tl = snn.DSRLITS(n, pos_rec_weight=0.1, neg_rec_weight=0.1, spike_fn=SPIKE)
        runners["tt.snn.DSRLITS"] = module_runner(tl, tl.zero_states)
    return runners


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repeats (for a smoke run)")
    ap.add_argument("--layers", default="LIB,SLIB,DSRLITS")
    ap.add_argument("--sizes", default="1x128,64x1024", help="comma-separated BxN cases")
    ap.add_argument("--passes", default="fwd,fwd+bwd", help="comma-separated subset of fwd, fwd+bwd")
    ap.add_argument("--repeats", type=int, default=None, help="repeats per case (default: 31 small, 11 large)")
    args = ap.parse_args()
    sizes = [tuple(int(v) for v in c.split("x")) for c in args.sizes.split(",")]
    passes = [p.strip() for p in args.passes.split(",")]
    torch.manual_seed(0)
    load_start = os.getloadavg()[0]
    print(f"load average at start: {load_start:.1f} on {os.cpu_count()} CPUs", flush=True)
    notes = []
    if make_snntorch(4) is None:
        notes.append("snnTorch is not installed: its rows are skipped (`uv sync --group bench`).")
    if make_spikingjelly(4) is None:
        notes.append("SpikingJelly is not installed: its rows are skipped (`uv sync --group bench`).")
    rows = []
    for layer in args.layers.split(","):
        for b, n in sizes:
            for backward in [bw for bw in (False, True) if ("fwd+bwd" if bw else "fwd") in passes]:
                small = b * n <= 1024
                repeats = (5 if args.quick else 31) if small else (3 if args.quick else 11)
                repeats = args.repeats or repeats
                # inputs require grad in fwd+bwd (as if from a previous layer); SpikingJelly's
                # LIFNode has no learnable parameter and would otherwise have nothing to train
                xs = [(torch.randn(b, n) * 0.6 + 0.15).requires_grad_(backward) for _ in range(STEPS)]
                runners = build(layer, b, n)
                times: dict[str, list[float]] = {k: [] for k in runners}
                for k, fn in runners.items():  # warm-up
                    time_case(fn, xs, backward)
                for _ in range(repeats):
                    for k, fn in runners.items():
                        times[k].append(time_case(fn, xs, backward))
                med = {k: statistics.median(v) for k, v in times.items()}
                best = {k: min(v) for k, v in times.items()}
                loop_t = med["hand-written loop"]
                mod_t = med["minimal nn.Module"]
                for k, t in med.items():
                    rows.append(
                        (
                            layer,
                            f"{b}x{n}",
                            "fwd+bwd" if backward else "fwd",
                            k,
                            t * 1e6 / STEPS,
                            t / loop_t,
                            t / mod_t,
                            best[k] / best["hand-written loop"],
                            best[k] / best["minimal nn.Module"],
                        )
                    )
                print(
                    f"{layer} {b}x{n} {'fwd+bwd' if backward else 'fwd'}: "
                    + ", ".join(f"{k}={v / loop_t:.2f}x" for k, v in med.items()),
                    flush=True,
                )
    lines = [
        "## snn per-step (`benchmarks/snn_step.py`)",
        "",
        f"{STEPS} steps, median of repeats, torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"{platform.processor() or platform.machine()}. Spike: Heaviside with arctan surrogate. "
        "`fwd` runs under `torch.no_grad()`; `fwd+bwd` backpropagates the sum of all outputs to the parameters and the inputs. "
        "Ratios are against the hand-written loop and against the minimal `nn.Module` of the same case.",
        "",
        f"Load average {load_start:.1f} when the run started and {os.getloadavg()[0]:.1f} at its end, on {os.cpu_count()} CPUs. "
        "Implementations are interleaved within each repeat, so they share the same contention: the ratios are "
        "comparable within this table, the absolute times are not comparable with other runs or machines. "
        "The `best:` columns give the same ratios from each implementation's minimum time, which contention can only inflate.",
        "",
        "| layer | B×N | pass | implementation | median µs / step | × loop | × minimal module | best: × loop | best: × minimal module |",
        "|---|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for layer, size, kind, k, us, rl, rm, bl, bm in rows:
        lines.append(f"| {layer} | {size} | {kind} | {k} | {us:.1f} | {rl:.2f} | {rm:.2f} | {bl:.2f} | {bm:.2f} |")
    if notes:
        lines += [""] + [f"Note: {n}" for n in notes]
    out = pathlib.Path(__file__).resolve().parent / "results" / "snn_step.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
