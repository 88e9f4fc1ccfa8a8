"""Triton kernels of the diagonal linear recurrence ``h_t = a_t * h_{t-1} + b_t``.

Launched with ``enable_fp_fusion=False``: no multiply-add contraction, so the GPU  # pyright: ignore[reportCallIssue]  (Triton launch options, not kernel arguments)
rounds every operation as the reference does.

Loaded lazily by `tracetorch.kernels._backend.load_fused` (never imported at
package import). One program owns ``BLOCK`` contiguous elements of one timestep's
state and walks over time with the state in float32 registers; inputs are read in
their own dtype, converted to float32, and results cast to the output dtype on store.

``a`` is either per step (``A_PER_STEP``, a ``[T, E]`` tensor) or the same at every
step, a vector of ``K`` values indexed ``e % K`` (``K = N`` for one decay per neuron,
``K = E`` for one per element, ``K = 1`` for one scalar).
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl
from torch import Tensor

from ..._launch import device_guard

BLOCK_OVERRIDE = 0
"""Tests set this to force small blocks (several programs, a partial last block)."""

POISON = False
"""Tests set this to fill every buffer a kernel writes with NaN before the launch, so
that an element the kernel fails to write shows up."""


def _empty_like(t: Tensor) -> Tensor:
    return torch.full_like(t, float("nan")) if POISON else torch.empty_like(t)


def _empty(shape: tuple[int, ...], dtype: torch.dtype, device: torch.device) -> Tensor:
    if POISON:
        return torch.full(shape, float("nan"), dtype=dtype, device=device)
    return torch.empty(shape, dtype=dtype, device=device)


__all__ = ["scan_forward", "scan_backward"]


@triton.jit(do_not_specialize=["T", "K"])
def _scan_fwd_kernel(
    a_ptr,
    b_ptr,
    h0_ptr,
    h_ptr,
    T,
    E,
    K,
    A_PER_STEP: tl.constexpr,
    BLOCK: tl.constexpr,
):
    pid = tl.program_id(0)
    # 64-bit before the multiply: ``pid * BLOCK`` in int32 wraps at 2**31 elements
    offs64 = pid.to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = offs64 < E
    E64 = E.to(tl.int64)  # T * E may exceed 2**31 too
    h = tl.load(h0_ptr + offs64, mask=mask, other=0.0).to(tl.float32)
    if not A_PER_STEP:
        a = tl.load(a_ptr + offs64 % K, mask=mask, other=0.0).to(tl.float32)
    for t in range(T):
        idx = t * E64 + offs64
        if A_PER_STEP:
            a = tl.load(a_ptr + idx, mask=mask, other=0.0).to(tl.float32)
        b = tl.load(b_ptr + idx, mask=mask, other=0.0).to(tl.float32)
        h = a * h + b
        tl.store(h_ptr + idx, h.to(h_ptr.dtype.element_ty), mask=mask)


@triton.jit(do_not_specialize=["T", "K"])
def _scan_bwd_kernel(
    gh_ptr,
    a_ptr,
    h_ptr,
    h0_ptr,
    ga_ptr,
    gb_ptr,
    gh0_ptr,
    T,
    E,
    K,
    A_PER_STEP: tl.constexpr,
    BLOCK: tl.constexpr,
):
    pid = tl.program_id(0)
    # 64-bit before the multiply: ``pid * BLOCK`` in int32 wraps at 2**31 elements
    offs64 = pid.to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = offs64 < E
    E64 = E.to(tl.int64)  # T * E may exceed 2**31 too
    carry = tl.zeros([BLOCK], dtype=tl.float32)
    ga_sum = tl.zeros([BLOCK], dtype=tl.float32)
    if not A_PER_STEP:
        a = tl.load(a_ptr + offs64 % K, mask=mask, other=0.0).to(tl.float32)
    for i in range(T):
        t = T - 1 - i
        idx = t * E64 + offs64
        g = tl.load(gh_ptr + idx, mask=mask, other=0.0).to(tl.float32) + carry
        tl.store(gb_ptr + idx, g.to(gb_ptr.dtype.element_ty), mask=mask)
        if t > 0:
            hp = tl.load(h_ptr + idx - E64, mask=mask, other=0.0).to(tl.float32)
        else:
            hp = tl.load(h0_ptr + offs64, mask=mask, other=0.0).to(tl.float32)
        if A_PER_STEP:
            a = tl.load(a_ptr + idx, mask=mask, other=0.0).to(tl.float32)
            tl.store(ga_ptr + idx, (g * hp).to(ga_ptr.dtype.element_ty), mask=mask)
        else:
            ga_sum += g * hp
        carry = a * g
    if not A_PER_STEP:
        tl.store(ga_ptr + offs64, ga_sum, mask=mask)
    tl.store(gh0_ptr + offs64, carry.to(gh0_ptr.dtype.element_ty), mask=mask)


def _block(E: int, device: torch.device, block: int) -> int:
    if block or BLOCK_OVERRIDE:
        return block or BLOCK_OVERRIDE
    cap = 1024 if device.type == "cuda" else 256
    return max(16, min(cap, triton.next_power_of_2(E)))


def scan_forward(a: Tensor, b: Tensor, h0: Tensor, block: int = 0) -> Tensor:
    """Run the forward kernel.

    Args:
        a: ``[T, E]`` (per step) or ``[K]`` with ``E % K == 0`` (the same every step).
        b: ``[T, E]``, contiguous.
        h0: ``[E]``, contiguous.
        block: Elements per program (a power of two); 0 picks one.

    Returns:
        ``h``, ``[T, E]`` in the dtype of ``b``.
    """
    T, E = b.shape
    h = _empty_like(b)
    if T == 0 or E == 0:
        return h
    per_step = a.ndim == 2
    K = E if per_step else a.numel()
    BLOCK = _block(E, b.device, block)
    grid = (triton.cdiv(E, BLOCK),)
    with device_guard(b.device):
        _scan_fwd_kernel[grid](
            a,
            b,
            h0,
            h,
            T,
            E,
            K,
            A_PER_STEP=per_step,
            BLOCK=BLOCK,
            num_warps=4,  # pyright: ignore[reportCallIssue]  (Triton launch options, not kernel arguments)
            enable_fp_fusion=False,  # pyright: ignore[reportCallIssue]
        )
    return h


def scan_backward(grad_h: Tensor, a: Tensor, h: Tensor, h0: Tensor, block: int = 0) -> tuple[Tensor, Tensor, Tensor]:
    """Run the backward kernel (the adjoint recurrence, in reverse time).

    ``g_t = dL/dh_t + a_{t+1} g_{t+1}``; ``dL/db_t = g_t``, ``dL/da_t = g_t h_{t-1}``,
    ``dL/dh0 = a_0 g_0``. For an ``a`` that is the same at every step, its gradient is
    summed over time inside the kernel (float32, ``[E]``) and over the rest by the caller.

    Args:
        grad_h: ``[T, E]`` contiguous.
        a: As for `scan_forward`.
        h: The forward output ``[T, E]``.
        h0: ``[E]``.
        block: Elements per program; 0 picks one.

    Returns:
        ``(grad_a, grad_b, grad_h0)``: ``grad_a`` is ``[T, E]`` (per-step ``a``) or
        ``[E]`` float32 (constant ``a``), ``grad_b`` ``[T, E]``, ``grad_h0`` ``[E]``.
    """
    T, E = grad_h.shape
    per_step = a.ndim == 2
    K = E if per_step else a.numel()
    gb = _empty_like(h)
    gh0 = _empty_like(h0)
    ga = _empty_like(a) if per_step else _empty((E,), torch.float32, h.device)
    BLOCK = _block(E, h.device, block)
    grid = (triton.cdiv(E, BLOCK),)
    with device_guard(h.device):
        _scan_bwd_kernel[grid](
            grad_h,
            a,
            h,
            h0,
            ga,
            gb,
            gh0,
            T,
            E,
            K,
            A_PER_STEP=per_step,
            BLOCK=BLOCK,
            num_warps=4,  # pyright: ignore[reportCallIssue]  (Triton launch options, not kernel arguments)
            enable_fp_fusion=False,  # pyright: ignore[reportCallIssue]  (Triton launch options, not kernel arguments)
        )
    return ga, gb, gh0
