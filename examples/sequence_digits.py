"""Recurrent layers on a sequence task: 8x8 digits read one row per timestep.

    uv run python examples/sequence_digits.py                 # a SelectiveSSM stack
    uv run python examples/sequence_digits.py --layer lstm    # tt.rnn.LSTM instead (or gru, rnn)
    uv run python examples/sequence_digits.py --smoke         # a few steps (for tests)

Each of scikit-learn's bundled 8x8 digits becomes a sequence of 8 timesteps of 8
pixels (its rows, top to bottom); the model sees one row per call and answers after
the last row, so it has to remember the shape of the digit in its hidden state.

`tt.rnn` layers take one timestep per call, like every traceTorch layer, and keep
their hidden state (``h``, and ``c`` for the LSTM) inside; ``model.zero_states()``
starts new sequences. The same model also runs a whole ``[T, B, features]`` sequence
in one call with ``model.forward_sequence`` (here through `tt.Sequential`), which
gives the same numbers as stepping and is faster (cuDNN for LSTM/GRU on GPU,
parallel scans for the SSM); the script checks that they agree and trains with it.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
import tracetorch as tt
from torch import nn
from tqdm import tqdm
from tracetorch import rnn

HERE = Path(__file__).resolve().parent


class RowReader(tt.Model):
    """Two recurrent layers and a linear head; input [B, 8] (one row) per call."""

    def __init__(self, layer: str = "ssm", width: int = 64) -> None:
        super().__init__()
        if layer == "ssm":
            # in, out, hidden (the diagonal state's width); decay: initial per-step decay
            body = [rnn.SelectiveSSM(8, width, 32, decay=0.8), rnn.SelectiveSSM(width, width, 32, decay=0.8)]
        elif layer == "lstm":
            body = [rnn.LSTM(8, width), rnn.LSTM(width, width)]
        elif layer == "gru":
            body = [rnn.GRU(8, width), rnn.GRU(width, width)]
        elif layer == "rnn":
            body = [rnn.SimpleRNN(8, width), rnn.SimpleRNN(width, width)]
        else:
            raise ValueError(f"unknown layer {layer!r}; use ssm, lstm, gru or rnn")
        self.net = tt.Sequential(*body, nn.Linear(width, 10))

    def forward(self, row: torch.Tensor) -> torch.Tensor:
        return self.net(row)


def load_rows(seed: int):
    """Digits as [T=8, N, 8] row sequences in [0, 1], split 80/20."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = torch.tensor(digits.images, dtype=torch.float32) / 16.0  # [N, 8 rows, 8 pixels]
    y = torch.tensor(digits.target)
    i_train, i_test = train_test_split(range(len(y)), test_size=0.2, random_state=seed, stratify=digits.target)
    to_seq = lambda idx: x[idx].transpose(0, 1).contiguous()  # noqa: E731  [T, N, 8]
    return to_seq(i_train), y[i_train], to_seq(i_test), y[i_test]


def main(argv: list[str] | None = None) -> float:
    p = argparse.ArgumentParser(description="8x8 digits read row by row with tt.rnn layers.")
    p.add_argument("--layer", choices=["ssm", "lstm", "gru", "rnn"], default="ssm")
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=5e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=HERE / "_out", help="folder for the plot (default: examples/_out)")
    p.add_argument("--smoke", action="store_true", help="a few steps only (for tests)")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    torch.manual_seed(args.seed)
    start = time.perf_counter()

    x_train, y_train, x_test, y_test = load_rows(args.seed)
    if args.smoke:
        args.epochs = 1
        x_train, y_train = x_train[:, :128], y_train[:128]
    model = RowReader(args.layer)

    # Stepping (one row per call) and sequence mode give the same outputs.
    with torch.no_grad():
        model.zero_states()
        stepped = torch.stack([model(row) for row in x_test[:, :16]])
        model.zero_states()
        whole = model.forward_sequence(x_test[:, :16])
    assert torch.allclose(stepped, whole, atol=1e-5), (stepped - whole).abs().max()
    print(
        f"{args.layer}: stepping and forward_sequence agree (max difference {(stepped - whole).abs().max().item():.1e})"
    )

    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr)
    tracker = tt.plot.MeasurementTracker(decays={"loss": (0.9,)})
    n = x_train.shape[1]
    accuracy = 0.0
    step = 0
    for epoch in range(1, args.epochs + 1):
        order = torch.randperm(n)
        bar = tqdm(range(0, n, args.batch_size), desc=f"epoch {epoch}", leave=False, disable=args.no_progress)
        for i in bar:
            idx = order[i : i + args.batch_size]
            model.zero_states()
            logits = model.forward_sequence(x_train[:, idx])[-1]  # the answer after the last row
            loss = nn.functional.cross_entropy(logits, y_train[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            tracker.update(loss=loss)
            step += 1
        bar.close()
        with torch.no_grad():
            model.zero_states()
            last = None
            for row in x_test:  # evaluate by stepping, row by row, as a streaming reader would
                last = model(row)
            accuracy = (last.argmax(-1) == y_test).float().mean().item()
        tracker.update(step=step, test_accuracy=accuracy)
        print(f"epoch {epoch}: loss {tracker.latest('loss', 0.9):.3f}, held-out accuracy {accuracy:.1%}")

    args.out.mkdir(parents=True, exist_ok=True)
    tracker.plot(title=f"digits row by row ({args.layer})", path=args.out / f"sequence_digits_{args.layer}.png")
    print(f"held-out accuracy {accuracy:.1%} after {time.perf_counter() - start:.0f} s")
    return accuracy


if __name__ == "__main__":
    main()
