"""Shared helpers of `tracetorch.plot`: input conversion, figure creation and output."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, Optional, Union

import numpy as np
import torch
from matplotlib.figure import Figure

PathLike = Union[str, "os.PathLike[str]"]

__all__ = ["PathLike", "to_numpy", "new_figure", "finish", "check_figsize"]


def to_numpy(values: Any, what: str, func: str) -> np.ndarray:
    """Convert a tensor, array or (nested) sequence of numbers to a float numpy array.

    Args:
        values: The data.
        what: The argument's name, for error messages.
        func: The calling function's name, for error messages.

    Returns:
        A ``float64`` numpy array (a copy when `values` is a tensor).

    Raises:
        TypeError: if `values` is not a tensor, array or sequence of numbers.
    """
    if isinstance(values, torch.Tensor):
        if values.is_complex():
            raise TypeError(f"tt.plot.{func}: `{what}` must be real, got a complex tensor.")
        return values.detach().to("cpu", torch.float64).numpy()
    if isinstance(values, np.ndarray):
        if not (np.issubdtype(values.dtype, np.number) or values.dtype == np.bool_) or np.iscomplexobj(values):
            raise TypeError(f"tt.plot.{func}: `{what}` must hold real numbers, got an array of dtype {values.dtype}.")
        return values.astype(np.float64)
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise TypeError(
            f"tt.plot.{func}: `{what}` must be a torch.Tensor, a numpy array or a sequence of numbers, "
            f"got {type(values).__name__}."
        )
    items = [v.detach().to("cpu", torch.float64).numpy() if isinstance(v, torch.Tensor) else v for v in values]
    try:
        arr = np.asarray(items, dtype=np.float64)
    except TypeError as e:
        raise TypeError(f"tt.plot.{func}: `{what}` must hold only numbers ({e}).") from None
    except ValueError as e:
        if any(isinstance(v, (str, bytes)) for v in items):
            raise TypeError(f"tt.plot.{func}: `{what}` must hold only numbers, not text.") from None
        raise ValueError(f"tt.plot.{func}: `{what}` must be rectangular (items of equal shapes): {e}") from None
    return arr


def check_figsize(figsize: Optional[tuple[float, float]], func: str) -> Optional[tuple[float, float]]:
    """Validate a ``(width, height)`` figure size in inches (``None`` = automatic)."""
    if figsize is None:
        return None
    if (
        not isinstance(figsize, (tuple, list))
        or len(figsize) != 2
        or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in figsize)
    ):
        raise TypeError(f"tt.plot.{func}: `figsize` must be a (width, height) pair of numbers, got {figsize!r}.")
    if not all(v > 0 for v in figsize):
        raise ValueError(f"tt.plot.{func}: `figsize` must be positive, got {figsize!r}.")
    return (float(figsize[0]), float(figsize[1]))


def new_figure(figsize: tuple[float, float], show: bool) -> Figure:
    """A new figure that leaves global matplotlib state alone unless it is to be shown.

    Without `show`, the figure is a plain `matplotlib.figure.Figure`: it is not
    registered with ``pyplot``, needs no display and no backend (it renders through
    Agg when saved), and is freed like any object. With `show`, it is created by
    ``pyplot`` so that the user's backend can display it.
    """
    if show:
        import matplotlib.pyplot as plt

        return plt.figure(figsize=figsize, layout="constrained")
    return Figure(figsize=figsize, layout="constrained")


def finish(fig: Figure, path: Optional[PathLike], show: bool, func: str, dpi: Optional[float] = None) -> Figure:
    """Save and/or show a finished figure, then return it.

    Args:
        fig: The figure.
        path: File to write (format from the extension: ``.png``, ``.pdf``, ``.svg``
            ...); parent folders are created. ``None`` writes nothing.
        show: Call ``pyplot.show()`` for the figure.
        func: The calling function's name, for error messages.
        dpi: Resolution for raster formats (``None``: matplotlib's default).

    Returns:
        `fig`.
    """
    if path is not None:
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"tt.plot.{func}: `path` must be a str or os.PathLike, got {type(path).__name__}.")
        path = os.fspath(path)
        parent = os.path.dirname(path)
        if parent:
            os.makedirs(parent, exist_ok=True)
        fig.savefig(path, dpi=dpi if dpi is not None else "figure")
    if show:
        import matplotlib.pyplot as plt

        plt.show()
    return fig


def check_bool(value: Any, what: str, func: str) -> bool:
    """Validate a boolean flag."""
    if not isinstance(value, bool):
        raise TypeError(f"tt.plot.{func}: `{what}` must be a bool, got {type(value).__name__}.")
    return value


def check_optional_str(value: Any, what: str, func: str) -> Optional[str]:
    """Validate an optional text argument."""
    if value is not None and not isinstance(value, str):
        raise TypeError(f"tt.plot.{func}: `{what}` must be a str or None, got {type(value).__name__}.")
    return value
