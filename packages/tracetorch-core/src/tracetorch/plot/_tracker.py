"""A running-measurement tracker: record loss, accuracy... as training goes, plot them smoothed."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Optional, Union

import numpy as np
import torch
from matplotlib.figure import Figure

from ._common import PathLike, check_bool, check_figsize, check_optional_str, finish, new_figure
from ._line import _decays, draw_series, smooth

__all__ = ["MeasurementTracker"]

DecaySpec = Union[float, Sequence[float], Mapping[str, Union[float, Sequence[float]]]]


def _scalar(value: Any, name: str) -> float:
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise ValueError(
                f"MeasurementTracker: {name!r} must be a single number, got a tensor of shape {tuple(value.shape)}."
            )
        return float(value.detach().cpu().item())
    if isinstance(value, np.ndarray) and value.size == 1:
        return float(value.reshape(()))
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
        raise TypeError(
            f"MeasurementTracker: {name!r} must be a number or a one-element tensor, got {type(value).__name__}."
        )
    return float(value)


class MeasurementTracker:
    """Records named measurements (loss, accuracy, firing rate...) and plots them smoothed.

    Each measurement is a series of ``(step, value)`` pairs. Values may be Python
    numbers or one-element tensors (they are turned into floats right away, so no
    autograd graph or GPU memory is kept alive). Smoothing is a debiased exponential
    moving average (see `smooth`) with one or several decays, e.g. ``(0.9, 0.99)`` to
    see both the short and the long trend of a noisy loss.

    Args:
        decays: Smoothing decays in ``[0, 1)``: a number or a sequence, used for every
            measurement; or a mapping ``{name: decays}`` (measurements not in it are
            not smoothed). ``()`` disables smoothing.

    Raises:
        TypeError, ValueError: for decays that are not numbers in ``[0, 1)``.

    Example:
        ```python
        import tracetorch as tt

        tracker = tt.plot.MeasurementTracker(decays={"loss": (0.9, 0.99)})
        for step in range(200):
            loss = 1.0 / (step + 1) ** 0.5            # your training step's loss
            tracker.update(loss=loss)                 # one point per training step
        tracker.update(step=step, accuracy=0.9)       # e.g. once per epoch
        tracker.latest("loss", decay=0.99)
        tracker.plot(path="training.png")
        ```
    """

    def __init__(self, decays: DecaySpec = (0.9, 0.99)) -> None:
        func = "MeasurementTracker"
        if isinstance(decays, Mapping):
            self._decays: Union[list[float], dict[str, list[float]]] = {}
            for k, v in decays.items():
                if not isinstance(k, str):
                    raise TypeError(f"{func}: decay mapping keys must be str, got {type(k).__name__}.")
                self._decays[k] = _decays(v, func)
        else:
            self._decays = _decays(decays, func)
        self._steps: dict[str, list[int]] = {}
        self._values: dict[str, list[float]] = {}

    # ------------------------------------------------------------------ recording
    def log(self, name: str, value: Any, step: Optional[int] = None) -> None:
        """Record one value.

        Args:
            name: The measurement's name.
            value: A number or a one-element tensor.
            step: The x position (e.g. the global training step). Default: one more
                than this measurement's previous step (``0`` for the first).

        Raises:
            TypeError: for a non-str name, non-numeric value or non-int step.
            ValueError: for a tensor with more than one element.
        """
        if not isinstance(name, str):
            raise TypeError(f"MeasurementTracker: names must be str, got {type(name).__name__}.")
        v = _scalar(value, name)
        steps = self._steps.setdefault(name, [])
        if step is None:
            step = steps[-1] + 1 if steps else 0
        elif isinstance(step, bool) or not isinstance(step, (int, np.integer)):
            raise TypeError(f"MeasurementTracker: `step` must be an int, got {type(step).__name__}.")
        steps.append(int(step))
        self._values.setdefault(name, []).append(v)

    def update(self, step: Optional[int] = None, **values: Any) -> None:
        """Record several values at once: ``tracker.update(loss=l, accuracy=a)``.

        Args:
            step: Shared x position of these values (see `log`).
            **values: ``name=value`` pairs.
        """
        for name, value in values.items():
            self.log(name, value, step)

    def reset(self) -> None:
        """Forget every recorded value."""
        self._steps.clear()
        self._values.clear()

    # ------------------------------------------------------------------ reading
    @property
    def names(self) -> tuple[str, ...]:
        """Names of the recorded measurements, in order of first use."""
        return tuple(self._values)

    def __contains__(self, name: object) -> bool:
        return name in self._values

    def __len__(self) -> int:
        return len(self._values)

    def _get(self, name: str) -> list[float]:
        if name not in self._values:
            raise KeyError(f"MeasurementTracker: no measurement named {name!r}; recorded: {list(self._values)}.")
        return self._values[name]

    def __getitem__(self, name: str) -> list[float]:
        """The recorded values of a measurement (a copy)."""
        return list(self._get(name))

    def steps(self, name: str) -> list[int]:
        """The steps at which a measurement was recorded (a copy)."""
        self._get(name)
        return list(self._steps[name])

    def decays_for(self, name: str) -> list[float]:
        """The smoothing decays used for a measurement."""
        if isinstance(self._decays, dict):
            return list(self._decays.get(name, []))
        return list(self._decays)

    def smoothed(self, name: str, decay: float) -> np.ndarray:
        """The measurement smoothed with one decay (see `smooth`).

        Args:
            name: A recorded measurement.
            decay: Decay in ``[0, 1)``; any decay may be asked, not only the tracker's.

        Returns:
            A ``float64`` numpy array as long as the series.
        """
        return smooth(self._get(name), decay)

    def latest(self, name: str, decay: Optional[float] = None) -> float:
        """The last value of a measurement, raw or smoothed (e.g. for a progress bar).

        Args:
            name: A recorded measurement.
            decay: ``None`` for the last raw value, else the last smoothed value.

        Returns:
            A float.

        Raises:
            KeyError: if nothing was recorded under `name`.
        """
        values = self._get(name)
        if decay is None:
            return values[-1]
        return float(self.smoothed(name, decay)[-1])

    def state_dict(self) -> dict[str, dict[str, list[float]]]:
        """Everything recorded, as plain lists (JSON- and ``torch.save``-friendly)."""
        return {n: {"steps": list(self._steps[n]), "values": list(self._values[n])} for n in self._values}

    def load_state_dict(self, state: Mapping[str, Mapping[str, Sequence[float]]]) -> None:
        """Replace the recorded values by those of `state_dict` (e.g. when resuming training).

        Raises:
            ValueError: if a measurement's steps and values differ in length.
        """
        steps: dict[str, list[int]] = {}
        values: dict[str, list[float]] = {}
        for n, d in state.items():
            s, v = [int(x) for x in d["steps"]], [float(x) for x in d["values"]]
            if len(s) != len(v):
                raise ValueError(f"MeasurementTracker: {n!r} has {len(s)} steps but {len(v)} values.")
            steps[str(n)], values[str(n)] = s, v
        self._steps, self._values = steps, values

    # ------------------------------------------------------------------ plotting
    def plot(
        self,
        names: Union[None, str, Sequence[str]] = None,
        *,
        show_raw: bool = True,
        logy: Union[bool, Sequence[str]] = False,
        xlabel: Optional[str] = "step",
        title: Optional[str] = None,
        figsize: Optional[tuple[float, float]] = None,
        path: Optional[PathLike] = None,
        show: bool = False,
    ) -> Figure:
        """Plot measurements side by side, one panel each, raw and smoothed.

        Panel ``i`` (``fig.axes[i]``) shows ``names[i]`` against its steps: the raw
        values (faint when smoothed; with markers when there are at most 30), then one
        line per decay (`decays_for`).

        Args:
            names: Measurements to plot (default: all, in order of first use).
            show_raw: Draw the raw values of smoothed measurements.
            logy: Logarithmic y-axis: ``True`` for every panel, or the names that
                should have one (e.g. ``["loss"]``).
            xlabel: X-axis label of every panel.
            title: Figure title.
            figsize: ``(width, height)`` in inches; default ``5`` inches wide per panel.
            path: Save the figure to this file (format from the extension).
            show: Call ``pyplot.show()``. Off by default.

        Returns:
            The `matplotlib.figure.Figure`.

        Raises:
            KeyError: for a name that was never recorded.
            ValueError: if nothing is recorded.
        """
        func = "MeasurementTracker.plot"
        for flag, flag_name in ((show_raw, "show_raw"), (show, "show")):
            check_bool(flag, flag_name, func)
        check_optional_str(xlabel, "xlabel", func)
        check_optional_str(title, "title", func)
        if names is None:
            wanted = list(self._values)
        elif isinstance(names, str):
            wanted = [names]
        elif isinstance(names, Sequence):
            wanted = list(names)
        else:
            raise TypeError(f"tt.plot.{func}: `names` must be None, a str or a sequence of str.")
        if not wanted:
            raise ValueError(f"tt.plot.{func}: nothing to plot (no measurements recorded).")
        for n in wanted:
            self._get(n)
        if isinstance(logy, bool):
            log_names = set(wanted) if logy else set()
        elif isinstance(logy, Sequence) and not isinstance(logy, str):
            log_names = set(logy)
        else:
            raise TypeError(f"tt.plot.{func}: `logy` must be a bool or a sequence of names.")
        cols = len(wanted)
        fig = new_figure(check_figsize(figsize, func) or (5.0 * cols, 3.6), show)
        for i, n in enumerate(wanted):
            ax = fig.add_subplot(1, cols, i + 1)
            x = np.asarray(self._steps[n], dtype=np.float64)
            y = np.asarray(self._values[n], dtype=np.float64)
            draw_series(ax, [(n, x, y)], self.decays_for(n), show_raw, first_color=i)
            ax.set_title(n)
            if n in log_names and np.all(y[np.isfinite(y)] > 0):
                ax.set_yscale("log")
            if xlabel:
                ax.set_xlabel(xlabel)
            last = y[-1] if len(y) else math.nan
            ax.annotate(
                f"last: {last:.4g}", xy=(1.0, 1.0), xycoords="axes fraction", ha="right", va="bottom", fontsize="small"
            )
        if title:
            fig.suptitle(title)
        return finish(fig, path, show, func)
