"""The scan as `torch.library` custom ops, and its public entry point.

``tracetorch::linear_scan`` and ``tracetorch::linear_scan_backward`` are registered
with fake (meta) implementations and an autograd formula, so `torch.compile` traces
through them without a graph break and without looking inside the Triton kernel.
Registering them imports nothing from Triton: the kernel module is loaded the first
time an op really runs.
"""

from __future__ import annotations

from typing import Any, Optional

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from ..._backend import load_fused

__all__ = ["linear_scan"]


@torch.library.custom_op("tracetorch::linear_scan", mutates_args=())
def _linear_scan_op(a: Tensor, b: Tensor, h0: Tensor) -> Tensor:
    return load_fused("scan", b.device).scan_forward(a, b, h0)


@_linear_scan_op.register_fake
def _(a: Tensor, b: Tensor, h0: Tensor) -> Tensor:
    return torch.empty_like(b)


@torch.library.custom_op("tracetorch::linear_scan_backward", mutates_args=())
def _linear_scan_backward_op(grad_h: Tensor, a: Tensor, h: Tensor, h0: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    ga, gb, gh0 = load_fused("scan", h.device).scan_backward(grad_h, a, h, h0)
    return ga, gb, gh0


@_linear_scan_backward_op.register_fake
def _(grad_h: Tensor, a: Tensor, h: Tensor, h0: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    ga = torch.empty_like(a) if a.ndim == 2 else h.new_empty(h.shape[1:], dtype=torch.float32)
    return ga, torch.empty_like(h), torch.empty_like(h0)


def _setup_context(ctx: Any, inputs: tuple[Tensor, Tensor, Tensor], output: Tensor) -> None:
    a, _, h0 = inputs
    ctx.save_for_backward(a, output, h0)


def _backward(ctx: Any, grad_h: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    a, h, h0 = ctx.saved_tensors
    ga, gb, gh0 = _linear_scan_backward_op(grad_h.contiguous(), a, h, h0)
    if a.ndim != 2:
        # summed over time in the kernel; now over the elements that share a value of ``a``
        ga = ga.view(-1, a.numel()).sum(0).to(a.dtype)
    return ga, gb, gh0


_linear_scan_op.register_autograd(_backward, setup_context=_setup_context)


class _LinearScanFn(torch.autograd.Function):
    """The same forward and backward as the custom op, for eager mode.

    Eager calls skip the custom-op dispatcher (less overhead per call, and no
    import of ``torch._dynamo``); under `torch.compile` the custom op is used.
    """

    @staticmethod
    def forward(ctx: Any, a: Tensor, b: Tensor, h0: Tensor) -> Tensor:  # type: ignore[override]
        h = load_fused("scan", b.device).scan_forward(a, b, h0)
        ctx.save_for_backward(a, h, h0)
        return h

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad_h: Tensor) -> tuple[Tensor, Tensor, Tensor]:  # type: ignore[override]
        a, h, h0 = ctx.saved_tensors
        ga, gb, gh0 = load_fused("scan", h.device).scan_backward(grad_h.contiguous(), a, h, h0)
        if a.ndim != 2:
            ga = ga.view(-1, a.numel()).sum(0).to(a.dtype)
        return ga, gb, gh0


def linear_scan(a: Tensor, b: Tensor, h0: Optional[Tensor] = None) -> Tensor:
    """Every state of ``h_t = a_t * h_{t-1} + b_t``, by the Triton kernel.

    Equal to `tracetorch.kernels.ops.scan.linear_scan_naive` (same operation order,
    float32 state). Differentiable with respect to ``a``, ``b`` and ``h0``; runs
    through Triton's interpreter on CPU tensors. Use
    `tracetorch.kernels.dispatch.linear_scan` to pick the kernel or the reference
    automatically.

    Args:
        a: ``[T, *S]`` (or ``[1, *S]``) for a factor per step, or the same factor at
            every step with any shape that broadcasts against ``[*S]``, e.g. ``[N]``
            (one per neuron) or ``[]``.
        b: ``[T, *S]``.
        h0: The initial state, broadcastable to ``[*S]``; zeros when None.

    Returns:
        ``h`` of shape ``[T, *S]`` in the common dtype of the inputs.
    """
    dtype = torch.promote_types(a.dtype, b.dtype)
    if h0 is not None:
        dtype = torch.promote_types(dtype, h0.dtype)
    T = b.shape[0]
    S = tuple(b.shape[1:])
    bf = b.to(dtype).contiguous().view(T, -1)
    E = bf.shape[1]
    h0f = torch.zeros(E, dtype=dtype, device=b.device) if h0 is None else h0.to(dtype).expand(S).contiguous().view(E)
    if a.ndim == b.ndim:
        if a.shape[0] == T and T > 1:
            af = a.to(dtype).expand((T,) + S).contiguous().view(T, E)
        else:
            af = _constant_factor(a[0], S, dtype)
    else:
        af = _constant_factor(a, S, dtype)
    if torch.compiler.is_compiling():
        return _linear_scan_op(af, bf, h0f).view(b.shape)
    return _LinearScanFn.apply(af, bf, h0f).view(b.shape)


def _constant_factor(a: Tensor, S: tuple[int, ...], dtype: torch.dtype) -> Tensor:
    """A time-constant factor as a vector indexed ``e % K``: per neuron or per element."""
    a = a.to(dtype)
    if a.numel() == 1:
        return a.reshape(1)
    if len(S) and a.ndim >= 1 and a.shape[-1] == S[-1] and all(s == 1 for s in a.shape[:-1]):
        return a.reshape(S[-1]).contiguous()
    return a.expand(S).contiguous().view(-1)
