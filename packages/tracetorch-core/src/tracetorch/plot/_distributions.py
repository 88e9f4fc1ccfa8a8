"""Histograms: of any values, and of the parameters (decays, thresholds...) of a model."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Optional, Union

import numpy as np
from matplotlib.figure import Figure
from torch import nn

from ..core import Layer, Model
from ._common import PathLike, check_bool, check_figsize, check_optional_str, finish, new_figure, to_numpy

__all__ = ["histogram", "parameter_distributions"]


def _check_bins(bins: Any, func: str) -> int:
    if isinstance(bins, bool) or not isinstance(bins, int):
        raise TypeError(f"tt.plot.{func}: `bins` must be an int, got {type(bins).__name__}.")
    if bins < 1:
        raise ValueError(f"tt.plot.{func}: `bins` must be >= 1, got {bins}.")
    return bins


def _edges(arrays: list[np.ndarray], bins: int) -> np.ndarray:
    """Bin edges shared by several distributions; a sensible range when all values are equal."""
    finite = [a[np.isfinite(a)] for a in arrays]
    allv = np.concatenate(finite) if finite else np.zeros(0)
    if allv.size == 0:
        return np.linspace(0.0, 1.0, bins + 1)
    lo, hi = float(allv.min()), float(allv.max())
    if lo == hi:
        pad = max(abs(lo) * 0.05, 1e-3)
        lo, hi = lo - pad, hi + pad
    return np.linspace(lo, hi, bins + 1)


def _draw_hists(ax: Any, named: list[tuple[str, np.ndarray]], bins: int, density: bool, legend: bool) -> None:
    edges = _edges([a for _, a in named], bins)
    alpha = 1.0 if len(named) == 1 else 0.55
    for i, (label, arr) in enumerate(named):
        _, _, bars = ax.hist(
            arr[np.isfinite(arr)],
            bins=edges,
            density=density,
            alpha=alpha,
            color=f"C{i % 10}",
            histtype="bar",
            edgecolor="none",
        )
        bars.set_label(label)  # the BarContainer carries the label (legend entry and tests)
    if legend and len(named) <= 12:
        ax.legend(loc="best", fontsize="small")


def histogram(
    values: Any,
    *,
    bins: int = 30,
    density: bool = False,
    xlabel: Optional[str] = "value",
    ylabel: Optional[str] = None,
    title: Optional[str] = None,
    figsize: Optional[tuple[float, float]] = None,
    path: Optional[PathLike] = None,
    show: bool = False,
) -> Figure:
    """Histogram of one set of values, or overlaid histograms of several.

    The values are flattened; several sets share one set of bin edges so that they can
    be compared. Each set is one ``BarContainer`` in ``fig.axes[0].containers`` (in
    the order given), whose bar heights are the counts (or densities).

    Args:
        values: A tensor, numpy array or sequence of numbers (any shape); or a
            mapping ``{label: values}`` for several overlaid distributions.
        bins: Number of equal-width bins spanning all values.
        density: Normalise each histogram to unit area instead of counting.
        xlabel: X-axis label.
        ylabel: Y-axis label (default ``"count"`` or ``"density"``).
        title: Figure title.
        figsize: ``(width, height)`` in inches; default ``(6, 4)``.
        path: Save the figure to this file (format from the extension).
        show: Call ``pyplot.show()``. Off by default.

    Returns:
        The `matplotlib.figure.Figure`.

    Raises:
        TypeError: for non-numeric data or arguments of the wrong type.
        ValueError: for ``bins < 1`` or an empty mapping.

    Example:
        ```python
        import torch
        import tracetorch as tt

        h1, h2 = torch.randn(64, 32), 0.5 * torch.randn(64, 16) + 1.0   # e.g. activations
        fig = tt.plot.histogram({"layer 1": h1.flatten(), "layer 2": h2.flatten()}, bins=50)
        ```
    """
    func = "histogram"
    bins = _check_bins(bins, func)
    for flag, name in ((density, "density"), (show, "show")):
        check_bool(flag, name, func)
    for text, name in ((xlabel, "xlabel"), (ylabel, "ylabel"), (title, "title")):
        check_optional_str(text, name, func)
    if isinstance(values, Mapping):
        if not values:
            raise ValueError(f"tt.plot.{func}: `values` is an empty mapping.")
        named = []
        for k, v in values.items():
            if not isinstance(k, str):
                raise TypeError(f"tt.plot.{func}: labels must be str, got {type(k).__name__}.")
            named.append((k, to_numpy(v, f"values[{k!r}]", func).reshape(-1)))
    else:
        named = [("_nolegend_", to_numpy(values, "values", func).reshape(-1))]
    fig = new_figure(check_figsize(figsize, func) or (6.0, 4.0), show)
    ax = fig.add_subplot()
    _draw_hists(ax, named, bins, density, legend=len(named) > 1)
    if xlabel:
        ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel if ylabel is not None else ("density" if density else "count"))
    if title:
        ax.set_title(title)
    return finish(fig, path, show, func)


def _layers_of(model: Any, func: str) -> list[tuple[str, Layer]]:
    if isinstance(model, Model):
        return model.named_layers()
    if isinstance(model, Layer):
        return [("", model)]
    if isinstance(model, nn.Module):
        return [(name, m) for name, m in model.named_modules() if isinstance(m, Layer)]
    if isinstance(model, Mapping):
        out = []
        for k, v in model.items():
            if not isinstance(v, Layer):
                raise TypeError(f"tt.plot.{func}: mapping values must be tt.Layer, got {type(v).__name__} at {k!r}.")
            out.append((str(k), v))
        return out
    raise TypeError(
        f"tt.plot.{func}: `model` must be a tt.Model, a tt.Layer, an nn.Module or a mapping of layers, "
        f"got {type(model).__name__}."
    )


def parameter_distributions(
    model: Union[Model, Layer, nn.Module, Mapping[str, Layer]],
    names: Union[None, str, Sequence[str]] = None,
    *,
    bins: int = 30,
    ncols: int = 3,
    title: Optional[str] = None,
    figsize: Optional[tuple[float, float]] = None,
    path: Optional[PathLike] = None,
    show: bool = False,
) -> Figure:
    """Histograms of the layer parameters of a model: one panel per parameter name.

    For every name (e.g. ``"beta"``, ``"threshold"``), the *activated* values (what
    ``layer.beta`` returns, i.e. after the sigmoid/softplus bound; compiled layers
    work too) of every traceTorch layer that has it are overlaid in one panel, one
    histogram per layer labelled with its path. This shows at a glance how training
    moved the decays and thresholds away from their initial values. Panel ``i``
    (``fig.axes[i]``) has the title ``names[i]`` and one ``BarContainer`` per layer
    in ``ax.containers``, in the model's walk order.

    Args:
        model: A `tt.Model` (its layers are found with `tt.Model.named_layers`,
            however deeply nested), a single `tt.Layer`, any ``nn.Module`` (its
            registered submodules are searched) or a mapping ``{label: layer}``.
        names: Parameter names to show; ``None`` shows every parameter name of the
            layers, in order of first appearance.
        bins: Number of bins per panel (shared by the layers in a panel).
        ncols: Panels per row.
        title: Figure title.
        figsize: ``(width, height)`` in inches; default ``(4 * cols, 3 * rows)``.
        path: Save the figure to this file (format from the extension).
        show: Call ``pyplot.show()``. Off by default.

    Returns:
        The `matplotlib.figure.Figure`.

    Raises:
        TypeError: for a `model` of the wrong type or non-str names.
        ValueError: if the model has no traceTorch layers, or a requested name is not
            a parameter of any layer (the message lists those that are).

    Example:
        ```python
        from torch import nn
        import tracetorch as tt
        from tracetorch import snn

        model = tt.Sequential(nn.Linear(4, 32), snn.LIB(32), nn.Linear(32, 8), snn.LIB(8))
        fig = tt.plot.parameter_distributions(model, ["beta", "threshold"], path="params.png")
        ```
    """
    func = "parameter_distributions"
    bins = _check_bins(bins, func)
    if isinstance(ncols, bool) or not isinstance(ncols, int):
        raise TypeError(f"tt.plot.{func}: `ncols` must be an int, got {type(ncols).__name__}.")
    if ncols < 1:
        raise ValueError(f"tt.plot.{func}: `ncols` must be >= 1, got {ncols}.")
    check_bool(show, "show", func)
    check_optional_str(title, "title", func)
    layers = _layers_of(model, func)
    if not layers:
        raise ValueError(f"tt.plot.{func}: no traceTorch layers found in {type(model).__name__}.")
    available: list[str] = []
    for _, layer in layers:
        for n in layer.parameter_names:
            if n not in available:
                available.append(n)
    if names is None:
        wanted = available
        if not wanted:
            raise ValueError(f"tt.plot.{func}: the layers of {type(model).__name__} have no registered parameters.")
    else:
        wanted = [names] if isinstance(names, str) else list(names) if isinstance(names, Sequence) else None
        if wanted is None or not all(isinstance(n, str) for n in wanted):
            raise TypeError(f"tt.plot.{func}: `names` must be None, a str or a sequence of str, got {names!r}.")
        if not wanted:
            raise ValueError(f"tt.plot.{func}: `names` is empty.")
        unknown = [n for n in wanted if n not in available]
        if unknown:
            raise ValueError(
                f"tt.plot.{func}: {unknown} {'is' if len(unknown) == 1 else 'are'} not a parameter of any layer; "
                f"available: {available}."
            )
    cols = min(ncols, len(wanted))
    rows = math.ceil(len(wanted) / cols)
    fig = new_figure(check_figsize(figsize, func) or (4.0 * cols, 3.0 * rows), show)
    for i, name in enumerate(wanted):
        ax = fig.add_subplot(rows, cols, i + 1)
        named = []
        for p, layer in layers:
            if name in layer.parameter_names:
                label = f"{p} ({type(layer).__name__})" if p else type(layer).__name__
                named.append((label, to_numpy(getattr(layer, name), name, func).reshape(-1)))
        _draw_hists(ax, named, bins, False, legend=len(layers) > 1)
        ax.set_title(name)
        ax.set_xlabel("value")
        ax.set_ylabel("count")
    if title:
        fig.suptitle(title)
    return finish(fig, path, show, func)
