"""Spike encoders: turn static or time-varying data into time-major spike tensors."""

from __future__ import annotations

import math
from typing import Optional

import torch
from torch import Tensor

from ..core._errors import check_int

__all__ = ["rate", "latency", "delta", "direct"]


def _check_tensor(func: str, x: object) -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"tt.encode.{func}: data must be a torch.Tensor, got {type(x).__name__}.")
    if x.is_complex():
        raise TypeError(f"tt.encode.{func}: data must hold real numbers, got dtype {x.dtype}.")
    return x


def _float(x: Tensor, dtype: Optional[torch.dtype]) -> Tensor:
    """``x`` as a floating tensor: ``dtype`` if given, else its own (float) or the default dtype."""
    if dtype is not None:
        if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
            raise TypeError(f"tt.encode: dtype must be a floating torch.dtype, got {dtype!r}.")
        return x.to(dtype)
    return x if x.is_floating_point() else x.to(torch.get_default_dtype())


def _check_real(func: str, name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"tt.encode.{func}: `{name}` must be a number, got {type(value).__name__} ({value!r}).")
    if not math.isfinite(value):
        raise ValueError(f"tt.encode.{func}: `{name}` must be finite, got {value}.")
    return float(value)


def rate(
    data: Tensor,
    num_steps: Optional[int],
    *,
    gain: float = 1.0,
    offset: float = 0.0,
    clamp: bool = False,
    generator: Optional[torch.Generator] = None,
    dtype: Optional[torch.dtype] = None,
) -> Tensor:
    """Rate (Bernoulli) coding: each element fires at every step with probability ``gain * data + offset``.

    With ``num_steps`` the data are static and the same probabilities are used at every
    step: the result has shape ``[num_steps, *data.shape]``. With ``num_steps=None`` the
    data are already time-major (``[T, ...]``, one probability per step) and the result
    has their shape. The draws are ``torch.bernoulli`` on the ``[T, ...]`` tensor of
    probabilities, so with the same random state (the global one, or ``generator``) the
    result equals snnTorch's ``spikegen.rate(data, num_steps, gain, offset)`` for
    probabilities in ``[0, 1]``.

    Unlike snnTorch, probabilities outside ``[0, 1]`` are an error unless
    ``clamp=True`` (snnTorch clamps them silently, which hides unnormalised inputs such
    as raw 0..255 pixels).

    Args:
        data: Probabilities (or values that ``gain``/``offset`` map to them), any shape,
            dtype and device. Integer and bool inputs are converted to the default
            floating dtype.
        num_steps: Number of timesteps (>= 1), or ``None`` for time-major data.
        gain: Multiplies the data before drawing.
        offset: Added after ``gain``.
        clamp: Clamp the probabilities into ``[0, 1]`` instead of raising.
        generator: A ``torch.Generator`` on ``data``'s device for reproducible draws
            (default: the global random state).
        dtype: Floating dtype of the result (default: ``data``'s, or the default dtype).

    Returns:
        Spikes (0 or 1) of shape ``[num_steps, *data.shape]`` (or ``data.shape``).

    Raises:
        TypeError: for non-tensor data or arguments of the wrong type.
        ValueError: for ``num_steps < 1``, a non-finite gain/offset, or (without
            ``clamp``) probabilities below 0, above 1 or NaN.

    Example:
        ```python
        import torch
        import tracetorch as tt

        images = torch.rand(32, 784)
        g = torch.Generator().manual_seed(0)
        spikes = tt.encode.rate(images, num_steps=25, generator=g)   # [25, 32, 784]
        assert spikes.shape == (25, 32, 784)
        ```
    """
    x = _float(_check_tensor("rate", data), dtype)
    gain = _check_real("rate", "gain", gain)
    offset = _check_real("rate", "offset", offset)
    if not isinstance(clamp, bool):
        raise TypeError(f"tt.encode.rate: `clamp` must be a bool, got {type(clamp).__name__}.")
    if num_steps is not None:
        check_int("tt.encode.rate", "num_steps", num_steps, minimum=1)
    elif x.ndim < 1:
        raise ValueError("tt.encode.rate: with num_steps=None the data must be time-major [T, ...] (at least 1-D).")
    p = x * gain + offset if (gain != 1.0 or offset != 0.0) else x
    if clamp:
        p = p.clamp(0.0, 1.0)
    elif p.numel():
        lo, hi = torch.aminmax(p.detach())
        lo_v, hi_v = float(lo), float(hi)
        if not (lo_v >= 0.0 and hi_v <= 1.0):
            raise ValueError(
                f"tt.encode.rate: firing probabilities (gain * data + offset) must lie in [0, 1], got values in "
                f"[{lo_v:g}, {hi_v:g}]. Normalise the data (e.g. images / 255), choose gain/offset, or pass "
                "clamp=True to clamp them."
            )
    if num_steps is not None:
        p = p.unsqueeze(0).expand((num_steps,) + tuple(p.shape)).contiguous()
    return torch.bernoulli(p.detach(), generator=generator)


def _latency_times(
    x: Tensor,
    num_steps: int,
    threshold: float,
    tau: float,
    first_spike_time: int,
    normalize: bool,
    linear: bool,
    epsilon: float,
) -> Tensor:
    if linear:
        if normalize:
            tau = num_steps - 1 - first_spike_time
        return torch.clamp_max(-tau * (x - 1), -tau * (threshold - 1)) + first_spike_time
    xs = torch.clamp(x, threshold + epsilon)
    t = tau * torch.log(xs / (xs - threshold))
    if first_spike_time > 0:
        t = t + first_spike_time
    if normalize:
        t = (t - first_spike_time) * (num_steps - first_spike_time - 1) / torch.max(
            t - first_spike_time
        ) + first_spike_time
    return t


def latency(
    data: Tensor,
    num_steps: int,
    *,
    tau: float = 1.0,
    threshold: float = 0.01,
    linear: bool = False,
    normalize: bool = False,
    clip: bool = False,
    first_spike_time: int = 0,
    epsilon: float = 1e-7,
    dtype: Optional[torch.dtype] = None,
) -> Tensor:
    """Latency (time-to-first-spike) coding: one spike per element, earlier for larger values.

    Each value ``x`` in ``[0, 1]`` fires exactly once, at step ``round(t(x))``:

    * logarithmic (default), the firing time of an RC circuit charged by ``x``:
      ``t = tau * log(x / (x - threshold))`` with ``x`` raised to ``threshold + epsilon``;
    * ``linear=True``: ``t = tau * (1 - x)``, capped at ``tau * (1 - threshold)``.

    ``first_spike_time`` delays every spike; ``normalize=True`` stretches the times so
    that the latest spike falls on the last step (for the linear code, ``tau`` becomes
    ``num_steps - 1 - first_spike_time``). Values below ``threshold`` fire on the latest
    step, or never with ``clip=True``. The definitions, options and defaults are
    snnTorch's ``spikegen.latency``, and the result equals it (checked by the tests).
    Not offered: snnTorch's ``bypass`` (silently drop spikes beyond the last step; here
    that is an error), ``interpolate`` and ``on_target``/``off_target`` (target shaping).

    Args:
        data: Values in ``[0, 1]``, any shape, dtype and device.
        num_steps: Number of timesteps (>= 1).
        tau: Time constant (> 0), in steps.
        threshold: In ``(0, 1)``; smaller values fire last (or never with ``clip``).
        linear: Linear instead of logarithmic code.
        normalize: Stretch the code so the latest spike is on the last step.
        clip: No spike at all for values below ``threshold``.
        first_spike_time: Steps before the earliest possible spike (>= 0).
        epsilon: Keeps the logarithm finite at ``x == threshold``.
        dtype: Floating dtype of the result (default: ``data``'s, or the default dtype).

    Returns:
        Spikes (0 or 1) of shape ``[num_steps, *data.shape]``.

    Raises:
        TypeError: for non-tensor data or arguments of the wrong type.
        ValueError: for data outside ``[0, 1]``, ``num_steps < 1``, ``tau <= 0``, a
            threshold outside ``(0, 1)``, a ``first_spike_time`` outside
            ``[0, num_steps - 1]``, or spike times beyond the last step (use
            ``normalize=True``, a smaller ``tau`` or more steps).

    Example:
        ```python
        import torch
        import tracetorch as tt

        x = torch.tensor([0.02, 0.5, 1.0])
        s = tt.encode.latency(x, num_steps=5, linear=True, normalize=True)
        assert s.argmax(0).tolist() == [4, 2, 0]
        ```
    """
    x = _float(_check_tensor("latency", data), dtype)
    check_int("tt.encode.latency", "num_steps", num_steps, minimum=1)
    check_int("tt.encode.latency", "first_spike_time", first_spike_time, minimum=0)
    tau = _check_real("latency", "tau", tau)
    threshold = _check_real("latency", "threshold", threshold)
    epsilon = _check_real("latency", "epsilon", epsilon)
    for flag, name in ((linear, "linear"), (normalize, "normalize"), (clip, "clip")):
        if not isinstance(flag, bool):
            raise TypeError(f"tt.encode.latency: `{name}` must be a bool, got {type(flag).__name__}.")
    if tau <= 0:
        raise ValueError(f"tt.encode.latency: `tau` must be > 0, got {tau}.")
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"tt.encode.latency: `threshold` must lie strictly between 0 and 1, got {threshold}.")
    if first_spike_time > num_steps - 1:
        raise ValueError(
            f"tt.encode.latency: first_spike_time={first_spike_time} must be <= num_steps - 1 = {num_steps - 1}."
        )
    out_shape = (num_steps,) + tuple(x.shape)
    if x.numel() == 0:
        return torch.zeros(out_shape, dtype=x.dtype, device=x.device)
    xd = x.detach()
    lo, hi = (float(v) for v in torch.aminmax(xd))
    if not (lo >= 0.0 and hi <= 1.0):
        raise ValueError(
            f"tt.encode.latency: data must lie in [0, 1], got values in [{lo:g}, {hi:g}]. Normalise it first "
            "(e.g. images / 255)."
        )
    times = _latency_times(xd, num_steps, threshold, tau, first_spike_time, normalize, linear, epsilon)
    steps = torch.round(times).long()
    latest = int(steps.max())
    if latest > num_steps - 1:
        raise ValueError(
            f"tt.encode.latency: the latest spike time is step {latest}, beyond the last step {num_steps - 1}. "
            "Pass normalize=True, a smaller tau, or more num_steps."
        )
    spikes = torch.zeros(out_shape, dtype=x.dtype, device=x.device)
    spikes.scatter_(0, steps.unsqueeze(0), 1.0)
    if clip:
        spikes = spikes * (xd >= threshold).to(x.dtype)
    return spikes


def delta(
    data: Tensor,
    threshold: float = 0.1,
    *,
    padding: bool = False,
    off_spike: bool = False,
    dtype: Optional[torch.dtype] = None,
) -> Tensor:
    """Delta (threshold-crossing) coding of time-major data: spike where the value jumped.

    ``d[t] = data[t] - data[t - 1]``, with ``data[-1]`` taken as zeros (or, with
    ``padding=True``, as ``data[0]``, so that the first step never fires). The output is
    ``1`` where ``d[t] >= threshold`` and, with ``off_spike=True``, ``-1`` where
    ``d[t] <= -threshold`` (an "off" spike for a fall); elsewhere ``0``. Equal to
    snnTorch's ``spikegen.delta`` (checked by the tests).

    Args:
        data: Time-major data ``[T, ...]``, any dtype and device.
        threshold: The change that makes a spike.
        padding: Compare the first step with itself instead of with zeros.
        off_spike: Also emit ``-1`` for falls of at least ``threshold``.
        dtype: Floating dtype of the result (default: ``data``'s, or the default dtype).

    Returns:
        Spikes of ``data``'s shape: 0/1, or -1/0/1 with ``off_spike``.

    Raises:
        TypeError: for non-tensor data or arguments of the wrong type.
        ValueError: for 0-d or empty-in-time data, or a non-finite threshold.

    Example:
        ```python
        import torch
        import tracetorch as tt

        x = torch.tensor([1.0, 2.0, 0.0, 2.0, 2.9])
        s = tt.encode.delta(x, threshold=1.0, off_spike=True)
        assert s.tolist() == [1.0, 1.0, -1.0, 1.0, 0.0]
        ```
    """
    x = _float(_check_tensor("delta", data), dtype)
    threshold = _check_real("delta", "threshold", threshold)
    for flag, name in ((padding, "padding"), (off_spike, "off_spike")):
        if not isinstance(flag, bool):
            raise TypeError(f"tt.encode.delta: `{name}` must be a bool, got {type(flag).__name__}.")
    if x.ndim < 1 or x.shape[0] == 0:
        raise ValueError(f"tt.encode.delta: data must be time-major [T, ...] with T >= 1, got shape {tuple(x.shape)}.")
    xd = x.detach()
    previous = torch.cat((xd[:1] if padding else torch.zeros_like(xd[:1]), xd[:-1]))
    d = xd - previous
    out = (d >= threshold).to(x.dtype)
    if off_spike:
        out = out - (d <= -threshold).to(x.dtype)
    return out


def direct(data: Tensor, num_steps: int) -> Tensor:
    """Direct coding: the same (analogue) input at every step.

    Returns a view ``[num_steps, *data.shape]`` that repeats ``data`` without copying
    it (``.clone()`` it before writing into it). Gradients flow back to ``data``.

    Args:
        data: Any tensor.
        num_steps: Number of timesteps (>= 1).

    Returns:
        ``data`` repeated along a new leading time axis.

    Raises:
        TypeError: for non-tensor data or a non-int ``num_steps``.
        ValueError: for ``num_steps < 1``.

    Example:
        ```python
        import torch
        import tracetorch as tt

        x = torch.rand(8, 16)
        assert tt.encode.direct(x, 10).shape == (10, 8, 16)
        ```
    """
    x = _check_tensor("direct", data)
    check_int("tt.encode.direct", "num_steps", num_steps, minimum=1)
    return x.unsqueeze(0).expand((num_steps,) + tuple(x.shape))
