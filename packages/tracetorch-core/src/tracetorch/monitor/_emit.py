"""The emit protocol: how a layer hands a monitor values that are not its output or a state.

A `tracetorch.Monitor` records a layer's output and its states after each step on its
own. Two things need the layer's help:

* values that exist only inside a step, such as the membrane before the reset;
* per-step states in sequence mode, where ``forward_sequence`` computes all steps at
  once and only the final states are left on the layer.

For these a layer calls `emit` (one step) or `emit_sequence` (all steps of a
``forward_sequence`` call, time first). While no monitor records the layer, either
call costs one dictionary look-up and returns; `wants` lets a layer skip computing
a value nobody asked for. A layer declares the extra names it can emit in a class
attribute ``emitted_names`` (e.g. ``("mem_pre",)``), so that a monitor can tell a
misspelt name from one the layer provides.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor

__all__ = ["SINK_ATTR", "emit", "emit_sequence", "wants"]

SINK_ATTR = "_tt_monitor_sink"
"""Instance attribute that holds the recording monitors' sink while they record."""


def emit(layer: Any, name: str, value: Tensor) -> None:
    """Hand one step's ``value`` of ``name`` to the monitors recording ``layer``, if any.

    Call it inside ``forward`` (once per step). ``value`` must not be modified in place
    afterwards (the monitor may keep a reference).

    Args:
        layer: The layer (``self``).
        name: A state name or one of the layer's ``emitted_names``.
        value: The value at this step, in the layer's layout.
    """
    sink = layer.__dict__.get(SINK_ATTR)
    if sink is not None:
        sink.emit(layer, name, value, False)


def emit_sequence(layer: Any, name: str, values: Tensor) -> None:
    """Hand every step's value of ``name`` from one ``forward_sequence`` call, time first.

    Call it inside ``forward_sequence`` with ``values`` of shape ``[T, ...]`` (time on
    axis 0, whatever ``time_dim`` the caller used), e.g. the membrane at every step.

    Args:
        layer: The layer (``self``).
        name: A state name or one of the layer's ``emitted_names``.
        values: ``[T, ...]``, one entry per step of the call.
    """
    sink = layer.__dict__.get(SINK_ATTR)
    if sink is not None:
        sink.emit(layer, name, values, True)


def wants(layer: Any, name: str) -> bool:
    """Whether a monitor is recording ``name`` on ``layer`` right now.

    Lets a layer skip materialising a value (e.g. the per-step membranes of a fused
    sequence kernel) that nobody asked for.

    Args:
        layer: The layer (``self``).
        name: A state name or one of the layer's ``emitted_names``.

    Returns:
        True while some monitor records ``name`` on this layer.
    """
    sink = layer.__dict__.get(SINK_ATTR)
    return sink is not None and sink.wants(layer, name)
