"""The reference of the leaky-integrator sequence: the snn package's own loop.

This is not a second implementation of the maths: it calls
``tracetorch.snn.functional.leaky_sequence_reference`` (the plain loop of the one
step function every spiking layer uses), so the kernel is tested against the very
definition the layers follow.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from torch import Tensor
from tracetorch.snn.functional import leaky_sequence_reference  # pyright: ignore[reportMissingImports]
from tracetorch.snn.functional import make_fire as _snn_make_fire  # pyright: ignore[reportMissingImports]

__all__ = ["leaky_sequence_naive", "make_fire"]


def make_fire(spike_fn: Any, quant_fn: Any) -> Callable[[Tensor], Tensor]:
    """The ``fire`` callable a layer builds from its spike and quantisation functions.

    `tracetorch.snn.functional.make_fire`: ``quant_fn(spike_fn(v))``, or the spike
    function alone where the quantisation cannot change its 0/1 output.

    Args:
        spike_fn: A `tracetorch.functional.SpikeFunction` (or any callable).
        quant_fn: A quantisation function.

    Returns:
        ``fire(v)``.
    """
    return _snn_make_fire(spike_fn, quant_fn)


def leaky_sequence_naive(
    cfg: Any,
    x: Tensor,
    states: tuple[Tensor, ...],
    params: tuple[Tensor, ...],
    spike_fn: Any = None,
    quant_fn: Any = None,
) -> tuple[Tensor, tuple[Tensor, ...]]:
    """The reference: `tracetorch.snn.functional.leaky_sequence_reference`.

    Args:
        cfg: A ``tracetorch.snn.functional.LeakyConfig``.
        x: ``[T, ..., N]``, time first, neurons last.
        states: States before the first step (order of ``cfg.layout.states``), ``[..., N]``.
        params: Activated parameters (order of ``cfg.layout.params``), ``[]`` or ``[N]``.
        spike_fn: The spike function (spiking kinds only).
        quant_fn: The quantisation function (spiking kinds only).

    Returns:
        ``(outputs [T, ..., N], final states)``; differentiable through autograd.
    """
    fire: Optional[Callable[[Tensor], Tensor]] = make_fire(spike_fn, quant_fn) if cfg.spiking else None
    return leaky_sequence_reference(cfg, x, states, params, fire)
