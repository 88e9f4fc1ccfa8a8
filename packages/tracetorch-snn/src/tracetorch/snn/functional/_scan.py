"""A linear recurrence ``h_t = a * h_{t-1} + u_t`` over a whole sequence, with its own backward.

The LI and EMA families are linear in their states, so a whole sequence reduces to
one or two of these scans plus element-wise maps over the whole ``[T, ...]`` tensor.
Two strategies, chosen by size, both without an autograd graph per step:

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
from typing import Any

import torch
from torch import Tensor

__all__ = ["linear_scan", "CHUNK_MIN_STEPS", "CHUNK_MAX_STEP_NUMEL"]

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
        ga = _sum_to(acc, a) if need_a else None
        gh0 = _sum_to(gu[0] * a, h0) if ctx.needs_input_grad[2] else None
        return ga, (gu if ctx.needs_input_grad[1] else None), gh0


def linear_scan(a: Tensor, u: Tensor, h0: Tensor) -> Tensor:
    """All states of ``h_t = a * h_{t-1} + u_t`` for ``t = 0..T-1``.

    Args:
        a: Decay, broadcastable against one timestep ``u[t]`` (e.g. ``[N]``, ``[N, 1, 1]``
            or a scalar); the same for every step.
        u: Inputs ``[T, ...]``, time first.
        h0: The state before the first step, shaped like ``u[0]``.

    Returns:
        ``[T, ...]``: ``h_1 .. h_T`` (``out[t]`` is the state after step ``t``).
        Differentiable with respect to ``a``, ``u`` and ``h0``.
    """
    return _LinearScan.apply(a, u, h0)
