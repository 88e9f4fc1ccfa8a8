"""The reference of the leaky-integrator sequence: the snn package's own loop.

This is not a second implementation of the maths: it calls
``tracetorch.snn.functional.leaky_sequence_reference`` (the plain loop of the one
step function every spiking layer uses), so the kernel is tested against the very
definition the layers follow. It needs ``tracetorch-snn``.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

import torch
from torch import Tensor

__all__ = ["leaky_sequence_naive", "make_fire"]


def _snn_functional() -> Any:
    try:
        from tracetorch.snn import functional as F
    except ImportError as e:  # pragma: no cover - the kernels' tests install it
        raise ImportError(
            "tracetorch.kernels: the reference of the spiking kernels is the tracetorch-snn package's "
            "sequence loop; install tracetorch-snn."
        ) from e
    return F


def make_fire(spike_fn: Any, quant_fn: Any) -> Callable[[Tensor], Tensor]:
    """The ``fire`` callable a layer builds from its spike and quantisation functions.

    As in `tracetorch.snn` layers: a deterministic (Heaviside) spike with ``round``
    or ``bernoulli`` quantisation is used alone (those leave 0/1 unchanged);
    otherwise ``quant_fn(spike_fn(v))``.

    Args:
        spike_fn: A `tracetorch.functional.SpikeFunction` (or any callable).
        quant_fn: A quantisation function.

    Returns:
        ``fire(v)``.
    """
    from tracetorch.functional import SpikeFunction, quant_bernoulli, quant_round

    if isinstance(spike_fn, SpikeFunction) and spike_fn.deterministic and quant_fn in (quant_round, quant_bernoulli):
        return spike_fn
    return lambda v: quant_fn(spike_fn(v))


def leaky_sequence_naive(
    cfg: Any,
    x: Tensor,
    states: tuple[Tensor, ...],
    params: tuple[Tensor, ...],
    spike_fn: Any = None,
    quant_fn: Any = None,
) -> tuple[Tensor, tuple[Tensor, ...]]:
    """The reference: `tracetorch.snn.functional.leaky_sequence_reference`.

    Args:
        cfg: A ``tracetorch.snn.functional.LeakyConfig``.
        x: ``[T, ..., N]``, time first, neurons last.
        states: States before the first step (order of ``cfg.states``), ``[..., N]``.
        params: Activated parameters (order of ``cfg.param_names``), ``[]`` or ``[N]``.
        spike_fn: The spike function (spiking kinds only).
        quant_fn: The quantisation function (spiking kinds only).

    Returns:
        ``(outputs [T, ..., N], final states)``; differentiable through autograd.
    """
    F = _snn_functional()
    fire: Optional[Callable[[Tensor], Tensor]] = make_fire(spike_fn, quant_fn) if cfg.spiking else None
    ref = getattr(F, "leaky_sequence_reference", None)
    if ref is None:
        try:
            from tracetorch.snn.functional._sequence import leaky_sequence_reference as ref
        except ImportError:
            ref = None
    if ref is not None:
        return ref(cfg, x, states, params, fire)
    # the same loop, for an snn package without sequence mode
    outs = []
    st = tuple(states)
    for t in range(x.shape[0]):
        out, st = F.leaky_step(cfg, x[t], st, params, fire)
        outs.append(out)
    return torch.stack(outs), st
