"""What the MNIST and Fashion-MNIST loaders of the examples share.

Both data sets ship as four IDX files (gzipped or not) of 28×28 images and labels. This
module finds, downloads (atomically), reads and checks such files and turns them into
tensors, and makes the offline synthetic stand-in the examples' ``--smoke`` runs use.
The dataset-specific modules (``fashion_mnist_data.py``, ``mnist/mnist_data.py``) keep
their own folders, mirrors and error messages.
"""

from __future__ import annotations

import gzip
import os
import shutil
import struct
import tempfile
import urllib.request
from pathlib import Path
from typing import Callable

import numpy as np
import torch

__all__ = ["cache_folder", "download_atomically", "find_idx", "read_idx", "synthetic_images", "to_tensors"]


def cache_folder(name: str) -> Path:
    """``$XDG_CACHE_HOME/tracetorch/<name>`` (``~/.cache/tracetorch/<name>`` by default)."""
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "tracetorch" / name


def find_idx(folder: Path, stem: str, raw: str) -> Path | None:
    """``stem`` or ``stem.gz`` in ``folder`` or in torchvision's ``folder/<raw>/raw``, else None."""
    for sub in (folder, folder / raw / "raw"):
        for name in (stem, f"{stem}.gz"):
            if (sub / name).is_file():
                return sub / name
    return None


def download_atomically(url: str, target: Path, timeout: float) -> None:
    """Download ``url`` into ``target``: the file is either complete or absent.

    Raises:
        urllib.error.URLError, OSError, TimeoutError: as ``urllib`` raises them (nothing
        is left behind).
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    part = None
    try:
        with (
            urllib.request.urlopen(url, timeout=timeout) as response,
            tempfile.NamedTemporaryFile(dir=target.parent, delete=False, suffix=".part") as tmp,
        ):
            part = tmp.name
            shutil.copyfileobj(response, tmp)
        os.replace(part, target)
    except BaseException:
        if part is not None and os.path.exists(part):
            os.unlink(part)
        raise


def read_idx(path: Path, count: int, image: bool, fail: Callable[[str], Exception]) -> np.ndarray:
    """The ``count`` 28×28 images (``image``) or labels of an IDX file, header checked.

    Args:
        path: The file (``.gz`` is decompressed).
        count: The number of items it must hold.
        image: Images (magic 0x803) or labels (0x801).
        fail: Makes the exception to raise from a reason (the caller adds what to do).

    Raises:
        The exception ``fail`` makes, for an unreadable, truncated or wrong file.
    """
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as e:
        raise fail(f"{path} is not a readable IDX file ({e})") from None
    header = 16 if image else 8
    shape = (count, 28, 28) if image else (count,)
    ok = len(data) >= header
    if ok:
        magic, n = struct.unpack(">II", data[:8])
        ok = magic == (0x803 if image else 0x801) and n == count and len(data) == header + int(np.prod(shape))
        if ok and image:
            ok = struct.unpack(">II", data[8:16]) == (28, 28)
    if not ok:
        what = "28x28 images" if image else "labels"
        raise fail(f"{path} has a bad header or size (expected {count} {what} in IDX format)")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def to_tensors(arrays: dict[str, np.ndarray]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(x_train, y_train, x_test, y_test)``: images ``[N, 1, 28, 28]`` float32 in [0, 1], labels int64."""

    def images(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(a.copy()).unsqueeze(1).float().div_(255.0)

    def labels(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(a.astype(np.int64))

    return (
        images(arrays["train_images"]),
        labels(arrays["train_labels"]),
        images(arrays["test_images"]),
        labels(arrays["test_labels"]),
    )


def synthetic_images(
    n_train: int, n_test: int, seed: int, density: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """An offline stand-in with the data sets' shapes: 10 fixed random 7×7 patterns
    (``density`` of their cells on) upsampled to 28×28, plus noise."""
    gen = torch.Generator().manual_seed(seed)
    templates = (torch.rand(10, 1, 7, 7, generator=gen) > density).float()
    templates = torch.nn.functional.interpolate(templates, size=(28, 28), mode="bilinear", align_corners=False)

    def sample(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        y = torch.randint(0, 10, (n,), generator=gen)
        x = (templates[y] + 0.3 * torch.randn(n, 1, 28, 28, generator=gen)).clamp(0.0, 1.0)
        return x, y

    x_train, y_train = sample(n_train)
    x_test, y_test = sample(n_test)
    return x_train, y_train, x_test, y_test
