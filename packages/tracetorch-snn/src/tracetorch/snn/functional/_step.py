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

import functools
from typing import Callable, Mapping, Optional

import torch
from torch import Tensor
from tracetorch._internal import kernels_for, skips_quantisation

from ._config import LeakyConfig

__all__ = ["leaky_step", "positive_part", "negative_part", "spike_then_quant", "make_fire", "promote"]

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


def promote(x: Tensor, states: tuple[Tensor, ...], params: tuple[Tensor, ...]) -> tuple[Tensor, tuple[Tensor, ...]]:
    """``x`` and the states in the dtype stepping ends up in (e.g. a bf16 input with
    fp32 parameters is promoted to fp32 by the first update, exactly as in a layer's
    ``forward``); the parameters keep theirs.

    Args:
        x: The input.
        states: The states.
        params: The parameters.

    Returns:
        ``(x, states)``, converted where needed.
    """
    dtype = x.dtype
    for v in params + states:
        dtype = torch.promote_types(dtype, v.dtype)
    if dtype != x.dtype:
        x = x.to(dtype)
    return x, tuple(s if s.dtype == dtype else s.to(dtype) for s in states)


def make_fire(spike_fn: FireFn, quant_fn: FireFn) -> FireFn:
    """The ``fire`` callable of a spiking layer: ``quant_fn(spike_fn(v))``.

    Where the quantisation cannot change the spike (a deterministic spike with
    ``round`` or ``bernoulli``, see ``tracetorch._internal.skips_quantisation``) it is
    ``spike_fn`` itself: the same values and gradients with one call less.

    Args:
        spike_fn: A resolved spike function.
        quant_fn: A resolved quantisation function.

    Returns:
        ``fire(v)``.
    """
    if skips_quantisation(spike_fn, quant_fn):
        return spike_fn
    return functools.partial(spike_then_quant, spike_fn, quant_fn)


def _reset_to(mem: Tensor, a: Tensor, value: float) -> Tensor:
    """``(1 - a)*mem + a*value``: the membrane set to ``value`` where ``a`` is 1."""
    kept = (1.0 - a) * mem
    return kept + a * value if value != 0.0 else kept


def _all_to_all(rec: Tensor, P: Mapping[str, Tensor]) -> Tensor:
    """``rec_matrix @ rec + rec_bias`` along the last (neuron) axis: ``nn.Linear``'s op."""
    bias = P["rec_bias"]
    if bias.ndim == 1:
        return torch.nn.functional.linear(rec, P["rec_matrix"], bias)
    return torch.nn.functional.linear(rec, P["rec_matrix"]) + bias


def _threshold(cfg: LeakyConfig, P: Mapping[str, Tensor], S: Mapping[str, Tensor], name: str) -> Tensor:
    """The threshold ``name`` in effect: ``threshold + adapt_strength*adapt`` when adaptive."""
    if cfg.adaptive:
        return P[name] + P["adapt_strength"] * S["adapt"]
    return P[name]


def _silence(s: Tensor, refr: Optional[Tensor]) -> Tensor:
    """The spikes ``s`` with those of refractory neurons (``refr`` true) set to 0."""
    return s if refr is None else s.masked_fill(refr, 0.0)


def _after_spike(
    cfg: LeakyConfig, S: Mapping[str, Tensor], P: Mapping[str, Tensor], a: Tensor, new: dict[str, Tensor]
) -> None:
    """The states a spike of magnitude ``a`` (``s``, or ``s_pos - s_neg``) drives: the
    adaptation trace and the refractory counter, written into ``new``."""
    if cfg.adaptive:
        rho = P["adapt_decay"]
        new["adapt"] = rho * S["adapt"] + (1.0 - rho) * a
    if cfg.refractory:
        left = (S["refrac"] - 1.0).clamp_min(0.0)
        new["refrac"] = left.masked_fill(a != 0.0, float(cfg.refractory))


def _step(
    cfg: LeakyConfig,
    x: Tensor,
    S: Mapping[str, Tensor],
    P: Mapping[str, Tensor],
    fire: Optional[FireFn],
) -> tuple[Tensor, dict[str, Tensor], dict[str, Tensor]]:
    """One step, by name; also returns the step's intermediate values.

    Args:
        cfg: The configuration.
        x: One timestep's input.
        S: The states by name (``cfg.layout.states``).
        P: The activated parameters by name (``cfg.layout.params``).
        fire: ``quant_fn(spike_fn(v))`` (spiking kinds).

    Returns:
        ``(out, new_states, extras)``: the new states by name, and the values named
        in ``cfg.layout.extras`` (membranes before the reset, spikes, and for
        non-dual B layers the spike function's argument). Used by `leaky_step`, the
        layers and the sequence functions.
    """
    kind = cfg.output
    ema = kind == "EMA"
    reset = cfg.reset
    later = cfg.reset_timing == "next" and reset != "none"
    rest = cfg.rest
    # neurons in their refractory period: membrane held, no spike
    refr: Optional[Tensor] = S["refrac"] > 0.0 if cfg.refractory else None
    new: dict[str, Tensor] = {}
    if not cfg.dual:
        mem = S["mem"]
        if cfg.synaptic:
            alpha = P["alpha"]
            syn = alpha * S["syn"] + (x if cfg.syn_input == "add" else (1.0 - alpha) * x)
            new["syn"] = syn
            d = syn
        else:
            d = x
        beta = P["beta"]
        # all-to-all without input decay: the dense recurrent input is added after the
        # leak, in snnTorch RLeaky's order (beta*mem + x + W@s + b: the same rounding)
        dense: Optional[Tensor] = None
        if cfg.recurrent:
            gamma = P["gamma"]
            rec = gamma * S["rec"] + (1.0 - gamma) * S["prev_output"]
            new["rec"] = rec
            if not cfg.all_to_all:
                u = d + P["rec_weight"] * rec
            elif ema or cfg.decay_input:
                u = d + _all_to_all(rec, P)
            else:
                u, dense = d, _all_to_all(rec, P)
        else:
            u = d
        r_amount: Optional[Tensor] = None  # set exactly when later
        if later:
            # the reset of the previous step's spike, applied now and undecayed
            if kind == "B":
                r = S["prev_spike"]
                r_amount = r * P["threshold"] if reset == "subtract" else r
            else:
                rp, rn = S["prev_pos_spike"], S["prev_neg_spike"]
                r_amount = rp * P["pos_threshold"] + rn * P["neg_threshold"] if reset == "subtract" else rp - rn
            if reset == "value":
                mem = _reset_to(mem, r_amount, cfg.reset_value)
        if ema or cfg.decay_input:
            mem_pre = beta * mem + (1.0 - beta) * u
        else:
            mem_pre = beta * mem + u
        if dense is not None:
            mem_pre = mem_pre + dense
        if rest != 0.0:
            mem_pre = mem_pre + (1.0 - beta) * rest
        held = mem  # what a refractory neuron keeps: the membrane after any pending reset
        if r_amount is not None and reset == "subtract":
            mem_pre = mem_pre - r_amount
            if refr is not None:
                held = mem - r_amount
        if refr is not None:
            mem_pre = torch.where(refr, held, mem_pre)  # this step's input is ignored
        if kind == "LI" or kind == "EMA":
            new["mem"] = mem_pre
            return mem_pre, new, {"mem_pre": mem_pre}
        if kind == "B":
            th = _threshold(cfg, P, S, "threshold")
            v = mem_pre - th
            s = _silence(fire(v), refr)  # type: ignore[misc]
            sr = s.detach() if cfg.detach_reset else s
            if later:
                mem_new = mem_pre
                new["prev_spike"] = sr
            elif reset == "subtract":
                mem_new = mem_pre - sr * th
            elif reset == "value":
                mem_new = _reset_to(mem_pre, sr, cfg.reset_value)
            else:
                mem_new = mem_pre
            out = s
            _after_spike(cfg, S, P, s, new)
            extras = {"mem_pre": mem_pre, "spike": s, "fire_input": v}
        else:
            pth = _threshold(cfg, P, S, "pos_threshold")
            nth = _threshold(cfg, P, S, "neg_threshold")
            sp = _silence(fire(mem_pre - pth), refr)  # type: ignore[misc]
            sn = _silence(-fire(-nth - mem_pre), refr)  # type: ignore[misc]
            spr, snr = (sp.detach(), sn.detach()) if cfg.detach_reset else (sp, sn)
            if later:
                mem_new = mem_pre
                new["prev_pos_spike"] = spr
                new["prev_neg_spike"] = snr
            elif reset == "subtract":
                mem_new = mem_pre - (spr * pth + snr * nth)
            elif reset == "value":
                mem_new = _reset_to(mem_pre, spr - snr, cfg.reset_value)
            else:
                mem_new = mem_pre
            if kind == "T":
                out = sp + sn
            else:
                out = P["pos_scale"] * sp + P["neg_scale"] * sn
            if cfg.adaptive or cfg.refractory:
                _after_spike(cfg, S, P, sp - sn, new)
            extras = {"mem_pre": mem_pre, "pos_spike": sp, "neg_spike": sn}
        new["mem"] = mem_new
        if cfg.recurrent:
            new["prev_output"] = out
        return out, new, extras

    # ---------------------------------------------------------------- dual
    pos_mem = S["pos_mem"]
    neg_mem = S["neg_mem"]
    if cfg.synaptic:
        pa = P["pos_alpha"]
        na = P["neg_alpha"]
        x_pos, x_neg = _parts(x)
        if cfg.syn_input == "add":
            pos_syn = pa * S["pos_syn"] + x_pos
            neg_syn = na * S["neg_syn"] + x_neg
        else:
            pos_syn = pa * S["pos_syn"] + (1.0 - pa) * x_pos
            neg_syn = na * S["neg_syn"] + (1.0 - na) * x_neg
        new["pos_syn"] = pos_syn
        new["neg_syn"] = neg_syn
        d = pos_syn + neg_syn
    else:
        d = x
    pb = P["pos_beta"]
    nb = P["neg_beta"]
    if cfg.recurrent:
        pg = P["pos_gamma"]
        ng = P["neg_gamma"]
        o = S["prev_output"]
        o_pos, o_neg = _parts(o)
        pos_rec = pg * S["pos_rec"] + (1.0 - pg) * o_pos
        neg_rec = ng * S["neg_rec"] + (1.0 - ng) * o_neg
        new["pos_rec"] = pos_rec
        new["neg_rec"] = neg_rec
        d_pos, d_neg = _parts(d)
        if cfg.all_to_all:
            # one matrix over the summed trace; its sign picks the pathway
            w_pos, w_neg = _parts(_all_to_all(pos_rec + neg_rec, P))
            u_pos = d_pos + w_pos
            u_neg = d_neg + w_neg
        else:
            r_pos, r_neg = _parts(pos_rec + neg_rec)
            u_pos = d_pos + P["pos_rec_weight"] * r_pos
            u_neg = d_neg + P["neg_rec_weight"] * r_neg
    else:
        u_pos, u_neg = _parts(d)
    r_amount: Optional[Tensor] = None  # set exactly when later
    if later:
        if kind == "B":
            r = S["prev_spike"]
            r_amount = r * P["threshold"] if reset == "subtract" else r
        else:
            rp, rn = S["prev_pos_spike"], S["prev_neg_spike"]
            r_amount = rp * P["pos_threshold"] + rn * P["neg_threshold"] if reset == "subtract" else rp - rn
        if reset == "value":
            half_value = cfg.reset_value * 0.5
            pos_mem = _reset_to(pos_mem, r_amount, half_value)
            neg_mem = _reset_to(neg_mem, r_amount, half_value)
    if ema or cfg.decay_input:
        pos_pre = pb * pos_mem + (1.0 - pb) * u_pos
        neg_pre = nb * neg_mem + (1.0 - nb) * u_neg
    else:
        pos_pre = pb * pos_mem + u_pos
        neg_pre = nb * neg_mem + u_neg
    if rest != 0.0:
        pos_pre = pos_pre + (1.0 - pb) * (rest * 0.5)
        neg_pre = neg_pre + (1.0 - nb) * (rest * 0.5)
    half_prev: Optional[Tensor] = None  # set exactly when the pending reset subtracts now
    if r_amount is not None and reset == "subtract":
        half_prev = r_amount * 0.5
        pos_pre = pos_pre - half_prev
        neg_pre = neg_pre - half_prev
    if refr is not None:
        # each pathway held at its value after any pending reset; the input is ignored
        pos_held, neg_held = (pos_mem, neg_mem) if half_prev is None else (pos_mem - half_prev, neg_mem - half_prev)
        pos_pre = torch.where(refr, pos_held, pos_pre)
        neg_pre = torch.where(refr, neg_held, neg_pre)
    mem = pos_pre + neg_pre
    extras = {"pos_mem_pre": pos_pre, "neg_mem_pre": neg_pre}
    if kind == "LI" or kind == "EMA":
        new["pos_mem"] = pos_pre
        new["neg_mem"] = neg_pre
        return mem, new, extras
    half: Optional[Tensor] = None  # set exactly when not later and reset == "subtract"
    a: Optional[Tensor] = None  # set exactly when not later and reset == "value"
    if kind == "B":
        th = _threshold(cfg, P, S, "threshold")
        s = _silence(fire(mem - th), refr)  # type: ignore[misc]
        sr = s.detach() if cfg.detach_reset else s
        if later:
            new["prev_spike"] = sr
        elif reset == "subtract":
            half = sr * th * 0.5
        elif reset == "value":
            a = sr
        out = s
        _after_spike(cfg, S, P, s, new)
        extras["spike"] = s
    else:
        pth = _threshold(cfg, P, S, "pos_threshold")
        nth = _threshold(cfg, P, S, "neg_threshold")
        sp = _silence(fire(mem - pth), refr)  # type: ignore[misc]
        sn = _silence(-fire(-nth - mem), refr)  # type: ignore[misc]
        spr, snr = (sp.detach(), sn.detach()) if cfg.detach_reset else (sp, sn)
        if later:
            new["prev_pos_spike"] = spr
            new["prev_neg_spike"] = snr
        elif reset == "subtract":
            half = (spr * pth + snr * nth) * 0.5
        elif reset == "value":
            a = spr - snr
        if kind == "T":
            out = sp + sn
        else:
            out = P["pos_scale"] * sp + P["neg_scale"] * sn
        if cfg.adaptive or cfg.refractory:
            _after_spike(cfg, S, P, sp - sn, new)
        extras["pos_spike"] = sp
        extras["neg_spike"] = sn
    if later or reset == "none":
        new["pos_mem"] = pos_pre
        new["neg_mem"] = neg_pre
    elif half is not None:  # reset == "subtract"
        new["pos_mem"] = pos_pre - half
        new["neg_mem"] = neg_pre - half
    elif a is not None:  # reset == "value"
        half_value = cfg.reset_value * 0.5
        new["pos_mem"] = _reset_to(pos_pre, a, half_value)
        new["neg_mem"] = _reset_to(neg_pre, a, half_value)
    if cfg.recurrent:
        new["prev_output"] = out
    return out, new, extras


def leaky_step(
    cfg: LeakyConfig,
    x: Tensor,
    states: tuple[Tensor, ...],
    params: tuple[Tensor, ...],
    fire: Optional[FireFn] = None,
    spike_fn: Optional[FireFn] = None,
    quant_fn: Optional[FireFn] = None,
    *,
    dim: int = -1,
) -> tuple[Tensor, tuple[Tensor, ...]]:
    """Advance one configuration of the leaky integrator by one timestep.

    When a kernels distribution is installed and its step kernel accepts the call
    (CUDA tensors, built-in spike and quantisation functions; ``x`` and the states
    promoted as the PyTorch update would promote them), one fused launch runs;
    otherwise the PyTorch update below. The layers call the PyTorch update directly.

    The update, with ``x`` one timestep's input:

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

    The neuron options of ``cfg`` (see `LeakyConfig`) change steps 1, 3 and 4: ``syn_input
    = "add"``: ``syn = alpha*syn + x``; ``decay_input``: ``mem = beta*mem + (1-beta)*u``;
    ``rest``: ``+ (1-beta)*rest``; ``reset = "value"``: ``mem = (1-a)*mem + a*reset_value``
    with ``a`` the spike magnitude (dual: each pathway to ``reset_value/2``); ``"none"``: no
    reset; ``detach_reset``: the spike in the reset is detached; ``reset_timing = "next"``:
    the state keeps the un-reset membrane and the previous step's spike (a state) resets
    it now, undecayed (``"subtract"`` after the leak, ``"value"`` before it);
    ``adaptive``: every threshold is ``threshold + adapt_strength*adapt`` (``adapt`` as
    it was before this step) and ``adapt = adapt_decay*adapt + (1-adapt_decay)*a`` with
    ``a`` the spike magnitude (``s``, or ``s_pos - s_neg``); ``refractory = k``: a neuron
    whose counter ``refrac`` is positive keeps its membrane (after any pending reset),
    ignores this step's input and does not fire, the counter counts down by 1 and a
    spike sets it to ``k``; ``all_to_all``: ``u = d + rec_matrix @ rec + rec_bias``
    (dual: ``u_pos = p(d) + p(v)``, ``u_neg = n(d) + n(v)`` with ``v = rec_matrix @
    (pos_rec + neg_rec) + rec_bias``). The kernels decline the options
    they do not implement.

    Args:
        cfg: The configuration.
        x: One timestep's input.
        states: The states, in the order of ``cfg.states``; all shaped like ``x``.
        params: The activated parameters in the order of ``cfg.param_names``, each
            broadcastable against ``x`` (see ``tt.Layer._view_param``).
        fire: ``quant_fn(spike_fn(v))`` for spiking kinds; ignored for LI/EMA. By
            default `make_fire` of ``spike_fn`` and ``quant_fn``.
        spike_fn: The resolved spike function (spiking kinds; lets a kernel run).
        quant_fn: The resolved quantisation function (spiking kinds).
        dim: The neuron axis of ``x`` (the kernels' layout).

    Returns:
        ``(output, new_states)``; the states are new tensors (nothing is modified in place).
    """
    if fire is None and spike_fn is not None and quant_fn is not None:
        fire = make_fire(spike_fn, quant_fn)
    kernel = kernels_for("leaky_step", x, *states)
    if kernel is not None:
        xp, sp = promote(x, states, params)
        res = kernel(cfg, xp, sp, params, spike_fn, quant_fn, dim)
        if res is not None:
            return res
    lay = cfg.layout
    out, new, _ = _step(cfg, x, dict(zip(lay.states, states)), dict(zip(lay.params, params)), fire)
    return out, lay.pack(lay.states, new)
