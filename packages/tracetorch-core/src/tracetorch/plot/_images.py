"""Image grids: inputs, reconstructions, feature maps."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Optional

import numpy as np
import torch
from matplotlib.figure import Figure

from ._common import PathLike, check_bool, check_figsize, finish, new_figure, to_numpy

__all__ = ["image_grid"]


def _as_image(img: np.ndarray, channels_last: bool, where: str, func: str) -> np.ndarray:
    if img.ndim == 2:
        return img
    if img.ndim == 3:
        if not channels_last:
            img = np.moveaxis(img, 0, -1)
        c = img.shape[-1]
        if c == 1:
            return img[..., 0]
        if c in (3, 4):
            if img.size and (img.min() < 0.0 or img.max() > 1.0):
                lo, hi = float(img.min()), float(img.max())
                img = (img - lo) / (hi - lo) if hi > lo else np.zeros_like(img)
            return img
        layout = "[H, W, C]" if channels_last else "[C, H, W]"
        raise ValueError(f"tt.plot.{func}: {where} has {c} channels in layout {layout}; expected 1, 3 or 4.")
    raise ValueError(f"tt.plot.{func}: {where} must be 2-D or 3-D, got shape {tuple(img.shape)}.")


def image_grid(
    images: Any,
    *,
    ncols: Optional[int] = None,
    titles: Optional[Sequence[str]] = None,
    cmap: str = "gray",
    vmin: Optional[float] = None,
    vmax: Optional[float] = None,
    channels_last: bool = False,
    colorbar: bool = False,
    title: Optional[str] = None,
    figsize: Optional[tuple[float, float]] = None,
    path: Optional[PathLike] = None,
    show: bool = False,
) -> Figure:
    """Show several images in a grid.

    Image ``i`` is drawn on ``fig.axes[i]`` (row-major); leftover cells of the grid
    are blank. Single-channel images use `cmap`; RGB(A) images are shown in colour
    (scaled to ``[0, 1]`` per image when their values leave that range).

    Args:
        images: A ``[N, H, W]`` or ``[N, C, H, W]`` tensor or numpy array (``C`` of
            1, 3 or 4), a single ``[H, W]`` image, or a sequence of images, each
            ``[H, W]`` or ``[C, H, W]`` (sizes may differ).
        ncols: Images per row (default: about the square root of the count).
        titles: One title per image.
        cmap: Colour map for single-channel images.
        vmin: Lower end of the colour scale for single-channel images (default:
            each image's minimum). Give both `vmin` and `vmax` to compare images.
        vmax: Upper end of the colour scale (default: each image's maximum).
        channels_last: Images are ``[..., H, W, C]`` instead of ``[..., C, H, W]``.
        colorbar: Add a colour bar to each single-channel image.
        title: Figure title.
        figsize: ``(width, height)`` in inches; default ``2`` inches per cell.
        path: Save the figure to this file (format from the extension).
        show: Call ``pyplot.show()``. Off by default.

    Returns:
        The `matplotlib.figure.Figure`.

    Raises:
        TypeError: for non-numeric images or arguments of the wrong type.
        ValueError: for images of the wrong rank or channel count, no images, or a
            wrong number of titles.

    Example:
        ```python
        import torch
        import tracetorch as tt

        x, y = torch.rand(32, 1, 8, 8), torch.randint(0, 10, (32,))   # images and labels
        fig = tt.plot.image_grid(x[:16], titles=[str(int(c)) for c in y[:16]], path="inputs.png")
        ```
    """
    func = "image_grid"
    for flag, name in ((channels_last, "channels_last"), (colorbar, "colorbar"), (show, "show")):
        check_bool(flag, name, func)
    if not isinstance(cmap, str):
        raise TypeError(f"tt.plot.{func}: `cmap` must be a str, got {type(cmap).__name__}.")
    if isinstance(images, (torch.Tensor, np.ndarray)):
        arr = to_numpy(images, "images", func)
        if arr.ndim == 2:
            arr = arr[None]
        if arr.ndim not in (3, 4):
            raise ValueError(
                f"tt.plot.{func}: `images` must be [N, H, W], [N, C, H, W] or [H, W], got shape {tuple(arr.shape)}."
            )
        raw = list(arr)
    elif isinstance(images, Sequence) and not isinstance(images, (str, bytes)):
        raw = [to_numpy(img, f"images[{i}]", func) for i, img in enumerate(images)]
    else:
        raise TypeError(
            f"tt.plot.{func}: `images` must be a tensor, a numpy array or a sequence of images, "
            f"got {type(images).__name__}."
        )
    if not raw:
        raise ValueError(f"tt.plot.{func}: no images given.")
    imgs = [_as_image(img, channels_last, f"images[{i}]", func) for i, img in enumerate(raw)]
    n = len(imgs)
    if titles is not None:
        if isinstance(titles, str) or not isinstance(titles, Sequence):
            raise TypeError(f"tt.plot.{func}: `titles` must be a sequence of str, got {type(titles).__name__}.")
        if len(titles) != n:
            raise ValueError(f"tt.plot.{func}: got {len(titles)} titles for {n} images.")
    if ncols is None:
        ncols = math.ceil(math.sqrt(n))
    elif isinstance(ncols, bool) or not isinstance(ncols, int):
        raise TypeError(f"tt.plot.{func}: `ncols` must be an int or None, got {type(ncols).__name__}.")
    elif ncols < 1:
        raise ValueError(f"tt.plot.{func}: `ncols` must be >= 1, got {ncols}.")
    cols = min(ncols, n)
    rows = math.ceil(n / cols)
    fig = new_figure(check_figsize(figsize, func) or (2.0 * cols + (0.6 * cols if colorbar else 0.0), 2.0 * rows), show)
    for i in range(rows * cols):
        ax = fig.add_subplot(rows, cols, i + 1)
        ax.set_xticks([])
        ax.set_yticks([])
        if i >= n:
            ax.set_axis_off()
            continue
        img = imgs[i]
        if img.ndim == 2:
            im = ax.imshow(img, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
            if colorbar:
                fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
        else:
            ax.imshow(img, interpolation="nearest")
        if titles is not None:
            ax.set_title(str(titles[i]), fontsize="small")
    if title:
        fig.suptitle(title)
    return finish(fig, path, show, func)
