"""SpikingJelly's convolutional Fashion-MNIST SNN, trained with traceTorch.

    uv run python examples/fashion_mnist.py --channels 32 --epochs 2       # CPU-sized run
    uv run python examples/fashion_mnist.py --opt sgd --lr 0.1 --amp       # SpikingJelly's full setup (GPU)
    uv run python examples/fashion_mnist.py --resume examples/_out/fashion_mnist/checkpoint_latest.pt
    uv run python examples/fashion_mnist.py --smoke                        # seconds, synthetic data

The network is the ``CSNN`` of SpikingJelly's published example
``spikingjelly/activation_based/examples/conv_fashion_mnist.py``, layer for layer::

    Conv2d(1, c, 3, padding=1, bias=False) - BatchNorm2d(c) - IF - MaxPool2d(2)     # 28 -> 14
    Conv2d(c, c, 3, padding=1, bias=False) - BatchNorm2d(c) - IF - MaxPool2d(2)     # 14 -> 7
    Flatten - Linear(49c, 16c, bias=False) - IF - Linear(16c, 10, bias=False) - IF

The image is fed directly (no spike encoding), the same at each of ``T`` steps; the
output is the firing rate of the 10 output neurons over the ``T`` steps, trained with
the mean squared error against the one-hot label; prediction is the most active
output. Training follows the published script: SGD (momentum 0.9) or Adam, a cosine
learning-rate schedule over ``--epochs`` stepped once per epoch, the last incomplete
training batch dropped, optional automatic mixed precision. Its defaults are the
published full configuration (``-T 4 -b 128 -epochs 64 -opt sgd -lr 0.1 -channels 128``);
use ``--channels 32`` and a few epochs on a CPU.

Neurons (``--neuron``):

* ``if`` (default): SpikingJelly's ``IFNode`` - ``v = v + x``, spike when ``v >= 1``,
  hard reset to 0 - as ``snn.LIB(n, beta=1.0, learn_beta=False, threshold=1.0,
  learn_threshold=False, reset="value", reset_value=0.0, spike_fn=..., dim=...)``. The
  published script passes ``surrogate.ATan()`` (alpha 2) explicitly, not IFNode's
  default sigmoid surrogate; traceTorch's matching spike function is
  ``tt.functional.heaviside_atan(2.0)`` (forward ``x >= 0``, backward
  ``(alpha/2) / (1 + (pi/2 * alpha * x)^2)``, as SpikingJelly's ``ATan``). traceTorch
  versions whose ``snn.LIB`` has no ``reset`` option cannot build this neuron: the
  script then says so and exits with status 2 (use ``--neuron lif``).
* ``lif``: traceTorch's leaky neuron with soft reset, ``mem = 0.5 * mem + x`` (beta 0.5,
  from SpikingJelly's default ``tau = 2``), spike when ``mem >= 1``, ``mem -= spike``;
  same arctan surrogate. Not the published neuron (SpikingJelly's ``LIFNode`` also
  scales the input by ``1/tau`` and resets to 0).

Speed: the whole ``[T, B, 1, 28, 28]`` sequence runs through ``tt.Sequential.forward_sequence``;
convolutions, pooling and linear layers run once with time folded into the batch, and
BatchNorm then normalises over all ``T * B`` samples - what SpikingJelly's multi-step
mode (``step_mode='m'``) does.

Data: Fashion-MNIST's four IDX files from ``--data FOLDER``, else Debian's
``/usr/share/datasets/fashion-mnist`` (``apt-get install dataset-fashion-mnist``), else
``~/.cache/tracetorch/fashion-mnist``, else the official download when the network allows
(see ``fashion_mnist_data.py``). With none of these the script prints what to do and
exits with status 2. The data lives in memory as tensors, so there are no data-loader
workers (SpikingJelly's ``-j``); batches are drawn by indexing.

Outputs in ``--out`` (default ``examples/_out/fashion_mnist``): ``checkpoint_latest.pt``
(every epoch, and every ``--save-every`` batches), ``checkpoint_best.pt`` (best test
accuracy), ``history.json``, ``fashion_mnist_training.png`` (loss and accuracy per step,
test accuracy per epoch) and ``fashion_mnist_spikes.png`` (the hidden layer's spikes on a
test image). Checkpoints are written atomically (a temporary file, then a rename);
``--resume`` restores the model, optimizer, schedule, AMP scaler, epoch and position in
the epoch, the random number generators and the curves, so an interrupted run continues
with the batches it would have seen.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import tracetorch as tt
from fashion_mnist_data import (
    CLASSES,
    FashionMnistUnavailable,
    load_fashion_mnist,
    synthetic_fashion_mnist,
)
from tracetorch import snn

__all__ = ["NeuronUnavailable", "firing_rates", "main", "make_csnn", "make_neuron"]

CHECKPOINT_VERSION = 1
# the options that must match to resume a checkpoint
ARCH_KEYS = ("T", "channels", "neuron", "opt", "amp", "epochs", "batch_size", "smoke", "train_images")


class NeuronUnavailable(RuntimeError):
    """The requested neuron cannot be built with this traceTorch."""


def make_neuron(kind: str, n: int, dim: int) -> nn.Module:
    """One spiking layer of ``n`` neurons along ``dim``: ``"if"`` (hard reset) or ``"lif"`` (soft reset).

    Raises:
        NeuronUnavailable: ``"if"`` on a traceTorch whose ``snn.LIB`` has no ``reset`` option.
        ValueError: for an unknown ``kind``.
    """
    spike = tt.functional.heaviside_atan(2.0)
    if kind == "lif":
        return snn.LIB(n, beta=0.5, threshold=1.0, learn_beta=False, learn_threshold=False, spike_fn=spike, dim=dim)
    if kind != "if":
        raise ValueError(f"neuron must be 'if' or 'lif', got {kind!r}.")
    try:
        return snn.LIB(
            n,
            beta=1.0,
            learn_beta=False,
            threshold=1.0,
            learn_threshold=False,
            reset="value",
            reset_value=0.0,
            spike_fn=spike,
            dim=dim,
        )
    except TypeError as e:
        raise NeuronUnavailable(
            "--neuron if needs the integrate-and-fire neuron with hard reset (snn.LIB(..., beta=1.0, "
            f"reset='value', reset_value=0.0)), which this traceTorch does not have yet ({e}). "
            "Use --neuron lif (soft-reset LIF, beta 0.5), or update traceTorch."
        ) from None


def make_csnn(channels: int, neuron: str) -> tt.Sequential:
    """SpikingJelly's ``CSNN(channels)`` as a ``tt.Sequential`` (see the module docstring)."""
    c = channels
    return tt.Sequential(
        nn.Conv2d(1, c, kernel_size=3, padding=1, bias=False),
        nn.BatchNorm2d(c),
        make_neuron(neuron, c, -3),
        nn.MaxPool2d(2, 2),
        nn.Conv2d(c, c, kernel_size=3, padding=1, bias=False),
        nn.BatchNorm2d(c),
        make_neuron(neuron, c, -3),
        nn.MaxPool2d(2, 2),
        nn.Flatten(),
        nn.Linear(c * 7 * 7, c * 4 * 4, bias=False),
        make_neuron(neuron, c * 16, -1),
        nn.Linear(c * 4 * 4, 10, bias=False),
        make_neuron(neuron, 10, -1),
    )


def firing_rates(net: tt.Sequential, images: torch.Tensor, steps: int) -> torch.Tensor:
    """Output firing rates ``[B, 10]``: ``images [B, 1, 28, 28]`` repeated over ``steps``, from zero states."""
    net.zero_states()
    x_seq = images.unsqueeze(0).expand((steps,) + tuple(images.shape))
    return net.forward_sequence(x_seq).mean(0)


# ----------------------------------------------------------------------------- helpers
def _autocast(device: torch.device, enabled: bool):
    dtype = torch.float16 if device.type == "cuda" else torch.bfloat16
    return torch.autocast(device_type=device.type, dtype=dtype, enabled=enabled)


def _atomic_save(obj: Any, path: Path) -> None:
    """``torch.save`` to a temporary file in the same folder, then rename: complete or absent."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".part")
    os.close(fd)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _atomic_write_text(text: str, path: Path) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".part")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def _rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])


@torch.no_grad()
def evaluate(
    net: tt.Sequential, x: torch.Tensor, y: torch.Tensor, args, device: torch.device
) -> tuple[float, float, float]:
    """``(loss, accuracy, images/s)`` on ``(x, y)`` with BatchNorm in eval mode."""
    net.eval()
    loss_sum, correct = 0.0, 0
    start = time.perf_counter()
    for i in range(0, len(y), args.test_batch_size):
        xb, yb = x[i : i + args.test_batch_size].to(device), y[i : i + args.test_batch_size].to(device)
        with _autocast(device, args.amp):
            fr = firing_rates(net, xb, args.T)
        fr = fr.float()
        loss_sum += float(F.mse_loss(fr, F.one_hot(yb, 10).float())) * len(yb)
        correct += int((fr.argmax(1) == yb).sum())
    seconds = time.perf_counter() - start
    net.train()
    return loss_sum / len(y), correct / len(y), len(y) / max(seconds, 1e-9)


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="SpikingJelly's convolutional SNN on Fashion-MNIST, trained with traceTorch.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("-T", "--T", dest="T", type=int, default=4, help="simulation timesteps")
    p.add_argument("--channels", type=int, default=128, help="channels of both convolutions (c)")
    p.add_argument("-b", "--batch-size", type=int, default=128, help="training batch size")
    p.add_argument("--test-batch-size", type=int, default=500, help="batch size for evaluation")
    p.add_argument("--epochs", type=int, default=64, help="epochs (also the cosine schedule's length)")
    p.add_argument("--opt", choices=("sgd", "adam"), default="sgd", help="optimizer")
    p.add_argument("--lr", type=float, default=0.1, help="learning rate")
    p.add_argument("--momentum", type=float, default=0.9, help="momentum for SGD")
    p.add_argument(
        "--amp",
        action="store_true",
        help="automatic mixed precision (float16 with a gradient scaler on CUDA, bfloat16 on CPU)",
    )
    p.add_argument(
        "--neuron",
        choices=("if", "lif"),
        default="if",
        help="if: integrate-and-fire, hard reset (published); lif: leaky, soft reset",
    )
    p.add_argument("--device", default="auto", help="auto (CUDA when available), cpu, cuda, cuda:1, ...")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: torch's choice)")
    p.add_argument(
        "--data",
        type=Path,
        default=None,
        help="folder with the four Fashion-MNIST files (default: Debian's location, then the cache)",
    )
    p.add_argument("--no-download", action="store_true", help="never try to download Fashion-MNIST")
    p.add_argument("--train-images", type=int, default=None, help="train on the first N training images only")
    p.add_argument("--out", type=Path, default=HERE / "_out" / "fashion_mnist", help="checkpoints, plots, history")
    p.add_argument("--resume", type=Path, default=None, help="continue from this checkpoint")
    p.add_argument("--save-every", type=int, default=0, help="also checkpoint every N batches (0: once per epoch)")
    p.add_argument(
        "--max-batches",
        type=int,
        default=None,
        help="stop after this many training batches in this run (checkpointed; --resume continues)",
    )
    p.add_argument(
        "--profile",
        action="store_true",
        help="profile one training step with torch.profiler, print the top operators and exit",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--smoke", action="store_true", help="a few batches on synthetic data (for tests)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = p.parse_args(argv)
    for name in ("T", "channels", "batch_size", "test_batch_size", "epochs"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}.")
    if not (args.lr > 0 and math.isfinite(args.lr)):
        p.error(f"--lr must be a finite number > 0, got {args.lr}.")
    if args.save_every < 0:
        p.error(f"--save-every must be >= 0, got {args.save_every}.")
    if args.smoke:
        args.channels = min(args.channels, 4)
        args.batch_size = min(args.batch_size, 32)
        args.epochs = min(args.epochs, 2)
        args.test_batch_size = min(args.test_batch_size, 64)
    return args


def _load_checkpoint(path: Path, args) -> dict[str, Any]:
    if not path.is_file():
        raise SystemExit(f"error: --resume {path}: no such file.")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - a truncated or foreign file: any reason, one message
        raise SystemExit(f"error: --resume {path}: not a readable checkpoint ({type(e).__name__}: {e}).") from None
    if not isinstance(ckpt, dict) or ckpt.get("version") != CHECKPOINT_VERSION:
        raise SystemExit(f"error: --resume {path}: not a checkpoint of this example (version {CHECKPOINT_VERSION}).")
    saved = ckpt["config"]
    diff = [
        f"--{k.replace('_', '-')} {saved.get(k)} (now {getattr(args, k)})"
        for k in ARCH_KEYS
        if saved.get(k) != getattr(args, k)
    ]
    if diff:
        raise SystemExit(
            f"error: --resume {path}: the checkpoint was made with "
            + ", ".join(diff)
            + ". Pass the same options to resume it."
        )
    return ckpt


# ----------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Train (or resume) and return the history: per-epoch losses, accuracies and speeds."""
    args = _parse(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    device = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device)

    if args.smoke:
        x_train, y_train, x_test, y_test = synthetic_fashion_mnist(n_train=128, n_test=64, seed=args.seed)
        source = "synthetic data"
    else:
        try:
            x_train, y_train, x_test, y_test, folder = load_fashion_mnist(args.data, download=not args.no_download)
        except FashionMnistUnavailable as e:
            print(f"error: {e}", file=sys.stderr)
            raise SystemExit(2) from None
        source = f"Fashion-MNIST ({folder})"
    if args.train_images is not None:
        x_train, y_train = x_train[: args.train_images], y_train[: args.train_images]
    batches_per_epoch = len(y_train) // args.batch_size  # drop_last, as the published script
    if batches_per_epoch == 0:
        raise SystemExit(f"error: {len(y_train)} training images are fewer than one batch of {args.batch_size}.")

    try:
        net = make_csnn(args.channels, args.neuron).to(device)
    except NeuronUnavailable as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    if args.opt == "sgd":
        optimizer: torch.optim.Optimizer = torch.optim.SGD(net.parameters(), lr=args.lr, momentum=args.momentum)
    else:
        optimizer = torch.optim.Adam(net.parameters(), lr=args.lr)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.epochs)
    scaler = torch.amp.GradScaler("cuda") if (args.amp and device.type == "cuda") else None
    tracker = tt.plot.MeasurementTracker(decays={"loss": (0.9, 0.99), "train_accuracy": (0.99,)})
    history: dict[str, list[float]] = {
        k: []
        for k in (
            "epoch",
            "train_loss",
            "train_accuracy",
            "test_loss",
            "test_accuracy",
            "train_images_per_s",
            "test_images_per_s",
            "lr",
        )
    }
    start_epoch, start_batch, step, best = 0, 0, 0, -1.0
    partial = {"loss": 0.0, "correct": 0, "seen": 0, "seconds": 0.0}

    if args.resume is not None:
        ckpt = _load_checkpoint(args.resume, args)
        net.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        if scaler is not None and ckpt.get("scaler"):
            scaler.load_state_dict(ckpt["scaler"])
        tracker.load_state_dict(ckpt["tracker"])
        history = {k: list(v) for k, v in ckpt["history"].items()}
        start_epoch, start_batch, step, best = ckpt["epoch"], ckpt["batch"], ckpt["step"], ckpt["best"]
        partial = dict(ckpt["partial"])
        _set_rng_state(ckpt["rng"])
        print(f"resumed from {args.resume}: epoch {start_epoch + 1}, batch {start_batch} of {batches_per_epoch}")

    args.out.mkdir(parents=True, exist_ok=True)
    config = {k: getattr(args, k) for k in ARCH_KEYS}

    def checkpoint(epoch: int, batch: int, path: Path) -> None:
        _atomic_save(
            {
                "version": CHECKPOINT_VERSION,
                "config": config,
                "model": net.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "scaler": scaler.state_dict() if scaler is not None else {},
                "tracker": tracker.state_dict(),
                "history": history,
                "epoch": epoch,
                "batch": batch,
                "step": step,
                "best": best,
                "partial": partial,
                "rng": _rng_state(),
            },
            path,
        )

    if args.profile:
        _profile(net, optimizer, x_train, y_train, args, device)
        return history

    from tqdm import tqdm

    n_params = sum(p.numel() for p in net.parameters())
    print(
        f"CSNN c={args.channels}, T={args.T}, neuron {args.neuron}, {n_params:,} parameters, on {device} "
        f"({torch.get_num_threads()} threads); {source}: {len(y_train)} training / {len(y_test)} test images; "
        f"{args.opt} lr {args.lr}, batch {args.batch_size}, {args.epochs} epochs{', AMP' if args.amp else ''}"
    )

    budget = args.max_batches
    stopped = False
    for epoch in range(start_epoch, args.epochs):
        # each epoch's order depends only on --seed and the epoch, so a resumed run sees the same batches
        order = torch.randperm(len(y_train), generator=torch.Generator().manual_seed(args.seed * 100003 + epoch))
        bar = tqdm(
            range(start_batch, batches_per_epoch),
            desc=f"epoch {epoch + 1}/{args.epochs}",
            initial=start_batch,
            total=batches_per_epoch,
            leave=False,
            disable=args.no_progress,
            unit="batch",
        )
        net.train()
        for b in bar:
            if budget is not None and budget <= 0:
                stopped = True
                break
            t0 = time.perf_counter()
            idx = order[b * args.batch_size : (b + 1) * args.batch_size]
            xb, yb = x_train[idx].to(device), y_train[idx].to(device)
            optimizer.zero_grad(set_to_none=True)
            with _autocast(device, args.amp):
                fr = firing_rates(net, xb, args.T)
                loss = F.mse_loss(fr.float(), F.one_hot(yb, 10).float())
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
            else:
                loss.backward()
                optimizer.step()
            correct = int((fr.detach().argmax(1) == yb).sum())
            loss_value = float(loss.detach())
            partial["seconds"] += time.perf_counter() - t0
            partial["loss"] += loss_value * len(yb)
            partial["correct"] += correct
            partial["seen"] += len(yb)
            tracker.update(step=step, loss=loss_value, train_accuracy=correct / len(yb))
            step += 1
            if budget is not None:
                budget -= 1
            bar.set_postfix(
                loss=f"{tracker.latest('loss', 0.9):.4f}",
                acc=f"{tracker.latest('train_accuracy', 0.99):.1%}",
                img_s=f"{partial['seen'] / max(partial['seconds'], 1e-9):.0f}",
            )
            if args.save_every and (b + 1) % args.save_every == 0 and b + 1 < batches_per_epoch:
                checkpoint(epoch, b + 1, args.out / "checkpoint_latest.pt")
        bar.close()
        if stopped:
            checkpoint(epoch, b, args.out / "checkpoint_latest.pt")
            print(
                f"stopped after --max-batches at epoch {epoch + 1}, batch {b} of {batches_per_epoch}; "
                f"checkpoint {args.out / 'checkpoint_latest.pt'} (--resume it to continue)"
            )
            break
        lr = optimizer.param_groups[0]["lr"]
        scheduler.step()
        test_loss, test_acc, test_speed = evaluate(net, x_test, y_test, args, device)
        tracker.update(step=step, test_accuracy=test_acc)
        best = max(best, test_acc)
        for k, v in (
            ("epoch", epoch + 1),
            ("train_loss", partial["loss"] / partial["seen"]),
            ("train_accuracy", partial["correct"] / partial["seen"]),
            ("test_loss", test_loss),
            ("test_accuracy", test_acc),
            ("train_images_per_s", partial["seen"] / partial["seconds"]),
            ("test_images_per_s", test_speed),
            ("lr", lr),
        ):
            history[k].append(v)
        print(
            f"epoch {epoch + 1}/{args.epochs}: train loss {history['train_loss'][-1]:.4f}, train accuracy "
            f"{history['train_accuracy'][-1]:.2%}, test loss {test_loss:.4f}, test accuracy {test_acc:.2%} "
            f"(best {best:.2%}); {history['train_images_per_s'][-1]:.0f} training images/s, "
            f"{test_speed:.0f} test images/s; lr {lr:.4g}"
        )
        partial = {"loss": 0.0, "correct": 0, "seen": 0, "seconds": 0.0}
        start_batch = 0
        checkpoint(epoch + 1, 0, args.out / "checkpoint_latest.pt")
        if test_acc >= best:
            checkpoint(epoch + 1, 0, args.out / "checkpoint_best.pt")
        _atomic_write_text(json.dumps({"config": config, "history": history}, indent=1), args.out / "history.json")

    _plots(net, tracker, x_test, y_test, args, device)
    if history["test_accuracy"]:
        print(f"final test accuracy {history['test_accuracy'][-1]:.2%} (best {best:.2%}); outputs in {args.out}")
    return history


def _plots(net: tt.Sequential, tracker, x_test, y_test, args, device) -> None:
    """The training curves, and the first hidden layer's spikes on one test image."""
    if len(tracker):
        names = [n for n in ("loss", "train_accuracy", "test_accuracy") if n in tracker]
        tracker.plot(
            names,
            logy=["loss"],
            title=f"CSNN c={args.channels}, T={args.T} on Fashion-MNIST",
            path=args.out / "fashion_mnist_training.png",
        )
    mon = tt.Monitor(net, layers=["10"], detach=True, cpu=True)
    net.eval()
    with mon, torch.no_grad(), _autocast(device, args.amp):
        firing_rates(net, x_test[:1].to(device), args.T)
    net.train()
    spikes = mon["10"][:, 0].float()  # [T, 16c]
    mon.remove()
    tt.plot.spike_raster(
        spikes,
        show_rate=True,
        title=f"hidden layer (fc, {spikes.shape[1]} neurons) on a {CLASSES[int(y_test[0])]}",
        path=args.out / "fashion_mnist_spikes.png",
    )


def _profile(net, optimizer, x_train, y_train, args, device) -> None:
    """torch.profiler over one training step (after two warm-up steps); prints the top operators."""
    from torch.profiler import ProfilerActivity, profile

    xb, yb = x_train[: args.batch_size].to(device), y_train[: args.batch_size].to(device)

    def train_step() -> None:
        optimizer.zero_grad(set_to_none=True)
        with _autocast(device, args.amp):
            loss = F.mse_loss(firing_rates(net, xb, args.T).float(), F.one_hot(yb, 10).float())
        loss.backward()
        optimizer.step()

    for _ in range(2):
        train_step()
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities, record_shapes=False) as prof:
        train_step()
    sort = "self_cuda_time_total" if device.type == "cuda" else "self_cpu_time_total"
    table = prof.key_averages().table(sort_by=sort, row_limit=25)
    print(table)
    args.out.mkdir(parents=True, exist_ok=True)
    _atomic_write_text(table, args.out / "profile.txt")


if __name__ == "__main__":
    main()
