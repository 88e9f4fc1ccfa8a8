"""Line graphs with exponential-moving-average smoothing."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Optional, Union

import numpy as np
from matplotlib.figure import Figure

from ._common import PathLike, check_bool, check_figsize, check_optional_str, finish, new_figure, to_numpy

__all__ = ["smooth", "line_plot"]

Series = Any  # a 1-D tensor, array or sequence of numbers
Decays = Union[None, float, Sequence[float]]


def _check_decay(decay: Any, func: str) -> float:
    if isinstance(decay, bool) or not isinstance(decay, (int, float)):
        raise TypeError(f"tt.plot.{func}: a smoothing decay must be a number in [0, 1), got {type(decay).__name__}.")
    if not (0.0 <= decay < 1.0):
        raise ValueError(f"tt.plot.{func}: a smoothing decay must be in [0, 1), got {decay}.")
    return float(decay)


def _decays(smoothing: Decays, func: str) -> list[float]:
    if smoothing is None:
        return []
    if isinstance(smoothing, (int, float)) and not isinstance(smoothing, bool):
        return [_check_decay(smoothing, func)]
    if isinstance(smoothing, (str, bytes)) or not isinstance(smoothing, Sequence):
        raise TypeError(
            f"tt.plot.{func}: `smoothing` must be None, a decay in [0, 1) or a sequence of decays, "
            f"got {type(smoothing).__name__}."
        )
    return [_check_decay(d, func) for d in smoothing]


def smooth(values: Series, decay: float, debias: bool = True) -> np.ndarray:
    """Exponential moving average of a series.

    ``s[t] = decay * s[t-1] + (1 - decay) * x[t]`` with ``s[-1] = 0``. With `debias`
    (the default) each value is divided by ``1 - decay ** (t + 1)``, as Adam does, so
    that the start of the curve is not pulled towards zero: the first smoothed value
    equals the first raw value. ``NaN`` values are skipped (the average carries on).

    Args:
        values: A 1-D tensor, numpy array or sequence of numbers.
        decay: How much of the previous average is kept each step, in ``[0, 1)``;
            ``0`` returns the values unchanged, ``0.99`` averages over about 100 steps.
        debias: Correct the bias towards the zero start.

    Returns:
        The smoothed series, a ``float64`` numpy array of the same length.

    Raises:
        TypeError: for non-numeric input or decay.
        ValueError: for a decay outside ``[0, 1)`` or input that is not 1-D.

    Example:
        ```python
        import tracetorch as tt

        tt.plot.smooth([1.0, 0.0, 0.0], decay=0.5)   # array([1.0, 0.333.., 0.142..])
        ```
    """
    decay = _check_decay(decay, "smooth")
    check_bool(debias, "debias", "smooth")
    x = to_numpy(values, "values", "smooth")
    if x.ndim != 1:
        raise ValueError(f"tt.plot.smooth: `values` must be 1-D, got shape {tuple(x.shape)}.")
    out = np.empty_like(x)
    s = 0.0
    weight = 0.0
    for i, v in enumerate(x):
        if not math.isnan(v):
            s = decay * s + (1.0 - decay) * v
            weight = decay * weight + (1.0 - decay)
        if weight == 0.0:
            out[i] = math.nan
        else:
            out[i] = s / weight if debias else s
    return out


def _named_series(values: Any, labels: Optional[Sequence[str]], func: str) -> list[tuple[Optional[str], np.ndarray]]:
    if isinstance(values, Mapping):
        if labels is not None:
            raise ValueError(f"tt.plot.{func}: give `labels` only with unnamed data; a mapping names its series.")
        out = []
        for k, v in values.items():
            if not isinstance(k, str):
                raise TypeError(f"tt.plot.{func}: series names must be str, got {type(k).__name__}.")
            arr = to_numpy(v, f"values[{k!r}]", func)
            if arr.ndim != 1:
                raise ValueError(f"tt.plot.{func}: series {k!r} must be 1-D, got shape {tuple(arr.shape)}.")
            out.append((k, arr))
        if not out:
            raise ValueError(f"tt.plot.{func}: `values` is an empty mapping.")
        return out
    arr = to_numpy(values, "values", func)
    if arr.ndim == 1:
        cols = [arr]
    elif arr.ndim == 2:
        cols = [arr[:, j] for j in range(arr.shape[1])]
    else:
        raise ValueError(
            f"tt.plot.{func}: `values` must be 1-D (one series) or 2-D [time, series], got shape {tuple(arr.shape)}."
        )
    if labels is None:
        names: list[Optional[str]] = [None] * len(cols) if len(cols) == 1 else [str(j) for j in range(len(cols))]
    else:
        if isinstance(labels, str) or not isinstance(labels, Sequence):
            raise TypeError(f"tt.plot.{func}: `labels` must be a sequence of str, got {type(labels).__name__}.")
        if len(labels) != len(cols):
            raise ValueError(f"tt.plot.{func}: got {len(labels)} labels for {len(cols)} series.")
        names = list(labels)
    return list(zip(names, cols))


def line_plot(
    values: Any,
    *,
    smoothing: Decays = None,
    labels: Optional[Sequence[str]] = None,
    show_raw: bool = True,
    xlabel: Optional[str] = "step",
    ylabel: Optional[str] = None,
    title: Optional[str] = None,
    logy: bool = False,
    figsize: Optional[tuple[float, float]] = None,
    path: Optional[PathLike] = None,
    show: bool = False,
) -> Figure:
    """Line graph of one or several series, optionally smoothed.

    Each series is drawn over ``0, 1, ..., len - 1``. With `smoothing`, the raw
    series is drawn faintly and each decay adds its smoothed curve (`smooth`, debiased),
    so one figure can show e.g. a noisy loss next to its 0.9 and 0.99 averages.

    Lines are added in order: for each series, its raw line (unless `show_raw` is
    false while smoothing), then one line per decay.

    Args:
        values: A 1-D series (tensor, numpy array or sequence of numbers); a 2-D
            ``[time, series]`` tensor/array (one line per column, like
            ``pyplot.plot``, e.g. recorded membrane potentials); or a mapping
            ``{name: series}`` (series may differ in length).
        smoothing: ``None``, a decay in ``[0, 1)``, or a sequence of decays.
        labels: Names of the series when `values` is not a mapping.
        show_raw: Draw the unsmoothed series (faintly) when smoothing.
        xlabel: X-axis label.
        ylabel: Y-axis label.
        title: Figure title.
        logy: Logarithmic y-axis.
        figsize: ``(width, height)`` in inches; default ``(7, 4)``.
        path: Save the figure to this file (format from the extension).
        show: Call ``pyplot.show()``. Off by default: nothing is displayed and no
            global matplotlib state is touched.

    Returns:
        The `matplotlib.figure.Figure` (one axes).

    Raises:
        TypeError: for data that is not numeric or arguments of the wrong type.
        ValueError: for data with more than two dimensions, decays outside ``[0, 1)``
            or a wrong number of labels.

    Example:
        ```python
        import torch
        import tracetorch as tt

        losses = torch.rand(300) / torch.arange(1, 301) ** 0.5   # e.g. one loss per step
        fig = tt.plot.line_plot({"loss": losses}, smoothing=(0.9, 0.99), path="loss.png")
        ```
    """
    func = "line_plot"
    decays = _decays(smoothing, func)
    for flag, name in ((show_raw, "show_raw"), (logy, "logy"), (show, "show")):
        check_bool(flag, name, func)
    for text, name in ((xlabel, "xlabel"), (ylabel, "ylabel"), (title, "title")):
        check_optional_str(text, name, func)
    series = _named_series(values, labels, func)
    fig = new_figure(check_figsize(figsize, func) or (7.0, 4.0), show)
    ax = fig.add_subplot()
    draw_series(ax, [(name, np.arange(len(y)), y) for name, y in series], decays, show_raw)
    if logy:
        ax.set_yscale("log")
    if xlabel:
        ax.set_xlabel(xlabel)
    if ylabel:
        ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    return finish(fig, path, show, func)


def draw_series(
    ax: Any,
    series: list[tuple[Optional[str], np.ndarray, np.ndarray]],
    decays: list[float],
    show_raw: bool,
    first_color: int = 0,
) -> None:
    """Draw raw and smoothed ``(name, x, y)`` lines on one axes (shared with the tracker)."""
    for i, (name, x, y) in enumerate(series):
        color = f"C{(first_color + i) % 10}"
        if not decays or show_raw:
            raw_label = name if not decays else (f"{name} (raw)" if name else "raw")
            marker = "o" if len(y) <= 30 else None
            ax.plot(
                x,
                y,
                color=color,
                alpha=0.3 if decays else 1.0,
                linewidth=1.0,
                label=raw_label,
                marker=marker,
                markersize=3,
            )
        for k, d in enumerate(decays):
            label = f"{name} (decay {d:g})" if name else f"decay {d:g}"
            ax.plot(
                x,
                smooth(y, d),
                color=color,
                alpha=1.0 if len(decays) == 1 else 0.55 + 0.45 * k / (len(decays) - 1),
                linewidth=1.5 + 0.5 * k,
                label=label,
            )
    if any(line.get_label() and not line.get_label().startswith("_") for line in ax.lines) and len(ax.lines) > 1:
        ax.legend(loc="best", fontsize="small")
