"""Streaming inference that stops, saves its hidden states, and resumes exactly.

    uv run python examples/streaming_states.py
    uv run python examples/streaming_states.py --smoke     # shorter stream (for tests)

A model that runs on an endless stream (sensor data, audio, a live feed) carries
everything it remembers in its hidden states. With traceTorch those live inside the
layers, and `tt.Model` can snapshot all of them at once:

* ``model.save_states("states.safetensors")`` writes every existing state under a
  dotted path (``net.1.mem``, ``net.3.h``, ...) atomically;
* ``model.load_states("states.safetensors")`` checks every key and shape first, then
  restores them, in this process or another one, on any device.

The script runs a small spiking + state-space model over a noisy multi-channel
stream twice: once without a break, and once stopping half-way, saving weights and
states to files, building a brand-new model from those files (as a restarted process
would) and continuing. The two output streams are identical, bit for bit.

Spikes here are deterministic (``spike_fn="heaviside_atan"``). With traceTorch's
default stochastic spikes the continuation would also need the random generator's
state (``torch.get_rng_state()``) saved and restored.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import torch
import tracetorch as tt
from torch import nn
from tracetorch import rnn, snn

HERE = Path(__file__).resolve().parent


class StreamModel(tt.Model):
    """Linear -> LIB -> SelectiveSSM -> linear -> LI readout, one timestep per call."""

    def __init__(self, channels: int = 4, hidden: int = 32) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(channels, hidden),
            snn.LIB(hidden, beta=0.8, threshold=0.5, spike_fn="heaviside_atan"),
            rnn.SelectiveSSM(hidden, hidden, 16, decay=0.95),
            nn.Linear(hidden, 2),
            snn.LI(2, beta=0.9),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def make_stream(steps: int, batch: int, channels: int, seed: int) -> torch.Tensor:
    """Noisy sine waves of different frequencies: [T, batch, channels]."""
    gen = torch.Generator().manual_seed(seed)
    t = torch.arange(steps, dtype=torch.float32).view(-1, 1, 1)
    freq = 0.02 + 0.1 * torch.rand(1, batch, channels, generator=gen)
    phase = 2 * math.pi * torch.rand(1, batch, channels, generator=gen)
    return torch.sin(2 * math.pi * freq * t + phase) + 0.3 * torch.randn(steps, batch, channels, generator=gen)


@torch.no_grad()
def stream(model: StreamModel, data: torch.Tensor) -> torch.Tensor:
    """Feed `data` [T, B, C] one step at a time, continuing from the model's current states."""
    return torch.stack([model(x_t) for x_t in data])


def main(argv: list[str] | None = None) -> bool:
    p = argparse.ArgumentParser(description="Save hidden states mid-stream and resume exactly.")
    p.add_argument("--steps", type=int, default=400, help="length of the stream")
    p.add_argument("--stop-at", type=int, default=None, help="step at which to stop and save (default: half-way)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=HERE / "_out", help="folder for files and plot (default: examples/_out)")
    p.add_argument("--smoke", action="store_true", help="a short stream (for tests)")
    args = p.parse_args(argv)
    if args.smoke:
        args.steps = 40
    stop = args.stop_at if args.stop_at is not None else args.steps // 2
    if not 0 < stop < args.steps:
        p.error("--stop-at must be between 1 and --steps - 1")
    args.out.mkdir(parents=True, exist_ok=True)
    weights_file = args.out / "streaming_weights.pt"
    states_file = args.out / "streaming_states.safetensors"

    torch.manual_seed(args.seed)
    model = StreamModel().eval()
    data = make_stream(args.steps, batch=3, channels=4, seed=args.seed)

    # 1. the whole stream without a break
    model.zero_states()
    uninterrupted = stream(model, data)

    # 2. the first part, then save weights and hidden states to files
    model.zero_states()
    first = stream(model, data[:stop])
    torch.save(model.state_dict(), weights_file)
    snapshot = model.save_states(states_file)
    print(f"stopped at step {stop}; saved {len(snapshot)} hidden states to {states_file}:")
    for name, tensor in snapshot.items():
        print(f"  {name:<12} {tuple(tensor.shape)}")

    # 3. a brand-new model (as after a restart) picks up where the old one stopped
    del model
    resumed_model = StreamModel().eval()
    resumed_model.load_state_dict(torch.load(weights_file, weights_only=True))
    resumed_model.load_states(states_file)
    second = stream(resumed_model, data[stop:])

    # (for contrast: a restart that forgets the states starts from scratch)
    forgetful = StreamModel().eval()
    forgetful.load_state_dict(torch.load(weights_file, weights_only=True))
    cold = torch.cat([first, stream(forgetful, data[stop:])])

    resumed = torch.cat([first, second])
    same = torch.equal(resumed, uninterrupted)
    print(
        f"resumed stream equals the uninterrupted one: {same} "
        f"(max difference {(resumed - uninterrupted).abs().max().item():.1e})"
    )

    fig = tt.plot.line_plot(
        {
            "uninterrupted": uninterrupted[:, 0, 0],
            "stopped + resumed": resumed[:, 0, 0],
            "restarted without states": cold[:, 0, 0],
        },
        xlabel="step",
        ylabel="readout (channel 0)",
        title="streaming with save_states / load_states",
    )
    lines = fig.axes[0].lines
    lines[0].set(linewidth=4, alpha=0.35)
    lines[1].set(linestyle="--")
    lines[2].set(linewidth=0.8, alpha=0.7)
    fig.axes[0].axvline(stop - 0.5, color="gray", linestyle="--", label="save + restart")
    fig.axes[0].legend(loc="best", fontsize="small")
    fig.savefig(args.out / "streaming_states.png")
    if not same:
        raise SystemExit("error: the resumed stream differs from the uninterrupted one")
    return same


if __name__ == "__main__":
    main()
