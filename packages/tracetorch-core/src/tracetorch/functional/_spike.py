"""Spike functions: membrane-minus-threshold to a firing probability or a hard spike.

Two kinds live here:

* ``sigmoid(slope)`` – a smooth firing *probability*, the library's default
  (``sigmoid(4 x)``); the quantisation function then turns it into a spike.
* Heaviside spikes with surrogate gradients – the forward pass is exactly 0 or 1
  (``x >= 0``), the backward pass uses the derivative of a smooth stand-in. Every
  quantisation function leaves 0/1 unchanged, so these reproduce the usual LIF
  neuron of other libraries exactly.

Every spike function object has a ``surrogate`` method: the smooth function whose
derivative the backward pass uses (for ``sigmoid`` it is the forward itself).
"""

from __future__ import annotations

import math
from typing import Callable, Union

import torch
from torch import Tensor

__all__ = [
    "SpikeFunction",
    "sigmoid",
    "heaviside_fast_sigmoid",
    "heaviside_atan",
    "heaviside_triangle",
    "heaviside_straight_through",
    "resolve_spike_fn",
    "SPIKE_FUNCTIONS",
    "SPIKE_KINDS",
]


def _check_slope(factory: str, name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{factory}: `{name}` must be a number, got {type(value).__name__}.")
    if not (value > 0 and math.isfinite(value)):
        raise ValueError(f"{factory}: `{name}` must be a finite number > 0, got {value}.")
    return float(value)


class _HeavisideSurrogate(torch.autograd.Function):
    """Forward: ``x >= 0`` as 0/1 in ``x``'s dtype. Backward: the surrogate's derivative."""

    @staticmethod
    def forward(ctx, x: Tensor, kind: str, param: float) -> Tensor:  # type: ignore[override]
        ctx.save_for_backward(x)
        ctx.kind = kind
        ctx.param = param
        if torch.compiler.is_compiling():
            return (x >= 0).to(x.dtype)
        # the same 0/1 values (NaN gives 0) written straight into x's dtype: on the CPU
        # about 4x faster than converting a bool tensor
        return torch.ge(x, 0, out=torch.empty_like(x))

    @staticmethod
    def backward(ctx, grad: Tensor):  # type: ignore[override]
        (x,) = ctx.saved_tensors
        return grad * SpikeFunction(ctx.kind, ctx.param).derivative(x), None, None


class SpikeFunction:
    """A named, parameterised spike function (callable on a tensor).

    Instances are made by the factories of this module (`sigmoid`,
    `heaviside_fast_sigmoid`, ...); they compare equal when kind and parameter are
    equal, pickle, and print as the call that made them.

    Attributes:
        kind: The factory's name, e.g. ``"heaviside_atan"``.
        param: The factory's slope or width parameter.
        deterministic: True for Heaviside spikes (outputs exactly 0 or 1).
    """

    __slots__ = ("kind", "param", "deterministic")

    def __init__(self, kind: str, param: float) -> None:
        if kind not in _KINDS:
            raise ValueError(f"SpikeFunction: unknown kind {kind!r}; expected one of {sorted(_KINDS)}.")
        self.kind = kind
        self.param = float(param)
        self.deterministic = kind != "sigmoid"

    def __call__(self, x: Tensor) -> Tensor:
        """Apply the spike function to membrane-minus-threshold ``x``."""
        if self.kind == "sigmoid":
            return torch.sigmoid(self.param * x)
        return _HeavisideSurrogate.apply(x, self.kind, self.param)

    def surrogate(self, x: Tensor) -> Tensor:
        """The smooth function whose derivative is this spike function's gradient.

        Args:
            x: Membrane minus threshold.

        Returns:
            A differentiable tensor of the same shape as ``x``.
        """
        kind, p = self.kind, self.param
        if kind == "sigmoid":
            return torch.sigmoid(p * x)
        if kind == "heaviside_fast_sigmoid":
            return x / (1.0 + p * x.abs())
        if kind == "heaviside_atan":
            return torch.atan(math.pi / 2.0 * p * x) / math.pi + 0.5
        if kind == "heaviside_triangle":
            c = x.clamp(-p, p)
            return 0.5 + c / p - c * c.abs() / (2.0 * p * p)
        return p * x

    def derivative(self, x: Tensor) -> Tensor:
        """The derivative the backward pass uses: ``d surrogate(x) / dx``, element-wise.

        The one place these formulas are written: the Heaviside spikes' backward, the
        spiking layers' hand-written sequence backward and the kernels' tables (indexed
        by `SPIKE_KINDS`) all follow it. For ``sigmoid`` it is the derivative of the
        forward itself, ``slope * y * (1 - y)``.

        Args:
            x: Membrane minus threshold.

        Returns:
            A new tensor shaped like ``x``.
        """
        kind, p = self.kind, self.param
        if kind == "sigmoid":
            y = torch.sigmoid(p * x)
            return (y * (1.0 - y)) * p
        if not torch.is_grad_enabled():
            # the same operations in place on fresh temporaries (``c / t`` is
            # ``t.reciprocal() * c`` in PyTorch): fewer allocations, the same bits
            if kind == "heaviside_fast_sigmoid":
                w = x.abs().mul_(p).add_(1.0)
                return w.mul_(w).reciprocal_()
            if kind == "heaviside_atan":
                w = x * (math.pi / 2.0 * p)
                return w.mul_(w).add_(1.0).reciprocal_().mul_(p / 2.0)
        if kind == "heaviside_fast_sigmoid":
            return 1.0 / (p * x.abs() + 1.0) ** 2
        if kind == "heaviside_atan":
            return (p / 2.0) / (1.0 + (math.pi / 2.0 * p * x) ** 2)
        if kind == "heaviside_triangle":
            return torch.clamp(1.0 - x.abs() / p, min=0.0) / p
        return torch.full_like(x, p)  # straight-through

    def __repr__(self) -> str:
        return f"tt.functional.{self.kind}({self.param!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SpikeFunction) and (self.kind, self.param) == (other.kind, other.param)

    def __hash__(self) -> int:
        return hash((self.kind, self.param))

    def __reduce__(self):
        return (SpikeFunction, (self.kind, self.param))


SPIKE_KINDS = (
    "sigmoid",
    "heaviside_fast_sigmoid",
    "heaviside_atan",
    "heaviside_triangle",
    "heaviside_straight_through",
)
"""Every `SpikeFunction` kind, in a fixed order (the kernels' ``SPIKE`` codes are positions here)."""
_KINDS = frozenset(SPIKE_KINDS)


def sigmoid(slope: float = 4.0) -> SpikeFunction:
    """Smooth firing probability ``sigmoid(slope * x)`` (the default spike function).

    Args:
        slope: Steepness (> 0); the default 4.0 gives ``sigmoid(4x)``.

    Returns:
        A `SpikeFunction`; combine it with a quantisation function to get spikes.
    """
    return SpikeFunction("sigmoid", _check_slope("sigmoid", "slope", slope))


def heaviside_fast_sigmoid(slope: float = 25.0) -> SpikeFunction:
    """Heaviside spike with the fast-sigmoid (SuperSpike) surrogate gradient.

    Forward: ``1 if x >= 0 else 0``. Backward: ``1 / (slope * |x| + 1) ** 2``, the
    derivative of ``x / (1 + slope * |x|)``.

    Args:
        slope: Sharpness of the surrogate (> 0); 25 matches snnTorch's default.

    Returns:
        A deterministic `SpikeFunction`.
    """
    return SpikeFunction("heaviside_fast_sigmoid", _check_slope("heaviside_fast_sigmoid", "slope", slope))


def heaviside_atan(alpha: float = 2.0) -> SpikeFunction:
    """Heaviside spike with the arctan surrogate gradient.

    Forward: ``1 if x >= 0 else 0``. Backward: ``(alpha / 2) / (1 + (pi/2 * alpha * x) ** 2)``,
    the derivative of ``atan(pi/2 * alpha * x) / pi + 1/2``.

    Args:
        alpha: Sharpness of the surrogate (> 0); 2 matches snnTorch and SpikingJelly.

    Returns:
        A deterministic `SpikeFunction`.
    """
    return SpikeFunction("heaviside_atan", _check_slope("heaviside_atan", "alpha", alpha))


def heaviside_triangle(width: float = 1.0) -> SpikeFunction:
    """Heaviside spike with a triangular surrogate gradient.

    Forward: ``1 if x >= 0 else 0``. Backward: ``max(0, 1 - |x| / width) / width``
    (a triangle of area 1 on ``[-width, width]``).

    Args:
        width: Half-width of the triangle (> 0).

    Returns:
        A deterministic `SpikeFunction`.
    """
    return SpikeFunction("heaviside_triangle", _check_slope("heaviside_triangle", "width", width))


def heaviside_straight_through(scale: float = 1.0) -> SpikeFunction:
    """Heaviside spike whose gradient is passed straight through, times ``scale``.

    Forward: ``1 if x >= 0 else 0``. Backward: ``scale`` everywhere.

    Args:
        scale: Constant gradient (> 0).

    Returns:
        A deterministic `SpikeFunction`.
    """
    return SpikeFunction("heaviside_straight_through", _check_slope("heaviside_straight_through", "scale", scale))


SPIKE_FUNCTIONS: dict[str, Callable[[], SpikeFunction]] = {
    "sigmoid": sigmoid,
    "heaviside_fast_sigmoid": heaviside_fast_sigmoid,
    "heaviside_atan": heaviside_atan,
    "heaviside_triangle": heaviside_triangle,
    "heaviside_straight_through": heaviside_straight_through,
}
"""Spike functions that may be named by string, each with its default parameter."""


def resolve_spike_fn(spike_fn: Union[str, Callable[[Tensor], Tensor], None]) -> Callable[[Tensor], Tensor]:
    """Turn a ``spike_fn`` argument into a callable.

    Args:
        spike_fn: ``None`` (the default ``sigmoid(4x)``), a name from
            `SPIKE_FUNCTIONS`, or any callable from tensor to tensor (used as given).

    Returns:
        The callable to use.

    Raises:
        ValueError: for an unknown name.
        TypeError: for anything that is neither a string nor callable.
    """
    if spike_fn is None:
        return sigmoid()
    if isinstance(spike_fn, str):
        try:
            return SPIKE_FUNCTIONS[spike_fn]()
        except KeyError:
            raise ValueError(
                f"unknown spike_fn {spike_fn!r}; expected one of {sorted(SPIKE_FUNCTIONS)} "
                "or a callable such as tt.functional.heaviside_atan(alpha=2.0)."
            ) from None
    if callable(spike_fn):
        return spike_fn
    raise TypeError(f"spike_fn must be a name or a callable, got {type(spike_fn).__name__} ({spike_fn!r}).")
