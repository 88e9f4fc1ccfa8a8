"""Running one-step modules over a whole sequence, and the linear scan.

The linear scan `linear_scan`, ``h_t = a_t * h_{t-1} + u_t`` over a whole sequence
with its own backward. A factor per step runs one fused ``addcmul`` per step (and
its adjoint backwards); a time-constant factor, as in the snn LI/EMA layers, picks
between two strategies:

(chosen by size, both without an autograd graph per step)

* sequential: one fused ``addcmul`` per step written into a preallocated output
  (memory-bound; best when one timestep is large, e.g. ``64 x 1024``);
* chunked (two-level): time is cut into ``C`` chunks of ``L ~ sqrt(T)`` steps; all
  chunks are scanned at once from zero (``L`` launches on ``C``-times larger
  tensors), the true state entering each chunk is carried across chunks (``C``
  small launches), and the closed form ``h_{c+j} = local_{c+j} + a^(j+1) * h_c``
  fixes every step in one launch. ``L + C ~ 2 sqrt(T)`` sequential launches instead
  of ``T``: best when one timestep is small and launch overhead dominates.

The backward is the same scan run backwards in time on the gradients
(``r_t = g_t + a * r_{t+1}``); it saves only ``a``, ``h0`` and the output.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Optional, cast

import torch
from torch import Tensor

from ._kernels import kernels_for


def check_time_dim(owner: str, x: Tensor, time_dim: int) -> int:
    """Validate a sequence input and return ``time_dim`` resolved to be non-negative."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{owner}.forward_sequence: input must be a torch.Tensor, got {type(x).__name__}.")
    if isinstance(time_dim, bool) or not isinstance(time_dim, int):
        raise TypeError(f"{owner}.forward_sequence: time_dim must be an int, got {type(time_dim).__name__}.")
    if not -x.ndim <= time_dim < x.ndim:
        raise ValueError(
            f"{owner}.forward_sequence: time_dim={time_dim} is out of range for an input of shape {tuple(x.shape)}."
        )
    t = time_dim % x.ndim
    if x.shape[t] == 0:
        raise ValueError(f"{owner}.forward_sequence: the sequence is empty (size 0 along time_dim={time_dim}).")
    return t


def _stack(outs: list[Any], time_dim: int) -> Any:
    first = outs[0]
    if isinstance(first, Tensor):
        return torch.stack(outs, time_dim)
    if isinstance(first, tuple):
        return (
            type(first)(_stack([o[i] for o in outs], time_dim) for i in range(len(first)))
            if not hasattr(first, "_fields")
            else type(first)(*(_stack([o[i] for o in outs], time_dim) for i in range(len(first))))
        )
    raise TypeError(f"forward_sequence: cannot stack step outputs of type {type(first).__name__}.")


def loop_over_time(step: Callable[[Tensor], Any], x: Tensor, time_dim: int = 0) -> Any:
    """Call ``step`` on every timestep of ``x`` and stack the outputs along ``time_dim``."""
    t = check_time_dim(type(step).__name__, x, time_dim)
    outs = [step(xt) for xt in x.unbind(t)]
    return _stack(outs, t)


CHUNK_MIN_STEPS = 64
"""Sequences at least this long may use the chunked (two-level) scan."""
CHUNK_MAX_STEP_NUMEL = 16384
"""... when one timestep has at most this many elements (per-step launch overhead
dominates); larger steps run the sequential fused loop, which is memory-bound."""


def _sequential_scan(a: Tensor, u: Tensor, h0: Tensor) -> Tensor:
    out = torch.empty(u.shape, dtype=u.dtype, device=u.device)
    h = h0
    for t in range(u.shape[0]):
        h = torch.addcmul(u[t], a, h, out=out[t])
    return out


def _powers(a: Tensor, length: int, step_ndim: int) -> Tensor:
    """``[a^1, ..., a^length]`` shaped ``[length, 1.., *a.shape]`` to broadcast against ``[length, *step]``."""
    pw = a.unsqueeze(0).expand((length,) + tuple(a.shape)).cumprod(0)
    return pw.view((length,) + (1,) * (step_ndim - a.ndim) + tuple(a.shape))


def _chunked_scan(a: Tensor, u: Tensor, h0: Tensor) -> Tensor:
    T = u.shape[0]
    step = tuple(u.shape[1:])
    L = max(1, math.isqrt(T))
    C = T // L
    full = C * L
    out = torch.empty(u.shape, dtype=u.dtype, device=u.device)
    uc = u[:full].view((C, L) + step)
    local = out[:full].view((C, L) + step)
    h = u.new_zeros((C,) + step)
    for j in range(L):  # every chunk from zero, all chunks at once
        h = torch.addcmul(uc[:, j], a, h, out=local[:, j])
    pw = _powers(a, L, len(step))  # [L, ...]: a^1 .. a^L
    a_l = pw[L - 1]
    starts = torch.empty((C,) + step, dtype=u.dtype, device=u.device)
    carry = h0
    for c in range(C):  # the true state entering each chunk
        starts[c] = carry
        carry = torch.addcmul(local[c, L - 1], a_l, carry)
    local.addcmul_(pw, starts.unsqueeze(1))  # h_{c,j} = local_{c,j} + a^(j+1) h_c, in place
    h = out[full - 1]
    for t in range(full, T):  # the remainder, sequentially
        h = torch.addcmul(u[t], a, h, out=out[t])
    return out


def _chunked(u: Tensor) -> bool:
    return u.shape[0] >= CHUNK_MIN_STEPS and u[0].numel() <= CHUNK_MAX_STEP_NUMEL


def _scan(a: Tensor, u: Tensor, h0: Tensor) -> Tensor:
    """Forward recurrence; chunked when steps are small and the sequence long."""
    if _chunked(u):
        return _chunked_scan(a, u, h0)
    return _sequential_scan(a, u, h0)


def _reverse_scan(a: Tensor, g: Tensor) -> Tensor:
    """``r_t = g_t + a * r_{t+1}`` (``r_T = g_T``): the adjoint of the forward scan."""
    zero = g.new_zeros(g.shape[1:])
    return _scan(a, g.flip(0), zero).flip(0)


def _sum_to(g: Tensor, like: Tensor) -> Tensor:
    if g.shape == like.shape:
        return g
    return g.sum_to_size(like.shape)


class _TimedScan(torch.autograd.Function):
    """``h_t = a_t * h_{t-1} + u_t`` with a factor per step (``a`` is ``[T, *S]``)."""

    @staticmethod
    def forward(ctx: Any, a: Tensor, u: Tensor, h0: Tensor) -> Tensor:  # type: ignore[override]
        # a multiply then an add (not a fused addcmul, which may round once on CPU):
        # the same rounding as a step's ``a_t * h + u_t`` (SelectiveSSM's sequences keep
        # the numbers they had before this contract)
        out = torch.empty(u.shape, dtype=u.dtype, device=u.device)
        h = h0
        for t in range(u.shape[0]):
            h = torch.mul(a[t], h, out=out[t]).add_(u[t])
        ctx.save_for_backward(a, h0, out)
        return out

    @staticmethod
    def backward(ctx: Any, g: Tensor):  # type: ignore[override]
        a, h0, h = ctx.saved_tensors
        T = g.shape[0]
        gu = torch.empty(g.shape, dtype=g.dtype, device=g.device)
        r = gu[T - 1]
        r.copy_(g[T - 1])
        for t in range(T - 2, -1, -1):
            r = torch.mul(a[t + 1], r, out=gu[t]).add_(g[t])
        ga = None
        if ctx.needs_input_grad[0]:
            prev = (
                torch.cat([h0.expand(h.shape[1:]).unsqueeze(0), h[:-1]])
                if T > 1
                else h0.expand(h.shape[1:]).unsqueeze(0)
            )
            ga = _sum_to(gu * prev, a)
        gh0 = _sum_to(gu[0] * a[0], h0) if ctx.needs_input_grad[2] else None
        return ga, (gu if ctx.needs_input_grad[1] else None), gh0


class _LinearScan(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, a: Tensor, u: Tensor, h0: Tensor) -> Tensor:  # type: ignore[override]
        h = _scan(a, u.contiguous(), h0)
        ctx.save_for_backward(a, h0, h)
        return h

    @staticmethod
    def backward(ctx: Any, g: Tensor):  # type: ignore[override]
        a, h0, h = ctx.saved_tensors
        need_a = ctx.needs_input_grad[0]
        T = g.shape[0]
        if _chunked(g):
            gu = _reverse_scan(a, g.contiguous())
            acc = gu[0] * h0 if need_a else None
            if need_a and T > 1:
                acc = acc + (gu[1:] * h[:-1]).sum(0)
        else:
            # reverse loop, no flipped copies; d/da accumulated in place step by step
            gu = torch.empty(g.shape, dtype=g.dtype, device=g.device)
            r = gu[T - 1]
            r.copy_(g[T - 1])
            acc = None
            for t in range(T - 1, -1, -1):
                if t < T - 1:
                    r = torch.addcmul(g[t], a, r, out=gu[t])
                if need_a:
                    prev = h[t - 1] if t > 0 else h0
                    acc = r * prev if acc is None else acc.addcmul_(r, prev)
        ga = _sum_to(cast(Tensor, acc), a) if need_a else None  # need_a: acc was set (T >= 1)
        gh0 = _sum_to(gu[0] * a, h0) if ctx.needs_input_grad[2] else None
        return ga, (gu if ctx.needs_input_grad[1] else None), gh0


def linear_scan(a: Tensor, u: Tensor, h0: Optional[Tensor] = None) -> Tensor:
    """All states of ``h_t = a_t * h_{t-1} + u_t`` for ``t = 0..T-1``: the one scan contract.

    A registered GPU kernel runs where one accepts the call (see `kernels_for`);
    otherwise the PyTorch scans of this module.

    Args:
        a: The factors. With a time axis (``a.ndim == u.ndim``): ``[T, *S]``, one
            factor per step (or ``[1, *S]``: the same at every step). Without one: any
            shape that broadcasts against one step ``[*S]`` (e.g. ``[N]``, ``[N, 1, 1]``
            or a scalar), the same at every step.
        u: Inputs ``[T, *S]``, time first.
        h0: The state before the first step, broadcastable to ``[*S]``; zeros when None.

    Returns:
        ``[T, *S]``: ``h_1 .. h_T`` (``out[t]`` is the state after step ``t``).
        Differentiable with respect to ``a``, ``u`` and ``h0``.
    """
    kernel = kernels_for("linear_scan", a, u, h0)
    if kernel is not None:
        out = kernel(a, u, h0)
        if out is not None:
            return out
    if h0 is None:
        h0 = u.new_zeros(u.shape[1:])
    if a.ndim == u.ndim:
        if a.shape[0] != 1 or u.shape[0] == 1:
            shape = torch.broadcast_shapes(a.shape, u.shape)
            return _TimedScan.apply(a.expand(shape), u.expand(shape), h0)
        a = a[0]
    return _LinearScan.apply(a, u, h0)
