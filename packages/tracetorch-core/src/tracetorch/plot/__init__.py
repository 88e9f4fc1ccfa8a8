"""Plots for spiking and recurrent models (needs matplotlib: the ``plot`` extra).

Every function returns a `matplotlib.figure.Figure`, can save it (``path=``), and
works without a display: unless ``show=True`` is passed, figures are plain
``Figure`` objects that never touch ``pyplot``, its global figure list or the chosen
backend, and nothing is ever printed.

* `spike_raster` — binary or ternary spikes of many neurons over time.
* `line_plot` and `smooth` — series with exponential-moving-average smoothing.
* `histogram` and `parameter_distributions` — distributions, e.g. of every layer's
  ``beta`` and ``threshold``.
* `image_grid` — several images in a grid.
* `MeasurementTracker` — record loss/accuracy while training, plot them smoothed
  with several decays.

Example:
    ```python
    import tracetorch as tt

    tracker = tt.plot.MeasurementTracker(decays=(0.9, 0.99))
    for step in range(100):
        tracker.update(loss=1.0 / (step + 1))
    fig = tracker.plot(path="loss.png")
    ```
"""

try:
    import matplotlib as _matplotlib  # noqa: F401
except ModuleNotFoundError as _e:  # pragma: no cover - exercised by a subprocess test
    if (_e.name or "").split(".")[0] != "matplotlib":
        raise
    raise ImportError(
        "tracetorch.plot needs matplotlib, which is not installed. "
        "Install it with: pip install 'tracetorch-core[plot]'  (or: pip install 'tracetorch[plot]')",
        name="tracetorch.plot",
    ) from None

from ._distributions import histogram, parameter_distributions
from ._images import image_grid
from ._line import line_plot, smooth
from ._raster import spike_raster
from ._tracker import MeasurementTracker

__all__ = [
    "spike_raster",
    "line_plot",
    "smooth",
    "histogram",
    "parameter_distributions",
    "image_grid",
    "MeasurementTracker",
]
