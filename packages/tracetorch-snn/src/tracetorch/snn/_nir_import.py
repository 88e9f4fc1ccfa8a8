"""`import_nir`: a NIR graph as a traceTorch model whose states `tracetorch.Model` manages.

The work is done in `_nir_import_impl` (imported on the first call, with numpy and
``nir``), so importing `tracetorch.snn` imports neither.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Union

from torch import Tensor, nn

from ._nir_io import require_nir

__all__ = ["import_nir"]

PathLike = Union[str, "os.PathLike[str]"]


def import_nir(
    graph_or_path: Union[Any, PathLike],
    dt: float,
    *,
    spike_fn: Union[str, Callable[[Tensor], Tensor]] = "heaviside_atan",
    learn: bool = False,
) -> nn.Module:
    """Build a traceTorch model from a NIR graph (or a NIR file).

    Nodes map to modules: ``LI`` to `LI` (``r = tau/dt``) or `LIEMA` (``r = 1``),
    ``CubaLI`` to `SLI`/`SLIEMA`, ``LIF`` to `LIB`, ``CubaLIF`` to `SLIB` (``w_in =
    tau_syn/dt`` gives ``syn_input="add"``), ``IF`` to `LIB` with a fixed ``beta=1``,
    each with ``reset="value", reset_value=v_reset`` and ``rest=v_leak``; ``Affine``
    and ``Linear`` to ``nn.Linear`` (with and without bias), ``Conv1d``/``Conv2d``,
    ``Flatten``, ``AvgPool2d``, ``SumPool2d``, ``Scale`` and ``Delay`` (``delay/dt``
    steps) to their modules; nested graphs are inlined. Decays are ``1 - dt/tau`` in
    float32 (snnTorch's reading), so a graph from `export_nir` comes back with the very
    same parameters. An input weight that no layer option expresses (``r``, ``w_in``)
    becomes a `Gain` before the layer. A ``LIF``/``IF`` whose output feeds back into its
    own input through an ``Affine``/``Linear`` (nothing else reading it; snnTorch's
    ``RLeaky(all_to_all=True)``, or `export_nir` of an all-to-all ``RLIB``) becomes one
    `RLIB` with ``all_to_all=True``, a fixed ``gamma=0``, ``rec_matrix`` and ``rec_bias``
    (rank 0 when uniform): ``mem = beta*mem + x + (rec_matrix @ s[t-1] + rec_bias)``, in
    snnTorch ``RLeaky``'s order of additions. A chain becomes a `tracetorch.Sequential`;
    other graphs a `NIRGraphModel` (other cycles are closed by a neuron's previous output).

    Args:
        graph_or_path: A ``nir.NIRGraph``, or the path of a NIR file (read with
            `read_nir`).
        dt: The time step the graph was exported with (snnTorch uses ``1e-4``).
        spike_fn: The spike function of the spiking layers (a deterministic one:
            NIR neurons fire at the threshold); its surrogate gradient is used when
            the model is trained.
        learn: Whether the neuron parameters are trainable. ``False`` (default) keeps
            them as fixed buffers holding exactly the imported values; trainable ones
            are stored through a sigmoid / softplus, which can move them by an ulp.

    Returns:
        The model: a `tracetorch.Sequential` or a `NIRGraphModel`, in the default dtype.

    Raises:
        ImportError: without the ``nir`` extra (``pip install "tracetorch-snn[nir]"``).
        FileNotFoundError: for a missing file.
        ValueError: for a bad file (see `read_nir`), a graph that is not one Input and
            one Output connected by edges, or nodes traceTorch cannot run: one message
            lists every such node with its type and the reason.
    """
    nir = require_nir("import_nir")
    from ._nir_import_impl import build

    return build(nir, graph_or_path, dt, spike_fn, learn)
