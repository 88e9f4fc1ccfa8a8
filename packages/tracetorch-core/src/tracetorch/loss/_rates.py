"""Firing-rate regularisers on time-major spike recordings ``[T, B, ...]``."""

from __future__ import annotations

import math

from torch import Tensor

__all__ = ["rate_l1", "rate_l2", "rate_lower_bound", "rate_upper_bound"]


def _rates(func: str, spikes: object, time_dim: int) -> Tensor:
    """Per-sample, per-neuron firing rates ``[B, N]`` (events per step, ``|s|`` averaged over time)."""
    if not isinstance(spikes, Tensor):
        raise TypeError(
            f"{func}: spikes must be a tensor [T, B, ...] (time, batch, neurons...), got {type(spikes).__name__}."
        )
    if not spikes.is_floating_point():
        raise TypeError(f"{func}: spikes must be floating point, got dtype {spikes.dtype}.")
    if isinstance(time_dim, bool) or not isinstance(time_dim, int) or not -spikes.ndim <= time_dim < spikes.ndim:
        raise ValueError(f"{func}: time_dim={time_dim!r} is not an axis of spikes with shape {tuple(spikes.shape)}.")
    s = spikes.movedim(time_dim, 0) if time_dim not in (0, -spikes.ndim) else spikes
    if s.ndim < 3:
        raise ValueError(
            f"{func}: spikes must be [T, B, neurons...] (at least 3-D), got shape {tuple(spikes.shape)}; for a single "
            "sample add a batch axis with spikes.unsqueeze(1)."
        )
    if s.shape[0] == 0 or s.shape[1] == 0:
        raise ValueError(f"{func}: spikes have no steps or no samples (shape {tuple(spikes.shape)}).")
    return s.abs().mean(0).flatten(1)


def _check_bound(func: str, name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{func}: `{name}` must be a finite number >= 0 (spikes per step), got {value!r}.")
    return float(value)


def _check_power(func: str, power: object) -> float:
    if isinstance(power, bool) or not isinstance(power, (int, float)) or not math.isfinite(power) or power <= 0:
        raise ValueError(f"{func}: `power` must be a finite number > 0, got {power!r}.")
    return float(power)


def rate_l1(spikes: Tensor, time_dim: int = 0) -> Tensor:
    """L1 penalty on firing rates: the mean over samples and neurons of ``r = mean_t |s_t|``.

    For 0/1 spikes ``r`` is the fraction of steps a neuron fired; ternary ``-1`` spikes
    count as events. Differentiable (through the surrogate gradient of the spikes).

    Args:
        spikes: A recording ``[T, B, ...]`` (e.g. ``monitor.output("net.1")``), not detached.
        time_dim: The axis of ``spikes`` that holds time.

    Returns:
        A scalar.

    Raises:
        TypeError, ValueError: for non-floating or fewer than 3-D spikes.
    """
    return _rates("tt.loss.rate_l1", spikes, time_dim).mean()


def rate_l2(spikes: Tensor, time_dim: int = 0) -> Tensor:
    """L2 penalty on firing rates: the mean over samples and neurons of ``r ** 2``.

    Args:
        spikes: A recording ``[T, B, ...]``, not detached.
        time_dim: The axis of ``spikes`` that holds time.

    Returns:
        A scalar.

    Raises:
        TypeError, ValueError: for non-floating or fewer than 3-D spikes.
    """
    return _rates("tt.loss.rate_l2", spikes, time_dim).pow(2).mean()


def _bound(func: str, spikes: Tensor, bound: float, per: str, power: float, time_dim: int, lower: bool) -> Tensor:
    r = _rates(func, spikes, time_dim)
    bound = _check_bound(func, "bound", bound)
    power = _check_power(func, power)
    if per == "neuron":
        x = r
    elif per == "population":
        x = r.mean(1)
    else:
        raise ValueError(f"{func}: `per` must be 'neuron' or 'population', got {per!r}.")
    excess = (bound - x) if lower else (x - bound)
    return excess.clamp_min(0.0).pow(power).mean()


def rate_lower_bound(
    spikes: Tensor, bound: float, per: str = "neuron", power: float = 2.0, time_dim: int = 0
) -> Tensor:
    """Penalty on firing rates below ``bound`` (keeps neurons from falling silent).

    With ``r[b, i] = mean_t |s[t, b, i]|`` (spikes per step):

    * ``per="neuron"``: ``mean_{b,i} max(0, bound - r[b, i]) ** power``;
    * ``per="population"``: ``mean_b max(0, bound - mean_i r[b, i]) ** power``.

    These are the homeostatic terms of Zenke & Vogels (2021), "The remarkable
    robustness of surrogate gradient learning for instilling complex function in
    spiking neural networks", Neural Computation 33(4), there written on spike
    counts (``T * r``) with a per-neuron lower and a population upper bound; here on
    rates so that ``bound`` does not depend on ``T``. Multiply by your own strength.

    Args:
        spikes: A recording ``[T, B, ...]``, not detached.
        bound: The lowest rate not penalised, in spikes per step (>= 0).
        per: ``"neuron"`` (every neuron) or ``"population"`` (the layer's mean rate).
        power: Exponent of the hinge (2: squared).
        time_dim: The axis of ``spikes`` that holds time.

    Returns:
        A scalar.

    Raises:
        TypeError, ValueError: for bad spikes, a negative bound, a power <= 0 or an unknown ``per``.
    """
    return _bound("tt.loss.rate_lower_bound", spikes, bound, per, power, time_dim, lower=True)


def rate_upper_bound(
    spikes: Tensor, bound: float, per: str = "population", power: float = 2.0, time_dim: int = 0
) -> Tensor:
    """Penalty on firing rates above ``bound`` (keeps activity sparse).

    As `rate_lower_bound` with the hinge reversed: ``max(0, r - bound) ** power``,
    per neuron or on the population mean (the default, as in Zenke & Vogels 2021).

    Args:
        spikes: A recording ``[T, B, ...]``, not detached.
        bound: The highest rate not penalised, in spikes per step (>= 0).
        per: ``"neuron"`` or ``"population"``.
        power: Exponent of the hinge.
        time_dim: The axis of ``spikes`` that holds time.

    Returns:
        A scalar.

    Raises:
        TypeError, ValueError: for bad spikes, a negative bound, a power <= 0 or an unknown ``per``.
    """
    return _bound("tt.loss.rate_upper_bound", spikes, bound, per, power, time_dim, lower=False)
