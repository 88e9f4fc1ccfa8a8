"""Sequence mode of tt.rnn against stepping (issue 5, "Measure").

* LSTM and GRU, batch 64, 512 inputs, hidden 512, T=100: ``forward_sequence`` (torch's
  fused ``_VF.lstm``/``_VF.gru`` with the layer's own weights) against stepping the
  same layer, and against ``torch.nn.LSTM``/``nn.GRU`` called on the sequence (the
  floor: the same kernel without traceTorch).
* SelectiveSSM (512 in/out, hidden 512): ``forward_sequence`` (batched projections
  and a chunked linear scan) against stepping, at B=64, T=100 and at B=1, T=1000.

Forward only (``torch.no_grad``) and forward+backward (sum of the outputs, then
``backward``). Medians over interleaved rounds; 2 CPU threads by default (``--threads``). Writes
``benchmarks/results/rnn_sequence.md``.

Run: ``uv run python benchmarks/rnn_sequence.py [--quick]``
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import interleaved, write_table  # noqa: E402
from tracetorch import rnn  # noqa: E402


def stepping(layer: rnn.Layer, x: torch.Tensor) -> torch.Tensor:
    layer.zero_states()
    return torch.stack([layer(xt) for xt in x])


def sequence(layer: rnn.Layer, x: torch.Tensor) -> torch.Tensor:
    layer.zero_states()
    return layer.forward_sequence(x)


def make_pass(run: Callable[[], torch.Tensor], backward: bool) -> Callable[[], None]:
    if backward:

        def fwd_bwd() -> None:
            run().sum().backward()

        return fwd_bwd

    def fwd() -> None:
        with torch.no_grad():
            run()

    return fwd


def measure(fns: dict[str, Callable[[], torch.Tensor]], backward: bool, rounds: int) -> dict[str, float]:
    return interleaved({k: make_pass(f, backward) for k, f in fns.items()}, rounds=rounds, inner=1, warmup=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer rounds (a smoke run)")
    parser.add_argument(
        "--threads", type=int, default=2, help="torch intra-op threads (default 2; 1 on an oversubscribed machine)"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rounds = 3 if args.quick else 5
    torch.manual_seed(0)
    rows = []

    for name, tt_cls, torch_cls in (("LSTM", rnn.LSTM, nn.LSTM), ("GRU", rnn.GRU, nn.GRU)):
        steps, batch, width = 100, 64, 512
        module = torch_cls(width, width)
        layer = tt_cls.from_torch(module)
        x = torch.randn(steps, batch, width)
        for backward in (False, True):
            t = measure(
                {
                    "step": lambda: stepping(layer, x),
                    "seq": lambda: sequence(layer, x),
                    "torch": lambda: module(x)[0],
                },
                backward,
                rounds,
            )
            rows.append(
                [
                    name,
                    f"T={steps}, B={batch}, H={width}",
                    "forward+backward" if backward else "forward",
                    f"{t['step'] * 1e3:.1f}",
                    f"{t['seq'] * 1e3:.1f}",
                    f"{t['step'] / t['seq']:.2f}×",
                    f"{t['torch'] * 1e3:.1f} ({t['seq'] / t['torch']:.2f}×)",
                ]
            )
            print(rows[-1], flush=True)

    for steps, batch in ((100, 64), (1000, 1)):
        width = hidden = 512
        layer = rnn.SelectiveSSM(width, width, hidden)
        x = torch.randn(steps, batch, width)
        for backward in (False, True):
            t = measure({"step": lambda: stepping(layer, x), "seq": lambda: sequence(layer, x)}, backward, rounds)
            rows.append(
                [
                    "SelectiveSSM",
                    f"T={steps}, B={batch}, in=out=hidden={width}",
                    "forward+backward" if backward else "forward",
                    f"{t['step'] * 1e3:.1f}",
                    f"{t['seq'] * 1e3:.1f}",
                    f"{t['step'] / t['seq']:.2f}×",
                    "–",
                ]
            )
            print(rows[-1], flush=True)

    table = write_table(
        "rnn_sequence",
        "tt.rnn forward_sequence vs stepping",
        [
            "layer",
            "shape",
            "pass",
            "stepping ms",
            "forward_sequence ms",
            "speed-up",
            "torch nn module ms (seq / torch)",
        ],
        rows,
        notes="Stepping calls the layer once per timestep; `forward_sequence` runs torch's fused "
        "`_VF.lstm`/`_VF.gru` with the layer's own parameters (LSTM, GRU) or batched projections "
        "plus a chunked linear scan (SelectiveSSM). The last column is `torch.nn.LSTM`/`nn.GRU` on the "
        "same sequence: the floor for the fused path.",
    )
    print(table)


if __name__ == "__main__":
    main()
