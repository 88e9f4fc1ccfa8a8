"""snnTorch tutorial 5, ported: a 784-1000-10 LIF network learns Fashion-MNIST from rate-coded images.

    uv run python examples/tutorial5_fashion_mlp.py                     # 1 epoch on 10k images
    uv run python examples/tutorial5_fashion_mlp.py --train-images 60000 --epochs 3
    uv run python examples/tutorial5_fashion_mlp.py --smoke             # seconds, synthetic data

Every piece is a traceTorch tool: `tt.encode.rate` turns each image into 25 frames of
Bernoulli spikes, a `tt.Sequential` of two `snn.LIB` layers runs all 25 steps at once
with `forward_sequence`, `tt.loss.mse_count_loss` trains the output spike counts towards
firing rates of 0.8 (correct class) and 0.2 (others), as snnTorch's tutorials do, with a
small `tt.loss.rate_upper_bound` on the hidden layer's firing rate, read from a
`tt.Monitor` that records the hidden spikes during training, and `tt.metrics.accuracy`
scores spike counts. After training the monitor reports firing rates, activation
sparsity and synaptic operations on test images, and `tt.plot` draws the training
curves, a spike raster with the population rate, and the distribution of firing rates.

Data: the four Fashion-MNIST IDX files (same names and format as MNIST), by default from
``/usr/share/datasets/fashion-mnist`` (Debian: ``apt-get install dataset-fashion-mnist``);
``--data FOLDER`` points elsewhere. Without them the script says so and exits with 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from torch import nn

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "mnist"))
import tracetorch as tt  # noqa: E402
from mnist_data import MnistUnavailable, load_mnist, pick_device, synthetic_mnist  # noqa: E402
from tracetorch import snn  # noqa: E402

CLASSES = ("T-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "boot")


def make_net(hidden: int = 1000, beta: float = 0.95) -> tt.Sequential:
    """784 -> LIF(hidden) -> 10 LIF outputs; arctan surrogate (tutorial 5's network)."""
    spike = "heaviside_atan"
    return tt.Sequential(
        nn.Flatten(),
        nn.Linear(784, hidden),
        snn.LIB(hidden, beta=beta, spike_fn=spike),
        nn.Linear(hidden, 10),
        snn.LIB(10, beta=beta, spike_fn=spike),
    )


def run(net: tt.Sequential, images: torch.Tensor, steps: int, generator: torch.Generator | None = None):
    """Rate-code ``images [B, 1, 28, 28]`` over ``steps`` and return the output spikes ``[steps, B, 10]``."""
    net.zero_states()
    spikes = tt.encode.rate(images, steps, generator=generator)  # [T, B, 1, 28, 28]
    return net.forward_sequence(spikes)


@torch.no_grad()
def evaluate(net, x, y, steps, device, seed) -> float:
    net.eval()
    g = torch.Generator(device=device).manual_seed(seed)
    correct = 0.0
    for i in range(0, len(y), 1000):
        xb, yb = x[i : i + 1000].to(device), y[i : i + 1000].to(device)
        correct += float(tt.metrics.accuracy(run(net, xb, steps, g), yb)) * len(yb)
    net.train()
    return correct / len(y)


def main(argv: list[str] | None = None) -> float:
    p = argparse.ArgumentParser(description="snnTorch tutorial 5 on Fashion-MNIST with traceTorch.")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--train-images", type=int, default=10000, help="train on the first N training images")
    p.add_argument("--steps", type=int, default=25, help="timesteps per image")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--hidden", type=int, default=1000, help="hidden LIF neurons")
    p.add_argument(
        "--loss",
        choices=("ce_count", "ce_rate", "mse_count"),
        default="mse_count",
        help="mse_count: tt.loss.mse_count_loss(correct_rate=0.8, incorrect_rate=0.2) (default); "
        "ce_count: ce_count_loss; ce_rate: ce_rate_loss",
    )
    p.add_argument("--rate-bound", type=float, default=0.2, help="hidden firing rate above which a penalty applies")
    p.add_argument("--rate-penalty", type=float, default=1.0, help="strength of that penalty (0: none)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--data", type=Path, default=Path("/usr/share/datasets/fashion-mnist"))
    p.add_argument("--out", type=Path, default=HERE / "_out")
    p.add_argument("--smoke", action="store_true", help="a few steps on a synthetic stand-in (for tests)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = p.parse_args(argv)

    torch.manual_seed(args.seed)
    device = pick_device(args.device)
    if args.smoke:
        x_train, y_train, x_test, y_test = synthetic_mnist(n_train=128, n_test=64, seed=args.seed)
        args.steps, args.batch_size, args.epochs, args.hidden = 6, 32, 1, 100
    else:
        try:
            x_train, y_train, x_test, y_test = load_mnist(args.data, download=False)
        except MnistUnavailable as e:
            print(
                f"error: Fashion-MNIST: {e} Install it (Debian: apt-get install dataset-fashion-mnist), pass "
                "--data FOLDER, or run with --smoke.",
                file=sys.stderr,
            )
            raise SystemExit(2) from None
        x_train, y_train = x_train[: args.train_images], y_train[: args.train_images]

    net = make_net(args.hidden).to(device)
    optimizer = torch.optim.Adam(net.parameters(), lr=args.lr, betas=(0.9, 0.999))
    tracker = tt.plot.MeasurementTracker(decays={"loss": (0.9,)})
    # Record the hidden layer's spikes during training (not detached: the rate penalty backpropagates).
    hidden = tt.Monitor(net, layers="2")
    print(
        f"tutorial 5 on {'synthetic data' if args.smoke else 'Fashion-MNIST'} ({device}): {len(y_train)} training / "
        f"{len(y_test)} test images, {args.steps} steps, rate coding"
    )

    from tqdm import tqdm

    accuracy = 0.0
    for epoch in range(1, args.epochs + 1):
        order = torch.randperm(len(y_train))
        batches = range(0, len(y_train), args.batch_size)
        bar = tqdm(batches, desc=f"epoch {epoch}", leave=False, disable=args.no_progress)
        for i in bar:
            idx = order[i : i + args.batch_size]
            xb, yb = x_train[idx].to(device), y_train[idx].to(device)
            with hidden:
                out = run(net, xb, args.steps)
            if args.loss == "mse_count":
                loss = tt.loss.mse_count_loss(out, yb, correct_rate=0.8, incorrect_rate=0.2)
            elif args.loss == "ce_rate":
                loss = tt.loss.ce_rate_loss(out, yb)
            else:
                loss = tt.loss.ce_count_loss(out, yb)
            if args.rate_penalty:
                loss = loss + args.rate_penalty * tt.loss.rate_upper_bound(hidden["2"], args.rate_bound)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            hidden.clear()
            tracker.update(loss=loss, train_accuracy=tt.metrics.accuracy(out.detach(), yb))
            bar.set_postfix(loss=f"{tracker.latest('loss', 0.9):.3f}")
        bar.close()
        accuracy = evaluate(net, x_test, y_test, args.steps, device, args.seed)
        print(f"epoch {epoch}: loss {tracker.latest('loss', 0.9):.3f}, test accuracy {accuracy:.2%}")
    hidden.remove()

    # ---------------------------------------------------------------- what the network does
    n = min(256, len(y_test))
    mon = tt.Monitor(net, detach=True, cpu=True, count_synops=True)
    with mon, torch.no_grad():
        net.eval()
        run(net, x_test[:n].to(device), args.steps, torch.Generator(device=device).manual_seed(args.seed))
    rates = mon.firing_rates(per_neuron=True)
    ops = mon.synaptic_operations(num_samples=n)
    print(
        f"firing rates (spikes per step): hidden {float(rates['2'].mean()):.3f}, output {float(rates['4'].mean()):.3f}; "
        f"silent hidden neurons {int((rates['2'] == 0).sum())} of {rates['2'].numel()}"
    )
    print(
        f"activation sparsity {mon.activation_sparsity():.3f}; synaptic operations per image: "
        f"{ops['effective_acs']:.0f} accumulates of {ops['dense']:.0f} dense"
    )

    args.out.mkdir(parents=True, exist_ok=True)
    tracker.plot(title="tutorial 5: Fashion-MNIST", path=args.out / "tutorial5_training.png")
    label = CLASSES[int(y_test[0])]
    tt.plot.spike_raster(
        mon["2"][:, 0], show_rate=True, title=f"hidden layer reading a {label}", path=args.out / "tutorial5_raster.png"
    )
    tt.plot.spike_raster(
        mon["4"][:, 0],
        show_rate=True,
        title=f"output layer reading a {label}",
        ylabel="class",
        path=args.out / "tutorial5_output_raster.png",
    )
    tt.plot.histogram(
        {"hidden": rates["2"].numpy(), "output": rates["4"].numpy()},
        bins=25,
        density=True,
        xlabel="firing rate (spikes per step)",
        title="firing rates on test images",
        path=args.out / "tutorial5_rates.png",
    )
    mon.remove()
    print(f"final test accuracy {accuracy:.2%}; plots in {args.out}")
    return accuracy


if __name__ == "__main__":
    main()
