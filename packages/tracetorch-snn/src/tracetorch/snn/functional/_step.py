"""The leaky-integrator update of all 32 spiking layers, written once as pure functions.

``leaky_step(cfg, x, states, params, fire)`` advances one timestep. Nothing here
touches a module: ``states`` and ``params`` are tuples in the order given by the
`LeakyConfig` (``cfg.states`` and ``cfg.param_names``), the parameters already
activated (decays in (0, 1), thresholds > 0) and shaped to broadcast against ``x``
along the neuron axis. The layers in `tracetorch.snn` are thin wrappers around it,
and the sequence functions (`tracetorch.snn.functional.leaky_sequence_reference`, the
scan and the BPTT function) are checked against it.

Conventions: ``p(v) = max(v, 0)`` and ``n(v) = min(v, 0)`` with ``p'(0) = 1`` and
``n'(0) = 0``, so that ``p(v) + n(v) == v`` also carries the full gradient.
"""

from __future__ import annotations

from typing import Callable, Optional

import torch
from torch import Tensor

from ._config import LeakyConfig

__all__ = ["leaky_step", "positive_part", "negative_part", "spike_then_quant"]

FireFn = Callable[[Tensor], Tensor]


def positive_part(v: Tensor) -> Tensor:
    """``p(v) = max(v, 0)``, with gradient 1 where ``v >= 0`` (also at ``v == 0``).

    Computed as ``v - min(v, 0)``: ``torch.clamp_max`` passes no gradient at the
    tie, so ``p'(0) = 1`` and, with `negative_part`, ``p'(v) + n'(v) == 1``
    everywhere: a zero (e.g. a neuron that did not spike) passes its gradient
    through the positive pathway.

    Args:
        v: Any tensor.

    Returns:
        The positive part of ``v``.
    """
    return v - torch.clamp_max(v, 0.0)


def negative_part(v: Tensor) -> Tensor:
    """``n(v) = min(v, 0)``, with gradient 1 where ``v < 0`` (0 at ``v == 0``).

    Args:
        v: Any tensor.

    Returns:
        The negative part of ``v``.
    """
    return torch.clamp_max(v, 0.0)


def _parts(v: Tensor) -> tuple[Tensor, Tensor]:
    """``(p(v), n(v))`` in two kernels."""
    n = torch.clamp_max(v, 0.0)
    return v - n, n


def spike_then_quant(spike_fn: FireFn, quant_fn: FireFn, v: Tensor) -> Tensor:
    """``quant_fn(spike_fn(v))``: a spike from membrane minus threshold.

    Args:
        spike_fn: Membrane-minus-threshold to firing probability.
        quant_fn: Firing probability to spike.
        v: Membrane minus threshold.

    Returns:
        The spikes.
    """
    return quant_fn(spike_fn(v))


def _step(
    cfg: LeakyConfig,
    x: Tensor,
    states: tuple[Tensor, ...],
    params: tuple[Tensor, ...],
    fire: Optional[FireFn],
) -> tuple[Tensor, tuple[Tensor, ...], tuple[Tensor, ...]]:
    """One step; also returns the membranes before the reset and the spikes.

    Returns ``(out, new_states, extras)`` where ``extras`` is ``(mem_pre,)`` (or
    ``(pos_mem_pre, neg_mem_pre)`` for dual layers) followed by ``(s,)`` for B
    (``(s, mem_pre - threshold)`` for non-dual B) and ``(s_pos, s_neg)`` for T/TS. Used by `leaky_step` and the sequence functions.
    """
    kind = cfg.output
    ema = kind == "EMA"
    if not cfg.dual:
        mem = states[0]
        i = 1
        pi = 0
        if cfg.synaptic:
            alpha = params[0]
            pi = 1
            syn = alpha * states[1] + (1.0 - alpha) * x
            i = 2
            d = syn
        else:
            d = x
        beta = params[pi]
        pi += 1
        if cfg.recurrent:
            gamma = params[pi]
            pi += 1
            rec = gamma * states[i] + (1.0 - gamma) * states[i + 1]
            u = d + params[-1] * rec
        else:
            u = d
        if ema:
            mem_pre = beta * mem + (1.0 - beta) * u
        else:
            mem_pre = beta * mem + u
        if kind == "LI" or kind == "EMA":
            new = (mem_pre, syn) if cfg.synaptic else (mem_pre,)
            return mem_pre, new, (mem_pre,)
        if kind == "B":
            th = params[pi]
            v = mem_pre - th
            s = fire(v)  # type: ignore[misc]
            mem_new = mem_pre - s * th
            out = s
            spikes: tuple[Tensor, ...] = (s, v)
        else:
            pth = params[pi]
            nth = params[pi + 1]
            sp = fire(mem_pre - pth)  # type: ignore[misc]
            sn = -fire(-nth - mem_pre)  # type: ignore[misc]
            mem_new = mem_pre - (sp * pth + sn * nth)
            if kind == "T":
                out = sp + sn
            else:
                out = params[pi + 2] * sp + params[pi + 3] * sn
            spikes = (sp, sn)
        if cfg.synaptic:
            new = (mem_new, syn, rec, out) if cfg.recurrent else (mem_new, syn)
        else:
            new = (mem_new, rec, out) if cfg.recurrent else (mem_new,)
        return out, new, (mem_pre,) + spikes

    # ---------------------------------------------------------------- dual
    pos_mem = states[0]
    neg_mem = states[1]
    i = 2
    pi = 0
    if cfg.synaptic:
        pa = params[0]
        na = params[1]
        pi = 2
        x_pos, x_neg = _parts(x)
        pos_syn = pa * states[2] + (1.0 - pa) * x_pos
        neg_syn = na * states[3] + (1.0 - na) * x_neg
        i = 4
        d = pos_syn + neg_syn
    else:
        d = x
    pb = params[pi]
    nb = params[pi + 1]
    pi += 2
    if cfg.recurrent:
        pg = params[pi]
        ng = params[pi + 1]
        pi += 2
        o = states[i + 2]
        o_pos, o_neg = _parts(o)
        pos_rec = pg * states[i] + (1.0 - pg) * o_pos
        neg_rec = ng * states[i + 1] + (1.0 - ng) * o_neg
        r_pos, r_neg = _parts(pos_rec + neg_rec)
        d_pos, d_neg = _parts(d)
        u_pos = d_pos + params[-2] * r_pos
        u_neg = d_neg + params[-1] * r_neg
    else:
        u_pos, u_neg = _parts(d)
    if ema:
        pos_pre = pb * pos_mem + (1.0 - pb) * u_pos
        neg_pre = nb * neg_mem + (1.0 - nb) * u_neg
    else:
        pos_pre = pb * pos_mem + u_pos
        neg_pre = nb * neg_mem + u_neg
    mem = pos_pre + neg_pre
    if kind == "LI" or kind == "EMA":
        new = (pos_pre, neg_pre, pos_syn, neg_syn) if cfg.synaptic else (pos_pre, neg_pre)
        return mem, new, (pos_pre, neg_pre)
    if kind == "B":
        th = params[pi]
        s = fire(mem - th)  # type: ignore[misc]
        half = s * th * 0.5
        out = s
        spikes = (s,)
    else:
        pth = params[pi]
        nth = params[pi + 1]
        sp = fire(mem - pth)  # type: ignore[misc]
        sn = -fire(-nth - mem)  # type: ignore[misc]
        half = (sp * pth + sn * nth) * 0.5
        if kind == "T":
            out = sp + sn
        else:
            out = params[pi + 2] * sp + params[pi + 3] * sn
        spikes = (sp, sn)
    pos_new = pos_pre - half
    neg_new = neg_pre - half
    new = (pos_new, neg_new)
    if cfg.synaptic:
        new = new + (pos_syn, neg_syn)
    if cfg.recurrent:
        new = new + (pos_rec, neg_rec, out)
    return out, new, (pos_pre, neg_pre) + spikes


def leaky_step(
    cfg: LeakyConfig,
    x: Tensor,
    states: tuple[Tensor, ...],
    params: tuple[Tensor, ...],
    fire: Optional[FireFn] = None,
) -> tuple[Tensor, tuple[Tensor, ...]]:
    """Advance one configuration of the leaky integrator by one timestep.

    The update (SPEC §5), with ``x`` one timestep's input:

    1. synapse (S): ``syn = alpha*syn + (1-alpha)*x``, drive ``d = syn`` (else ``d = x``);
       dual: ``pos_syn`` gets ``p(x)``, ``neg_syn`` gets ``n(x)``, ``d = pos_syn + neg_syn``;
    2. recurrence (R): ``rec = gamma*rec + (1-gamma)*prev_output``,
       ``u = d + rec_weight*rec``; dual: ``u_pos = p(d) + pos_rec_weight*p(r)``,
       ``u_neg = n(d) + neg_rec_weight*n(r)`` with ``r = pos_rec + neg_rec``;
    3. membrane: ``mem = beta*mem + u`` (EMA: ``beta*mem + (1-beta)*u``); dual: one
       membrane per sign, ``mem = pos_mem + neg_mem``;
    4. output: LI/EMA the membrane; B ``s = fire(mem - threshold)`` with reset
       ``mem -= s*threshold``; T/TS ``s_pos = fire(mem - pos_threshold)``,
       ``s_neg = -fire(-neg_threshold - mem)``, ``mem -= s_pos*pos_threshold +
       s_neg*neg_threshold``, output ``s_pos + s_neg`` (TS: ``pos_scale*s_pos +
       neg_scale*s_neg``). Dual layers take half of the reset from each membrane.

    Args:
        cfg: The configuration.
        x: One timestep's input.
        states: The states, in the order of ``cfg.states``; all shaped like ``x``.
        params: The activated parameters in the order of ``cfg.param_names``, each
            broadcastable against ``x`` (see ``tt.Layer._view_param``).
        fire: ``quant_fn(spike_fn(v))`` for spiking kinds; ignored for LI/EMA.

    Returns:
        ``(output, new_states)``; the states are new tensors (nothing is modified in place).
    """
    out, new, _ = _step(cfg, x, states, params, fire)
    return out, new
