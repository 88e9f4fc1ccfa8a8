"""Per-step speed of tt.rnn LSTM/GRU/SimpleRNN against torch's own cells (issue 4, "Measure").

100 steps at batch 64, 512 inputs, hidden 512: one ``tt.rnn`` layer called once per
step (states inside the layer) against a ``torch.nn.LSTMCell``/``GRUCell``/``RNNCell``
loop with the state passed by hand, forward only (``torch.no_grad``) and
forward+backward (sum of every step's output, then ``backward``). Medians over
interleaved rounds; 2 CPU threads by default (``--threads``). Writes ``benchmarks/results/rnn_step.md``.

Run: ``uv run python benchmarks/rnn_step.py [--quick]``
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

STEPS, BATCH, IN, HIDDEN = 100, 64, 512, 512

PAIRS: dict[str, tuple[type[rnn.Layer], type[nn.Module]]] = {
    "LSTM": (rnn.LSTM, nn.LSTMCell),
    "GRU": (rnn.GRU, nn.GRUCell),
    "SimpleRNN": (rnn.SimpleRNN, nn.RNNCell),
}


def torch_loop(cell: nn.Module, x: torch.Tensor, lstm: bool) -> torch.Tensor:
    hx = None
    total = x.new_zeros(())
    for xt in x:
        hx = cell(xt, hx)
        total = total + (hx[0] if lstm else hx).sum()
    return total


def tt_loop(layer: rnn.Layer, x: torch.Tensor) -> torch.Tensor:
    layer.zero_states()
    total = x.new_zeros(())
    for xt in x:
        total = total + layer(xt).sum()
    return total


def make_pass(run: Callable[[], torch.Tensor], backward: bool) -> Callable[[], None]:
    if backward:

        def fwd_bwd() -> None:
            run().backward()

        return fwd_bwd

    def fwd() -> None:
        with torch.no_grad():
            run()

    return fwd


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
    x = torch.randn(STEPS, BATCH, IN)
    rows = []
    for name, (tt_cls, cell_cls) in PAIRS.items():
        cell = cell_cls(IN, HIDDEN)
        layer = tt_cls.from_torch(cell)
        lstm = name == "LSTM"
        for backward in (False, True):
            fns = {
                "torch": make_pass(lambda: torch_loop(cell, x, lstm), backward),
                "tt": make_pass(lambda: tt_loop(layer, x), backward),
            }
            t = interleaved(fns, rounds=rounds, inner=1, warmup=2)
            rows.append(
                [
                    name,
                    "forward+backward" if backward else "forward",
                    f"{t['torch'] * 1e3:.1f}",
                    f"{t['tt'] * 1e3:.1f}",
                    f"{t['tt'] / t['torch']:.2f}×",
                ]
            )
            print(rows[-1], flush=True)
    table = write_table(
        "rnn_step",
        f"tt.rnn per-step vs torch cells ({STEPS} steps, batch {BATCH}, {IN} in, hidden {HIDDEN})",
        ["layer", "pass", "torch cell loop ms", "tt.rnn layer ms", "tt / torch"],
        rows,
        notes="Target: tt / torch ≤ 1.10×. Both call the same fused kernel "
        "(`torch._VF.lstm_cell` etc.); the difference is the layer's state bookkeeping.",
    )
    print(table)


if __name__ == "__main__":
    main()
