"""Conversions between decays, half-lives and time constants, and inverse activations."""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = [
    "identity",
    "sigmoid_inverse",
    "softplus_inverse",
    "halflife_to_decay",
    "decay_to_halflife",
    "timesteps_to_decay",
    "decay_to_timesteps",
    "hippo_decays",
    "max_halflife_to_hippo_scale",
]


def identity(x: Tensor) -> Tensor:
    """Return ``x`` unchanged (the default activation and inverse of a parameter).

    Args:
        x: Any tensor.

    Returns:
        The very same tensor.
    """
    return x


def sigmoid_inverse(x: Tensor) -> Tensor:
    """Inverse of the logistic sigmoid (the logit): ``log(x / (1 - x))``.

    Args:
        x: Values strictly inside (0, 1).

    Returns:
        ``y`` such that ``sigmoid(y) == x``.
    """
    return torch.log(x) - torch.log1p(-x)


def softplus_inverse(x: Tensor) -> Tensor:
    """Inverse of ``softplus(y) = log(1 + exp(y))``, computed stably.

    Uses ``y = x + log(-expm1(-x))``, which equals ``log(expm1(x))`` but neither
    overflows for large ``x`` nor loses precision for small ``x``.

    Args:
        x: Values strictly greater than 0.

    Returns:
        ``y`` such that ``softplus(y) == x``.
    """
    return x + torch.log(-torch.expm1(-x))


def _check_positive(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}.")
    if not value > 0:
        raise ValueError(f"{name} must be > 0, got {value}.")
    return float(value)


def _check_decay(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}.")
    if not 0.0 < value < 1.0:
        raise ValueError(f"{name} must lie strictly between 0 and 1, got {value}.")
    return float(value)


def halflife_to_decay(halflife: float) -> float:
    """Decay per step after which a trace has halved in ``halflife`` steps.

    ``decay = exp(-ln 2 / halflife)``.

    Args:
        halflife: Number of steps (> 0) for the trace to fall to half.

    Returns:
        The decay in (0, 1).

    Raises:
        ValueError: if ``halflife <= 0``.
    """
    h = _check_positive("halflife", halflife)
    return math.exp(-math.log(2.0) / h)


def decay_to_halflife(decay: float) -> float:
    """Number of steps after which a trace with this decay has halved.

    Args:
        decay: A decay strictly inside (0, 1).

    Returns:
        ``-ln 2 / ln(decay)``.
    """
    d = _check_decay("decay", decay)
    return -math.log(2.0) / math.log(d)


def timesteps_to_decay(timesteps: float) -> float:
    """Decay of an exponential moving average that spans ``timesteps`` steps.

    ``decay = 1 - 1 / timesteps``.

    Args:
        timesteps: Time constant in steps; must be > 1 so that the decay is > 0.

    Returns:
        The decay in (0, 1).
    """
    n = _check_positive("timesteps", timesteps)
    if n <= 1.0:
        raise ValueError(f"timesteps must be > 1 (a decay of 0 or less otherwise), got {timesteps}.")
    return 1.0 - 1.0 / n


def decay_to_timesteps(decay: float) -> float:
    """Time constant in steps of an exponential moving average: ``1 / (1 - decay)``.

    Args:
        decay: A decay strictly inside (0, 1).

    Returns:
        The time constant in steps.
    """
    d = _check_decay("decay", decay)
    return 1.0 / (1.0 - d)


def hippo_decays(num: int, scale: float, shuffle: bool = False) -> Tensor:
    """A spectrum of decays ``exp(-k * scale)`` for ``k = 1 .. num``.

    Useful as a rank-1 initialisation that gives every neuron its own time scale,
    from fast (``k = num``) to slow (``k = 1``).

    Args:
        num: How many decays (usually the layer's ``num_neurons``).
        scale: Positive spacing of the exponents; see `max_halflife_to_hippo_scale`.
        shuffle: Randomly permute the decays (uses torch's global generator).

    Returns:
        A float tensor of shape ``[num]``.
    """
    if isinstance(num, bool) or not isinstance(num, int) or num < 1:
        raise ValueError(f"num must be a positive int, got {num!r}.")
    s = _check_positive("scale", scale)
    k = torch.arange(1, num + 1, dtype=torch.get_default_dtype())
    decays = torch.exp(-k * s)
    if shuffle:
        decays = decays[torch.randperm(num)]
    return decays


def max_halflife_to_hippo_scale(max_halflife: float) -> float:
    """The `hippo_decays` scale whose slowest decay (``k = 1``) has this half-life.

    ``scale = ln 2 / max_halflife``.

    Args:
        max_halflife: Half-life in steps (> 0) of the slowest neuron.

    Returns:
        The scale to pass to `hippo_decays`.
    """
    h = _check_positive("max_halflife", max_halflife)
    return math.log(2.0) / h
