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
from tracetorch._internal import kernels_for

from ._bptt import handles, spiking_sequence
from ._config import LeakyConfig
from ._scan import linear_scan
from ._step import _parts, _step, make_fire, promote
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
    lay = cfg.layout
    P = dict(zip(lay.params, params))
    S = dict(zip(lay.states, states))
    outs = []
    for t in range(x.shape[0]):
        out, S, _ = _step(cfg, x[t], S, P, fire)
        outs.append(out)
    return torch.stack(outs), lay.pack(lay.states, S)


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
    lay = cfg.layout
    S = dict(zip(lay.states, states))
    P = dict(zip(lay.params, params))
    ema = cfg.output == "EMA"
    seqs: dict[str, Tensor] = {}  # every state over time, by name
    if not cfg.dual:
        if cfg.synaptic:
            a = P["alpha"]
            d = seqs["syn"] = linear_scan(a, (1.0 - a) * x, S["syn"])
        else:
            d = x
        b = P["beta"]
        out = seqs["mem"] = linear_scan(b, (1.0 - b) * d if ema else d, S["mem"])
    else:
        if cfg.synaptic:
            pa, na = P["pos_alpha"], P["neg_alpha"]
            x_pos, x_neg = _parts(x)
            ps = seqs["pos_syn"] = linear_scan(pa, (1.0 - pa) * x_pos, S["pos_syn"])
            ns = seqs["neg_syn"] = linear_scan(na, (1.0 - na) * x_neg, S["neg_syn"])
            d = ps + ns
        else:
            d = x
        pb, nb = P["pos_beta"], P["neg_beta"]
        up, un = _parts(d)
        pm = seqs["pos_mem"] = linear_scan(pb, (1.0 - pb) * up if ema else up, S["pos_mem"])
        nm = seqs["neg_mem"] = linear_scan(nb, (1.0 - nb) * un if ema else un, S["neg_mem"])
        out = pm + nm
    return out, tuple([seqs[n][-1].clone() for n in lay.states])


def leaky_sequence(
    cfg: LeakyConfig,
    x: Tensor,
    states: tuple[Tensor, ...],
    params: tuple[Tensor, ...],
    fire: Optional[Callable[[Tensor], Tensor]] = None,
    spike_fn: Any = None,
    quant_fn: Any = None,
    *,
    dim: int = -1,
) -> tuple[Tensor, tuple[Tensor, ...]]:
    """A configuration over a whole sequence: the one entry point of every sequence path.

    ``x`` and the states are first promoted as stepping would promote them
    (`promote`). Then, when a kernels distribution is installed and its kernel accepts
    the call (CUDA tensors of a supported dtype, built-in spike and quantisation
    functions; see ``tracetorch._internal.kernels_for``), the fused kernel runs.
    Otherwise the pure-PyTorch path: LI/EMA: `linear_sequence`; B/T/TS with built-in
    spike and quantisation functions and no neuron options, or only the options listed in
    ``tracetorch.snn.functional._bptt.HANDLED_OPTIONS`` (``reset``, ``reset_value``,
    ``reset_timing``, ``detach_reset``, ``decay_input``, ``rest``, ``syn_input``): one
    autograd function with a hand-written BPTT (`tracetorch.snn.functional._bptt`);
    otherwise (custom callables, whose derivative is unknown, or a neuron option the
    hand-written BPTT does not implement: see ``_bptt.HANDLED_OPTIONS``): the reference
    loop with autograd. The kernels decline the options they do not implement. Equal to
    `leaky_sequence_reference`.

    Args:
        cfg: The configuration.
        x: ``[T, ...]``, time first.
        states: As for `leaky_sequence_reference`.
        params: As for `leaky_sequence_reference`.
        fire: As for `leaky_sequence_reference`; by default `make_fire` of
            ``spike_fn`` and ``quant_fn``.
        spike_fn: The resolved spike function (spiking kinds).
        quant_fn: The resolved quantisation function (spiking kinds).
        dim: The neuron axis of one timestep ``x[t]`` (the kernels' layout).

    Returns:
        ``(outputs [T, ...], final_states)``.
    """
    x, states = promote(x, states, params)
    # the kernels decline the neuron options they do not implement (a whitelist)
    kernel = kernels_for("leaky_sequence", x, *states)
    if kernel is not None:
        res = kernel(cfg, x, states, params, spike_fn, quant_fn, dim)
        if res is not None:
            return res
    if not cfg.spiking:
        return linear_sequence(cfg, x, states, params)
    if fire is None:
        fire = make_fire(spike_fn, quant_fn)
    # the hand-written BPTT: built-in spike/quantisation functions, and only the neuron
    # options it implements (an explicit list, `HANDLED_OPTIONS`; any other option runs the
    # reference loop below)
    if handles(cfg) and has_fire_derivative(spike_fn, quant_fn) and torch.is_grad_enabled():
        return spiking_sequence(cfg, x, states, params, spike_fn, quant_fn, fire)
    if not torch.is_grad_enabled():
        with torch.no_grad():
            return leaky_sequence_reference(cfg, x, states, params, fire)
    return leaky_sequence_reference(cfg, x, states, params, fire)
