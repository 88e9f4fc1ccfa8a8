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


class _SpikingBPTT(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, cfg: LeakyConfig, spike_fn: Any, quant_fn: Any, fire: Callable[[Tensor], Tensor], n_states: int, x: Tensor, *tensors: Tensor):  # type: ignore[override]
        states = tuple(tensors[:n_states])
        params = tuple(tensors[n_states:])
        T = x.shape[0]
        dual = cfg.dual
        pre: list[tuple[Tensor, ...]] = []  # see the module docstring for what is kept
        spikes: list[tuple[Tensor, ...]] = []
        traj: list[tuple[Tensor, ...]] = []  # syn / rec traces after each step
        nm = 2 if dual else 1
        first_trace = nm
        last_trace = len(cfg.states) - (1 if cfg.recurrent else 0)
        step_fire = fire
        if fire is spike_fn and getattr(spike_fn, "deterministic", False):
            # the same 0/1 values as the spike function, in one kernel and no autograd.Function
            one = torch.ones((), dtype=x.dtype, device=x.device)

            def step_fire(v: Tensor) -> Tensor:
                return torch.heaviside(v, one)

        st = states
        y: Optional[Tensor] = None
        for t in range(T):
            out, st, extras = _step(cfg, x[t], st, params, step_fire)
            if y is None:
                y = torch.empty((T,) + tuple(out.shape), dtype=out.dtype, device=out.device)
            y[t].copy_(out)  # written in place: no list of T outputs next to the stacked copy
            if dual:
                pre.append(extras[:2])
            elif cfg.output == "B":
                pre.append((extras[2], st[0]))  # mem_pre - threshold, membrane after the reset
            else:
                pre.append((extras[0], st[0]))  # mem_pre, membrane after the reset
            if cfg.output != "B":
                spikes.append(extras[nm:])
            if last_trace > first_trace:
                traj.append(st[first_trace:last_trace])
        final = list(st)
        ctx.cfg = cfg
        ctx.spike_fn = spike_fn
        ctx.quant_fn = quant_fn
        ctx.n_states = n_states
        # Every tensor goes through save_for_backward, never a plain ctx attribute: the
        # last step's traces are also returned as final states, and a plain attribute
        # would make output -> grad_fn -> ctx -> output a reference cycle that only a
        # full garbage collection frees (the memory leak of training in sequence mode).
        ctx.n_params = len(params)
        ctx.lens = (len(pre[0]) if pre else 0, len(spikes[0]) if spikes else 0, len(traj[0]) if traj else 0)
        flat = [v for step in pre for v in step] + [v for step in spikes for v in step]
        flat += [v for step in traj for v in step]
        ctx.save_for_backward(x, y, *states, *params, *flat)
        return (y, *final)

    @staticmethod
    def _unpack(ctx: Any) -> tuple[tuple[Tensor, ...], list, list, list]:
        saved = ctx.saved_tensors
        head = 2 + ctx.n_states + ctx.n_params
        T = saved[0].shape[0]
        n_pre, n_spk, n_traj = ctx.lens
        rest = saved[head:]
        o = 0
        groups = []
        for n in (n_pre, n_spk, n_traj):
            groups.append([tuple(rest[o + t * n : o + (t + 1) * n]) for t in range(T)] if n else [])
            o += T * n
        return saved[:head], groups[0], groups[1], groups[2]

    @staticmethod
    def backward(ctx: Any, g_y: Optional[Tensor], *g_final: Optional[Tensor]):  # type: ignore[override]
        cfg: LeakyConfig = ctx.cfg
        saved, pre, spikes, traj = _SpikingBPTT._unpack(ctx)
        x = saved[0]
        outs = saved[1]  # the outputs: B spikes, and the previous output of R layers
        n_states = ctx.n_states
        states0 = saved[2 : 2 + n_states]
        params = saved[2 + n_states :]
        needs = ctx.needs_input_grad
        need_x = needs[5]
        need_s = needs[6 : 6 + n_states]
        need_p = needs[6 + n_states :]
        spike_fn, quant_fn = ctx.spike_fn, ctx.quant_fn
        T = x.shape[0]
        dual, syn_on, rec_on, kind = cfg.dual, cfg.synaptic, cfg.recurrent, cfg.output
        h = 0.5 if dual else 1.0
        zeros = torch.zeros_like(x[0])
        nm = 2 if dual else 1
        nk = 2 if dual else 1  # traces per kind (syn / rec)

        # adjoints of the states after the current step
        G = [g if g is not None else zeros for g in g_final]
        # parameter positions
        pi = 0
        ia = ig = 0
        if syn_on:
            ia = pi
            pi += nk
        ib = pi
        pi += nk
        if rec_on:
            ig = pi
            pi += nk
        ith = pi
        iw = len(params) - nk
        acc: list[Optional[Tensor]] = [None] * len(params)
        acc_neg: list[Optional[Tensor]] = [None] * len(params)

        def add(i: int, v: Tensor) -> None:
            a = acc[i]
            acc[i] = v if a is None else a.add_(v)

        def sub(i: int, v: Tensor) -> None:
            a = acc_neg[i]
            acc_neg[i] = v if a is None else a.add_(v)

        def add_prod(i: int, u: Tensor, v: Tensor) -> None:
            a = acc[i]
            acc[i] = u * v if a is None else a.addcmul_(u, v)

        gx = torch.empty(x.shape, dtype=x.dtype, device=x.device) if need_x else None
        si = nm  # index of the first syn state
        ri = nm + (nk if syn_on else 0)  # index of the first rec state
        if kind == "B":
            th = params[ith]
            neg_hth = th * (-h)
        else:
            pth, nth = params[ith], params[ith + 1]
            neg_hpth = pth * (-h)
            neg_hnth = nth * (-h)
            if kind == "TS":
                psc, nsc = params[ith + 2], params[ith + 3]

        def mem_after(t: int) -> tuple[Tensor, ...]:
            """Membrane(s) after step t's reset (kept for single, recomputed for dual layers)."""
            p = pre[t]
            if not dual:
                return (p[1],)
            if kind == "B":
                s = outs[t]
                if dual:
                    half = s * th * 0.5
                    return (p[0] - half, p[1] - half)
                return (p[0] - s * th,)
            sp, sn = spikes[t]
            if dual:
                half = (sp * pth + sn * nth) * 0.5
                return (p[0] - half, p[1] - half)
            return (p[0] - (sp * pth + sn * nth),)

        for t in range(T - 1, -1, -1):
            xt = x[t]
            g_o = g_y[t] if g_y is not None else zeros
            if rec_on:
                g_o = g_o + G[-1]
            Gm = G[0] + G[1] if dual else G[0]
            p = pre[t]
            # ---- spike and reset
            if kind == "B":
                s = outs[t]
                v = (p[0] + p[1]) - th if dual else p[0]  # non-dual B keeps mem_pre - threshold
                fp = fire_derivative(spike_fn, quant_fn, v)
                g_s = torch.addcmul(g_o, neg_hth, Gm)  # g_o - h*th*Gm
                g_mem = fp.mul_(g_s)  # fp is a fresh tensor
                if need_p[ith]:
                    sub(ith, torch.addcmul(g_mem, s, Gm, value=h))
            else:
                sp, sn = spikes[t]
                mem = p[0] + p[1] if dual else p[0]
                fp = fire_derivative(spike_fn, quant_fn, mem - pth)
                fn = fire_derivative(spike_fn, quant_fn, -nth - mem)
                if kind == "TS":
                    if need_p[ith + 2]:
                        add_prod(ith + 2, g_o, sp)
                    if need_p[ith + 3]:
                        add_prod(ith + 3, g_o, sn)
                    g_sp = torch.addcmul(g_o * psc, neg_hpth, Gm)
                    g_sn = torch.addcmul(g_o * nsc, neg_hnth, Gm)
                else:
                    g_sp = torch.addcmul(g_o, neg_hpth, Gm)
                    g_sn = torch.addcmul(g_o, neg_hnth, Gm)
                a_p = g_sp * fp
                a_n = g_sn * fn
                g_mem = a_p + a_n
                if need_p[ith]:
                    sub(ith, torch.addcmul(a_p, sp, Gm, value=h))
                if need_p[ith + 1]:
                    add(ith + 1, torch.addcmul(a_n, sn, Gm, value=-h))
            # ---- membrane (mem_pre = beta * mem_prev + u)
            prev_mem = mem_after(t - 1) if t > 0 else states0[:nm]
            direct_x = gx is not None and not (syn_on or rec_on or dual)
            if dual:
                g_pp = G[0] + g_mem
                g_np = G[1] + g_mem
                if need_p[ib]:
                    add_prod(ib, g_pp, prev_mem[0])
                if need_p[ib + 1]:
                    add_prod(ib + 1, g_np, prev_mem[1])
                G[0] = params[ib] * g_pp
                G[1] = params[ib + 1] * g_np
            else:
                g_u = torch.add(G[0], g_mem, out=gx[t]) if direct_x else G[0] + g_mem  # type: ignore[index]
                if need_p[ib]:
                    add_prod(ib, g_u, prev_mem[0])
                G[0] = params[ib] * g_u
            # ---- drive d
            if syn_on:
                cur_syn = traj[t][:nk]
                prev_syn = traj[t - 1][:nk] if t > 0 else states0[si : si + nk]
            if dual:
                d = cur_syn[0] + cur_syn[1] if syn_on else xt
            # ---- recurrence
            if rec_on:
                k = nk if syn_on else 0
                cur_rec = traj[t][k:]
                if t > 0:
                    prev_rec = traj[t - 1][k:]
                    o_prev = outs[t - 1]
                else:
                    prev_rec = states0[ri : ri + nk]
                    o_prev = states0[-1]
                if dual:
                    pw, nw = params[iw], params[iw + 1]
                    pg, ng = params[ig], params[ig + 1]
                    r = cur_rec[0] + cur_rec[1]
                    r_pos = torch.clamp_min(r, 0.0)
                    rmask = r >= 0
                    if need_p[iw]:
                        add_prod(iw, g_pp, r_pos)
                    if need_p[iw + 1]:
                        add_prod(iw + 1, g_np, r - r_pos)
                    g_r = torch.where(rmask, g_pp * pw, g_np * nw)
                    g_pr = G[ri] + g_r
                    g_nr = G[ri + 1] + g_r
                    o_pos = torch.clamp_min(o_prev, 0.0)
                    if need_p[ig]:
                        add_prod(ig, g_pr, prev_rec[0] - o_pos)
                    if need_p[ig + 1]:
                        add_prod(ig + 1, g_nr, prev_rec[1] - (o_prev - o_pos))
                    G[ri] = pg * g_pr
                    G[ri + 1] = ng * g_nr
                    G[-1] = torch.where(o_prev >= 0, (1.0 - pg) * g_pr, (1.0 - ng) * g_nr)
                    g_d = torch.where(d >= 0, g_pp, g_np)
                else:
                    w = params[iw]
                    gm = params[ig]
                    if need_p[iw]:
                        add_prod(iw, g_u, cur_rec[0])
                    g_rec = torch.addcmul(G[ri], g_u, w)
                    if need_p[ig]:
                        add_prod(ig, g_rec, prev_rec[0] - o_prev)
                    G[ri] = gm * g_rec
                    G[-1] = (1.0 - gm) * g_rec
                    g_d = g_u
            elif dual:
                g_d = torch.where(d >= 0, g_pp, g_np)
            else:
                g_d = g_u
            # ---- synapse
            if syn_on:
                if dual:
                    pa, na = params[ia], params[ia + 1]
                    g_ps = G[si] + g_d
                    g_ns = G[si + 1] + g_d
                    x_pos = torch.clamp_min(xt, 0.0)
                    if need_p[ia]:
                        add_prod(ia, g_ps, prev_syn[0] - x_pos)
                    if need_p[ia + 1]:
                        add_prod(ia + 1, g_ns, prev_syn[1] - (xt - x_pos))
                    G[si] = pa * g_ps
                    G[si + 1] = na * g_ns
                    if gx is not None:
                        torch.where(xt >= 0, (1.0 - pa) * g_ps, (1.0 - na) * g_ns, out=gx[t])
                else:
                    a = params[ia]
                    g_syn = G[si] + g_d
                    if need_p[ia]:
                        add_prod(ia, g_syn, prev_syn[0] - xt)
                    G[si] = a * g_syn
                    if gx is not None:
                        torch.mul(g_syn, 1.0 - a, out=gx[t])
            elif gx is not None and not direct_x:
                gx[t].copy_(g_d)

        g_states = [(_sum_to(G[i], states0[i]) if need_s[i] else None) for i in range(n_states)]
        g_params: list[Optional[Tensor]] = []
        for i in range(len(params)):
            a, b = acc[i], acc_neg[i]
            if not need_p[i] or (a is None and b is None):
                g_params.append(None)
                continue
            total = a if b is None else (-b if a is None else a - b)
            g_params.append(_sum_to(total, params[i]))
        return (None, None, None, None, None, gx, *g_states, *g_params)


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
    res = _SpikingBPTT.apply(cfg, spike_fn, quant_fn, fire, len(states), x, *states, *params)
    return res[0], tuple(res[1:])
