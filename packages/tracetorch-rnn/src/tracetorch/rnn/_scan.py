"""A parallel scan for the linear recurrence ``h_t = a_t * h_{t-1} + u_t``."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

__all__ = ["linear_scan"]


def _scan_(a: Tensor, b: Tensor, reverse: bool = False) -> None:
    """Inclusive Hillis–Steele scan along axis 0, in place on ``b`` (``a`` is clobbered).

    Forward: afterwards ``b[t] = a[t] * b[t-1] + b[t]`` holds with the new ``b``.
    Reverse: afterwards ``b[t] = a[t] * b[t+1] + b[t]``. Takes ``ceil(log2 T)`` rounds
    of elementwise work over the whole tensor; every factor is a product of the
    ``a``, so with ``|a| <= 1`` nothing can overflow.
    """
    steps = a.shape[0]
    k = 1
    while k < steps:
        if reverse:
            b[:-k] += a[:-k] * b[k:]
            if 2 * k < steps:
                a[:-k] = a[:-k] * a[k:]
        else:
            b[k:] += a[k:] * b[:-k]
            if 2 * k < steps:
                a[k:] = a[k:] * a[:-k]
        k *= 2


class _LinearScan(torch.autograd.Function):
    """``h_t = a_t * h_{t-1} + u_t`` over axis 0 with a hand-written backward.

    The backward is the adjoint recurrence run in reverse,
    ``g_t = dL/dh_t + a_{t+1} * g_{t+1}``, from which ``dL/du_t = g_t``,
    ``dL/da_t = g_t * h_{t-1}`` and ``dL/dh_0 = a_0 * g_0``. It saves only ``a``,
    the outputs and ``h0``.
    """

    @staticmethod
    def forward(ctx: Any, a: Tensor, u: Tensor, h0: Tensor) -> Tensor:  # type: ignore[override]
        h = u.contiguous().clone()
        h[0] = torch.addcmul(h[0], a[0], h0)
        _scan_(a.contiguous().clone(), h)
        ctx.save_for_backward(a, h, h0)
        return h

    @staticmethod
    def backward(ctx: Any, grad_h: Tensor) -> tuple[Tensor, Tensor, Tensor]:  # type: ignore[override]
        a, h, h0 = ctx.saved_tensors
        g = grad_h.contiguous().clone()
        coef = torch.empty_like(g)
        coef[:-1] = a[1:]
        coef[-1] = 0
        _scan_(coef, g, reverse=True)
        grad_a = torch.empty_like(g)
        grad_a[0] = g[0] * h0
        grad_a[1:] = g[1:] * h[:-1]
        grad_h0 = a[0] * g[0]
        return grad_a, g, grad_h0


def linear_scan(a: Tensor, u: Tensor, h0: Tensor) -> Tensor:
    """Every state of the linear recurrence ``h_t = a_t * h_{t-1} + u_t``, in parallel.

    Computed with a parallel prefix scan over time (``ceil(log2 T)`` rounds of
    elementwise work) instead of a Python loop; differentiable with respect to
    ``a``, ``u`` and ``h0`` through a reverse scan. Numerically stable for
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
