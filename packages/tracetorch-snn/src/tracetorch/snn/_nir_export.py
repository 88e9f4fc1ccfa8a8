"""`export_nir`: a chain of traceTorch layers and torch modules as a NIR graph.

The work is done in `_nir_export_impl` (imported on the first call, with numpy and
``nir``), so importing `tracetorch.snn` imports neither.
"""

from __future__ import annotations

import os
from typing import Any, Optional, Sequence, Union

from torch import nn

from ._nir_io import require_nir

__all__ = ["export_nir"]

PathLike = Union[str, "os.PathLike[str]"]


def export_nir(
    model: nn.Module,
    dt: float,
    *,
    input_shape: Optional[Sequence[int]] = None,
    path: Optional[PathLike] = None,
) -> Any:
    """Export a chain of traceTorch layers and torch modules as a NIR graph.

    ``model`` is a `tracetorch.Sequential` or ``nn.Sequential`` (nested ones allowed)
    of: ``LI``/``LIEMA`` (NIR ``LI``), ``SLI``/``SLIEMA`` (``CubaLI``), ``LIB`` (``LIF``;
    ``IF`` for a fixed ``beta=1``), ``SLIB`` (``CubaLIF``), ``RLIB`` with
    ``all_to_all=True`` and a fixed ``gamma=0`` (``LIF``/``IF`` named by its path plus an
    ``Affine`` ``<path>.rec`` holding ``rec_matrix``, ``rec_bias``, with the edges
    ``<path> -> <path>.rec -> <path>``: a cycle, read with one step of delay), ``SRLIB``
    likewise (its synapse first, as an ``LI`` ``<path>.syn``), `Delay` (``Delay``),
    ``nn.Linear`` (``Affine``, or ``Linear`` without bias), ``nn.Conv1d``/``nn.Conv2d``,
    ``nn.Flatten``, ``nn.AvgPool2d`` (``AvgPool2d``; ``SumPool2d`` with
    ``divisor_override=1``), and pass-through modules (``nn.Identity``, ``nn.Dropout``
    in eval mode); or a `NIRGraphModel` made by `import_nir` (its nodes and edges,
    cycles included, are written back). Spiking layers must fire deterministically (a ``heaviside_*``
    ``spike_fn``) and reset to a value on the step of the spike (``reset="value"``),
    which is what NIR's neurons do. Parameters are exported with the values the layer
    acts with (learnable ones after their activation); rank-0 ones are repeated per
    neuron. The model and its states are not changed.

    The conventions (forward Euler with step ``dt``, as snnTorch reads and writes
    NIR): ``tau = dt/(1 - beta)`` (likewise ``tau_syn`` from ``alpha``), chosen among
    the float32 numbers so that ``1 - dt/tau`` in float32 gives ``beta`` back exactly;
    ``r = tau/dt`` when the input is added to the membrane, ``r = 1`` for
    ``decay_input=True`` and EMA layers; ``w_in = 1`` for ``syn_input="ema"``, ``tau_syn/dt``
    for ``"add"``; ``v_leak = rest``, ``v_reset = reset_value``, ``v_threshold =
    threshold``; IF: ``r = 1`` (one step adds the input); a `Delay` of ``k`` steps is
    ``delay = k*dt``.

    Args:
        model: The model (see above).
        dt: The time step (> 0) that relates decays to time constants; import with the
            same ``dt`` (snnTorch uses ``1e-4``).
        input_shape: One sample's shape without batch and time axes, e.g. ``(2, 34,
            34)``; may be left out when the model starts with a ``Linear`` or a layer
            with ``dim=-1``.
        path: If given, the graph is also written there with `write_nir` (atomically).

    Returns:
        The ``nir.NIRGraph``: nodes ``input``, one per module named by its path in the
        model (``"0"``, ``"2.1"``, ...), ``output``; edges in order.

    Raises:
        ImportError: without the ``nir`` extra (``pip install "tracetorch-snn[nir]"``).
        TypeError: if ``model`` is not an ``nn.Module``.
        ValueError: for a non-positive ``dt``, or modules NIR cannot express (among them
            R layers with a per-neuron ``rec_weight`` or a trace (``gamma`` learnable or
            not 0), D/T/TS layers, ``adaptive`` or ``refractory`` neurons): one message
            lists every such module by its path, with the reason.
    """
    nir = require_nir("export_nir")
    from ._nir_export_impl import export

    return export(nir, model, dt, input_shape, path)
