"""MNIST for the examples, without torchvision: read the four raw IDX files.

`load_mnist(folder)` returns ``(x_train, y_train, x_test, y_test)`` as float tensors
of shape ``[N, 1, 28, 28]`` in ``[0, 1]`` and long label tensors. It looks for the
files (``train-images-idx3-ubyte`` etc., gzipped or not) in `folder`, and downloads
the missing ones from the usual mirrors when the network allows it. If the data can
not be had it raises `MnistUnavailable` with a message that says what to do; the
examples print it and exit with status 2.

`synthetic_mnist()` is a tiny stand-in of the same shapes (each class a fixed random
stroke pattern plus noise), used by the examples' ``--smoke`` mode so that tests run
offline in seconds.
"""

from __future__ import annotations

import os
import sys
import urllib.error
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # examples/: the shared IDX helpers
from idx_data import cache_folder, download_atomically, find_idx, read_idx, synthetic_images, to_tensors  # noqa: E402

MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
FILES = {
    "train_images": ("train-images-idx3-ubyte", 60000),
    "train_labels": ("train-labels-idx1-ubyte", 60000),
    "test_images": ("t10k-images-idx3-ubyte", 10000),
    "test_labels": ("t10k-labels-idx1-ubyte", 10000),
}


class MnistUnavailable(RuntimeError):
    """MNIST is neither on disk nor downloadable; the message says how to fix it."""


def default_folder() -> Path:
    """``$XDG_CACHE_HOME/tracetorch/mnist`` (``~/.cache/tracetorch/mnist`` by default)."""
    return cache_folder("mnist")


def _download(folder: Path, stem: str, timeout: float) -> Path:
    errors = []
    for mirror in MIRRORS:
        url = f"{mirror}{stem}.gz"
        target = folder / f"{stem}.gz"
        try:
            download_atomically(url, target, timeout)
            return target
        except (urllib.error.URLError, OSError, TimeoutError) as e:  # try the next mirror
            errors.append(f"{url}: {getattr(e, 'reason', e)}")
    raise MnistUnavailable(
        f"could not download MNIST file {stem}.gz:\n  " + "\n  ".join(errors) + "\n"
        f"Put the four MNIST files (train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
        f"t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz; gzipped or not) into {folder} "
        f"(or pass --data FOLDER), or run with --smoke to try the example on a synthetic stand-in."
    )


def _unusable(reason: str) -> MnistUnavailable:
    return MnistUnavailable(f"{reason}; it is not the MNIST file it should be: delete it to download it again.")


def load_mnist(
    folder: str | os.PathLike[str] | None = None, download: bool = True, timeout: float = 30.0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Load MNIST from raw IDX files, downloading them if needed.

    Args:
        folder: Where the files are or go (default: `default_folder`). A torchvision
            data root (with ``MNIST/raw/``) works too.
        download: Try to download missing files.
        timeout: Seconds to wait for each mirror.

    Returns:
        ``x_train [60000, 1, 28, 28]``, ``y_train [60000]``, ``x_test [10000, 1, 28, 28]``,
        ``y_test [10000]``; images as float32 in ``[0, 1]``.

    Raises:
        MnistUnavailable: when the files are missing and cannot be downloaded, or are corrupt.
    """
    folder = Path(folder) if folder is not None else default_folder()
    arrays = {}
    for key, (stem, count) in FILES.items():
        path = find_idx(folder, stem, "MNIST")
        if path is None:
            if not download:
                raise MnistUnavailable(f"MNIST file {stem}(.gz) not found in {folder}.")
            path = _download(folder, stem, timeout)
        arrays[key] = read_idx(path, count, key.endswith("images"), _unusable)
    return to_tensors(arrays)


def synthetic_mnist(
    n_train: int = 256, n_test: int = 128, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """A tiny offline stand-in with MNIST's shapes: 10 fixed random stroke patterns plus noise."""
    return synthetic_images(n_train, n_test, seed, density=0.6)


def add_common_args(p, out_default: Path) -> None:
    """The command-line options both MNIST examples share."""
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="auto (CUDA if available), cpu, cuda, cuda:1, ...")
    p.add_argument(
        "--data",
        type=Path,
        default=default_folder(),
        help="folder with the MNIST files (default: ~/.cache/tracetorch/mnist)",
    )
    p.add_argument("--no-download", action="store_true", help="never try to download MNIST")
    p.add_argument("--synthetic", action="store_true", help="train on a small synthetic stand-in (offline)")
    p.add_argument("--max-steps", type=int, default=None, help="at most this many batches per epoch")
    p.add_argument("--out", type=Path, default=out_default, help="folder for the plots (default: examples/_out)")
    p.add_argument("--smoke", action="store_true", help="a few steps on synthetic data (for tests)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def get_data(args) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The examples' data: synthetic with ``--smoke``/``--synthetic``, else MNIST.

    When MNIST cannot be had, prints why and what to do, and exits with status 2.
    """
    if args.smoke:
        return synthetic_mnist(seed=args.seed)
    if args.synthetic:
        return synthetic_mnist(n_train=4096, n_test=1024, seed=args.seed)
    try:
        return load_mnist(args.data, download=not args.no_download)
    except MnistUnavailable as e:
        import sys

        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2) from None


def pick_device(name: str) -> torch.device:
    """``auto``: CUDA when available, else CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


# ---------------------------------------------------------------------- training loop
# Both MNIST examples train the same way; only how a batch is turned into logits
# (`forward(model, images, generator) -> logits`) differs.


@torch.no_grad()
def evaluate(model, forward, x: torch.Tensor, y: torch.Tensor, seed: int, device: torch.device) -> float:
    """Accuracy of ``forward`` on ``(x, y)`` in batches of 1000, with a seeded generator."""
    model.eval()
    gen = torch.Generator(device=device).manual_seed(seed + 1)
    correct = 0
    for i in range(0, len(y), 1000):
        xb, yb = x[i : i + 1000].to(device), y[i : i + 1000].to(device)
        correct += int((forward(model, xb, gen).argmax(-1) == yb).sum())
    model.train()
    return correct / len(y)


def train(model, forward, data, args, device: torch.device, max_steps: int | None, clip: float | None = None):
    """Train with AdamW and cross entropy; print test accuracy per epoch.

    Returns:
        ``(tracker, accuracy)``: the `tt.plot.MeasurementTracker` of loss and accuracy,
        and the last test accuracy.
    """
    import tracetorch as tt
    from torch import nn
    from tqdm import tqdm

    x_train, y_train, x_test, y_test = data
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr)
    tracker = tt.plot.MeasurementTracker(decays={"loss": (0.9, 0.99)})
    step = 0
    accuracy = 0.0
    for epoch in range(1, args.epochs + 1):
        order = torch.randperm(len(y_train))
        batches = range(0, len(y_train), args.batch_size)
        if max_steps is not None:
            batches = batches[:max_steps]
        bar = tqdm(batches, desc=f"epoch {epoch}/{args.epochs}", leave=False, disable=args.no_progress)
        for i in bar:
            idx = order[i : i + args.batch_size]
            xb, yb = x_train[idx].to(device), y_train[idx].to(device)
            loss = nn.functional.cross_entropy(forward(model, xb, None), yb)
            optimizer.zero_grad()
            loss.backward()
            if clip is not None:
                nn.utils.clip_grad_norm_(model.parameters(), clip)
            optimizer.step()
            tracker.update(loss=loss)
            step += 1
            bar.set_postfix(loss=f"{tracker.latest('loss', 0.9):.3f}")
        bar.close()
        accuracy = evaluate(model, forward, x_test, y_test, args.seed, device)
        tracker.update(step=step, test_accuracy=accuracy)
        print(f"epoch {epoch}: loss {tracker.latest('loss', 0.9):.3f}, test accuracy {accuracy:.2%}")
    return tracker, accuracy
