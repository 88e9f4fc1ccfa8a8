"""Local derivatives of ``quant_fn(spike_fn(v))`` for the built-in spike and quantisation functions.

The BPTT function of the spiking layers needs ``d fire / d v`` element-wise without
re-running the (possibly random) forward. It is
``SpikeFunction.derivative`` (the one place the surrogate derivatives are written)
times the straight-through derivative of the quantisation (1 for
``round``/``bernoulli``, ``2 p`` for ``probabilistic``).
"""

from __future__ import annotations

from typing import Callable, Optional, cast

import torch
from torch import Tensor
from tracetorch._internal import SPIKE_KINDS
from tracetorch.functional import SpikeFunction, quant_bernoulli, quant_probabilistic, quant_round

__all__ = ["fire_derivative", "has_fire_derivative"]

_KNOWN = frozenset(SPIKE_KINDS)


def has_fire_derivative(
    spike_fn: Optional[Callable[[Tensor], Tensor]], quant_fn: Optional[Callable[[Tensor], Tensor]]
) -> bool:
    """Whether `fire_derivative` knows this pair (built-in spike and quantisation functions).

    Args:
        spike_fn: The layer's resolved spike function.
        quant_fn: The layer's resolved quantisation function.

    Returns:
        True when both are built-ins of ``tt.functional``.
    """
    return (
        type(spike_fn) is SpikeFunction
        and cast(SpikeFunction, spike_fn).kind in _KNOWN  # narrowed by the type() check
        and (quant_fn is quant_round or quant_fn is quant_bernoulli or quant_fn is quant_probabilistic)
    )


def fire_derivative(spike_fn: SpikeFunction, quant_fn: Callable[[Tensor], Tensor], v: Tensor) -> Tensor:
    """``d quant_fn(spike_fn(v)) / d v``, element-wise, as autograd would compute it.

    Args:
        spike_fn: A built-in `SpikeFunction`.
        quant_fn: ``quant_round``, ``quant_bernoulli`` or ``quant_probabilistic``.
        v: Membrane minus threshold.

    Returns:
        The derivative, shaped like ``v``.
    """
    d = spike_fn.derivative(v)
    if quant_fn is quant_probabilistic:
        prob = torch.sigmoid(spike_fn.param * v) if spike_fn.kind == "sigmoid" else (v >= 0).to(v.dtype)
        d = d * (2.0 * prob)
    return d
