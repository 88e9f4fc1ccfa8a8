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

import gzip
import os
import shutil
import struct
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import torch

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
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "tracetorch" / "fashion-mnist"


def _find(folder: Path, stem: str) -> Path | None:
    for sub in (folder, folder / "FashionMNIST" / "raw"):
        for name in (stem, f"{stem}.gz"):
            if (sub / name).is_file():
                return sub / name
    return None


def _complete(folder: Path) -> bool:
    return all(_find(folder, stem) is not None for stem, _ in FILES.values())


def _download(folder: Path, timeout: float) -> None:
    """Download every missing file into ``folder``; stop at the first failure."""
    for stem, _ in FILES.values():
        if _find(folder, stem) is not None:
            continue
        url = f"{URL}{stem}.gz"
        part = None
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with (
                urllib.request.urlopen(url, timeout=timeout) as response,
                tempfile.NamedTemporaryFile(dir=folder, delete=False, suffix=".part") as tmp,
            ):
                part = tmp.name
                shutil.copyfileobj(response, tmp)
            os.replace(part, folder / f"{stem}.gz")
        except (urllib.error.URLError, OSError, TimeoutError) as e:
            if part is not None and os.path.exists(part):
                os.unlink(part)
            reason = getattr(e, "reason", None) or e
            raise FashionMnistUnavailable(
                f"Fashion-MNIST is not on this machine and could not be downloaded ({url}: {reason}). {HOW_TO_GET}"
            ) from None


def _read_idx(path: Path, count: int, image: bool) -> np.ndarray:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as e:
        raise FashionMnistUnavailable(f"{path} is not a readable IDX file ({e}). Delete it and try again.") from None
    header = 16 if image else 8
    shape = (count, 28, 28) if image else (count,)
    ok = len(data) >= header
    if ok:
        magic, n = struct.unpack(">II", data[:8])
        ok = magic == (0x803 if image else 0x801) and n == count and len(data) == header + int(np.prod(shape))
        if ok and image:
            ok = struct.unpack(">II", data[8:16]) == (28, 28)
    if not ok:
        raise FashionMnistUnavailable(
            f"{path} is not the Fashion-MNIST file it should be (expected {count} "
            f"{'28x28 images' if image else 'labels'} in IDX format). Delete it and try again."
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


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
        arrays[key] = _read_idx(path, count, image=key.endswith("images"))

    def images(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(a.copy()).unsqueeze(1).float().div_(255.0)

    def labels(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(a.astype(np.int64))

    return (
        images(arrays["train_images"]),
        labels(arrays["train_labels"]),
        images(arrays["test_images"]),
        labels(arrays["test_labels"]),
        found,
    )


def synthetic_fashion_mnist(
    n_train: int = 256, n_test: int = 128, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """An offline stand-in with Fashion-MNIST's shapes: 10 fixed random blob patterns plus noise."""
    gen = torch.Generator().manual_seed(seed)
    templates = (torch.rand(10, 1, 7, 7, generator=gen) > 0.5).float()
    templates = torch.nn.functional.interpolate(templates, size=(28, 28), mode="bilinear", align_corners=False)

    def sample(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        y = torch.randint(0, 10, (n,), generator=gen)
        x = (templates[y] + 0.3 * torch.randn(n, 1, 28, 28, generator=gen)).clamp(0.0, 1.0)
        return x, y

    x_train, y_train = sample(n_train)
    x_test, y_test = sample(n_test)
    return x_train, y_train, x_test, y_test
