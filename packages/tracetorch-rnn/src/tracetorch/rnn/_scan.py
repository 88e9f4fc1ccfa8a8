"""A chunked scan for the linear recurrence ``h_t = a_t * h_{t-1} + u_t``."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

__all__ = ["linear_scan"]


_SEQUENTIAL_BELOW = 16


def _scan_(a: Tensor, b: Tensor) -> None:
    """Chunked inclusive scan along axis 0, in place on ``b`` (``a`` is clobbered).

    Afterwards ``b[t] = a[t] * b[t-1] + b[t]`` holds with the new ``b``. Time is cut
    into ``C`` chunks of ``L ~ sqrt(T)`` steps: a scan inside every chunk at once
    (``L`` vectorised steps, which also turns ``a`` into its running products), then
    a carry from chunk to chunk (``C`` steps, each over a whole chunk), then the last
    few steps that do not fill a chunk. That is ``O(T)`` work in about ``2 sqrt(T)``
    vectorised operations, touching every element about three times. Only products
    of the ``a`` appear, so with ``|a| <= 1`` nothing can overflow; the first chunk
    is summed in exactly the order of a step-by-step loop.
    """
    steps = a.shape[0]
    if steps < _SEQUENTIAL_BELOW:
        for t in range(1, steps):
            b[t] += a[t] * b[t - 1]
        return
    length = math.isqrt(steps)
    chunks = steps // length
    full = chunks * length
    ac = a[:full].view((chunks, length) + tuple(a.shape[1:]))
    bc = b[:full].view((chunks, length) + tuple(b.shape[1:]))
    for j in range(1, length):  # inside every chunk at once
        bc[:, j] += ac[:, j] * bc[:, j - 1]
        ac[:, j] *= ac[:, j - 1]
    for c in range(1, chunks):  # carry the end of the previous chunk into the whole chunk
        bc[c] += ac[c] * bc[c - 1, -1]
    for t in range(full, steps):  # the remainder
        b[t] += a[t] * b[t - 1]


class _LinearScan(torch.autograd.Function):
    """``h_t = a_t * h_{t-1} + u_t`` over axis 0 with a hand-written backward.

    The backward is the adjoint recurrence run in reverse,
    ``g_t = dL/dh_t + a_{t+1} * g_{t+1}``, from which ``dL/du_t = g_t``,
    ``dL/da_t = g_t * h_{t-1}`` and ``dL/dh_0 = a_0 * g_0``. It saves only ``a``,
    the outputs and ``h0``.
    """

    @staticmethod
    def forward(ctx: Any, a: Tensor, u: Tensor, h0: Tensor) -> Tensor:  # type: ignore[override]
        h = u.clone(memory_format=torch.contiguous_format)
        h[0] += a[0] * h0
        _scan_(a.clone(memory_format=torch.contiguous_format), h)
        ctx.save_for_backward(a, h, h0)
        return h

    @staticmethod
    def backward(ctx: Any, grad_h: Tensor) -> tuple[Tensor, Tensor, Tensor]:  # type: ignore[override]
        a, h, h0 = ctx.saved_tensors
        # the adjoint recurrence runs backwards in time: scan it on time-flipped copies
        g = grad_h.flip(0)
        coef = torch.empty_like(g)
        coef[0] = 0
        coef[1:] = a[1:].flip(0)
        _scan_(coef, g)
        g = g.flip(0)
        grad_a = torch.empty_like(g)
        grad_a[0] = g[0] * h0
        grad_a[1:] = g[1:] * h[:-1]
        grad_h0 = a[0] * g[0]
        return grad_a, g, grad_h0


def linear_scan(a: Tensor, u: Tensor, h0: Tensor) -> Tensor:
    """Every state of the linear recurrence ``h_t = a_t * h_{t-1} + u_t``, in one call.

    Computed with a chunked scan over time (``O(T)`` work in about ``2 sqrt(T)``
    vectorised operations) instead of ``T`` Python-level steps; differentiable with
    respect to ``a``, ``u`` and ``h0`` through the same scan run backwards in time
    (the adjoint recurrence), which saves only ``a``, ``h0`` and the outputs. Numerically stable for
    ``0 <= a <= 1`` (decays): only products of the ``a`` appear.

    Args:
        a: The factors, ``[T, *S]``.
        u: The inputs, ``[T, *S]``.
        h0: The state before the first step, ``[*S]``.

    Returns:
        ``h`` of shape ``[T, *S]``: ``h[t]`` is the state after step ``t``.
    """
    shape = torch.broadcast_shapes(a.shape, u.shape, (1,) + tuple(h0.shape))
    a = a.expand(shape)
    u = u.expand(shape)
    h0 = h0.expand(shape[1:])
    return _LinearScan.apply(a, u, h0)
