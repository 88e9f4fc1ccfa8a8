"""Dispatch between the Triton kernels and the pure-PyTorch references.

The layers do not call this module: they ask core's kernel registry, which this
package fills through its entry point (`tracetorch.kernels._register`, the same rule
as `wants_leaky` / `use_kernels_for`). These functions are for direct use, tests and
benchmarks that force a path. Each takes the arguments of the reference it stands
for plus ``use_kernels``: ``None`` (the default) follows the
``TRACETORCH_KERNELS`` environment variable and then the automatic rule – kernels
only for CUDA tensors of dtype float32/bfloat16/float16 with Triton importable –
``True`` forces the kernels (on CPU they run through Triton's interpreter, which
needs ``TRITON_INTERPRET=1`` before Triton is imported) and ``False`` the
reference. On the reference path Triton is never imported.

Example:
    ```python
    import torch
    from tracetorch.kernels import dispatch

    a, b = torch.rand(20, 4, 8), torch.randn(20, 4, 8)   # [T, batch, features]
    h0 = torch.zeros(4, 8)
    if dispatch.use_kernels_for(a, b):   # CUDA, fp32/bf16/fp16, Triton importable
        ...
    h = dispatch.linear_scan(a, b, h0)   # kernel or reference, decided per call
    ```
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from torch import Tensor

from ._backend import use_kernels_for
from .ops.leaky import leaky_sequence as _leaky_kernel
from .ops.leaky import leaky_sequence_naive
from .ops.leaky import leaky_step as _leaky_step_kernel
from .ops.leaky import supports as leaky_supported
from .ops.scan import linear_scan as _scan_kernel
from .ops.scan import linear_scan_naive

__all__ = ["use_kernels_for", "linear_scan", "leaky_sequence", "leaky_supported", "wants_leaky"]


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


def wants_leaky(
    cfg: Any,
    x: Tensor,
    states: tuple[Tensor, ...] = (),
    spike_fn: Any = None,
    quant_fn: Any = None,
    *,
    use_kernels: Optional[bool] = None,
    dim: int = -1,
    step: bool = False,
) -> bool:
    """Whether a leaky-integrator call should run the kernel.

    True when the configuration and its spike/quantisation functions have a kernel
    (`leaky_supported`, which for ``all_to_all`` also looks at the step's shape) and
    `use_kernels_for` says so for ``x`` and the states.

    Args:
        cfg: A ``LeakyConfig``.
        x: The input.
        states: The states.
        spike_fn: The spike function.
        quant_fn: The quantisation function.
        use_kernels: As for `use_kernels_for`.
        dim: The neuron axis of one step.
        step: ``x`` is one step (else ``[T, *step]``).

    Returns:
        True to call `leaky_sequence` of this module.
    """
    shape = tuple(x.shape) if step else tuple(x.shape[1:])
    return leaky_supported(cfg, spike_fn, quant_fn, step_shape=shape, dim=dim) and use_kernels_for(
        x, *states, use_kernels=use_kernels
    )


def leaky_sequence(
    cfg: Any,
    x: Tensor,
    states: tuple[Tensor, ...],
    params: tuple[Tensor, ...],
    spike_fn: Any = None,
    quant_fn: Any = None,
    *,
    dim: int = -1,
    use_kernels: Optional[bool] = None,
    reference: Optional[Callable[..., tuple[Tensor, tuple[Tensor, ...]]]] = None,
) -> tuple[Tensor, tuple[Tensor, ...]]:
    """A leaky-integrator configuration over a sequence, by the kernel or the reference.

    Configurations whose spike or quantisation function is a custom callable always
    take the reference path (the kernel has no derivative for it), even when forced.

    Args:
        cfg: A ``LeakyConfig``.
        x: ``[T, *step]``, time first, neurons along ``dim`` of a step.
        states: States before the first step (order of ``cfg.states``).
        params: Activated parameters (order of ``cfg.param_names``).
        spike_fn: The spike function (spiking kinds).
        quant_fn: The quantisation function (spiking kinds).
        dim: The neuron axis of one step.
        use_kernels: Force the kernel (True) or the reference (False); None decides.
        reference: Called as ``reference(cfg, x, states, params, spike_fn, quant_fn)``
            on the reference path; by default
            `tracetorch.kernels.ops.leaky.leaky_sequence_naive`.

    Returns:
        ``(outputs [T, *step], final states)``.
    """
    if wants_leaky(cfg, x, states, spike_fn, quant_fn, use_kernels=use_kernels, dim=dim):
        return _leaky_kernel(cfg, x, states, params, spike_fn, quant_fn, dim)
    return (reference or leaky_sequence_naive)(cfg, x, states, params, spike_fn, quant_fn)


def _leaky_step(
    cfg: Any,
    x: Tensor,
    states: tuple[Tensor, ...],
    params: tuple[Tensor, ...],
    spike_fn: Any = None,
    quant_fn: Any = None,
    *,
    dim: int = -1,
    use_kernels: Optional[bool] = None,
    reference: Optional[Callable[..., tuple[Tensor, tuple[Tensor, ...]]]] = None,
) -> tuple[Tensor, tuple[Tensor, ...]]:
    """One timestep by the fused step kernel (one launch) or the reference.

    Private: for tests and ``benchmarks/kernels/step.py`` only. Whether one launch per
    step beats eager PyTorch stepping on a GPU has not been measured (no GPU so far),
    so the layers' per-step ``forward`` does not use it; `tracetorch.kernels.leaky_step`
    stays registered with core for ``tracetorch.snn.functional.leaky_step``.

    Args:
        cfg: A ``LeakyConfig``.
        x: One timestep, neurons along ``dim``.
        states: The states (order of ``cfg.states``).
        params: Activated parameters (order of ``cfg.param_names``).
        spike_fn: The spike function (spiking kinds).
        quant_fn: The quantisation function (spiking kinds).
        dim: The neuron axis of ``x``.
        use_kernels: Force the kernel (True) or the reference (False); None decides.
        reference: Called as ``reference(cfg, x, states, params, spike_fn, quant_fn)``
            on the reference path; by default one step of the snn reference.

    Returns:
        ``(output, new states)``.
    """
    if wants_leaky(cfg, x, states, spike_fn, quant_fn, use_kernels=use_kernels, dim=dim, step=True):
        return _leaky_step_kernel(cfg, x, states, params, spike_fn, quant_fn, dim)
    if reference is not None:
        return reference(cfg, x, states, params, spike_fn, quant_fn)
    out, final = leaky_sequence_naive(cfg, x.unsqueeze(0), states, params, spike_fn, quant_fn)
    return out[0], final
