"""The reference of the diagonal linear recurrence: a plain loop over time."""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

__all__ = ["linear_scan_naive"]


def linear_scan_naive(a: Tensor, b: Tensor, h0: Optional[Tensor] = None) -> Tensor:
    """Every state of ``h_t = a_t * h_{t-1} + b_t``, by a loop over time.

    The Triton kernel computes exactly this, in this operation order, with the
    state in float32 (``h = a * h + b``); differentiable through autograd.

    Args:
        a: The factors: ``[T, *S]``, or any shape that broadcasts against one step
            ``[*S]`` (e.g. ``[N]``: one decay per neuron, the same at every step).
        b: The inputs, ``[T, *S]``.
        h0: The state before the first step, broadcastable to ``[*S]``; zeros when None.

    Returns:
        ``h`` of shape ``[T, *S]`` (``h[t]`` is the state after step ``t``), in the
        dtype of ``b``.
    """
    steps = b.shape[0]
    timed = a.ndim == b.ndim  # a has a time axis (of size T, or 1 to broadcast)
    h = torch.zeros(b.shape[1:], dtype=b.dtype, device=b.device) if h0 is None else h0
    outs = []
    for t in range(steps):
        at = (a[t] if a.shape[0] != 1 else a[0]) if timed else a
        h = at * h + b[t]
        outs.append(h)
    return torch.stack(outs)
