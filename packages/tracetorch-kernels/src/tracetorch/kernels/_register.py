"""The entry point through which core finds these kernels (group ``tracetorch.kernels``).

Core calls `register` once, lazily (on the first sequence call with a CUDA tensor, or
while ``TRACETORCH_KERNELS`` is set), with its ``register_kernels`` function. Every
registered callable returns ``None`` to decline a call it should not run (CPU
tensors under the automatic rule, an unsupported dtype, a custom spike function), and
the op then runs its pure-PyTorch path. Importing this module does not import Triton.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from torch import Tensor

__all__ = ["register"]

# The kernels are looked up in `dispatch` on every call (tests replace them there to
# record which path ran); `dispatch.wants_leaky` / `use_kernels_for` is the one rule.


def _leaky_sequence(
    cfg: Any,
    x: Tensor,
    states: tuple[Tensor, ...],
    params: tuple[Tensor, ...],
    spike_fn: Any = None,
    quant_fn: Any = None,
    dim: int = -1,
) -> Optional[tuple[Tensor, tuple[Tensor, ...]]]:
    from . import dispatch

    if not dispatch.wants_leaky(cfg, x, states, spike_fn, quant_fn, dim=dim):
        return None
    # through dispatch's own name, so one patch of dispatch reaches every caller (tests spy on it)
    return dispatch._leaky_kernel(cfg, x, states, params, spike_fn, quant_fn, dim)  # pyright: ignore[reportPrivateImportUsage]


def _leaky_step(
    cfg: Any,
    x: Tensor,
    states: tuple[Tensor, ...],
    params: tuple[Tensor, ...],
    spike_fn: Any = None,
    quant_fn: Any = None,
    dim: int = -1,
) -> Optional[tuple[Tensor, tuple[Tensor, ...]]]:
    from . import dispatch

    if not dispatch.wants_leaky(cfg, x, states, spike_fn, quant_fn, dim=dim, step=True):
        return None
    # through dispatch's own name, so one patch of dispatch reaches every caller (tests spy on it)
    return dispatch._leaky_step_kernel(cfg, x, states, params, spike_fn, quant_fn, dim)  # pyright: ignore[reportPrivateImportUsage]


def _linear_scan(a: Tensor, b: Tensor, h0: Optional[Tensor] = None) -> Optional[Tensor]:
    from . import dispatch

    if not dispatch.use_kernels_for(a, b, h0):
        return None
    return dispatch._scan_kernel(a, b, h0)  # pyright: ignore[reportPrivateImportUsage]


def register(register_kernels: Callable[..., None]) -> None:
    """Register the leaky-integrator and scan kernels with core.

    Args:
        register_kernels: Core's registration function (``op_name=callable``).
    """
    register_kernels(leaky_sequence=_leaky_sequence, leaky_step=_leaky_step, linear_scan=_linear_scan)
