"""A leaky-integrator configuration over a whole sequence: the reference and the fast path.

`leaky_sequence_reference` is the plain loop of `leaky_step`: the definition every
fast implementation must equal (the scans and the BPTT function here, and GPU
kernels elsewhere). `leaky_sequence` is the fast pure-PyTorch path the layers use.

Both take the input time-first (``x[t]`` is one timestep, in the layer's layout) and
the ``states``/``params`` tuples of `leaky_step`, and return
``(outputs [T, ...], final_states)``.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

import torch
from torch import Tensor

from ._bptt import spiking_sequence
from ._config import LeakyConfig
from ._scan import linear_scan
from ._step import _parts, _step
from ._surrogate import has_fire_derivative

__all__ = ["leaky_sequence_reference", "leaky_sequence", "linear_sequence"]


def leaky_sequence_reference(
    cfg: LeakyConfig,
    x: Tensor,
    states: tuple[Tensor, ...],
    params: tuple[Tensor, ...],
    fire: Optional[Callable[[Tensor], Tensor]] = None,
) -> tuple[Tensor, tuple[Tensor, ...]]:
    """The reference sequence: `leaky_step` applied to ``x[0], x[1], ...`` in order.

    Args:
        cfg: The configuration.
        x: ``[T, ...]``, time first; ``x[t]`` is one timestep.
        states: States before the first step, in the order of ``cfg.states``, shaped
            like ``x[0]``.
        params: Activated parameters in the order of ``cfg.param_names``, each
            broadcastable against ``x[0]``.
        fire: ``quant_fn(spike_fn(v))`` for spiking kinds.

    Returns:
        ``(outputs [T, ...], final_states)``. Differentiable by ordinary autograd.
    """
    outs = []
    st = states
    for t in range(x.shape[0]):
        out, st, _ = _step(cfg, x[t], st, params, fire)
        outs.append(out)
    return torch.stack(outs), st


def linear_sequence(
    cfg: LeakyConfig, x: Tensor, states: tuple[Tensor, ...], params: tuple[Tensor, ...]
) -> tuple[Tensor, tuple[Tensor, ...]]:
    """An LI/EMA configuration over a sequence with linear scans (`linear_scan`).

    These layers are linear in their states, so each trace is one scan of its
    (element-wise, whole-sequence) input. Equal to the reference up to float
    rounding (no spikes, so no discontinuity).

    Args:
        cfg: An LI or EMA configuration.
        x: ``[T, ...]``, time first.
        states: As for `leaky_sequence_reference`.
        params: As for `leaky_sequence_reference`.

    Returns:
        ``(outputs [T, ...], final_states)``.
    """
    ema = cfg.output == "EMA"
    if not cfg.dual:
        pi = 0
        if cfg.synaptic:
            a = params[0]
            pi = 1
            syn = linear_scan(a, (1.0 - a) * x, states[1])
            d = syn
        else:
            d = x
        b = params[pi]
        mem = linear_scan(b, (1.0 - b) * d if ema else d, states[0])
        final: tuple[Tensor, ...] = (mem[-1].clone(),)
        if cfg.synaptic:
            final = final + (syn[-1].clone(),)
        return mem, final
    pi = 0
    if cfg.synaptic:
        pa, na = params[0], params[1]
        pi = 2
        x_pos, x_neg = _parts(x)
        ps = linear_scan(pa, (1.0 - pa) * x_pos, states[2])
        ns = linear_scan(na, (1.0 - na) * x_neg, states[3])
        d = ps + ns
    else:
        d = x
    pb, nb = params[pi], params[pi + 1]
    up, un = _parts(d)
    pm = linear_scan(pb, (1.0 - pb) * up if ema else up, states[0])
    nm = linear_scan(nb, (1.0 - nb) * un if ema else un, states[1])
    out = pm + nm
    final = (pm[-1].clone(), nm[-1].clone())
    if cfg.synaptic:
        final = final + (ps[-1].clone(), ns[-1].clone())
    return out, final


def leaky_sequence(
    cfg: LeakyConfig,
    x: Tensor,
    states: tuple[Tensor, ...],
    params: tuple[Tensor, ...],
    fire: Optional[Callable[[Tensor], Tensor]] = None,
    spike_fn: Any = None,
    quant_fn: Any = None,
) -> tuple[Tensor, tuple[Tensor, ...]]:
    """The fast pure-PyTorch sequence path; equal to `leaky_sequence_reference`.

    LI/EMA: `linear_sequence`. B/T/TS with built-in spike and quantisation
    functions: one autograd function with a hand-written BPTT
    (`tracetorch.snn.functional._bptt`). Otherwise (custom callables, whose
    derivative is unknown): the reference loop with autograd.

    Args:
        cfg: The configuration.
        x: ``[T, ...]``, time first.
        states: As for `leaky_sequence_reference`.
        params: As for `leaky_sequence_reference`.
        fire: As for `leaky_sequence_reference`.
        spike_fn: The resolved spike function (to pick the fast backward).
        quant_fn: The resolved quantisation function.

    Returns:
        ``(outputs [T, ...], final_states)``.
    """
    if not cfg.spiking:
        return linear_sequence(cfg, x, states, params)
    if has_fire_derivative(spike_fn, quant_fn) and torch.is_grad_enabled():
        return spiking_sequence(cfg, x, states, params, spike_fn, quant_fn, fire)  # type: ignore[arg-type]
    if not torch.is_grad_enabled():
        with torch.no_grad():
            return leaky_sequence_reference(cfg, x, states, params, fire)
    return leaky_sequence_reference(cfg, x, states, params, fire)
