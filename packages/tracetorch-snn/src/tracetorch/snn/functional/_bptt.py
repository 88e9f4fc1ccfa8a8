"""One autograd function over a whole sequence for the spiking (B, T, TS) layers.

The forward runs `tracetorch.snn.functional._step._step` (the very code of a single
step) over time under ``no_grad``, so outputs, states and random draws are those of
stepping. The backward is a hand-written backpropagation through time, for the
classic update and for every neuron option in `HANDLED_OPTIONS` (``reset``,
``reset_value``, ``reset_timing``, ``detach_reset``, ``decay_input``, ``rest``,
``syn_input``, ``refractory``, ``adaptive``, ``all_to_all``), alone or combined. A
configuration with any other option is not handled here (`handles` is False; the
sequence entry point runs the reference loop).

Memory: plain autograd over ``T`` steps keeps every intermediate of every step
(for LIB: the previous membrane, membrane-minus-threshold, the spike, the reset
product, plus the graph nodes). This function keeps, per step, only

* the outputs (B layers reuse them as the spikes; R layers as the previous output),
* the synaptic and recurrent traces for S and R layers (their values after each
  step), and with ``adaptive`` the adaptation trace ``adapt``, with ``refractory`` the
  counter ``refrac`` (one tensor each per step: the threshold of step t is
  ``threshold + adapt_strength*adapt`` of the kept trace after step t - 1, the
  refractory neurons of step t those whose kept counter after step t - 1 is > 0),

and, for the membranes and spikes:

* classic configurations (no option): single-pathway layers the membrane after the
  reset and the membrane before it (B: minus the threshold, the spike function's
  argument); dual layers the two membranes before the reset; T/TS the spikes
  ``s_pos`` and ``s_neg``. For LIB that is two tensors of the step's size per step
  besides the output (measured in ``benchmarks/snn_sequence.py``: about half the
  peak memory of autograd through the per-step loop).
* with options, whatever they are: only the membrane(s) before the reset
  (``mem_pre``, or ``pos_mem_pre`` and ``neg_mem_pre``), plus for T/TS the spikes
  ``s_pos``/``s_neg`` when the spike function is not a deterministic (Heaviside)
  one. No option keeps anything more: the membrane after a ``"subtract"`` or
  ``"value"`` reset is recomputed from the membrane before it and the spikes
  (``"none"`` and ``reset_timing="next"`` keep the un-reset membrane as the state,
  so there is nothing to recompute), the argument of the spike function is the
  membrane minus the threshold, Heaviside spikes are ``v >= 0`` of it again, the
  pending spikes of ``reset_timing="next"`` are the previous step's spikes,
  ``decay_input`` recomputes the drive from the input and the kept traces (with
  ``all_to_all`` the product ``rec_matrix @ rec + rec_bias`` of the kept recurrent trace,
  which dual layers also recompute for the sign that picks the pathway), and
  ``detach_reset``, ``rest``, ``syn_input``, ``refractory`` (a refractory neuron's
  spike passes no gradient and its held membrane takes the membrane's whole gradient),
  ``adaptive`` (the adapted threshold's gradient goes to ``threshold``,
  ``adapt_strength`` and the trace; the spike's to the trace through
  ``1 - adapt_decay``) and ``all_to_all`` (``rec_matrix`` gathers ``g_u^T @ rec``
  over time, the trace ``g_u @ rec_matrix``, ``rec_bias`` ``g_u``) change only the
  backward's formulas.
  Every recomputation repeats the forward's own operations on the same tensors,
  so it gives the forward's bits. Single-pathway LIB with options thus keeps one
  tensor per step besides the output (and the traces of S/R layers), and
  single-pathway T/TS with Heaviside spikes one instead of four.

The forward's Heaviside spikes are one comparison written into the output dtype
(`_heaviside`), the values of the spike functions without their autograd.Function.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

import torch
from torch import Tensor

from ._config import LeakyConfig
from ._step import _all_to_all, _parts, _reset_to, _step
from ._surrogate import fire_derivative

__all__ = ["spiking_sequence", "handles", "handles_option", "HANDLED_OPTIONS"]

HANDLED_OPTIONS: dict[str, Optional[tuple[Any, ...]]] = {
    "reset": ("subtract", "value", "none"),
    "reset_value": None,
    "reset_timing": ("same", "next"),
    "detach_reset": None,
    "decay_input": None,
    "rest": None,
    "syn_input": ("ema", "add"),
    "refractory": None,
    "adaptive": None,
    "all_to_all": None,
}
"""The neuron options the hand-written backward implements, each with the values it
implements (``None``: any valid value). An option not listed here (or a value not
listed) is not handled: its configuration runs the reference loop with autograd."""


def handles_option(name: str, value: Any) -> bool:
    """Whether the hand-written BPTT implements one neuron option with this value.

    Args:
        name: The option's name, e.g. ``"reset"``.
        value: Its value.

    Returns:
        True when ``name`` is in `HANDLED_OPTIONS` and ``value`` among its handled values.
    """
    if name not in HANDLED_OPTIONS:
        return False
    valid = HANDLED_OPTIONS[name]
    return valid is None or value in valid


def handles(cfg: LeakyConfig) -> bool:
    """Whether the hand-written BPTT implements this configuration.

    Args:
        cfg: A configuration.

    Returns:
        True for a spiking configuration whose neuron options (``cfg.options``) are all
        handled (`handles_option`).
    """
    return cfg.spiking and all(handles_option(n, v) for n, v in cfg.options)


def _kept_names(cfg: LeakyConfig, deterministic: bool) -> tuple[str, ...]:
    """The names kept per step (see the module docstring)."""
    lay = cfg.layout
    if not cfg.options:
        return lay.saved
    spikes = () if cfg.output == "B" or deterministic else lay.spikes
    return lay.pre + spikes + lay.traces


def _sum_to(g: Tensor, like: Tensor) -> Tensor:
    if g.shape == like.shape:
        return g
    return g.sum_to_size(like.shape)


def _acc(acc: Optional[Tensor], v: Tensor) -> Tensor:
    return v if acc is None else acc.add_(v)


def _heaviside(v: Tensor) -> Tensor:
    """``v >= 0`` as 0/1 in ``v``'s dtype: the values of the Heaviside spike functions.

    One comparison writing straight into a tensor of ``v``'s dtype, with no
    autograd.Function: on the CPU about ten times faster than ``torch.heaviside`` or a
    boolean comparison followed by a conversion, with the same values (also for NaN,
    which gives 0 like the spike function's ``(v >= 0).to(v.dtype)``).
    """
    return torch.ge(v, 0.0, out=torch.empty_like(v))


_N_OPTIONS = 4
"""Non-tensor arguments of `_SpikingBPTT.forward` before ``x``: cfg, spike_fn, quant_fn, fire."""


class _SpikingBPTT(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx: Any,
        cfg: LeakyConfig,
        spike_fn: Any,
        quant_fn: Any,
        fire: Callable[[Tensor], Tensor],
        x: Tensor,
        *tensors: Tensor,
    ):  # type: ignore[override]
        lay = cfg.layout
        states = tensors[: len(lay.states)]
        params = tensors[len(lay.states) :]
        P = dict(zip(lay.params, params))
        S = dict(zip(lay.states, states))
        T = x.shape[0]
        step_fire = fire
        deterministic = fire is spike_fn and getattr(spike_fn, "deterministic", False)
        if deterministic:
            step_fire = _heaviside
        names = _kept_names(cfg, deterministic)
        kept: dict[str, list[Tensor]] = {n: [] for n in names}  # see the module docstring

        y: Optional[Tensor] = None
        for t in range(T):
            out, S, extras = _step(cfg, x[t], S, P, step_fire)
            if y is None:
                y = torch.empty((T,) + tuple(out.shape), dtype=out.dtype, device=out.device)
            y[t].copy_(out)  # written in place: no list of T outputs next to the stacked copy
            for n, seq in kept.items():
                seq.append(S[n] if n in S else extras[n])
        ctx.cfg = cfg
        ctx.spike_fn = spike_fn
        ctx.quant_fn = quant_fn
        ctx.kept_names = names
        # T/TS spikes not kept: Heaviside spikes, recomputed from the kept membranes
        ctx.recompute_spikes = cfg.output != "B" and "pos_spike" not in names
        # Every tensor goes through save_for_backward, never a plain ctx attribute: the
        # last step's traces are also returned as final states, and a plain attribute
        # would make output -> grad_fn -> ctx -> output a reference cycle that only a
        # full garbage collection frees (the memory leak of training in sequence mode).
        flat = [v for n in names for v in kept[n]]
        ctx.save_for_backward(x, y, *states, *params, *flat)
        final: list[Tensor] = []
        seen = {id(y)}
        for v in lay.pack(lay.states, S):
            if id(v) in seen:  # e.g. an R layer's previous output that is also its pending spike
                v = v.clone()
            seen.add(id(v))
            final.append(v)
        if cfg.detach_reset:
            # the pending spikes of reset_timing="next" are detached spikes, as in stepping
            pending = [v for n, v in zip(lay.states, final) if n.startswith("prev_") and n != "prev_output"]
            if pending:
                ctx.mark_non_differentiable(*pending)
        return (y, *final)

    @staticmethod
    def _unpack(
        ctx: Any,
    ) -> tuple[Tensor, Tensor, dict[str, Tensor], dict[str, Tensor], dict[str, tuple[Tensor, ...]]]:
        """``(x, outputs, initial states, params, per-step kept tensors)``, all by name."""
        lay: Any = ctx.cfg.layout
        saved = ctx.saved_tensors
        x, y = saved[0], saved[1]
        rest = iter(saved[2:])
        states0 = {n: next(rest) for n in lay.states}
        params = {n: next(rest) for n in lay.params}
        T = x.shape[0]
        kept = {n: tuple(next(rest) for _ in range(T)) for n in ctx.kept_names}
        return x, y, states0, params, kept

    @staticmethod
    def backward(ctx: Any, g_y: Optional[Tensor], *g_final: Optional[Tensor]):  # type: ignore[override]
        cfg: LeakyConfig = ctx.cfg
        lay = cfg.layout
        x, outs, states0, P, kept = _SpikingBPTT._unpack(ctx)
        # outs: the outputs (B spikes, and the previous output of R layers)
        need = dict(zip(("x",) + lay.states + lay.params, ctx.needs_input_grad[_N_OPTIONS:]))
        spike_fn, quant_fn = ctx.spike_fn, ctx.quant_fn
        T = x.shape[0]
        dual, syn_on, rec_on, kind = cfg.dual, cfg.synaptic, cfg.recurrent, cfg.output
        h = 0.5 if dual else 1.0
        zeros = torch.zeros_like(x[0])

        # the neuron options; with none of them every branch below takes the classic
        # update's operations, unchanged
        opts = bool(cfg.options)
        later = cfg.reset_timing == "next" and cfg.reset != "none"
        same_sub = cfg.reset == "subtract" and not later
        same_val = cfg.reset == "value" and not later
        later_val = later and cfg.reset == "value"
        to_reset = not cfg.detach_reset  # the spikes carry the reset's gradient
        rv = cfg.reset_value * h  # the value each pathway is set to
        rest_h = cfg.rest * h  # the rest potential of each pathway
        decay_in = cfg.decay_input
        syn_add = cfg.syn_input == "add"
        pending = tuple(n for n in lay.states if n.startswith("prev_") and n != "prev_output")
        adapt_on = cfg.adaptive
        refr_on = bool(cfg.refractory)
        a2a = cfg.all_to_all

        # adjoints of the states after the current step
        G = {n: (g if g is not None else zeros) for n, g in zip(lay.states, g_final)}
        acc: dict[str, Optional[Tensor]] = dict.fromkeys(lay.params)
        acc_neg: dict[str, Optional[Tensor]] = dict.fromkeys(lay.params)

        def add(n: str, v: Tensor) -> None:
            a = acc[n]
            acc[n] = v if a is None else a.add_(v)

        def sub(n: str, v: Tensor) -> None:
            a = acc_neg[n]
            acc_neg[n] = v if a is None else a.add_(v)

        def add_prod(n: str, u: Tensor, v: Tensor) -> None:
            a = acc[n]
            acc[n] = u * v if a is None else a.addcmul_(u, v)

        def sub_copy(n: str, v: Tensor) -> None:
            """`sub` of a tensor that must not become the accumulator itself."""
            a = acc_neg[n]
            acc_neg[n] = v.clone() if a is None else a.add_(v)

        def add_copy(n: str, v: Tensor) -> None:
            a = acc[n]
            acc[n] = v.clone() if a is None else a.add_(v)

        gx = torch.empty(x.shape, dtype=x.dtype, device=x.device) if need["x"] else None
        # every name is bound for every kind; each kind reads only its own (set below)
        th = neg_hth = pth = nth = neg_hpth = neg_hnth = psc = nsc = zeros
        if kind == "B":
            th = P["threshold"]
            neg_hth = th * (-h)
        else:
            pth, nth = P["pos_threshold"], P["neg_threshold"]
            neg_hpth = pth * (-h)
            neg_hnth = nth * (-h)
            if kind == "TS":
                psc, nsc = P["pos_scale"], P["neg_scale"]
        # 1 - beta for decay_input (the factor of the drive)
        one_minus = {n: 1.0 - P[n] for n in (("pos_beta", "neg_beta") if dual else ("beta",))} if decay_in else {}
        spike_cache: dict[int, tuple[Tensor, Tensor]] = {}

        def thr(t: int) -> tuple[Tensor, ...]:
            """The threshold(s) in effect at step t: ``(th,)`` or ``(pth, nth)``, adapted
            (``threshold + adapt_strength*adapt``, the forward's operations) when adaptive."""
            names = ("threshold",) if kind == "B" else ("pos_threshold", "neg_threshold")
            if not adapt_on:
                return tuple(P[n] for n in names)
            k, ad = P["adapt_strength"], before("adapt", t)
            return tuple(P[n] + k * ad for n in names)

        def refr_at(t: int) -> Optional[Tensor]:
            """The refractory neurons of step t (their counter before the step is > 0), or None."""
            return before("refrac", t) > 0.0 if refr_on else None

        def live_at(t: int) -> Optional[Tensor]:
            """1 for the neurons of step t that are not refractory, 0 for those that are (in the
            step's dtype: the backward masks by products, several times faster on the CPU than
            ``masked_fill``/``where`` with a boolean mask), or None without ``refractory``."""
            if not refr_on:
                return None
            c = before("refrac", t)
            return torch.le(c, 0.0, out=torch.empty_like(c))

        def pre_sum(t: int) -> Tensor:
            """The membrane before step t's reset, the spikes' argument (dual: the sum)."""
            if dual:
                return kept["pos_mem_pre"][t] + kept["neg_mem_pre"][t]
            return kept["mem_pre"][t]

        def spikes_at(t: int, mem: Optional[Tensor] = None) -> tuple[Tensor, Tensor]:
            """``(s_pos, s_neg)`` of step t (T/TS): kept, or Heaviside spikes recomputed."""
            if not ctx.recompute_spikes:
                return kept["pos_spike"][t], kept["neg_spike"][t]
            c = spike_cache.get(t)
            if c is None:
                m = pre_sum(t) if mem is None else mem
                p_t, n_t = thr(t)
                # the forward's operations: fire(mem - pth) and -fire(-nth - mem), silenced
                c = (_heaviside(m - p_t), -_heaviside(-n_t - m))
                rf = refr_at(t)
                if rf is not None:
                    c = (c[0].masked_fill(rf, 0.0), c[1].masked_fill(rf, 0.0))
                for k in [k for k in spike_cache if k > t + 1]:
                    del spike_cache[k]
                spike_cache[t] = c
            return c

        def reset_amount(t: int) -> Tensor:
            """Step t's ``a`` of a value reset (the spike magnitude), as the forward has it."""
            if kind == "B":
                return outs[t]
            sp, sn = spikes_at(t)
            return sp - sn

        def mem_after(t: int) -> dict[str, Tensor]:
            """Membrane(s) after step t's reset (kept for classic single, recomputed otherwise)."""
            if t < 0:
                return {n: states0[n] for n in lay.membranes}
            if not opts:
                if not dual:
                    return {"mem": kept["mem"][t]}
                if kind == "B":
                    half = outs[t] * th * 0.5
                else:
                    half = (kept["pos_spike"][t] * pth + kept["neg_spike"][t] * nth) * 0.5
                return {"pos_mem": kept["pos_mem_pre"][t] - half, "neg_mem": kept["neg_mem_pre"][t] - half}
            pres = {m: kept[p][t] for m, p in zip(lay.membranes, lay.pre)}
            if same_sub:
                thr_t = thr(t)
                if kind == "B":
                    amount = outs[t] * thr_t[0]
                else:
                    sp, sn = spikes_at(t)
                    amount = sp * thr_t[0] + sn * thr_t[1]
                if dual:
                    half = amount * 0.5
                    return {m: v - half for m, v in pres.items()}
                return {"mem": pres["mem"] - amount}
            if same_val:
                a = reset_amount(t)
                return {m: _reset_to(v, a, rv) for m, v in pres.items()}
            return pres  # no reset, or a reset on the next step: the state is the un-reset membrane

        def pending_at(t: int) -> tuple[Tensor, ...]:
            """The pending spikes step t reads (reset_timing="next"): step t-1's spikes."""
            if t == 0:
                return tuple(states0[n] for n in pending)
            if kind == "B":
                return (outs[t - 1],)
            return spikes_at(t - 1)

        def value_adjoint(t: int) -> Tensor:
            """d loss / d a of step t's value reset ``(1 - a)*pre + a*value`` (per pathway)."""
            if dual:
                return G["pos_mem"] * (rv - kept["pos_mem_pre"][t]) + G["neg_mem"] * (rv - kept["neg_mem_pre"][t])
            return G["mem"] * (rv - kept["mem_pre"][t])

        def drive(t: int) -> tuple[Tensor, ...]:
            """The drive of the membrane(s) at step t (``u``, or ``(u_pos, u_neg)``), recomputed."""
            d = (kept["pos_syn"][t] + kept["neg_syn"][t] if dual else kept["syn"][t]) if syn_on else x[t]
            if not dual:
                if not rec_on:
                    return (d,)
                if a2a:
                    return (d + _all_to_all(kept["rec"][t], P),)
                return (d + P["rec_weight"] * kept["rec"][t],)
            if not rec_on:
                return _parts(d)
            d_pos, d_neg = _parts(d)
            if a2a:
                w_pos, w_neg = _parts(_all_to_all(kept["pos_rec"][t] + kept["neg_rec"][t], P))
                return d_pos + w_pos, d_neg + w_neg
            r_pos, r_neg = _parts(kept["pos_rec"][t] + kept["neg_rec"][t])
            return d_pos + P["pos_rec_weight"] * r_pos, d_neg + P["neg_rec_weight"] * r_neg

        def beta_factor(m: Tensor, u: Optional[Tensor]) -> Tensor:
            """d mem_pre / d beta: ``mem`` (``- u`` with decay_input, ``- rest``)."""
            if u is not None:
                m = m - u
            if rest_h != 0.0:
                m = m - rest_h
            return m

        def before(n: str, t: int) -> Tensor:
            """State ``n`` before step t (its kept value after step t - 1)."""
            return kept[n][t - 1] if t > 0 else states0[n]

        def dense_grads(g: Tensor, r: Tensor) -> None:
            """The gradients of ``rec_matrix`` (``g^T @ r`` over every leading axis) and ``rec_bias``."""
            if need["rec_matrix"]:
                n = r.shape[-1]
                g2, r2 = g.reshape(-1, n).t(), r.reshape(-1, n)
                a = acc["rec_matrix"]
                acc["rec_matrix"] = g2 @ r2 if a is None else a.addmm_(g2, r2)
            if need["rec_bias"]:
                add_copy("rec_bias", g)

        # the membranes after the previous step are read by the decays' gradients and a pending value reset
        need_prev_mem = later_val or any(need[n] for n in lay.params if n.endswith("beta"))
        g_pp = g_np = g_up = g_un = g_u = g_p = d = zeros  # bound for every layout; each reads only its own
        for t in range(T - 1, -1, -1):
            xt = x[t]
            g_o = g_y[t] if g_y is not None else zeros
            if rec_on:
                g_o = g_o + G["prev_output"]
            Gm = G["pos_mem"] + G["neg_mem"] if dual else G["mem"]
            keep_f: Optional[Tensor] = None  # d mem_after / d mem_pre of a value reset: 1 - a
            live = live_at(t)  # 0 for refractory neurons: no spike, membrane held, input ignored
            g_th_adapt: Optional[Tensor] = None  # d loss / d (the adapted threshold(s), summed)
            g_adapt_s = (1.0 - P["adapt_decay"]) * G["adapt"] if adapt_on else None  # to the spike magnitude
            if adapt_on:
                if kind == "B":
                    th = thr(t)[0]
                    neg_hth = th * (-h)
                else:
                    pth, nth = thr(t)
                    neg_hpth = pth * (-h)
                    neg_hnth = nth * (-h)
            # ---- spike and reset
            if kind == "B":
                s = outs[t]
                if not opts:
                    # non-dual B keeps mem_pre - threshold
                    v = (kept["pos_mem_pre"][t] + kept["neg_mem_pre"][t]) - th if dual else kept["fire_input"][t]
                else:
                    v = pre_sum(t) - th
                fp = fire_derivative(spike_fn, quant_fn, v)
                if same_sub:
                    g_s = torch.addcmul(g_o, neg_hth, Gm) if to_reset else g_o  # g_o - h*th*Gm
                elif same_val:
                    keep_f = 1.0 - s
                    g_s = g_o + value_adjoint(t) if to_reset else g_o
                elif later and to_reset:
                    g_s = g_o + G["prev_spike"]
                else:
                    g_s = g_o
                if g_adapt_s is not None:
                    g_s = g_s + g_adapt_s
                if live is not None:
                    fp.mul_(live)
                g_mem = fp.mul_(g_s)  # fp is a fresh tensor
                if need["threshold"] or adapt_on:
                    neg_g_th = torch.addcmul(g_mem, s, Gm, value=h) if same_sub else g_mem
                    if adapt_on:
                        g_th_adapt = -neg_g_th
                    if need["threshold"]:
                        if same_sub:
                            sub("threshold", neg_g_th)
                        else:
                            sub_copy("threshold", g_mem)
                a_mag = s
            else:
                mem = pre_sum(t)
                sp, sn = spikes_at(t, mem) if opts else (kept["pos_spike"][t], kept["neg_spike"][t])
                fp = fire_derivative(spike_fn, quant_fn, mem - pth)
                fn = fire_derivative(spike_fn, quant_fn, -nth - mem)
                if live is not None:
                    fp = fp * live
                    fn = fn * live
                if kind == "TS":
                    if need["pos_scale"]:
                        add_prod("pos_scale", g_o, sp)
                    if need["neg_scale"]:
                        add_prod("neg_scale", g_o, sn)
                    b_p, b_n = g_o * psc, g_o * nsc
                else:
                    b_p = b_n = g_o
                if same_sub and to_reset:
                    g_sp = torch.addcmul(b_p, neg_hpth, Gm)
                    g_sn = torch.addcmul(b_n, neg_hnth, Gm)
                elif same_val and to_reset:
                    g_a = value_adjoint(t)
                    g_sp = b_p + g_a
                    g_sn = b_n - g_a
                elif later and to_reset:
                    g_sp = b_p + G["prev_pos_spike"]
                    g_sn = b_n + G["prev_neg_spike"]
                else:
                    g_sp, g_sn = b_p, b_n
                if same_val:
                    keep_f = 1.0 - (sp - sn)
                if g_adapt_s is not None:
                    g_sp = g_sp + g_adapt_s
                    g_sn = g_sn - g_adapt_s
                a_p = g_sp * fp
                a_n = g_sn * fn
                g_mem = a_p + a_n
                if adapt_on:
                    neg_g_p = torch.addcmul(a_p, sp, Gm, value=h) if same_sub else a_p
                    g_n = torch.addcmul(a_n, sn, Gm, value=-h) if same_sub else a_n
                    g_th_adapt = g_n - neg_g_p
                if need["pos_threshold"]:
                    if same_sub:
                        sub("pos_threshold", torch.addcmul(a_p, sp, Gm, value=h))
                    else:
                        sub_copy("pos_threshold", a_p)
                if need["neg_threshold"]:
                    if same_sub:
                        add("neg_threshold", torch.addcmul(a_n, sn, Gm, value=-h))
                    else:
                        add_copy("neg_threshold", a_n)
                a_mag = sp - sn
            # ---- the adaptation trace (adapt = rho*adapt + (1 - rho)*a) and the refractory counter
            if adapt_on:
                ad_prev = before("adapt", t)
                if need["adapt_decay"]:
                    add_prod("adapt_decay", G["adapt"], ad_prev - a_mag)
                if need["adapt_strength"]:
                    add_prod("adapt_strength", g_th_adapt, ad_prev)  # type: ignore[arg-type]
                G["adapt"] = torch.addcmul(P["adapt_decay"] * G["adapt"], g_th_adapt, P["adapt_strength"])  # type: ignore[arg-type]
            if refr_on and need["refrac"]:
                # refrac = clamp_min(refrac - 1, 0), set to k where a != 0: gradient 1 where both
                # pass (clamp_min passes none at the tie, as in autograd); it reaches nothing but
                # the initial counter, so it is skipped unless that one wants a gradient
                passes = torch.logical_and((before("refrac", t) - 1.0) > 0.0, a_mag == 0.0)
                G["refrac"] = G["refrac"].masked_fill(~passes, 0.0)
            # ---- membrane (mem_pre = beta * mem_prev + u)
            prev_mem = mem_after(t - 1) if need_prev_mem else {}
            mem_leak = prev_mem  # the membrane(s) the leak multiplies (after a pending value reset)
            keep_prev: Optional[Tensor] = None  # d mem_leak / d prev_mem of a pending value reset
            if later_val:
                r = pending_at(t)
                a_prev = r[0] if kind == "B" else r[0] - r[1]
                mem_leak = {m: _reset_to(v, a_prev, rv) for m, v in prev_mem.items()}
                keep_prev = 1.0 - a_prev
            direct_x = gx is not None and not (syn_on or rec_on or dual or refr_on)
            if dual:
                g_pp = G["pos_mem"] + g_mem if keep_f is None else torch.addcmul(g_mem, G["pos_mem"], keep_f)
                g_np = G["neg_mem"] + g_mem if keep_f is None else torch.addcmul(g_mem, G["neg_mem"], keep_f)
                # g_pp, g_np: d loss / d the membranes before the reset; a refractory neuron's
                # is the held membrane's (passed on undecayed), the others' the update's (g_ppc, g_npc)
                g_ppc, g_npc = g_pp, g_np
                if live is not None:
                    g_ppc, g_npc = g_pp * live, g_np * live
                u_pos = u_neg = None
                if decay_in and (need["pos_beta"] or need["neg_beta"]):
                    u_pos, u_neg = drive(t)
                if need["pos_beta"]:
                    add_prod(
                        "pos_beta", g_ppc, beta_factor(mem_leak["pos_mem"], u_pos) if opts else mem_leak["pos_mem"]
                    )
                if need["neg_beta"]:
                    add_prod(
                        "neg_beta", g_npc, beta_factor(mem_leak["neg_mem"], u_neg) if opts else mem_leak["neg_mem"]
                    )
                g_up = g_ppc * one_minus["pos_beta"] if decay_in else g_ppc
                g_un = g_npc * one_minus["neg_beta"] if decay_in else g_npc
                if live is None:
                    G["pos_mem"] = P["pos_beta"] * g_ppc
                    G["neg_mem"] = P["neg_beta"] * g_npc
                else:  # a refractory neuron's membrane is held: its gradient passes undecayed
                    # (g - (1 - beta)*g*live: beta*g where live, g where refractory)
                    G["pos_mem"] = torch.addcmul(g_pp, g_ppc, 1.0 - P["pos_beta"], value=-1.0)
                    G["neg_mem"] = torch.addcmul(g_np, g_npc, 1.0 - P["neg_beta"], value=-1.0)
            else:
                target = gx[t] if direct_x and not decay_in else None  # type: ignore[index]
                if keep_f is None:
                    g_p = torch.add(G["mem"], g_mem, out=target) if target is not None else G["mem"] + g_mem
                else:  # (1 - a)*G + g_mem
                    g_p = torch.addcmul(g_mem, G["mem"], keep_f, out=target)
                g_pc = g_p if live is None else g_p * live  # the update's share (see dual)
                if need["beta"]:
                    u = drive(t)[0] if decay_in else None
                    add_prod("beta", g_pc, beta_factor(mem_leak["mem"], u) if opts else mem_leak["mem"])
                if decay_in:
                    g_u = (
                        torch.mul(g_pc, one_minus["beta"], out=gx[t])  # type: ignore[index]
                        if direct_x
                        else g_pc * one_minus["beta"]
                    )
                else:
                    g_u = g_pc
                if live is None:
                    G["mem"] = P["beta"] * g_pc
                else:  # a refractory neuron's membrane is held: its gradient passes undecayed
                    G["mem"] = torch.addcmul(g_p, g_pc, 1.0 - P["beta"], value=-1.0)
            # ---- the pending spikes of reset_timing="next" (read by this step)
            if later:
                r = pending_at(t)
                want = to_reset or (t == 0 and any(need[n] for n in pending))
                g_r: tuple[Tensor, ...] = ()
                if keep_prev is not None:
                    # the leak multiplies (1 - a)*mem + a*value, a = r (B) or r_pos - r_neg
                    if dual:
                        g_lp, g_ln = G["pos_mem"], G["neg_mem"]
                        G["pos_mem"] = g_lp * keep_prev
                        G["neg_mem"] = g_ln * keep_prev
                        g_a = g_lp * (rv - prev_mem["pos_mem"]) + g_ln * (rv - prev_mem["neg_mem"]) if want else zeros
                    else:
                        g_l = G["mem"]
                        G["mem"] = g_l * keep_prev
                        g_a = g_l * (rv - prev_mem["mem"]) if want else zeros
                    if want:
                        g_r = (g_a,) if kind == "B" else (g_a, -g_a)
                elif want or any(need[n] for n in lay.params if n.endswith("threshold")):
                    # mem_pre -= h * amount, amount = r*th (B) or r_pos*pth + r_neg*nth
                    g_amount = (g_pp + g_np).mul_(-h) if dual else -g_p
                    if kind == "B":
                        if need["threshold"]:
                            add_prod("threshold", g_amount, r[0])
                        if want:
                            g_r = (g_amount * th,)
                    else:
                        if need["pos_threshold"]:
                            add_prod("pos_threshold", g_amount, r[0])
                        if need["neg_threshold"]:
                            add_prod("neg_threshold", g_amount, r[1])
                        if want:
                            g_r = (g_amount * pth, g_amount * nth)
                for n, g in zip(pending, g_r):
                    G[n] = g
            # ---- drive d
            if dual:
                d = kept["pos_syn"][t] + kept["neg_syn"][t] if syn_on else xt
            # ---- recurrence
            if rec_on:
                o_prev = outs[t - 1] if t > 0 else states0["prev_output"]
                if dual:
                    pg, ng = P["pos_gamma"], P["neg_gamma"]
                    r = kept["pos_rec"][t] + kept["neg_rec"][t]
                    if a2a:
                        # w = rec_matrix @ r + rec_bias; p(w) feeds the positive membrane, n(w) the negative
                        g_w = torch.where(_all_to_all(r, P) >= 0, g_up, g_un)
                        dense_grads(g_w, r)
                        g_r_in = g_w @ P["rec_matrix"]
                    else:
                        r_pos = torch.clamp_min(r, 0.0)
                        rmask = r >= 0
                        if need["pos_rec_weight"]:
                            add_prod("pos_rec_weight", g_up, r_pos)
                        if need["neg_rec_weight"]:
                            add_prod("neg_rec_weight", g_un, r - r_pos)
                        g_r_in = torch.where(rmask, g_up * P["pos_rec_weight"], g_un * P["neg_rec_weight"])
                    g_pr = G["pos_rec"] + g_r_in
                    g_nr = G["neg_rec"] + g_r_in
                    o_pos = torch.clamp_min(o_prev, 0.0)
                    if need["pos_gamma"]:
                        add_prod("pos_gamma", g_pr, before("pos_rec", t) - o_pos)
                    if need["neg_gamma"]:
                        add_prod("neg_gamma", g_nr, before("neg_rec", t) - (o_prev - o_pos))
                    G["pos_rec"] = pg * g_pr
                    G["neg_rec"] = ng * g_nr
                    G["prev_output"] = torch.where(o_prev >= 0, (1.0 - pg) * g_pr, (1.0 - ng) * g_nr)
                    g_d = torch.where(d >= 0, g_up, g_un)
                else:
                    gm = P["gamma"]
                    if a2a:
                        # rec_matrix @ rec + rec_bias enters the membrane (after the leak, or in u)
                        dense_grads(g_u, kept["rec"][t])
                        g_rec = G["rec"] + g_u @ P["rec_matrix"]
                    else:
                        w = P["rec_weight"]
                        if need["rec_weight"]:
                            add_prod("rec_weight", g_u, kept["rec"][t])
                        g_rec = torch.addcmul(G["rec"], g_u, w)
                    if need["gamma"]:
                        add_prod("gamma", g_rec, before("rec", t) - o_prev)
                    G["rec"] = gm * g_rec
                    G["prev_output"] = (1.0 - gm) * g_rec
                    g_d = g_u
            elif dual:
                g_d = torch.where(d >= 0, g_up, g_un)
            else:
                g_d = g_u
            # ---- synapse (syn = alpha*syn + (1 - alpha)*x, or alpha*syn + x)
            if syn_on:
                if dual:
                    pa, na = P["pos_alpha"], P["neg_alpha"]
                    g_ps = G["pos_syn"] + g_d
                    g_ns = G["neg_syn"] + g_d
                    if syn_add:
                        if need["pos_alpha"]:
                            add_prod("pos_alpha", g_ps, before("pos_syn", t))
                        if need["neg_alpha"]:
                            add_prod("neg_alpha", g_ns, before("neg_syn", t))
                    elif need["pos_alpha"] or need["neg_alpha"]:
                        x_pos = torch.clamp_min(xt, 0.0)
                        if need["pos_alpha"]:
                            add_prod("pos_alpha", g_ps, before("pos_syn", t) - x_pos)
                        if need["neg_alpha"]:
                            add_prod("neg_alpha", g_ns, before("neg_syn", t) - (xt - x_pos))
                    G["pos_syn"] = pa * g_ps
                    G["neg_syn"] = na * g_ns
                    if gx is not None:
                        if syn_add:
                            torch.where(xt >= 0, g_ps, g_ns, out=gx[t])
                        else:
                            torch.where(xt >= 0, (1.0 - pa) * g_ps, (1.0 - na) * g_ns, out=gx[t])
                else:
                    a = P["alpha"]
                    g_syn = G["syn"] + g_d
                    if need["alpha"]:
                        add_prod("alpha", g_syn, before("syn", t) if syn_add else before("syn", t) - xt)
                    G["syn"] = a * g_syn
                    if gx is not None:
                        if syn_add:
                            gx[t].copy_(g_syn)
                        else:
                            torch.mul(g_syn, 1.0 - a, out=gx[t])
            elif gx is not None and not direct_x:
                gx[t].copy_(g_d)

        g_states = [(_sum_to(G[n], states0[n]) if need[n] else None) for n in lay.states]
        g_params: list[Optional[Tensor]] = []
        for n in lay.params:
            a, b = acc[n], acc_neg[n]
            if not need[n]:
                g_params.append(None)
                continue
            if a is not None:
                total = a if b is None else a - b
            elif b is not None:
                total = -b
            else:
                g_params.append(None)
                continue
            g_params.append(_sum_to(total, P[n]))
        return (None,) * _N_OPTIONS + (gx, *g_states, *g_params)


def spiking_sequence(
    cfg: LeakyConfig,
    x: Tensor,
    states: tuple[Tensor, ...],
    params: tuple[Tensor, ...],
    spike_fn: Any,
    quant_fn: Any,
    fire: Callable[[Tensor], Tensor],
) -> tuple[Tensor, tuple[Tensor, ...]]:
    """A spiking (B/T/TS) configuration over a whole sequence, with a hand-written BPTT.

    Args:
        cfg: A spiking configuration whose neuron options are all handled (`handles`).
        x: ``[T, ...]``, time first; ``x[t]`` is one timestep.
        states: The states before the first step (order of ``cfg.states``).
        params: Activated parameters (order of ``cfg.param_names``), broadcastable
            against ``x[t]``.
        spike_fn: A built-in `tt.functional.SpikeFunction`.
        quant_fn: ``quant_round``, ``quant_bernoulli`` or ``quant_probabilistic``.
        fire: The function the step uses (``quant_fn(spike_fn(v))``, or ``spike_fn``
            alone where the quantisation cannot change a 0/1 spike).

    Returns:
        ``(outputs [T, ...], final_states)``, equal to stepping.

    Raises:
        ValueError: for a non-spiking configuration, or one with a neuron option this
            backward does not implement (run `leaky_sequence`, which falls back to the
            reference loop for it).
    """
    if not handles(cfg):
        unhandled = [f"{n}={v!r}" for n, v in cfg.options if not handles_option(n, v)]
        what = f"the neuron option(s) {', '.join(unhandled)}" if unhandled else f"the output kind {cfg.output!r}"
        raise ValueError(
            f"spiking_sequence: the hand-written BPTT does not implement {what} of {cfg.name}; "
            "it handles spiking (B, T, TS) layers with the options "
            f"{', '.join(HANDLED_OPTIONS)}. Use leaky_sequence, which runs the reference loop for it."
        )
    res = _SpikingBPTT.apply(cfg, spike_fn, quant_fn, fire, x, *states, *params)
    return res[0], tuple(res[1:])
