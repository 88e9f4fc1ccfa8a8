"""Spike rasters: which neuron fired at which timestep."""

from __future__ import annotations

from typing import Any, Optional

import numpy as np
from matplotlib.figure import Figure

from ._common import PathLike, check_bool, check_figsize, check_optional_str, finish, new_figure, to_numpy

__all__ = ["spike_raster"]


def spike_raster(
    spikes: Any,
    *,
    time_dim: int = 0,
    max_neurons: Optional[int] = None,
    show_rate: bool = False,
    title: Optional[str] = None,
    xlabel: Optional[str] = "timestep",
    ylabel: Optional[str] = "neuron",
    figsize: Optional[tuple[float, float]] = None,
    path: Optional[PathLike] = None,
    show: bool = False,
) -> Figure:
    """Raster plot of binary or ternary spikes over time.

    A mark is drawn at ``(t, n)`` wherever neuron ``n`` has a non-zero output at
    timestep ``t``. Positive outputs (``+1``, or any positive value of a scaled
    ternary layer) and negative outputs (``-1``) get different colours, so the
    outputs of `tt.snn` B, T and TS layers can all be shown. Every axis other than
    `time_dim` is flattened into the neuron axis (in row-major order), so the
    output of a convolutional layer ``[T, C, H, W]`` can be passed as it is.

    The raster is ``fig.axes[0]``; its first collection (label ``"+1"``) holds the
    positive spikes, and a second one (label ``"-1"``) the negative spikes when there
    are any. Marks shrink with the number of neurons, and large rasters are
    rasterized inside vector files so they stay small.

    Args:
        spikes: A tensor or numpy array with a time axis, e.g. ``[T, N]`` stacked
            from the outputs of one sample. A 1-D input is a single neuron.
        time_dim: The time axis of `spikes`.
        max_neurons: Show only the first this many neurons (``None``: all).
        show_rate: Add a panel above the raster with the fraction of shown neurons
            that fired at each timestep (``fig.axes[1]``).
        title: Figure title.
        xlabel: X-axis label.
        ylabel: Y-axis label.
        figsize: ``(width, height)`` in inches; default ``(8, 4.5)``.
        path: Save the figure to this file (format from the extension).
        show: Call ``pyplot.show()``. Off by default.

    Returns:
        The `matplotlib.figure.Figure`.

    Raises:
        TypeError: for non-numeric input or arguments of the wrong type.
        ValueError: for a 0-d input, a `time_dim` out of range or ``max_neurons < 1``.

    Example:
        ```python
        import torch
        import tracetorch as tt
        from tracetorch import snn

        T, layer = 50, snn.LIB(20)
        x = torch.rand(T, 4, 20)                  # [T, batch, neurons]
        outs = []
        for t in range(T):
            outs.append(layer(x[t])[0])           # one sample's spikes, [N]
        fig = tt.plot.spike_raster(torch.stack(outs), path="raster.png")
        ```
    """
    func = "spike_raster"
    for flag, name in ((show_rate, "show_rate"), (show, "show")):
        check_bool(flag, name, func)
    for text, name in ((xlabel, "xlabel"), (ylabel, "ylabel"), (title, "title")):
        check_optional_str(text, name, func)
    if isinstance(time_dim, bool) or not isinstance(time_dim, int):
        raise TypeError(f"tt.plot.{func}: `time_dim` must be an int, got {type(time_dim).__name__}.")
    if max_neurons is not None:
        if isinstance(max_neurons, bool) or not isinstance(max_neurons, int):
            raise TypeError(f"tt.plot.{func}: `max_neurons` must be an int or None, got {type(max_neurons).__name__}.")
        if max_neurons < 1:
            raise ValueError(f"tt.plot.{func}: `max_neurons` must be >= 1, got {max_neurons}.")
    s = to_numpy(spikes, "spikes", func)
    if s.ndim == 0:
        raise ValueError(f"tt.plot.{func}: `spikes` needs a time axis, got a 0-d value.")
    if not -s.ndim <= time_dim < s.ndim:
        raise ValueError(f"tt.plot.{func}: `time_dim`={time_dim} is out of range for spikes of shape {tuple(s.shape)}.")
    s = np.moveaxis(s, time_dim, 0).reshape(s.shape[time_dim], -1)
    if max_neurons is not None:
        s = s[:, :max_neurons]
    num_steps, num_neurons = s.shape

    fig = new_figure(check_figsize(figsize, func) or (8.0, 4.5), show)
    if show_rate:
        grid = fig.add_gridspec(2, 1, height_ratios=(1, 3))
        ax = fig.add_subplot(grid[1])
        rate_ax = fig.add_subplot(grid[0], sharex=ax)
    else:
        ax = fig.add_subplot()
        rate_ax = None

    height_pt = fig.get_figheight() * 72.0 * (0.6 if show_rate else 0.8)
    mark = float(np.clip(height_pt / max(num_neurons, 1), 2.5, 12.0))
    many = int(np.count_nonzero(s)) > 20000
    for sign, label, color in ((1, "+1", "black"), (-1, "-1", "tab:red")):
        t_idx, n_idx = np.nonzero(s > 0) if sign > 0 else np.nonzero(s < 0)
        if sign < 0 and t_idx.size == 0:
            continue
        ax.scatter(
            t_idx,
            n_idx,
            s=mark**2,
            marker="|",
            linewidths=max(mark / 6.0, 1.0),
            c=color,
            label=label,
            rasterized=many,
        )
    ax.set_xlim(-0.5, num_steps - 0.5)
    ax.set_ylim(-0.5, num_neurons - 0.5)
    if len(ax.collections) > 1:
        ax.legend(loc="upper right", fontsize="small", markerscale=max(1.0, 8.0 / mark))
    if xlabel:
        ax.set_xlabel(xlabel)
    if ylabel:
        ax.set_ylabel(ylabel)
    if rate_ax is not None:
        rate = (s != 0).mean(axis=1) if num_neurons else np.zeros(num_steps)
        rate_ax.plot(np.arange(num_steps), rate, color="tab:blue")
        rate_ax.set_ylabel("rate")
        rate_ax.set_ylim(0.0, max(1e-3, float(rate.max()) * 1.1) if rate.size else 1.0)
        rate_ax.tick_params(labelbottom=False)
    if title:
        (rate_ax if rate_ax is not None else ax).set_title(title)
    return finish(fig, path, show, func)
