"""traceTorch quickstart: a small convolutional spiking network learns handwritten digits.

Run it from the repository root (uv installs everything it needs on the first run):

    uv run python examples/quickstart.py

The data are scikit-learn's bundled 8x8 handwritten digits (1797 images, no
download). Each image is *rate coded*: at every timestep each pixel fires with a
probability equal to its brightness, so the network sees a different random spike
pattern at each of the ``--timesteps`` steps and must integrate them over time.

The network is an ordinary PyTorch ``nn.Sequential`` with traceTorch layers in it:
``snn.LIB`` (leaky integrate-and-fire, binary spikes) after each convolution with
``dim=-3`` (the channel axis of ``[B, C, H, W]``, so its width is the number of conv
channels) and after the hidden linear layer with the default ``dim=-1``, and an
``snn.LI`` leaky integrator as the readout. Each layer processes ONE timestep per
call and keeps its membrane potential inside itself; ``tt.Model`` resets all of them
with one ``model.zero_states()`` before each new batch of sequences.

It prints the held-out accuracy after each epoch (about 97% after 8 epochs, in well
under a minute on two CPU cores) and saves, into ``--out`` (default
``examples/_out/``):

* ``quickstart_training.png`` – the training loss (raw and smoothed) and the held-out
  accuracy per epoch (``tt.plot.MeasurementTracker``);
* ``quickstart_raster.png`` – the spikes of the hidden layer while the network reads
  one test digit (``tt.plot.spike_raster``);
* ``quickstart_digits.png`` – some test digits with the network's answers
  (``tt.plot.image_grid``);
* ``quickstart_parameters.png`` – the learned decays and thresholds of every layer
  (``tt.plot.parameter_distributions``).

Everything is seeded: the same command prints the same numbers on the same machine.
It runs on the CPU, on one thread by default (``--threads``; ``0`` leaves torch's
choice): for a model this small, more threads only add synchronisation overhead.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

try:
    import matplotlib  # noqa: F401  (tt.plot)
    import sklearn  # noqa: F401  (the digits)
    from tqdm import tqdm
except ImportError as e:  # run without the project's `examples` dependency group
    sys.exit(
        f"error: this example needs scikit-learn, tqdm and matplotlib ({e.name} is missing).\n"
        "From the repository root, `uv run python examples/quickstart.py` installs them; "
        "with pip: pip install 'tracetorch[plot]' scikit-learn tqdm"
    )
import torch
import tracetorch as tt
from torch import nn
from tracetorch import snn

HERE = Path(__file__).resolve().parent


class DigitSNN(tt.Model):
    """A small convolutional spiking network for 1x8x8 images, one timestep per call."""

    def __init__(self, channels: tuple[int, int] = (16, 32), hidden: int = 64) -> None:
        super().__init__()
        c1, c2 = channels
        # Deterministic 0/1 spikes with an arctan surrogate gradient (the usual LIF).
        # Leave spike_fn out for traceTorch's default stochastic spikes.
        spike = tt.functional.heaviside_atan(alpha=2.0)
        self.net = nn.Sequential(
            nn.Conv2d(1, c1, 3, padding=1),
            snn.LIB(c1, dim=-3, spike_fn=spike),  # c1 channels -> c1 neurons along dim -3
            nn.MaxPool2d(2),  # 8x8 -> 4x4
            nn.Conv2d(c1, c2, 3, padding=1),
            snn.LIB(c2, dim=-3, spike_fn=spike),
            nn.MaxPool2d(2),  # 4x4 -> 2x2
            nn.Flatten(),
            nn.Linear(c2 * 2 * 2, hidden),
            snn.LIB(hidden, spike_fn=spike),
            nn.Linear(hidden, 10),
            snn.LI(10, beta=0.8),  # readout: a leaky integrator of the class scores
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def load_data(seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The 8x8 digits as [N, 1, 8, 8] intensities in [0, 1], split 80/20 (stratified)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0
    y = torch.tensor(digits.target, dtype=torch.long)
    idx_train, idx_test = train_test_split(
        torch.arange(len(y)).numpy(), test_size=0.2, random_state=seed, stratify=y.numpy()
    )
    return x[idx_train], y[idx_train], x[idx_test], y[idx_test]


def rate_code(x: torch.Tensor, timesteps: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Poisson-like rate coding: [B, ...] intensities -> [T, B, ...] 0/1 spikes."""
    probs = x.unsqueeze(0).expand(timesteps, *x.shape)
    return torch.bernoulli(probs, generator=generator)


def run(model: DigitSNN, spikes: torch.Tensor) -> torch.Tensor:
    """Feed a [T, B, 1, 8, 8] spike train one step at a time; return the mean readout [B, 10]."""
    model.zero_states()  # new sequences: every hidden state back to None (lazily re-created)
    total = 0.0
    for x_t in spikes:
        total = total + model(x_t)
    return total / spikes.shape[0]


@torch.no_grad()
def evaluate(model: DigitSNN, x: torch.Tensor, y: torch.Tensor, timesteps: int, seed: int) -> float:
    model.eval()
    gen = torch.Generator().manual_seed(seed)  # the same test spike trains after every epoch
    correct = 0
    for i in range(0, len(y), 512):
        logits = run(model, rate_code(x[i : i + 512], timesteps, gen))
        correct += int((logits.argmax(-1) == y[i : i + 512]).sum())
    model.train()
    return correct / len(y)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--timesteps", type=int, default=8, help="timesteps each image is shown for")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads (default 1: the model is so small that more threads only add overhead)",
    )
    p.add_argument("--out", type=Path, default=HERE / "_out", help="folder for the plots (default: examples/_out)")
    p.add_argument("--smoke", action="store_true", help="a few steps only (for tests)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> float:
    args = parse_args(argv)
    start = time.perf_counter()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    if args.smoke:
        args.epochs, args.timesteps = 1, 3

    x_train, y_train, x_test, y_test = load_data(args.seed)
    if args.smoke:
        x_train, y_train, x_test, y_test = x_train[:96], y_train[:96], x_test[:64], y_test[:64]
    model = DigitSNN()
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr)
    steps_per_epoch = (len(y_train) + args.batch_size - 1) // args.batch_size
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=args.lr, total_steps=args.epochs * steps_per_epoch, pct_start=0.15
    )
    tracker = tt.plot.MeasurementTracker(decays={"loss": (0.9, 0.98)})
    print(
        f"traceTorch quickstart: {sum(p.numel() for p in model.parameters())} parameters, "
        f"{len(y_train)} training / {len(y_test)} held-out digits, {args.timesteps} timesteps"
    )

    step = 0
    accuracy = 0.0
    for epoch in range(1, args.epochs + 1):
        order = torch.randperm(len(y_train))
        bar = tqdm(range(steps_per_epoch), desc=f"epoch {epoch}/{args.epochs}", leave=False, disable=args.no_progress)
        for b in bar:
            idx = order[b * args.batch_size : (b + 1) * args.batch_size]
            logits = run(model, rate_code(x_train[idx], args.timesteps))
            loss = nn.functional.cross_entropy(logits, y_train[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
            tracker.update(loss=loss)
            step += 1
            bar.set_postfix(loss=f"{tracker.latest('loss', decay=0.9):.3f}")
        bar.close()
        accuracy = evaluate(model, x_test, y_test, args.timesteps, args.seed + 1)
        tracker.update(step=step, held_out_accuracy=accuracy)
        print(f"epoch {epoch}: loss {tracker.latest('loss', decay=0.9):.3f}, held-out accuracy {accuracy:.1%}")

    save_plots(model, tracker, x_test, y_test, args)
    print(f"held-out accuracy {accuracy:.1%} after {time.perf_counter() - start:.0f} s; plots in {args.out}")
    return accuracy


@torch.no_grad()
def save_plots(model: DigitSNN, tracker: tt.plot.MeasurementTracker, x_test, y_test, args) -> None:
    args.out.mkdir(parents=True, exist_ok=True)
    tracker.plot(title="traceTorch quickstart", path=args.out / "quickstart_training.png")

    # Spikes of the hidden LIB layer while the network reads one test digit.
    model.eval()
    hidden_layer = model.net[8]
    recorded: list[torch.Tensor] = []
    hook = hidden_layer.register_forward_hook(lambda module, inputs, output: recorded.append(output[0]))
    gen = torch.Generator().manual_seed(args.seed + 2)
    steps = max(args.timesteps, 16)  # read it a little longer than in training, to see the dynamics
    logits = run(model, rate_code(x_test[:1], steps, gen))
    hook.remove()
    tt.plot.spike_raster(
        torch.stack(recorded),
        show_rate=True,
        title=f"hidden LIB layer reading a {int(y_test[0])} (answer: {int(logits.argmax())})",
        path=args.out / "quickstart_raster.png",
    )

    n = min(16, len(y_test))
    predictions = run(model, rate_code(x_test[:n], args.timesteps, gen)).argmax(-1)
    titles = [f"{int(p)}" + ("" if p == t else f" (is {int(t)})") for p, t in zip(predictions, y_test[:n])]
    tt.plot.image_grid(
        x_test[:n],
        titles=titles,
        ncols=8,
        title="held-out digits, network's answers",
        path=args.out / "quickstart_digits.png",
    )

    # Where training moved the learnable membrane decays and thresholds of every LIB layer.
    tt.plot.parameter_distributions(model, ["beta", "threshold"], path=args.out / "quickstart_parameters.png")


if __name__ == "__main__":
    main()
