"""Dispatch between the Triton kernels and the pure-PyTorch references.

The snn and rnn layers call these functions from their sequence (and step) paths
when ``tracetorch-kernels`` is installed. Each takes the same arguments as the
reference it stands for plus ``use_kernels``: ``None`` (the default) follows the
``TRACETORCH_KERNELS`` environment variable and then the automatic rule – kernels
only for CUDA tensors of dtype float32/bfloat16/float16 with Triton importable –
``True`` forces the kernels (on CPU they run through Triton's interpreter) and
``False`` the reference. On the reference path Triton is never imported.
"""

from __future__ import annotations

from typing import Callable, Optional

from torch import Tensor

from ._backend import use_kernels_for
from .ops.scan import linear_scan as _scan_kernel
from .ops.scan import linear_scan_naive

__all__ = ["use_kernels_for", "linear_scan"]


def linear_scan(
    a: Tensor,
    b: Tensor,
    h0: Optional[Tensor] = None,
    *,
    use_kernels: Optional[bool] = None,
    reference: Optional[Callable[..., Tensor]] = None,
) -> Tensor:
    """``h_t = a_t * h_{t-1} + b_t`` over axis 0, by the kernel or the reference.

    Args:
        a: Factors, ``[T, *S]`` or broadcastable to one step ``[*S]`` (see
            `tracetorch.kernels.ops.scan.linear_scan`).
        b: Inputs, ``[T, *S]``.
        h0: Initial state (zeros when None).
        use_kernels: Force the kernel (True) or the reference (False); None decides.
        reference: The function to run on the reference path, called as
            ``reference(a, b, h0)`` (e.g. the rnn package's parallel scan); by default
            `tracetorch.kernels.ops.scan.linear_scan_naive`.

    Returns:
        ``h`` of shape ``[T, *S]``.
    """
    if use_kernels_for(a, b, h0, use_kernels=use_kernels):
        return _scan_kernel(a, b, h0)
    return (reference or linear_scan_naive)(a, b, h0)
