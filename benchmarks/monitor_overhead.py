"""Cost of a `tt.Monitor` on a training step (issue: encoders, losses and a state monitor).

The model is snnTorch tutorial 5's network: 784-1000-10 LIF MLP (``snn.LIB`` with an
arctan surrogate), 25 rate-coded steps, batch 128, cross entropy on spike counts, Adam.
One training step (encode, 25 forward steps, loss, backward, optimiser step) is timed

* without a monitor,
* with a monitor attached to both LIF layers but not recording (the claim: < 2 %),
* recording outputs and membranes (for information; it keeps 2 x 25 extra tensors),

in interleaved rounds (`_common.interleaved`), in stepping and in sequence mode.

Run: ``uv run python benchmarks/monitor_overhead.py [--rounds N]``; writes
``benchmarks/results/monitor_overhead.md``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import interleaved, write_table  # noqa: E402

import tracetorch as tt  # noqa: E402
from tracetorch import snn  # noqa: E402

STEPS, BATCH = 25, 128


def make():
    torch.manual_seed(0)
    net = tt.Sequential(
        nn.Linear(784, 1000), snn.LIB(1000, beta=0.95, spike_fn="heaviside_atan"),
        nn.Linear(1000, 10), snn.LIB(10, beta=0.95, spike_fn="heaviside_atan"),
    )
    return net, torch.optim.Adam(net.parameters(), lr=5e-4)


def per_call_cost(rounds: int) -> dict[str, float]:
    """Seconds per call of a tiny ``snn.LIB(8)`` step on ``[1, 8]`` (no autograd), without and with an idle monitor.

    The monitor's cost does not depend on the tensor sizes, so a tiny layer measures it
    with the least noise.
    """
    layers = {}
    for kind in ("none", "attached"):
        layer = snn.LIB(8, spike_fn="heaviside_atan")
        if kind == "attached":
            layers["monitor"] = tt.Monitor(layer, states=["mem"])
        layers[kind] = layer
    x = torch.rand(1, 8)

    def calls(layer, n=200):
        with torch.no_grad():
            for _ in range(n):
                layer(x)
        return None

    times = interleaved({k: (lambda k=k: calls(layers[k])) for k in ("none", "attached")}, rounds=rounds, inner=1)
    return {k: v / 200 for k, v in times.items()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=15)
    p.add_argument("--threads", type=int, default=1, help="torch threads (1: least sensitive to other load)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    x = torch.rand(BATCH, 784)
    y = torch.randint(0, 10, (BATCH,))
    per_call = per_call_cost(max(args.rounds, 9) * 3)
    delta = per_call["attached"] - per_call["none"]
    print(f"per call: none {per_call['none'] * 1e6:.1f} us, attached {per_call['attached'] * 1e6:.1f} us", flush=True)
    rows = []
    for mode in ("stepping", "forward_sequence"):
        nets = {}
        for kind in ("none", "attached", "recording"):
            net, opt = make()
            mon = None if kind == "none" else tt.Monitor(net, states=["mem"] if mode == "stepping" else (), detach=True)
            if kind == "recording":
                mon.start()
            nets[kind] = (net, opt, mon)

        def step(kind, mode=mode):
            net, opt, mon = nets[kind]
            if mon is not None and mon.recording:
                mon.clear()
            net.zero_states()
            spikes = tt.encode.rate(x, STEPS)
            out = net.forward_sequence(spikes) if mode == "forward_sequence" else torch.stack([net(s) for s in spikes])
            loss = tt.loss.ce_count_loss(out, y)
            opt.zero_grad()
            loss.backward()
            opt.step()

        times = interleaved({k: (lambda k=k: step(k)) for k in nets}, rounds=args.rounds, inner=2)
        base = times["none"]
        for kind in ("none", "attached", "recording"):
            what = {"none": "no monitor", "attached": "monitor attached, not recording",
                    "recording": "recording outputs" + (" and membranes" if mode == "stepping" else "")}[kind]
            rows.append([mode, what, f"{times[kind] * 1e3:.1f}", f"{(times[kind] / base - 1) * 100:+.2f} %"])
        print(rows[-3:], flush=True)
        calls = 2 * STEPS if mode == "stepping" else 2
        rows.append([mode, f"idle-monitor cost from the per-call measurement ({calls} monitored calls x "
                     f"{delta * 1e6:.2f} us)", f"{calls * delta * 1e3:.3f}", f"{calls * delta / base * 100:+.3f} %"])
    notes = (
        f"One training step of a 784-1000-10 LIF MLP, {STEPS} rate-coded steps, batch {BATCH}: encode, forward, "
        "ce_count_loss, backward, Adam. Medians of interleaved rounds. An attached monitor that is not recording costs "
        "one flag check per call of a monitored layer (2 layers x 25 steps here); with the hooks present PyTorch also "
        "takes its slower hook-calling path for those calls. "
        f"Per call of a tiny snn.LIB(8) step on [1, 8] without autograd (interleaved medians of 200 calls): "
        f"{per_call['none'] * 1e6:.1f} us without a monitor, {per_call['attached'] * 1e6:.1f} us with an idle one "
        f"(difference {delta * 1e6:.2f} us); the 'idle-monitor cost' rows multiply that difference by the monitored "
        "calls of one training step, which is robust to machine noise where the whole-step difference is not."
    )
    print(write_table("monitor_overhead", "tt.Monitor overhead on a training step", ["mode", "monitor", "ms / step", "vs none"], rows, notes))


if __name__ == "__main__":
    main()
