"""One autograd function over a whole sequence for the spiking (B, T, TS) layers.

The forward runs `tracetorch.snn.functional._step._step` (the very code of a single
step) over time under ``no_grad``, so outputs, states and random draws are those of
stepping. The backward is a hand-written backpropagation through time.

Memory: plain autograd over ``T`` steps keeps every intermediate of every step
(for LIB: the previous membrane, membrane-minus-threshold, the spike, the reset
product, plus the graph nodes). This function keeps, per step, only

* single-pathway layers: the membrane after the reset, and the membrane before
  it (B: minus the threshold, the spike function's argument);
* dual layers: the two membranes before the reset;
* the spikes for T/TS (``s_pos`` and ``s_neg``; B reuses its output),
* the synaptic and recurrent traces for S and R layers (their values after each
  step; the previous output is the output itself),

and recomputes everything else (the dual membranes after the reset, the drive, the
local derivative of the spike) during the backward. For LIB that is two tensors of
the step's size per step besides the output (measured in
``benchmarks/snn_sequence.py``: about half the peak memory of autograd through
the per-step loop).
"""

from __future__ import annotations

from typing import Any, Callable, Optional

import torch
from torch import Tensor

from ._config import LeakyConfig
from ._step import _step
from ._surrogate import fire_derivative

__all__ = ["spiking_sequence"]


def _sum_to(g: Tensor, like: Tensor) -> Tensor:
    if g.shape == like.shape:
        return g
    return g.sum_to_size(like.shape)


def _acc(acc: Optional[Tensor], v: Tensor) -> Tensor:
    return v if acc is None else acc.add_(v)


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
        kept: dict[str, list[Tensor]] = {n: [] for n in lay.saved}  # see the module docstring
        step_fire = fire
        if fire is spike_fn and getattr(spike_fn, "deterministic", False):
            # the same 0/1 values as the spike function, in one kernel and no autograd.Function
            one = torch.ones((), dtype=x.dtype, device=x.device)

            def heaviside_fire(v: Tensor) -> Tensor:
                return torch.heaviside(v, one)

            step_fire = heaviside_fire

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
        # Every tensor goes through save_for_backward, never a plain ctx attribute: the
        # last step's traces are also returned as final states, and a plain attribute
        # would make output -> grad_fn -> ctx -> output a reference cycle that only a
        # full garbage collection frees (the memory leak of training in sequence mode).
        flat = [v for n in lay.saved for v in kept[n]]
        ctx.save_for_backward(x, y, *states, *params, *flat)
        return (y, *lay.pack(lay.states, S))

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
        kept = {n: tuple(next(rest) for _ in range(T)) for n in lay.saved}
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

        def mem_after(t: int) -> dict[str, Tensor]:
            """Membrane(s) after step t's reset (kept for single, recomputed for dual layers)."""
            if t < 0:
                return {n: states0[n] for n in lay.membranes}
            if not dual:
                return {"mem": kept["mem"][t]}
            if kind == "B":
                half = outs[t] * th * 0.5
            else:
                half = (kept["pos_spike"][t] * pth + kept["neg_spike"][t] * nth) * 0.5
            return {"pos_mem": kept["pos_mem_pre"][t] - half, "neg_mem": kept["neg_mem_pre"][t] - half}

        def before(n: str, t: int) -> Tensor:
            """State ``n`` before step t (its kept value after step t - 1)."""
            return kept[n][t - 1] if t > 0 else states0[n]

        g_pp = g_np = g_u = d = zeros  # bound for every layout; each reads only its own
        for t in range(T - 1, -1, -1):
            xt = x[t]
            g_o = g_y[t] if g_y is not None else zeros
            if rec_on:
                g_o = g_o + G["prev_output"]
            Gm = G["pos_mem"] + G["neg_mem"] if dual else G["mem"]
            # ---- spike and reset
            if kind == "B":
                s = outs[t]
                # non-dual B keeps mem_pre - threshold
                v = (kept["pos_mem_pre"][t] + kept["neg_mem_pre"][t]) - th if dual else kept["fire_input"][t]
                fp = fire_derivative(spike_fn, quant_fn, v)
                g_s = torch.addcmul(g_o, neg_hth, Gm)  # g_o - h*th*Gm
                g_mem = fp.mul_(g_s)  # fp is a fresh tensor
                if need["threshold"]:
                    sub("threshold", torch.addcmul(g_mem, s, Gm, value=h))
            else:
                sp, sn = kept["pos_spike"][t], kept["neg_spike"][t]
                mem = kept["pos_mem_pre"][t] + kept["neg_mem_pre"][t] if dual else kept["mem_pre"][t]
                fp = fire_derivative(spike_fn, quant_fn, mem - pth)
                fn = fire_derivative(spike_fn, quant_fn, -nth - mem)
                if kind == "TS":
                    if need["pos_scale"]:
                        add_prod("pos_scale", g_o, sp)
                    if need["neg_scale"]:
                        add_prod("neg_scale", g_o, sn)
                    g_sp = torch.addcmul(g_o * psc, neg_hpth, Gm)
                    g_sn = torch.addcmul(g_o * nsc, neg_hnth, Gm)
                else:
                    g_sp = torch.addcmul(g_o, neg_hpth, Gm)
                    g_sn = torch.addcmul(g_o, neg_hnth, Gm)
                a_p = g_sp * fp
                a_n = g_sn * fn
                g_mem = a_p + a_n
                if need["pos_threshold"]:
                    sub("pos_threshold", torch.addcmul(a_p, sp, Gm, value=h))
                if need["neg_threshold"]:
                    add("neg_threshold", torch.addcmul(a_n, sn, Gm, value=-h))
            # ---- membrane (mem_pre = beta * mem_prev + u)
            prev_mem = mem_after(t - 1)
            direct_x = gx is not None and not (syn_on or rec_on or dual)
            if dual:
                g_pp = G["pos_mem"] + g_mem
                g_np = G["neg_mem"] + g_mem
                if need["pos_beta"]:
                    add_prod("pos_beta", g_pp, prev_mem["pos_mem"])
                if need["neg_beta"]:
                    add_prod("neg_beta", g_np, prev_mem["neg_mem"])
                G["pos_mem"] = P["pos_beta"] * g_pp
                G["neg_mem"] = P["neg_beta"] * g_np
            else:
                g_u = torch.add(G["mem"], g_mem, out=gx[t]) if direct_x else G["mem"] + g_mem  # type: ignore[index]
                if need["beta"]:
                    add_prod("beta", g_u, prev_mem["mem"])
                G["mem"] = P["beta"] * g_u
            # ---- drive d
            if dual:
                d = kept["pos_syn"][t] + kept["neg_syn"][t] if syn_on else xt
            # ---- recurrence
            if rec_on:
                o_prev = outs[t - 1] if t > 0 else states0["prev_output"]
                if dual:
                    pw, nw = P["pos_rec_weight"], P["neg_rec_weight"]
                    pg, ng = P["pos_gamma"], P["neg_gamma"]
                    r = kept["pos_rec"][t] + kept["neg_rec"][t]
                    r_pos = torch.clamp_min(r, 0.0)
                    rmask = r >= 0
                    if need["pos_rec_weight"]:
                        add_prod("pos_rec_weight", g_pp, r_pos)
                    if need["neg_rec_weight"]:
                        add_prod("neg_rec_weight", g_np, r - r_pos)
                    g_r = torch.where(rmask, g_pp * pw, g_np * nw)
                    g_pr = G["pos_rec"] + g_r
                    g_nr = G["neg_rec"] + g_r
                    o_pos = torch.clamp_min(o_prev, 0.0)
                    if need["pos_gamma"]:
                        add_prod("pos_gamma", g_pr, before("pos_rec", t) - o_pos)
                    if need["neg_gamma"]:
                        add_prod("neg_gamma", g_nr, before("neg_rec", t) - (o_prev - o_pos))
                    G["pos_rec"] = pg * g_pr
                    G["neg_rec"] = ng * g_nr
                    G["prev_output"] = torch.where(o_prev >= 0, (1.0 - pg) * g_pr, (1.0 - ng) * g_nr)
                    g_d = torch.where(d >= 0, g_pp, g_np)
                else:
                    w = P["rec_weight"]
                    gm = P["gamma"]
                    if need["rec_weight"]:
                        add_prod("rec_weight", g_u, kept["rec"][t])
                    g_rec = torch.addcmul(G["rec"], g_u, w)
                    if need["gamma"]:
                        add_prod("gamma", g_rec, before("rec", t) - o_prev)
                    G["rec"] = gm * g_rec
                    G["prev_output"] = (1.0 - gm) * g_rec
                    g_d = g_u
            elif dual:
                g_d = torch.where(d >= 0, g_pp, g_np)
            else:
                g_d = g_u
            # ---- synapse
            if syn_on:
                if dual:
                    pa, na = P["pos_alpha"], P["neg_alpha"]
                    g_ps = G["pos_syn"] + g_d
                    g_ns = G["neg_syn"] + g_d
                    x_pos = torch.clamp_min(xt, 0.0)
                    if need["pos_alpha"]:
                        add_prod("pos_alpha", g_ps, before("pos_syn", t) - x_pos)
                    if need["neg_alpha"]:
                        add_prod("neg_alpha", g_ns, before("neg_syn", t) - (xt - x_pos))
                    G["pos_syn"] = pa * g_ps
                    G["neg_syn"] = na * g_ns
                    if gx is not None:
                        torch.where(xt >= 0, (1.0 - pa) * g_ps, (1.0 - na) * g_ns, out=gx[t])
                else:
                    a = P["alpha"]
                    g_syn = G["syn"] + g_d
                    if need["alpha"]:
                        add_prod("alpha", g_syn, before("syn", t) - xt)
                    G["syn"] = a * g_syn
                    if gx is not None:
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
        cfg: A spiking configuration.
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
    """
    res = _SpikingBPTT.apply(cfg, spike_fn, quant_fn, fire, x, *states, *params)
    return res[0], tuple(res[1:])
