"""Fashion-MNIST for the examples, without torchvision: find, download and read the four IDX files.

`load_fashion_mnist(folder)` returns ``(x_train, y_train, x_test, y_test)``: float
images ``[N, 1, 28, 28]`` in ``[0, 1]`` and long labels. Where it looks, in order:

1. ``folder`` when given (``--data``): the files themselves, gzipped or not, or a
   torchvision data root (``FashionMNIST/raw/``);
2. ``/usr/share/datasets/fashion-mnist`` (Debian/Ubuntu: ``apt-get install dataset-fashion-mnist``);
3. ``~/.cache/tracetorch/fashion-mnist`` (where downloads go).

If the files are in none of them it downloads them from Zalando Research's official
location into the cache folder (or into ``folder``), each file written atomically (a
file is complete or absent). Without a network this fails within seconds (one short
attempt, no retries over mirrors) and `FashionMnistUnavailable` says what to install or
where to put the files; the example prints that and exits with status 2.

`synthetic_fashion_mnist()` is a small offline stand-in with the same shapes, for
``--smoke``.
"""

from __future__ import annotations

import os
import urllib.error
from pathlib import Path

import torch
from idx_data import cache_folder as _cache_folder
from idx_data import download_atomically, find_idx, read_idx, synthetic_images, to_tensors

__all__ = [
    "CLASSES",
    "DEBIAN_FOLDER",
    "FILES",
    "FashionMnistUnavailable",
    "cache_folder",
    "load_fashion_mnist",
    "synthetic_fashion_mnist",
]

CLASSES = ("T-shirt/top", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle boot")
DEBIAN_FOLDER = Path("/usr/share/datasets/fashion-mnist")
URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
FILES = {
    "train_images": ("train-images-idx3-ubyte", 60000),
    "train_labels": ("train-labels-idx1-ubyte", 60000),
    "test_images": ("t10k-images-idx3-ubyte", 10000),
    "test_labels": ("t10k-labels-idx1-ubyte", 10000),
}
HOW_TO_GET = (
    "Install it (Debian/Ubuntu: apt-get install dataset-fashion-mnist, which puts the files in "
    f"{DEBIAN_FOLDER}), or put the four files ({', '.join(stem + '.gz' for stem, _ in FILES.values())}; "
    "gzipped or not) into a folder and pass --data FOLDER, or run with --smoke to try the example on "
    "synthetic data."
)


class FashionMnistUnavailable(RuntimeError):
    """Fashion-MNIST is neither on disk nor downloadable; the message says how to fix it."""


def cache_folder() -> Path:
    """``$XDG_CACHE_HOME/tracetorch/fashion-mnist`` (``~/.cache/tracetorch/fashion-mnist`` by default)."""
    return _cache_folder("fashion-mnist")


def _find(folder: Path, stem: str) -> Path | None:
    return find_idx(folder, stem, "FashionMNIST")


def _complete(folder: Path) -> bool:
    return all(_find(folder, stem) is not None for stem, _ in FILES.values())


def _download(folder: Path, timeout: float) -> None:
    """Download every missing file into ``folder``; stop at the first failure."""
    for stem, _ in FILES.values():
        if _find(folder, stem) is not None:
            continue
        url = f"{URL}{stem}.gz"
        try:
            download_atomically(url, folder / f"{stem}.gz", timeout)
        except (urllib.error.URLError, OSError, TimeoutError) as e:
            reason = getattr(e, "reason", None) or e
            raise FashionMnistUnavailable(
                f"Fashion-MNIST is not on this machine and could not be downloaded ({url}: {reason}). {HOW_TO_GET}"
            ) from None


def _unusable(reason: str) -> FashionMnistUnavailable:
    return FashionMnistUnavailable(f"{reason}; it is not the Fashion-MNIST file it should be. Delete it and try again.")


def load_fashion_mnist(
    folder: os.PathLike[str] | str | None = None, download: bool = True, timeout: float = 5.0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, Path]:
    """Load Fashion-MNIST from its IDX files, downloading them when allowed and needed.

    Args:
        folder: A folder to use instead of the default locations (see the module docstring).
        download: Try the official download when the files are not found.
        timeout: Seconds to wait for the server before giving up.

    Returns:
        ``x_train [60000, 1, 28, 28]``, ``y_train [60000]``, ``x_test [10000, 1, 28, 28]``,
        ``y_test [10000]`` (images float32 in ``[0, 1]``), and the folder they came from.

    Raises:
        FashionMnistUnavailable: when the files are missing and cannot be downloaded, or are corrupt.
    """
    if folder is not None:
        candidates = [Path(folder)]
    else:
        candidates = [DEBIAN_FOLDER, cache_folder()]
    found = next((c for c in candidates if _complete(c)), None)
    if found is None:
        target = candidates[0] if folder is not None else cache_folder()
        if not download:
            where = " or ".join(str(c) for c in candidates)
            raise FashionMnistUnavailable(f"Fashion-MNIST files not found in {where} (download disabled). {HOW_TO_GET}")
        _download(target, timeout)
        found = target
    arrays = {}
    for key, (stem, count) in FILES.items():
        path = _find(found, stem)
        if path is None:  # the folder changed under us
            raise FashionMnistUnavailable(f"{stem}(.gz) disappeared from {found}. {HOW_TO_GET}")
        arrays[key] = read_idx(path, count, key.endswith("images"), _unusable)
    return (*to_tensors(arrays), found)


def synthetic_fashion_mnist(
    n_train: int = 256, n_test: int = 128, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """An offline stand-in with Fashion-MNIST's shapes: 10 fixed random blob patterns plus noise."""
    return synthetic_images(n_train, n_test, seed, density=0.5)
