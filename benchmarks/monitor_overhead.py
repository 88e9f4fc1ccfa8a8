"""Cost of a `tt.Monitor` on a training step (issue: encoders, losses and a state monitor).

The model is snnTorch tutorial 5's network: 784-1000-10 LIF MLP (``snn.LIB`` with an
arctan surrogate), 25 rate-coded steps, batch 128, cross entropy on spike counts, Adam.
One training step (encode, 25 forward steps, loss, backward, optimiser step) is timed

* without a monitor,
* with a monitor created on both LIF layers but not recording (the claim: < 2 %; it
  installs nothing until it records, so this is the same code path),
* recording outputs (and membranes when stepping), for information,

in stepping and in sequence mode. Each round times the three back to back (in an
order that rotates), and the table reports the median over rounds of each one's ratio
to the "none" step of the same round, which cancels slow drifts in machine load.
A second measurement times a tiny ``snn.LIB(8)`` step with and without recording,
which isolates the per-call cost of the hooks.

Run: ``uv run python benchmarks/monitor_overhead.py [--rounds N] [--threads N]``;
writes ``benchmarks/results/monitor_overhead.md``.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
import tracetorch as tt  # noqa: E402
from _common import write_table  # noqa: E402
from tracetorch import snn  # noqa: E402

STEPS, BATCH = 25, 128
KINDS = ("none", "idle", "recording")


def make():
    torch.manual_seed(0)
    net = tt.Sequential(
        nn.Linear(784, 1000),
        snn.LIB(1000, beta=0.95, spike_fn="heaviside_atan"),
        nn.Linear(1000, 10),
        snn.LIB(10, beta=0.95, spike_fn="heaviside_atan"),
    )
    return net, torch.optim.Adam(net.parameters(), lr=5e-4)


def paired(fns: dict, rounds: int, warmup: int = 2) -> tuple[dict[str, float], dict[str, float]]:
    """Median seconds of each function and median ratio to ``fns['none']`` within each round."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    names = list(fns)
    secs: dict[str, list[float]] = {k: [] for k in names}
    ratios: dict[str, list[float]] = {k: [] for k in names}
    gc.disable()
    try:
        for r in range(rounds):
            order = names[r % len(names) :] + names[: r % len(names)]
            got = {}
            for k in order:
                t0 = time.perf_counter()
                fns[k]()
                got[k] = time.perf_counter() - t0
            for k in names:
                secs[k].append(got[k])
                ratios[k].append(got[k] / got["none"])
    finally:
        gc.enable()
    return ({k: statistics.median(v) for k, v in secs.items()}, {k: statistics.median(v) for k, v in ratios.items()})


def training_step_rows(mode: str, rounds: int) -> list[list[str]]:
    x = torch.rand(BATCH, 784)
    y = torch.randint(0, 10, (BATCH,))
    nets = {}
    for kind in KINDS:
        net, opt = make()
        states = ["mem"] if mode == "stepping" else ()
        mon = None if kind == "none" else tt.Monitor(net, states=states, detach=True)
        nets[kind] = (net, opt, mon)

    def step(kind):
        net, opt, mon = nets[kind]
        if kind == "recording":
            mon.start()
        net.zero_states()
        spikes = tt.encode.rate(x, STEPS)
        out = net.forward_sequence(spikes) if mode == "forward_sequence" else torch.stack([net(s) for s in spikes])
        loss = tt.loss.ce_count_loss(out, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if kind == "recording":
            mon.stop()

    secs, ratios = paired({k: (lambda k=k: step(k)) for k in KINDS}, rounds)
    what = {
        "none": "no monitor",
        "idle": "monitor created, not recording",
        "recording": "recording outputs" + (" and membranes" if mode == "stepping" else ""),
    }
    return [[mode, what[k], f"{secs[k] * 1e3:.1f}", f"{(ratios[k] - 1) * 100:+.2f} %"] for k in KINDS]


def per_call_cost(rounds: int, calls: int = 200) -> dict[str, float]:
    """Seconds per call of a tiny ``snn.LIB(8)`` step on ``[1, 8]`` (no autograd): none / idle / recording."""
    layers = {}
    for kind in KINDS:
        layer = snn.LIB(8, spike_fn="heaviside_atan")
        layers[kind] = (layer, None if kind == "none" else tt.Monitor(layer, states=["mem"], detach=True))
    x = torch.rand(1, 8)

    def run(kind):
        layer, mon = layers[kind]
        if kind == "recording":
            mon.start()
        with torch.no_grad():
            for _ in range(calls):
                layer(x)
        if kind == "recording":
            mon.stop()

    secs, _ = paired({k: (lambda k=k: run(k)) for k in KINDS}, rounds)
    return {k: v / calls for k, v in secs.items()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=21)
    p.add_argument("--threads", type=int, default=1, help="torch threads (1: least sensitive to other load)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    per_call = per_call_cost(max(args.rounds, 21) * 3)
    print({k: f"{v * 1e6:.1f} us" for k, v in per_call.items()}, flush=True)
    rows = []
    for mode in ("stepping", "forward_sequence"):
        rows += training_step_rows(mode, args.rounds)
        print(rows[-3:], flush=True)
    notes = (
        f"One training step of a 784-1000-10 LIF MLP, {STEPS} rate-coded steps, batch {BATCH}: encode, forward, "
        f"ce_count_loss, backward, Adam; {args.rounds} rounds, medians; 'vs none' is the median of per-round ratios. "
        "A monitor that is not recording has installed nothing on the model, so its row measures the noise floor. "
        f"Per call of a tiny snn.LIB(8) step on [1, 8] without autograd: {per_call['none'] * 1e6:.1f} us without a "
        f"monitor, {per_call['idle'] * 1e6:.1f} us with an idle one, {per_call['recording'] * 1e6:.1f} us while "
        "recording output and membrane (a forward hook and two detached references per call)."
    )
    print(
        write_table(
            "monitor_overhead",
            "tt.Monitor overhead on a training step",
            ["mode", "monitor", "ms / step", "vs none"],
            rows,
            notes,
        )
    )


if __name__ == "__main__":
    main()
