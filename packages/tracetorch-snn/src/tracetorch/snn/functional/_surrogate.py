"""Local derivatives of ``quant_fn(spike_fn(v))`` for the built-in spike and quantisation functions.

The BPTT function of the spiking layers needs ``d fire / d v`` element-wise without
re-running the (possibly random) forward. These formulas are exactly the backward
passes of ``tt.functional``'s spike functions (the derivative of their
``surrogate``) times the straight-through derivative of the quantisation
(1 for ``round``/``bernoulli``, ``2 p`` for ``probabilistic``).
"""

from __future__ import annotations

import math
from typing import Callable, Optional

import torch
from torch import Tensor

from tracetorch.functional import SpikeFunction, quant_bernoulli, quant_probabilistic, quant_round

__all__ = ["fire_derivative", "has_fire_derivative"]

_KNOWN = {"sigmoid", "heaviside_fast_sigmoid", "heaviside_atan", "heaviside_triangle", "heaviside_straight_through"}


def has_fire_derivative(spike_fn: Optional[Callable[[Tensor], Tensor]], quant_fn: Optional[Callable[[Tensor], Tensor]]) -> bool:
    """Whether `fire_derivative` knows this pair (built-in spike and quantisation functions).

    Args:
        spike_fn: The layer's resolved spike function.
        quant_fn: The layer's resolved quantisation function.

    Returns:
        True when both are built-ins of ``tt.functional``.
    """
    return (
        type(spike_fn) is SpikeFunction
        and spike_fn.kind in _KNOWN
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
    kind = spike_fn.kind
    p = spike_fn.param
    prob: Optional[Tensor] = None
    if kind == "sigmoid":
        y = torch.sigmoid(p * v)
        d = (y * (1.0 - y)) * p
        prob = y
    elif kind == "heaviside_atan":
        w = v * (math.pi / 2.0 * p)
        d = w.mul_(w).add_(1.0).reciprocal_().mul_(p / 2.0)  # (p/2) / (1 + (pi/2 p v)^2)
    elif kind == "heaviside_fast_sigmoid":
        w = v.abs().mul_(p).add_(1.0)
        d = w.mul_(w).reciprocal_()  # 1 / (p |v| + 1)^2
    elif kind == "heaviside_triangle":
        d = torch.clamp(1.0 - v.abs() / p, min=0.0) / p
    else:  # straight-through
        d = torch.full_like(v, p)
    if quant_fn is quant_probabilistic:
        if prob is None:
            prob = (v >= 0).to(v.dtype)
        d = d * (2.0 * prob)
    return d
