"""Rate-coded MNIST: a convolutional spiking network sees the whole image at every step.

    uv run python examples/mnist/rate_coded.py               # MNIST (downloaded once)
    uv run python examples/mnist/rate_coded.py --smoke       # a few steps on synthetic data

At each of ``--timesteps`` steps every pixel fires with a probability equal to its
brightness (rate coding), the network takes ONE step, and the readout leaky
integrator accumulates evidence; the loss is taken on the readout averaged over time.
``snn.LIB(..., dim=-3)`` puts the neurons on the channel axis of ``[B, C, H, W]``, so
each LIB layer's width equals the channel count of the convolution before it.

The data are read from the raw MNIST files (downloaded into ``--data``, by default
``~/.cache/tracetorch/mnist``). Without a network connection and without the files
the script says what to do and exits with status 2. It uses the GPU when there is one
(``--device``). Plots (loss/accuracy, a spike raster, the learned decays and
thresholds) go to ``--out`` (default ``examples/_out/``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
import tracetorch as tt  # noqa: E402
from mnist_data import add_common_args, get_data, pick_device, train  # noqa: E402
from tracetorch import snn  # noqa: E402

HERE = Path(__file__).resolve().parent


class RateCodedSNN(tt.Model):
    """Conv -> LIB -> pool -> conv -> LIB -> pool -> linear -> LIB -> linear -> LI, one step per call."""

    def __init__(self, c1: int = 32, c2: int = 64, hidden: int = 128) -> None:
        super().__init__()
        spike = "heaviside_atan"  # deterministic spikes, arctan surrogate gradient
        self.net = nn.Sequential(
            nn.Conv2d(1, c1, 3, padding=1),
            snn.LIB(c1, dim=-3, spike_fn=spike),  # c1 channels, so c1 neurons
            nn.MaxPool2d(2),  # 28 -> 14
            nn.Conv2d(c1, c2, 3, padding=1),
            snn.LIB(c2, dim=-3, spike_fn=spike),
            nn.MaxPool2d(2),  # 14 -> 7
            nn.Flatten(),
            nn.Linear(c2 * 7 * 7, hidden),
            snn.LIB(hidden, spike_fn=spike),
            nn.Linear(hidden, 10),
            snn.LI(10, beta=0.8),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def run(model: RateCodedSNN, x: torch.Tensor, timesteps: int, generator: torch.Generator | None = None):
    """Show images ``x`` [B, 1, 28, 28] for `timesteps` steps; return the mean readout [B, 10]."""
    model.zero_states()
    total = 0.0
    for _ in range(timesteps):
        spikes = torch.bernoulli(x, generator=generator)  # a new random spike pattern each step
        total = total + model(spikes)
    return total / timesteps


def main(argv: list[str] | None = None) -> float:
    p = argparse.ArgumentParser(description="Rate-coded MNIST with a convolutional SNN.")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--timesteps", type=int, default=8)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=2e-3)
    add_common_args(p, HERE.parent / "_out")
    args = p.parse_args(argv)

    torch.manual_seed(args.seed)
    device = pick_device(args.device)
    x_train, y_train, x_test, y_test = get_data(args)
    max_steps = args.max_steps
    if args.smoke:
        args.epochs, args.timesteps, max_steps, args.batch_size = 1, 3, 3, 32

    model = RateCodedSNN().to(device)
    print(
        f"rate-coded MNIST on {device}: {len(y_train)} training / {len(y_test)} test images, {args.timesteps} timesteps"
    )
    forward = lambda m, xb, gen: run(m, xb, args.timesteps, gen)
    tracker, accuracy = train(model, forward, (x_train, y_train, x_test, y_test), args, device, max_steps)

    args.out.mkdir(parents=True, exist_ok=True)
    tracker.plot(title="rate-coded MNIST", logy=["loss"], path=args.out / "mnist_rate_training.png")
    # spikes of the first convolutional LIB layer (32 x 28 x 28 neurons) for one test digit
    recorded: list[torch.Tensor] = []
    hook = model.net[1].register_forward_hook(lambda m, i, o: recorded.append(o[0].cpu()))
    with torch.no_grad():
        model.eval()
        run(model, x_test[:1].to(device), max(args.timesteps, 16))
    hook.remove()
    tt.plot.spike_raster(
        torch.stack(recorded),
        max_neurons=2000,
        show_rate=True,
        title=f"first conv LIB layer reading a {int(y_test[0])} (first 2000 neurons)",
        path=args.out / "mnist_rate_raster.png",
    )
    tt.plot.parameter_distributions(model, ["beta", "threshold"], path=args.out / "mnist_rate_parameters.png")
    print(f"final test accuracy {accuracy:.2%}; plots in {args.out}")
    return accuracy


if __name__ == "__main__":
    main()
