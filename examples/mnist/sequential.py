"""Sequential MNIST: a recurrent spiking network reads an image a few pixels at a time.

    uv run python examples/mnist/sequential.py                        # MNIST (downloaded once)
    uv run python examples/mnist/sequential.py --pixels-per-step 28   # row by row: easier
    uv run python examples/mnist/sequential.py --smoke                # a few steps, synthetic data

The 784 pixels of an image are fed in reading order, ``--pixels-per-step`` at a time
(16 gives 49 timesteps), with Gaussian noise (``--noise``) added to every step, so
the network has to remember what it saw many steps earlier and average out the
noise. Only the readout at the LAST step is used for the answer.

Memory comes from the layers' own states: ``snn.RLIB`` feeds its spikes back through
a recurrent trace, and every spiking layer starts with a spectrum of membrane decays
from ``tt.functional.hippo_decays`` (one time scale per neuron, the slowest with a
half-life as long as the sequence), which training then adjusts. Uses the GPU when
there is one. See ``rate_coded.py`` for data options; plots go to ``--out``.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
import tracetorch as tt  # noqa: E402
from mnist_data import add_common_args, get_data, pick_device, train  # noqa: E402
from tracetorch import snn  # noqa: E402

HERE = Path(__file__).resolve().parent


class SequentialSNN(tt.Model):
    """Linear -> RLIB -> linear -> LIB -> linear -> LI, one chunk of pixels per call."""

    def __init__(self, pixels_per_step: int, steps: int, hidden: int = 256) -> None:
        super().__init__()
        fn = tt.functional
        # decays with half-lives from `steps` timesteps down to steps/hidden (shuffled over neurons)
        scale = fn.max_halflife_to_hippo_scale(float(steps))
        spike = fn.heaviside_atan(alpha=2.0)
        self.net = nn.Sequential(
            nn.Linear(pixels_per_step, hidden),
            snn.RLIB(hidden, beta=fn.hippo_decays(hidden, scale, shuffle=True), spike_fn=spike),
            nn.Linear(hidden, hidden),
            snn.LIB(hidden, beta=fn.hippo_decays(hidden, scale, shuffle=True), spike_fn=spike),
            nn.Linear(hidden, 10),
            snn.LI(10, beta=fn.halflife_to_decay(steps / 4)),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def run(
    model: SequentialSNN, x: torch.Tensor, k: int, noise: float, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Read images ``x`` [B, 1, 28, 28] k pixels per step (with noise); return the last readout."""
    pixels = x.flatten(1)
    pad = (-pixels.shape[1]) % k
    pixels = nn.functional.pad(pixels, (0, pad)).view(x.shape[0], -1, k)  # [B, steps, k]
    model.zero_states()
    out = None
    for t in range(pixels.shape[1]):
        chunk = pixels[:, t]
        if noise > 0:
            chunk = chunk + noise * torch.randn(chunk.shape, device=chunk.device, generator=generator)
        out = model(chunk)
    return out


def main(argv: list[str] | None = None) -> float:
    p = argparse.ArgumentParser(description="Sequential (pixel-by-pixel) MNIST with a recurrent SNN.")
    p.add_argument("--pixels-per-step", type=int, default=16, help="pixels read at each timestep")
    p.add_argument("--noise", type=float, default=0.1, help="std of the Gaussian noise added at each step")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=2e-3)
    add_common_args(p, HERE.parent / "_out")
    args = p.parse_args(argv)
    if not 1 <= args.pixels_per_step <= 784:
        p.error("--pixels-per-step must be between 1 and 784")

    torch.manual_seed(args.seed)
    device = pick_device(args.device)
    x_train, y_train, x_test, y_test = get_data(args)
    max_steps = args.max_steps
    if args.smoke:
        args.epochs, max_steps, args.pixels_per_step, args.batch_size = 1, 2, 112, 32  # 7 timesteps
    steps = math.ceil(784 / args.pixels_per_step)

    model = SequentialSNN(args.pixels_per_step, steps).to(device)
    print(
        f"sequential MNIST on {device}: {args.pixels_per_step} pixels per step, {steps} timesteps, noise {args.noise}"
    )
    forward = lambda m, xb, gen: run(m, xb, args.pixels_per_step, args.noise, gen)
    tracker, accuracy = train(model, forward, (x_train, y_train, x_test, y_test), args, device, max_steps, clip=1.0)

    args.out.mkdir(parents=True, exist_ok=True)
    tracker.plot(title="sequential MNIST", logy=["loss"], path=args.out / "mnist_sequential_training.png")
    recorded: list[torch.Tensor] = []
    hook = model.net[1].register_forward_hook(lambda m, i, o: recorded.append(o[0].cpu()))
    with torch.no_grad():
        model.eval()
        run(model, x_test[:1].to(device), args.pixels_per_step, args.noise)
    hook.remove()
    tt.plot.spike_raster(
        torch.stack(recorded),
        show_rate=True,
        title=f"recurrent LIB layer reading a {int(y_test[0])}",
        path=args.out / "mnist_sequential_raster.png",
    )
    tt.plot.parameter_distributions(model, path=args.out / "mnist_sequential_parameters.png")
    print(f"final test accuracy {accuracy:.2%}; plots in {args.out}")
    return accuracy


if __name__ == "__main__":
    main()
