# Triton's `tl.constexpr` parameters take plain Python defaults and arithmetic, which its
# type stubs do not express:
# pyright: reportArgumentType=false, reportOperatorIssue=false
"""Triton kernels of the 32 leaky-integrator configurations (sequence and step).

Loaded lazily (never at package import). The configuration is a set of
compile-time flags – ``DUAL``, ``SYN`` (synaptic), ``REC`` (recurrent), ``KIND``
(0 LI, 1 EMA, 2 B, 3 T, 4 TS), ``SPIKE`` (0 sigmoid, 1 fast-sigmoid, 2 atan,
3 triangle, 4 straight-through Heaviside) and ``QUANT`` (0 round, 1 bernoulli,
2 probabilistic) – so every configuration compiles to its own straight-line kernel.
The neuron options are compile-time flags too (`_op.FLAG_NAMES`): ``RESET`` (0
subtract, 1 value, 2 none) with the float ``RESET_VALUE``, ``NEXT`` (the reset lands
on the next step; the pending spikes are the states ``I_PREV_SPIKE`` or
``I_PREV_POS_SPIKE``/``I_PREV_NEG_SPIKE``), ``DETACH`` (the backward only),
``DECAY_IN``, the float ``REST``, ``SYN_ADD``, ``ADAPT`` (the adaptive threshold:
state ``I_ADAPT``, parameters ``P_ADAPT_DECAY``, ``P_ADAPT_STRENGTH``) and ``REFRAC``
(the refractory period in steps, 0 for none: the counter state ``I_REFRAC``); the
maths is the reference's ``tracetorch.snn.functional._step``, operation by operation.

One program owns ``BLOCK`` contiguous elements of one timestep (``E = outer x N x inner``
elements in the caller's layout, neuron ``(e // INNER) % N``; ``INNER = 1`` when the
neurons are the last axis) and walks over time with every state in float32
registers; inputs are read in their dtype and converted, outputs cast on store.

Forward, when ``SAVE``: the only tensors stored for the backward pass are the
membranes before the reset (one, or two for dual layers) and, for synaptic and
recurrent layers, the synaptic and recurrent traces after each step (and the
adaptation trace and refractory counter with ``ADAPT``/``REFRAC``) – all float32
(``[NSAVE, T, E]``). Spikes are not stored: the backward pass recomputes them from
the saved membranes with the same instructions (and, for random quantisation, the
same Philox counters), so they are bit-identical to the forward ones. Single-pathway
LI/EMA layers with float32 outputs (``PRE_IN_OUT``) store no membrane: the output is
that membrane, bit for bit, and the backward reads it instead (LI: 20 instead of 24
bytes per neuron-step forward+backward in float32).

Backward: one reverse walk over time (BPTT) with the adjoints in registers. The
gradients of the parameters are summed over time in registers and written once per
element (``[NP, E]`` float32); the caller sums them over rows – no atomics.

All-to-all recurrence (``A2A``, ``all_to_all=True``, neurons along the last axis):
a program owns ``ROWS`` (16) whole batch rows instead, the ``N`` neurons of a row
padded to ``NPAD`` lanes (masked; offsets, Philox counters, loads and stores are the
unpadded layout's), and every step multiplies the recurrent trace by ``rec_matrix``
(``w_ptr``, ``[N, N]`` float32) with a float32 ``tl.dot`` (IEEE, not TF32), adding
``rec_bias`` (a row of ``p``). The BPTT kernel sends the dense term's adjoint back
through the same matrix and writes it per step (``gd_ptr``, ``[T, E]``); the launcher
then forms the ``rec_matrix`` gradient from it and the saved recurrent traces with
one matrix product. The dot sums in another order than ``F.linear``: these values are
close to the reference's, not bit-identical.

Launched with ``enable_fp_fusion=False``: no multiply-add contraction, so a membrane  # pyright: ignore[reportCallIssue]  (Triton launch options, not kernel arguments)
is rounded exactly as in the reference (a fused multiply-add could move it across
the threshold by one rounding and flip a spike).

Random numbers (``bernoulli``/``probabilistic`` with the sigmoid spike): Triton's
Philox ``tl.rand(seed, counter)`` with ``counter = 2 * (t * E + e)`` (``+ 1`` for the
negative spike of T/TS layers). The kernels read ``seed`` from a 0-d int64 tensor on
the device (``seed_ptr``; the caller draws it there per launch from the device's
default generator), so ``torch.manual_seed`` makes runs reproducible and a captured
CUDA graph draws anew on every replay. These draws are not the ones
``torch.bernoulli`` makes on the reference path.
"""

from __future__ import annotations

from typing import Any, Optional, Union, cast

import torch
import triton
import triton.language as tl
from torch import Tensor
from tracetorch.snn.functional import LeakyConfig  # pyright: ignore[reportMissingImports]

from ..._launch import device_guard, elements_per_thread, launch_shape, sm_count
from ._op import FLAG_NAMES, _bits_float, a2a_pad, flags_config, reuses_output, slot_constants

BLOCK_OVERRIDE = 0
"""Tests set this to force small blocks (several programs, a partial last block)."""

POISON = False
"""Tests set this to fill every buffer a kernel writes with NaN before the launch, so
that an element the kernel fails to write shows up."""


def _empty_like(t: Tensor) -> Tensor:
    return torch.full_like(t, float("nan")) if POISON else torch.empty_like(t)


def _empty(shape: tuple[int, ...], dtype: torch.dtype, device: torch.device) -> Tensor:
    if POISON:
        return torch.full(shape, float("nan"), dtype=dtype, device=device)
    return torch.empty(shape, dtype=dtype, device=device)


__all__ = ["leaky_forward", "leaky_backward"]


@triton.jit
def _prob(v, SPIKE: tl.constexpr, SPARAM):
    """Forward value of the spike function: the firing probability (sigmoid) or 0/1."""
    if SPIKE == 0:
        p = 1.0 / (1.0 + tl.exp(-(SPARAM * v)))
    else:
        p = tl.where(v >= 0.0, 1.0, 0.0)
    return p


@triton.jit
def _fire(v, r, SPIKE: tl.constexpr, SPARAM, QUANT: tl.constexpr):
    """``quant_fn(spike_fn(v))`` with ``r`` a uniform draw (unused when not random)."""
    p = _prob(v, SPIKE, SPARAM)
    if SPIKE == 0:
        if QUANT == 0:
            s = tl.where(p > 0.5, 1.0, 0.0)
        elif QUANT == 1:
            s = tl.where(r < p, 1.0, 0.0)
        else:
            s = p * tl.where(r < p, 1.0, 0.0)
    else:
        s = p
    return s


@triton.jit
def _dfire(v, SPIKE: tl.constexpr, SPARAM, QUANT: tl.constexpr):
    """``d quant_fn(spike_fn(v)) / dv``: surrogate derivative times the quantiser's."""
    if SPIKE == 0:
        sg = 1.0 / (1.0 + tl.exp(-(SPARAM * v)))
        d = (1.0 - sg) * sg * SPARAM
    elif SPIKE == 1:
        q = SPARAM * tl.abs(v) + 1.0
        d = 1.0 / (q * q)
    elif SPIKE == 2:
        z = 1.5707963267948966 * SPARAM * v
        d = (SPARAM / 2.0) / (1.0 + z * z)
    elif SPIKE == 3:
        q = 1.0 - tl.abs(v) / SPARAM
        d = tl.where(q < 0.0, 0.0, q) / SPARAM  # clamp(min=0) that keeps NaN, as torch.clamp
    else:
        d = tl.zeros_like(v) + SPARAM
    if QUANT == 2:
        d = d * (2.0 * _prob(v, SPIKE, SPARAM))
    return d


@triton.jit
def _neg(v):
    """``min(v, 0)`` as ``torch.clamp_max(v, 0.0)``: NaN stays NaN (``tl.minimum``
    would drop it)."""
    return tl.where(v > 0.0, 0.0, v)


@triton.jit
def _pos(v):
    """``v - min(v, 0)``, the reference's positive part (NaN and infinities as there)."""
    return v - _neg(v)


@triton.jit
def _reset_to(mem, a, VALUE: tl.constexpr):
    """``(1 - a)*mem + a*VALUE``: the membrane set to ``VALUE`` where ``a`` is 1 (the
    reference's ``_reset_to``, same operations in the same order)."""
    kept = (1.0 - a) * mem
    if VALUE != 0.0:
        kept = kept + a * VALUE
    return kept


@triton.jit
def _pending(q1, q2, th, nth, KIND: tl.constexpr, RESET: tl.constexpr):
    """The reset of the previous step's spikes ``q1`` (``q2``: the negative one of T/TS)
    as ``reset_timing="next"`` applies it: scaled by the thresholds (subtract) or the
    spike magnitude itself (value)."""
    if KIND == 2:
        if RESET == 0:
            ra = q1 * th
        else:
            ra = q1
    else:
        if RESET == 0:
            ra = q1 * th + q2 * nth
        else:
            ra = q1 - q2
    return ra


@triton.jit
def _pending_grad(g_ra, q1, q2, th, nth, d_th, d_nth, KIND: tl.constexpr, RESET: tl.constexpr):
    """The backward of `_pending`: the adjoints of the pending spikes from ``g_ra`` (the
    adjoint of the pending reset), and the threshold gradients with its share added."""
    g1 = g_ra
    g2 = tl.zeros_like(g_ra)
    if KIND == 2:
        if RESET == 0:
            g1 = g_ra * th
            d_th += g_ra * q1
    else:
        if RESET == 0:
            g1 = g_ra * th
            g2 = g_ra * nth
            d_th += g_ra * q1
            d_nth += g_ra * q2
        else:
            g2 = -g_ra
    return g1, g2, d_th, d_nth


@triton.jit
def _output_stage(
    pp,
    pn,
    th,
    nth,
    psc,
    nsc,
    seed,
    cnt,
    SPARAM,
    DUAL: tl.constexpr,
    KIND: tl.constexpr,
    SPIKE: tl.constexpr,
    QUANT: tl.constexpr,
    # neuron options
    RESET: tl.constexpr,
    NEXT: tl.constexpr,
    RESET_VALUE: tl.constexpr,
    # adaptive threshold and refractory period
    rf,
    REFRAC: tl.constexpr,
):
    """Spikes, membranes after the reset, and output from the membranes before it.

    ``th`` is the threshold of B layers and the positive threshold of T/TS layers (the
    adapted ones with ``ADAPT``: the caller passes the thresholds in effect).
    ``RESET`` 0 subtracts the threshold, 1 sets the membrane to ``RESET_VALUE`` (dual:
    each pathway to half of it), 2 (none) and ``NEXT`` (the reset lands on the next
    step) leave it. With ``REFRAC``, neurons whose counter ``rf`` (before the step) is
    positive do not spike (their spikes are 0 before the reset).
    """
    if DUAL:
        mem = pp + pn
    else:
        mem = pp
    zero = tl.zeros_like(pp)
    if (SPIKE == 0) and (QUANT != 0):
        r1 = tl.rand(seed, 2 * cnt)
        r2 = tl.rand(seed, 2 * cnt + 1)
    else:
        r1 = zero
        r2 = zero
    if KIND <= 1:
        s1 = zero
        s2 = zero
        qp = pp
        qn = pn
        out = mem
    elif KIND == 2:
        s1 = _fire(mem - th, r1, SPIKE, SPARAM, QUANT)
        if REFRAC > 0:
            s1 = tl.where(rf > 0.0, 0.0, s1)  # silenced: the reference's masked_fill
        s2 = zero
        if NEXT or RESET == 2:
            qp = pp
            qn = pn
        elif RESET == 1:
            if DUAL:
                qp = _reset_to(pp, s1, RESET_VALUE * 0.5)
                qn = _reset_to(pn, s1, RESET_VALUE * 0.5)
            else:
                qp = _reset_to(pp, s1, RESET_VALUE)
                qn = pn
        elif DUAL:
            half = s1 * th * 0.5
            qp = pp - half
            qn = pn - half
        else:
            qp = pp - s1 * th
            qn = pn
        out = s1
    else:
        s1 = _fire(mem - th, r1, SPIKE, SPARAM, QUANT)
        s2 = -_fire(-nth - mem, r2, SPIKE, SPARAM, QUANT)
        if REFRAC > 0:
            s1 = tl.where(rf > 0.0, 0.0, s1)
            s2 = tl.where(rf > 0.0, 0.0, s2)
        if NEXT or RESET == 2:
            qp = pp
            qn = pn
        elif RESET == 1:
            if DUAL:
                qp = _reset_to(pp, s1 - s2, RESET_VALUE * 0.5)
                qn = _reset_to(pn, s1 - s2, RESET_VALUE * 0.5)
            else:
                qp = _reset_to(pp, s1 - s2, RESET_VALUE)
                qn = pn
        elif DUAL:
            half = (s1 * th + s2 * nth) * 0.5
            qp = pp - half
            qn = pn - half
        else:
            qp = pp - (s1 * th + s2 * nth)
            qn = pn
        if KIND == 3:
            out = s1 + s2
        else:
            out = psc * s1 + nsc * s2
    return s1, s2, qp, qn, out


@triton.jit
def _ld(ptr, idx, mask):
    return tl.load(ptr + idx, mask=mask, other=0.0).to(tl.float32)


@triton.jit
def _a2a_tile(w_ptr, N, NPAD: tl.constexpr, TRANSPOSE: tl.constexpr):
    """All-to-all recurrence: ``rec_matrix`` (``[N, N]`` float32) as an ``[NPAD, NPAD]``
    tile, zero outside ``[N, N]``; transposed (``tile[k, n] = W[n, k]``, the forward
    product ``rec @ W^T``) or as it is (the adjoint ``g @ W``)."""
    i = tl.arange(0, NPAD)
    r = i[:, None]
    c = i[None, :]
    m = (r < N) & (c < N)
    if TRANSPOSE:
        tile = tl.load(w_ptr + c * N + r, mask=m, other=0.0)
    else:
        tile = tl.load(w_ptr + r * N + c, mask=m, other=0.0)
    return tile


@triton.jit
def _a2a(v, tile, mask, ROWS: tl.constexpr, NPAD: tl.constexpr, BLOCK: tl.constexpr):
    """All-to-all recurrence: each of the ``ROWS`` rows of ``v`` (``NPAD`` lanes each,
    masked lanes taken as 0) times ``tile``, as a float32 ``tl.dot`` (IEEE, not TF32)."""
    v2 = tl.reshape(tl.where(mask, v, 0.0), [ROWS, NPAD])
    return tl.reshape(tl.dot(v2, tile, input_precision="ieee"), [BLOCK])


@triton.jit(do_not_specialize=["T", "N", "INNER", "T0"])
def _leaky_fwd_kernel(
    x_ptr,
    s0_ptr,
    p_ptr,
    out_ptr,
    sf_ptr,
    sv_ptr,
    seed_ptr,
    T,
    E,
    N,
    INNER,
    T0,
    SPARAM,
    DUAL: tl.constexpr,
    SYN: tl.constexpr,
    REC: tl.constexpr,
    KIND: tl.constexpr,
    SPIKE: tl.constexpr,
    QUANT: tl.constexpr,
    SAVE: tl.constexpr,
    CKPT: tl.constexpr,
    STRIDED: tl.constexpr,
    # state slots in s0/sf
    I_POS_MEM: tl.constexpr,
    I_NEG_MEM: tl.constexpr,
    I_POS_SYN: tl.constexpr,
    I_NEG_SYN: tl.constexpr,
    I_POS_REC: tl.constexpr,
    I_NEG_REC: tl.constexpr,
    I_PREV_OUTPUT: tl.constexpr,
    # parameter rows in p
    P_POS_ALPHA: tl.constexpr,
    P_NEG_ALPHA: tl.constexpr,
    P_POS_BETA: tl.constexpr,
    P_NEG_BETA: tl.constexpr,
    P_POS_GAMMA: tl.constexpr,
    P_NEG_GAMMA: tl.constexpr,
    P_THRESHOLD: tl.constexpr,
    P_POS_THRESHOLD: tl.constexpr,
    P_NEG_THRESHOLD: tl.constexpr,
    P_POS_SCALE: tl.constexpr,
    P_NEG_SCALE: tl.constexpr,
    P_POS_REC_WEIGHT: tl.constexpr,
    P_NEG_REC_WEIGHT: tl.constexpr,
    # saved slots
    V_POS_MEM_PRE: tl.constexpr,
    V_NEG_MEM_PRE: tl.constexpr,
    V_POS_SYN: tl.constexpr,
    V_NEG_SYN: tl.constexpr,
    V_POS_REC: tl.constexpr,
    V_NEG_REC: tl.constexpr,
    BLOCK: tl.constexpr,
    # neuron options (defaults: the classic configurations); PRE_IN_OUT: the output is the saved membrane
    RESET: tl.constexpr = 0,
    NEXT: tl.constexpr = False,
    DETACH: tl.constexpr = False,
    DECAY_IN: tl.constexpr = False,
    SYN_ADD: tl.constexpr = False,
    RESET_VALUE: tl.constexpr = 0.0,
    REST: tl.constexpr = 0.0,
    I_PREV_SPIKE: tl.constexpr = 0,
    I_PREV_POS_SPIKE: tl.constexpr = 0,
    I_PREV_NEG_SPIKE: tl.constexpr = 0,
    PRE_IN_OUT: tl.constexpr = False,
    # adaptive threshold and refractory period
    ADAPT: tl.constexpr = False,
    REFRAC: tl.constexpr = 0,
    I_ADAPT: tl.constexpr = 0,
    I_REFRAC: tl.constexpr = 0,
    P_ADAPT_DECAY: tl.constexpr = 0,
    P_ADAPT_STRENGTH: tl.constexpr = 0,
    V_ADAPT: tl.constexpr = 0,
    V_REFRAC: tl.constexpr = 0,
    # all-to-all recurrence: ROWS whole batch rows per program, N neurons padded to NPAD
    # lanes; rec_bias is row P_REC_BIAS of p, rec_matrix ([N, N] float32) at w_ptr
    A2A: tl.constexpr = False,
    NPAD: tl.constexpr = 16,
    ROWS: tl.constexpr = 16,
    P_REC_BIAS: tl.constexpr = 0,
    w_ptr=None,
):
    pid = tl.program_id(0)
    if A2A:
        # all-to-all recurrence: ROWS whole rows of N neurons, each padded to NPAD lanes;
        # the lanes col >= N are masked, so offsets, Philox counters, loads and stores
        # are those of the unpadded layout
        lane = tl.arange(0, BLOCK)
        col = lane % NPAD
        offs = (pid.to(tl.int64) * ROWS + lane // NPAD) * N + col
        mask = (col < N) & (offs < E)
        nrn = col
    else:
        # 64-bit offsets from the start: ``pid * BLOCK`` in int32 would wrap at 2**31
        # elements per step, and ``t * E`` over the sequence much sooner
        offs = pid.to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
        mask = offs < E
        # a step is [outer, N, inner] (neurons along any axis); STRIDED is INNER != 1, so
        # that neurons-last layers pay no second 64-bit division
        if STRIDED:
            nrn = (offs // INNER) % N
        else:
            nrn = offs % N
    zero = tl.zeros([BLOCK], dtype=tl.float32)
    E = E.to(tl.int64)
    TE = T * E
    if (KIND >= 2) and (SPIKE == 0) and (QUANT != 0):
        seed = tl.load(seed_ptr)  # the launch's Philox key, read on the device
    else:
        seed = 0
    T0E = T0.to(tl.int64) * E  # Philox counters of a segment starting at step T0
    # parameters (float32, per neuron)
    pb = _ld(p_ptr, P_POS_BETA * N + nrn, mask)
    nb = zero
    pa = zero
    na = zero
    pg = zero
    ng = zero
    pw = zero
    nw = zero
    th = zero
    nth = zero
    psc = zero
    nsc = zero
    if DUAL:
        nb = _ld(p_ptr, P_NEG_BETA * N + nrn, mask)
    if SYN:
        pa = _ld(p_ptr, P_POS_ALPHA * N + nrn, mask)
        if DUAL:
            na = _ld(p_ptr, P_NEG_ALPHA * N + nrn, mask)
    if REC:
        pg = _ld(p_ptr, P_POS_GAMMA * N + nrn, mask)
        pw = _ld(p_ptr, P_POS_REC_WEIGHT * N + nrn, mask)
        if DUAL:
            ng = _ld(p_ptr, P_NEG_GAMMA * N + nrn, mask)
            nw = _ld(p_ptr, P_NEG_REC_WEIGHT * N + nrn, mask)
    if KIND == 2:
        th = _ld(p_ptr, P_THRESHOLD * N + nrn, mask)
    if KIND >= 3:
        th = _ld(p_ptr, P_POS_THRESHOLD * N + nrn, mask)
    if KIND >= 3:
        nth = _ld(p_ptr, P_NEG_THRESHOLD * N + nrn, mask)
    if KIND == 4:
        psc = _ld(p_ptr, P_POS_SCALE * N + nrn, mask)
        nsc = _ld(p_ptr, P_NEG_SCALE * N + nrn, mask)
    rho = zero  # adaptive threshold: the trace's decay and the threshold's strength
    ast = zero
    if ADAPT:
        rho = _ld(p_ptr, P_ADAPT_DECAY * N + nrn, mask)
        ast = _ld(p_ptr, P_ADAPT_STRENGTH * N + nrn, mask)
    rb = zero
    if A2A:
        # all-to-all recurrence: rec_bias, and rec_matrix transposed (once, for every step)
        rb = _ld(p_ptr, P_REC_BIAS * N + nrn, mask)
        wt = _a2a_tile(w_ptr, N, NPAD, True)
    # states (float32 registers)
    pm = _ld(s0_ptr, I_POS_MEM * E + offs, mask)
    nm = zero
    ps = zero
    ns = zero
    pr = zero
    nr = zero
    o = zero
    if DUAL:
        nm = _ld(s0_ptr, I_NEG_MEM * E + offs, mask)
    if SYN:
        ps = _ld(s0_ptr, I_POS_SYN * E + offs, mask)
        if DUAL:
            ns = _ld(s0_ptr, I_NEG_SYN * E + offs, mask)
    if REC:
        pr = _ld(s0_ptr, I_POS_REC * E + offs, mask)
        o = _ld(s0_ptr, I_PREV_OUTPUT * E + offs, mask)
        if DUAL:
            nr = _ld(s0_ptr, I_NEG_REC * E + offs, mask)
    q1 = zero  # the pending spikes of reset_timing="next"
    q2 = zero
    if NEXT:
        if KIND == 2:
            q1 = _ld(s0_ptr, I_PREV_SPIKE * E + offs, mask)
        else:
            q1 = _ld(s0_ptr, I_PREV_POS_SPIKE * E + offs, mask)
            q2 = _ld(s0_ptr, I_PREV_NEG_SPIKE * E + offs, mask)
    ad = zero  # the adaptation trace
    rf = zero  # the refractory counter
    if ADAPT:
        ad = _ld(s0_ptr, I_ADAPT * E + offs, mask)
    if REFRAC > 0:
        rf = _ld(s0_ptr, I_REFRAC * E + offs, mask)
    for t in range(T):
        idx = t * E + offs
        x = _ld(x_ptr, idx, mask)
        if DUAL:
            if SYN and SYN_ADD:
                ps = pa * ps + _pos(x)
                ns = na * ns + _neg(x)
                d = ps + ns
            elif SYN:
                ps = pa * ps + (1.0 - pa) * _pos(x)
                ns = na * ns + (1.0 - na) * _neg(x)
                d = ps + ns
            else:
                d = x
            if REC:
                pr = pg * pr + (1.0 - pg) * _pos(o)
                nr = ng * nr + (1.0 - ng) * _neg(o)
                r = pr + nr
                if A2A:
                    # all-to-all recurrence: one matrix over the summed trace; its sign picks the pathway
                    wv = _a2a(r, wt, mask, ROWS, NPAD, BLOCK) + rb
                    up = _pos(d) + _pos(wv)
                    un = _neg(d) + _neg(wv)
                else:
                    up = _pos(d) + pw * _pos(r)
                    un = _neg(d) + nw * _neg(r)
            else:
                up = _pos(d)
                un = _neg(d)
            if NEXT:
                ra = _pending(q1, q2, th, nth, KIND, RESET)
                if RESET == 1:
                    pm = _reset_to(pm, ra, RESET_VALUE * 0.5)
                    nm = _reset_to(nm, ra, RESET_VALUE * 0.5)
            if KIND == 1 or DECAY_IN:
                pp = pb * pm + (1.0 - pb) * up
                pn = nb * nm + (1.0 - nb) * un
            else:
                pp = pb * pm + up
                pn = nb * nm + un
            if REST != 0.0:
                pp = pp + (1.0 - pb) * (REST * 0.5)
                pn = pn + (1.0 - nb) * (REST * 0.5)
            if NEXT and RESET == 0:
                half_prev = ra * 0.5
                pp = pp - half_prev
                pn = pn - half_prev
            if REFRAC > 0:
                # refractory: each pathway held at its value after any pending reset
                if NEXT and RESET == 0:
                    pp = tl.where(rf > 0.0, pm - half_prev, pp)
                    pn = tl.where(rf > 0.0, nm - half_prev, pn)
                else:
                    pp = tl.where(rf > 0.0, pm, pp)
                    pn = tl.where(rf > 0.0, nm, pn)
        else:
            if SYN and SYN_ADD:
                ps = pa * ps + x
                d = ps
            elif SYN:
                ps = pa * ps + (1.0 - pa) * x
                d = ps
            else:
                d = x
            if REC:
                pr = pg * pr + (1.0 - pg) * o
                if A2A:
                    # all-to-all recurrence: in u when the input decays, else added after the
                    # leak (snnTorch RLeaky's order, as the reference)
                    dense = _a2a(pr, wt, mask, ROWS, NPAD, BLOCK) + rb
                    if DECAY_IN:
                        u = d + dense
                    else:
                        u = d
                else:
                    u = d + pw * pr
            else:
                u = d
            if NEXT:
                ra = _pending(q1, q2, th, nth, KIND, RESET)
                if RESET == 1:
                    pm = _reset_to(pm, ra, RESET_VALUE)
            if KIND == 1 or DECAY_IN:
                pp = pb * pm + (1.0 - pb) * u
            else:
                pp = pb * pm + u
            if REC and A2A and not DECAY_IN:
                pp = pp + dense
            if REST != 0.0:
                pp = pp + (1.0 - pb) * REST
            if NEXT and RESET == 0:
                pp = pp - ra
            if REFRAC > 0:
                # refractory: the membrane held at its value after any pending reset
                if NEXT and RESET == 0:
                    pp = tl.where(rf > 0.0, pm - ra, pp)
                else:
                    pp = tl.where(rf > 0.0, pm, pp)
            pn = zero
        eth = th  # the thresholds in effect (adapted with ADAPT)
        enth = nth
        if ADAPT:
            eth = th + ast * ad
            if KIND >= 3:
                enth = nth + ast * ad
        s1, s2, pm, nm, o = _output_stage(
            pp, pn, eth, enth, psc, nsc, seed, idx + T0E, SPARAM, DUAL, KIND, SPIKE, QUANT, RESET, NEXT, RESET_VALUE,
            rf, REFRAC,
        )  # fmt: skip
        if NEXT:
            q1 = s1
            q2 = s2
        if ADAPT or REFRAC > 0:
            # the states the spike magnitude a drives
            if KIND == 2:
                a = s1
            else:
                a = s1 - s2
            if ADAPT:
                ad = rho * ad + (1.0 - rho) * a
            if REFRAC > 0:
                left = rf - 1.0
                left = tl.where(left < 0.0, 0.0, left)  # clamp_min that keeps NaN
                rf = tl.where(a != 0.0, REFRAC * 1.0, left)
        tl.store(out_ptr + idx, o.to(out_ptr.dtype.element_ty), mask=mask)
        if CKPT > 0:
            # checkpointed BPTT: the states after every CKPT-th step (not after the
            # last one), float32 [NS, (T - 1) // CKPT, E]
            if ((t + 1) % CKPT == 0) and (t + 1 < T):
                CE = ((T - 1) // CKPT) * E
                cidx = ((t + 1) // CKPT - 1) * E + offs
                tl.store(sv_ptr + I_POS_MEM * CE + cidx, pm, mask=mask)
                if DUAL:
                    tl.store(sv_ptr + I_NEG_MEM * CE + cidx, nm, mask=mask)
                if SYN:
                    tl.store(sv_ptr + I_POS_SYN * CE + cidx, ps, mask=mask)
                    if DUAL:
                        tl.store(sv_ptr + I_NEG_SYN * CE + cidx, ns, mask=mask)
                if REC:
                    tl.store(sv_ptr + I_POS_REC * CE + cidx, pr, mask=mask)
                    tl.store(sv_ptr + I_PREV_OUTPUT * CE + cidx, o, mask=mask)
                    if DUAL:
                        tl.store(sv_ptr + I_NEG_REC * CE + cidx, nr, mask=mask)
                if NEXT:
                    # the pending spikes of reset_timing="next" are states too
                    if KIND == 2:
                        tl.store(sv_ptr + I_PREV_SPIKE * CE + cidx, q1, mask=mask)
                    else:
                        tl.store(sv_ptr + I_PREV_POS_SPIKE * CE + cidx, q1, mask=mask)
                        tl.store(sv_ptr + I_PREV_NEG_SPIKE * CE + cidx, q2, mask=mask)
                if ADAPT:
                    tl.store(sv_ptr + I_ADAPT * CE + cidx, ad, mask=mask)
                if REFRAC > 0:
                    tl.store(sv_ptr + I_REFRAC * CE + cidx, rf, mask=mask)
        if SAVE:
            if not PRE_IN_OUT:
                tl.store(sv_ptr + V_POS_MEM_PRE * TE + idx, pp, mask=mask)
            if DUAL:
                tl.store(sv_ptr + V_NEG_MEM_PRE * TE + idx, pn, mask=mask)
            if SYN:
                tl.store(sv_ptr + V_POS_SYN * TE + idx, ps, mask=mask)
                if DUAL:
                    tl.store(sv_ptr + V_NEG_SYN * TE + idx, ns, mask=mask)
            if REC:
                tl.store(sv_ptr + V_POS_REC * TE + idx, pr, mask=mask)
                if DUAL:
                    tl.store(sv_ptr + V_NEG_REC * TE + idx, nr, mask=mask)
            if ADAPT:
                tl.store(sv_ptr + V_ADAPT * TE + idx, ad, mask=mask)
            if REFRAC > 0:
                tl.store(sv_ptr + V_REFRAC * TE + idx, rf, mask=mask)
    ty = sf_ptr.dtype.element_ty
    tl.store(sf_ptr + I_POS_MEM * E + offs, pm.to(ty), mask=mask)
    if DUAL:
        tl.store(sf_ptr + I_NEG_MEM * E + offs, nm.to(ty), mask=mask)
    if SYN:
        tl.store(sf_ptr + I_POS_SYN * E + offs, ps.to(ty), mask=mask)
        if DUAL:
            tl.store(sf_ptr + I_NEG_SYN * E + offs, ns.to(ty), mask=mask)
    if REC:
        tl.store(sf_ptr + I_POS_REC * E + offs, pr.to(ty), mask=mask)
        tl.store(sf_ptr + I_PREV_OUTPUT * E + offs, o.to(ty), mask=mask)
        if DUAL:
            tl.store(sf_ptr + I_NEG_REC * E + offs, nr.to(ty), mask=mask)
    if NEXT:
        if KIND == 2:
            tl.store(sf_ptr + I_PREV_SPIKE * E + offs, q1.to(ty), mask=mask)
        else:
            tl.store(sf_ptr + I_PREV_POS_SPIKE * E + offs, q1.to(ty), mask=mask)
            tl.store(sf_ptr + I_PREV_NEG_SPIKE * E + offs, q2.to(ty), mask=mask)
    if ADAPT:
        tl.store(sf_ptr + I_ADAPT * E + offs, ad.to(ty), mask=mask)
    if REFRAC > 0:
        tl.store(sf_ptr + I_REFRAC * E + offs, rf.to(ty), mask=mask)


@triton.jit
def _recall(
    sv_ptr,
    s0_ptr,
    t,
    offs,
    mask,
    E,
    TE,
    T0E,
    th,
    nth,
    psc,
    nsc,
    seed,
    SPARAM,
    DUAL: tl.constexpr,
    SYN: tl.constexpr,
    REC: tl.constexpr,
    KIND: tl.constexpr,
    SPIKE: tl.constexpr,
    QUANT: tl.constexpr,
    I_POS_MEM: tl.constexpr,
    I_NEG_MEM: tl.constexpr,
    I_POS_SYN: tl.constexpr,
    I_NEG_SYN: tl.constexpr,
    I_POS_REC: tl.constexpr,
    I_NEG_REC: tl.constexpr,
    I_PREV_OUTPUT: tl.constexpr,
    V_POS_MEM_PRE: tl.constexpr,
    V_NEG_MEM_PRE: tl.constexpr,
    V_POS_SYN: tl.constexpr,
    V_NEG_SYN: tl.constexpr,
    V_POS_REC: tl.constexpr,
    V_NEG_REC: tl.constexpr,
    # neuron options
    out_ptr,
    RESET: tl.constexpr,
    NEXT: tl.constexpr,
    RESET_VALUE: tl.constexpr,
    I_PREV_SPIKE: tl.constexpr,
    I_PREV_POS_SPIKE: tl.constexpr,
    I_PREV_NEG_SPIKE: tl.constexpr,
    PRE_IN_OUT: tl.constexpr,
    # adaptive threshold and refractory period
    ast,
    ADAPT: tl.constexpr,
    REFRAC: tl.constexpr,
    I_ADAPT: tl.constexpr,
    I_REFRAC: tl.constexpr,
    V_ADAPT: tl.constexpr,
    V_REFRAC: tl.constexpr,
):
    """The forward values of step ``t`` (``t = -1``: the initial states), recomputed.

    Returns the membranes before the reset, the spikes, the membranes after the
    reset, the output and the synaptic and recurrent traces of that step, and the
    adaptation trace and refractory counter before it (``ADAPT``/``REFRAC``; 0 for
    ``t = -1``), which the spikes of step ``t`` were computed with. With ``NEXT`` the
    spikes of ``t = -1`` are the pending ones of the initial states; with
    ``PRE_IN_OUT`` the membrane is read from the output.
    """
    zero = tl.zeros_like(th)
    adb = zero
    rfb = zero
    pn = zero
    ps = zero
    ns = zero
    pr = zero
    nr = zero
    s1 = zero
    s2 = zero
    if t >= 0:
        idx = t * E + offs
        if PRE_IN_OUT:
            pp = _ld(out_ptr, idx, mask)
        else:
            pp = _ld(sv_ptr, V_POS_MEM_PRE * TE + idx, mask)
        if DUAL:
            pn = _ld(sv_ptr, V_NEG_MEM_PRE * TE + idx, mask)
        if SYN:
            ps = _ld(sv_ptr, V_POS_SYN * TE + idx, mask)
            if DUAL:
                ns = _ld(sv_ptr, V_NEG_SYN * TE + idx, mask)
        if REC:
            pr = _ld(sv_ptr, V_POS_REC * TE + idx, mask)
            if DUAL:
                nr = _ld(sv_ptr, V_NEG_REC * TE + idx, mask)
        if ADAPT or REFRAC > 0:
            # the trace and counter before step t: saved after step t - 1, or the initial states
            if t > 0:
                if ADAPT:
                    adb = _ld(sv_ptr, V_ADAPT * TE + idx - E, mask)
                if REFRAC > 0:
                    rfb = _ld(sv_ptr, V_REFRAC * TE + idx - E, mask)
            else:
                if ADAPT:
                    adb = _ld(s0_ptr, I_ADAPT * E + offs, mask)
                if REFRAC > 0:
                    rfb = _ld(s0_ptr, I_REFRAC * E + offs, mask)
        eth = th
        enth = nth
        if ADAPT:
            eth = th + ast * adb
            if KIND >= 3:
                enth = nth + ast * adb
        s1, s2, qp, qn, o = _output_stage(
            pp, pn, eth, enth, psc, nsc, seed, idx + T0E, SPARAM, DUAL, KIND, SPIKE, QUANT, RESET, NEXT, RESET_VALUE,
            rfb, REFRAC,
        )  # fmt: skip
    else:
        pp = _ld(s0_ptr, I_POS_MEM * E + offs, mask)
        if DUAL:
            pn = _ld(s0_ptr, I_NEG_MEM * E + offs, mask)
        if SYN:
            ps = _ld(s0_ptr, I_POS_SYN * E + offs, mask)
            if DUAL:
                ns = _ld(s0_ptr, I_NEG_SYN * E + offs, mask)
        o = zero
        if REC:
            pr = _ld(s0_ptr, I_POS_REC * E + offs, mask)
            o = _ld(s0_ptr, I_PREV_OUTPUT * E + offs, mask)
            if DUAL:
                nr = _ld(s0_ptr, I_NEG_REC * E + offs, mask)
        if NEXT:
            if KIND == 2:
                s1 = _ld(s0_ptr, I_PREV_SPIKE * E + offs, mask)
            else:
                s1 = _ld(s0_ptr, I_PREV_POS_SPIKE * E + offs, mask)
                s2 = _ld(s0_ptr, I_PREV_NEG_SPIKE * E + offs, mask)
        qp = pp
        qn = pn
    return pp, pn, s1, s2, qp, qn, o, ps, ns, pr, nr, adb, rfb


@triton.jit(do_not_specialize=["T", "N", "INNER", "T0"])
def _leaky_bwd_kernel(
    x_ptr,
    s0_ptr,
    p_ptr,
    sv_ptr,
    gout_ptr,
    gsf_ptr,
    gx_ptr,
    gs0_ptr,
    gp_ptr,
    gpa_ptr,
    out_ptr,
    seed_ptr,
    T,
    E,
    N,
    INNER,
    T0,
    SPARAM,
    DUAL: tl.constexpr,
    SYN: tl.constexpr,
    REC: tl.constexpr,
    KIND: tl.constexpr,
    SPIKE: tl.constexpr,
    QUANT: tl.constexpr,
    ACC: tl.constexpr,
    STRIDED: tl.constexpr,
    I_POS_MEM: tl.constexpr,
    I_NEG_MEM: tl.constexpr,
    I_POS_SYN: tl.constexpr,
    I_NEG_SYN: tl.constexpr,
    I_POS_REC: tl.constexpr,
    I_NEG_REC: tl.constexpr,
    I_PREV_OUTPUT: tl.constexpr,
    P_POS_ALPHA: tl.constexpr,
    P_NEG_ALPHA: tl.constexpr,
    P_POS_BETA: tl.constexpr,
    P_NEG_BETA: tl.constexpr,
    P_POS_GAMMA: tl.constexpr,
    P_NEG_GAMMA: tl.constexpr,
    P_THRESHOLD: tl.constexpr,
    P_POS_THRESHOLD: tl.constexpr,
    P_NEG_THRESHOLD: tl.constexpr,
    P_POS_SCALE: tl.constexpr,
    P_NEG_SCALE: tl.constexpr,
    P_POS_REC_WEIGHT: tl.constexpr,
    P_NEG_REC_WEIGHT: tl.constexpr,
    V_POS_MEM_PRE: tl.constexpr,
    V_NEG_MEM_PRE: tl.constexpr,
    V_POS_SYN: tl.constexpr,
    V_NEG_SYN: tl.constexpr,
    V_POS_REC: tl.constexpr,
    V_NEG_REC: tl.constexpr,
    BLOCK: tl.constexpr,
    # neuron options (defaults: the classic configurations); PRE_IN_OUT: the output is the saved membrane
    RESET: tl.constexpr = 0,
    NEXT: tl.constexpr = False,
    DETACH: tl.constexpr = False,
    DECAY_IN: tl.constexpr = False,
    SYN_ADD: tl.constexpr = False,
    RESET_VALUE: tl.constexpr = 0.0,
    REST: tl.constexpr = 0.0,
    I_PREV_SPIKE: tl.constexpr = 0,
    I_PREV_POS_SPIKE: tl.constexpr = 0,
    I_PREV_NEG_SPIKE: tl.constexpr = 0,
    PRE_IN_OUT: tl.constexpr = False,
    # adaptive threshold and refractory period
    ADAPT: tl.constexpr = False,
    REFRAC: tl.constexpr = 0,
    I_ADAPT: tl.constexpr = 0,
    I_REFRAC: tl.constexpr = 0,
    P_ADAPT_DECAY: tl.constexpr = 0,
    P_ADAPT_STRENGTH: tl.constexpr = 0,
    V_ADAPT: tl.constexpr = 0,
    V_REFRAC: tl.constexpr = 0,
    # all-to-all recurrence: ROWS whole batch rows per program, N neurons padded to NPAD
    # lanes; rec_bias is row P_REC_BIAS of p, rec_matrix ([N, N] float32) at w_ptr, and
    # the dense term's adjoint of every step written to gd_ptr ([T, E] float32)
    A2A: tl.constexpr = False,
    NPAD: tl.constexpr = 16,
    ROWS: tl.constexpr = 16,
    P_REC_BIAS: tl.constexpr = 0,
    w_ptr=None,
    gd_ptr=None,
):
    pid = tl.program_id(0)
    if A2A:
        # all-to-all recurrence: ROWS whole rows of N neurons, each padded to NPAD lanes;
        # the lanes col >= N are masked, so offsets, Philox counters, loads and stores
        # are those of the unpadded layout
        lane = tl.arange(0, BLOCK)
        col = lane % NPAD
        offs = (pid.to(tl.int64) * ROWS + lane // NPAD) * N + col
        mask = (col < N) & (offs < E)
        nrn = col
    else:
        # 64-bit offsets from the start: ``pid * BLOCK`` in int32 would wrap at 2**31
        # elements per step, and ``t * E`` over the sequence much sooner
        offs = pid.to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
        mask = offs < E
        # a step is [outer, N, inner] (neurons along any axis); STRIDED is INNER != 1, so
        # that neurons-last layers pay no second 64-bit division
        if STRIDED:
            nrn = (offs // INNER) % N
        else:
            nrn = offs % N
    zero = tl.zeros([BLOCK], dtype=tl.float32)
    E = E.to(tl.int64)
    TE = T * E
    if (KIND >= 2) and (SPIKE == 0) and (QUANT != 0):
        seed = tl.load(seed_ptr)  # the launch's Philox key, read on the device
    else:
        seed = 0
    T0E = T0.to(tl.int64) * E  # Philox counters of a segment starting at step T0
    pb = _ld(p_ptr, P_POS_BETA * N + nrn, mask)
    nb = zero
    pa = zero
    na = zero
    pg = zero
    ng = zero
    pw = zero
    nw = zero
    th = zero
    nth = zero
    psc = zero
    nsc = zero
    if DUAL:
        nb = _ld(p_ptr, P_NEG_BETA * N + nrn, mask)
    if SYN:
        pa = _ld(p_ptr, P_POS_ALPHA * N + nrn, mask)
        if DUAL:
            na = _ld(p_ptr, P_NEG_ALPHA * N + nrn, mask)
    if REC:
        pg = _ld(p_ptr, P_POS_GAMMA * N + nrn, mask)
        pw = _ld(p_ptr, P_POS_REC_WEIGHT * N + nrn, mask)
        if DUAL:
            ng = _ld(p_ptr, P_NEG_GAMMA * N + nrn, mask)
            nw = _ld(p_ptr, P_NEG_REC_WEIGHT * N + nrn, mask)
    if KIND == 2:
        th = _ld(p_ptr, P_THRESHOLD * N + nrn, mask)
    if KIND >= 3:
        th = _ld(p_ptr, P_POS_THRESHOLD * N + nrn, mask)
    if KIND >= 3:
        nth = _ld(p_ptr, P_NEG_THRESHOLD * N + nrn, mask)
    if KIND == 4:
        psc = _ld(p_ptr, P_POS_SCALE * N + nrn, mask)
        nsc = _ld(p_ptr, P_NEG_SCALE * N + nrn, mask)
    rho = zero  # adaptive threshold: the trace's decay and the threshold's strength
    ast = zero
    if ADAPT:
        rho = _ld(p_ptr, P_ADAPT_DECAY * N + nrn, mask)
        ast = _ld(p_ptr, P_ADAPT_STRENGTH * N + nrn, mask)
    rb = zero
    if A2A:
        # all-to-all recurrence: rec_bias, rec_matrix for the adjoint, and transposed for
        # the dense term itself where its value is needed (dual: its sign; decay_input: beta's gradient)
        rb = _ld(p_ptr, P_REC_BIAS * N + nrn, mask)
        wm = _a2a_tile(w_ptr, N, NPAD, False)
        if DUAL or DECAY_IN:
            wt = _a2a_tile(w_ptr, N, NPAD, True)
    # adjoints of the states after step t (start: gradients of the final states)
    g_pm = _ld(gsf_ptr, I_POS_MEM * E + offs, mask)
    g_nm = zero
    g_ps = zero
    g_ns = zero
    g_pr = zero
    g_nr = zero
    g_o = zero
    if DUAL:
        g_nm = _ld(gsf_ptr, I_NEG_MEM * E + offs, mask)
    if SYN:
        g_ps = _ld(gsf_ptr, I_POS_SYN * E + offs, mask)
        if DUAL:
            g_ns = _ld(gsf_ptr, I_NEG_SYN * E + offs, mask)
    if REC:
        g_pr = _ld(gsf_ptr, I_POS_REC * E + offs, mask)
        g_o = _ld(gsf_ptr, I_PREV_OUTPUT * E + offs, mask)
        if DUAL:
            g_nr = _ld(gsf_ptr, I_NEG_REC * E + offs, mask)
    g_q1 = zero  # adjoints of the pending spikes of reset_timing="next"
    g_q2 = zero
    if NEXT:
        if KIND == 2:
            g_q1 = _ld(gsf_ptr, I_PREV_SPIKE * E + offs, mask)
        else:
            g_q1 = _ld(gsf_ptr, I_PREV_POS_SPIKE * E + offs, mask)
            g_q2 = _ld(gsf_ptr, I_PREV_NEG_SPIKE * E + offs, mask)
    g_ad = zero  # adjoints of the adaptation trace and the refractory counter
    g_rf = zero
    if ADAPT:
        g_ad = _ld(gsf_ptr, I_ADAPT * E + offs, mask)
    if REFRAC > 0:
        g_rf = _ld(gsf_ptr, I_REFRAC * E + offs, mask)
    # parameter gradients, summed over time
    d_pa = zero
    d_na = zero
    d_pb = zero
    d_nb = zero
    d_pg = zero
    d_ng = zero
    d_th = zero
    d_nth = zero
    d_psc = zero
    d_nsc = zero
    d_pw = zero
    d_nw = zero
    d_rho = zero
    d_ast = zero
    d_rb = zero  # all-to-all recurrence: rec_bias
    if ACC:
        # checkpointed BPTT: continue the sums of the later segments (read from gpa,
        # another buffer than gp: reading and writing one address would keep twelve
        # 64-bit addresses live across the loop), so every parameter gradient adds
        # its terms in the order one walk would
        d_pb = tl.load(gpa_ptr + P_POS_BETA * E + offs, mask=mask, other=0.0)
        if DUAL:
            d_nb = tl.load(gpa_ptr + P_NEG_BETA * E + offs, mask=mask, other=0.0)
        if SYN:
            d_pa = tl.load(gpa_ptr + P_POS_ALPHA * E + offs, mask=mask, other=0.0)
            if DUAL:
                d_na = tl.load(gpa_ptr + P_NEG_ALPHA * E + offs, mask=mask, other=0.0)
        if REC:
            d_pg = tl.load(gpa_ptr + P_POS_GAMMA * E + offs, mask=mask, other=0.0)
            d_pw = tl.load(gpa_ptr + P_POS_REC_WEIGHT * E + offs, mask=mask, other=0.0)
            if DUAL:
                d_ng = tl.load(gpa_ptr + P_NEG_GAMMA * E + offs, mask=mask, other=0.0)
                d_nw = tl.load(gpa_ptr + P_NEG_REC_WEIGHT * E + offs, mask=mask, other=0.0)
        if KIND == 2:
            d_th = tl.load(gpa_ptr + P_THRESHOLD * E + offs, mask=mask, other=0.0)
        if KIND >= 3:
            d_th = tl.load(gpa_ptr + P_POS_THRESHOLD * E + offs, mask=mask, other=0.0)
            d_nth = tl.load(gpa_ptr + P_NEG_THRESHOLD * E + offs, mask=mask, other=0.0)
        if KIND == 4:
            d_psc = tl.load(gpa_ptr + P_POS_SCALE * E + offs, mask=mask, other=0.0)
            d_nsc = tl.load(gpa_ptr + P_NEG_SCALE * E + offs, mask=mask, other=0.0)
        if ADAPT:
            d_rho = tl.load(gpa_ptr + P_ADAPT_DECAY * E + offs, mask=mask, other=0.0)
            d_ast = tl.load(gpa_ptr + P_ADAPT_STRENGTH * E + offs, mask=mask, other=0.0)
        if A2A:
            d_rb = tl.load(gpa_ptr + P_REC_BIAS * E + offs, mask=mask, other=0.0)
    c_pp, c_pn, c_s1, c_s2, c_qp, c_qn, c_o, c_ps, c_ns, c_pr, c_nr, c_adb, c_rfb = _recall(
        sv_ptr,
        s0_ptr,
        T - 1,
        offs,
        mask,
        E,
        TE,
        T0E,
        th,
        nth,
        psc,
        nsc,
        seed,
        SPARAM,
        DUAL,
        SYN,
        REC,
        KIND,
        SPIKE,
        QUANT,
        I_POS_MEM,
        I_NEG_MEM,
        I_POS_SYN,
        I_NEG_SYN,
        I_POS_REC,
        I_NEG_REC,
        I_PREV_OUTPUT,
        V_POS_MEM_PRE,
        V_NEG_MEM_PRE,
        V_POS_SYN,
        V_NEG_SYN,
        V_POS_REC,
        V_NEG_REC,
        out_ptr,
        RESET,
        NEXT,
        RESET_VALUE,
        I_PREV_SPIKE,
        I_PREV_POS_SPIKE,
        I_PREV_NEG_SPIKE,
        PRE_IN_OUT,
        ast,
        ADAPT,
        REFRAC,
        I_ADAPT,
        I_REFRAC,
        V_ADAPT,
        V_REFRAC,
    )
    for i in range(T):
        t = T - 1 - i
        idx = t * E + offs
        v_pp, v_pn, v_s1, v_s2, v_qp, v_qn, v_o, v_ps, v_ns, v_pr, v_nr, v_adb, v_rfb = _recall(
            sv_ptr,
            s0_ptr,
            t - 1,
            offs,
            mask,
            E,
            TE,
            T0E,
            th,
            nth,
            psc,
            nsc,
            seed,
            SPARAM,
            DUAL,
            SYN,
            REC,
            KIND,
            SPIKE,
            QUANT,
            I_POS_MEM,
            I_NEG_MEM,
            I_POS_SYN,
            I_NEG_SYN,
            I_POS_REC,
            I_NEG_REC,
            I_PREV_OUTPUT,
            V_POS_MEM_PRE,
            V_NEG_MEM_PRE,
            V_POS_SYN,
            V_NEG_SYN,
            V_POS_REC,
            V_NEG_REC,
            out_ptr,
            RESET,
            NEXT,
            RESET_VALUE,
            I_PREV_SPIKE,
            I_PREV_POS_SPIKE,
            I_PREV_NEG_SPIKE,
            PRE_IN_OUT,
            ast,
            ADAPT,
            REFRAC,
            I_ADAPT,
            I_REFRAC,
            V_ADAPT,
            V_REFRAC,
        )
        if SYN or DUAL or KIND == 1 or DECAY_IN:  # the input is needed for these gradients only
            x = _ld(x_ptr, idx, mask)
        else:
            x = zero
        go = _ld(gout_ptr, idx, mask) + g_o
        # ---- output stage
        if DUAL:
            mem = c_pp + c_pn
        else:
            mem = c_pp
        # a_pp, a_pn: the adjoints of the membranes before the reset through the reset itself
        a_pp = g_pm
        a_pn = g_nm
        eth = th  # the thresholds in effect at step t (adapted with ADAPT)
        enth = nth
        if ADAPT:
            eth = th + ast * c_adb
            if KIND >= 3:
                enth = nth + ast * c_adb
        if KIND <= 1:
            g_mem = go
        elif KIND == 2:
            ds = _dfire(mem - eth, SPIKE, SPARAM, QUANT)
            if ADAPT:
                go = go + (1.0 - rho) * g_ad  # the spike drives the adaptation trace too
            g_t1 = zero  # the adjoint of the threshold in effect: the reset's share (the spike's below)
            if NEXT or RESET == 2:
                g_s = go
                if NEXT and not DETACH:
                    g_s = go + g_q1
            elif RESET == 1:
                if DUAL:
                    g_a = g_pm * (RESET_VALUE * 0.5 - c_pp) + g_nm * (RESET_VALUE * 0.5 - c_pn)
                    # g*(1 - s) written g - g*s: ptxas spills 4 B in the bf16 DLIB kernel otherwise
                    a_pp = g_pm - g_pm * c_s1
                    a_pn = g_nm - g_nm * c_s1
                else:
                    g_a = g_pm * (RESET_VALUE - c_pp)
                    a_pp = g_pm * (1.0 - c_s1)
                g_s = go
                if not DETACH:
                    g_s = go + g_a
            elif DUAL:
                g_half = -(g_pm + g_nm)
                if DETACH:
                    g_s = go
                else:
                    g_s = go + g_half * eth * 0.5
                g_t1 = g_half * c_s1 * 0.5
            else:
                if DETACH:
                    g_s = go
                else:
                    g_s = go - eth * g_pm
                g_t1 = -c_s1 * g_pm
            if REFRAC > 0:
                g_s = tl.where(c_rfb > 0.0, 0.0, g_s)  # a silenced spike passes no gradient
            g_mem = g_s * ds
            g_t1 = g_t1 - g_mem
            d_th += g_t1
        else:
            dsp = _dfire(mem - eth, SPIKE, SPARAM, QUANT)
            dsn = _dfire(-enth - mem, SPIKE, SPARAM, QUANT)
            if KIND == 4:
                g_sp = go * psc
                g_sn = go * nsc
                d_psc += go * c_s1
                d_nsc += go * c_s2
            else:
                g_sp = go
                g_sn = go
            if ADAPT:
                g_k = (1.0 - rho) * g_ad  # the spikes drive the adaptation trace (a = s_pos - s_neg)
                g_sp += g_k
                g_sn -= g_k
            g_t1 = zero  # the adjoints of the thresholds in effect: the reset's share (the spikes' below)
            g_t2 = zero
            if NEXT or RESET == 2:
                if NEXT and not DETACH:
                    g_sp += g_q1
                    g_sn += g_q2
            elif RESET == 1:
                a = c_s1 - c_s2
                if DUAL:
                    g_a = g_pm * (RESET_VALUE * 0.5 - c_pp) + g_nm * (RESET_VALUE * 0.5 - c_pn)
                    a_pp = g_pm * (1.0 - a)
                    a_pn = g_nm * (1.0 - a)
                else:
                    g_a = g_pm * (RESET_VALUE - c_pp)
                    a_pp = g_pm * (1.0 - a)
                if not DETACH:
                    g_sp += g_a
                    g_sn -= g_a
            elif DUAL:
                g_half = -(g_pm + g_nm)
                if not DETACH:
                    g_sp += g_half * 0.5 * eth
                    g_sn += g_half * 0.5 * enth
                g_t1 = g_half * 0.5 * c_s1
                g_t2 = g_half * 0.5 * c_s2
            else:
                if not DETACH:
                    g_sp -= eth * g_pm
                    g_sn -= enth * g_pm
                g_t1 = -c_s1 * g_pm
                g_t2 = -c_s2 * g_pm
            if REFRAC > 0:
                g_sp = tl.where(c_rfb > 0.0, 0.0, g_sp)  # silenced spikes pass no gradient
                g_sn = tl.where(c_rfb > 0.0, 0.0, g_sn)
            g_t1 = g_t1 - g_sp * dsp
            g_t2 = g_t2 + g_sn * dsn
            d_th += g_t1
            d_nth += g_t2
            g_mem = g_sp * dsp + g_sn * dsn
        if ADAPT or REFRAC > 0:
            if KIND == 2:
                a = c_s1
            else:
                a = c_s1 - c_s2
            if ADAPT:
                # adapt = rho*adapt + (1 - rho)*a; the threshold in effect = threshold + ast*adapt
                if KIND == 2:
                    g_e = g_t1
                else:
                    g_e = g_t1 + g_t2
                d_rho += g_ad * (c_adb - a)
                d_ast += g_e * c_adb
                g_ad = rho * g_ad + ast * g_e
            if REFRAC > 0:
                # refrac = clamp_min(refrac - 1, 0), set to k where a != 0 (no gradient at the tie)
                g_rf = tl.where(((c_rfb - 1.0) > 0.0) & (a == 0.0), g_rf, 0.0)
        if DUAL:
            g_pp = a_pp + g_mem
            g_pn = a_pn + g_mem
            g_pt = g_pp  # the adjoints of the membranes before the reset, held or not
            g_nt = g_pn
            if REFRAC > 0:
                # a refractory neuron's held membranes pass their gradients straight through
                g_hp = tl.where(c_rfb > 0.0, g_pp, 0.0)
                g_hn = tl.where(c_rfb > 0.0, g_pn, 0.0)
                g_pp = tl.where(c_rfb > 0.0, 0.0, g_pp)
                g_pn = tl.where(c_rfb > 0.0, 0.0, g_pn)
            # ---- recompute the drive of step t
            if SYN:
                d = c_ps + c_ns
            else:
                d = x
            if REC:
                r = c_pr + c_nr
                if A2A:
                    wv = _a2a(r, wt, mask, ROWS, NPAD, BLOCK) + rb
                    up = _pos(d) + _pos(wv)
                    un = _neg(d) + _neg(wv)
                else:
                    up = _pos(d) + pw * _pos(r)
                    un = _neg(d) + nw * _neg(r)
            else:
                up = _pos(d)
                un = _neg(d)
            # ---- membranes (m_p, m_n: the membranes the leak starts from)
            m_p = v_qp
            m_n = v_qn
            if NEXT:
                ra = _pending(v_s1, v_s2, th, nth, KIND, RESET)
                if RESET == 1:
                    m_p = _reset_to(v_qp, ra, RESET_VALUE * 0.5)
                    m_n = _reset_to(v_qn, ra, RESET_VALUE * 0.5)
            if KIND == 1 or DECAY_IN:
                d_pb += g_pp * (m_p - up)
                d_nb += g_pn * (m_n - un)
                g_up = g_pp * (1.0 - pb)
                g_un = g_pn * (1.0 - nb)
            else:
                d_pb += g_pp * m_p
                d_nb += g_pn * m_n
                g_up = g_pp
                g_un = g_pn
            if REST != 0.0:
                d_pb -= g_pp * (REST * 0.5)
                d_nb -= g_pn * (REST * 0.5)
            g_pm = pb * g_pp
            g_nm = nb * g_pn
            if REFRAC > 0:
                g_pm = g_pm + g_hp
                g_nm = g_nm + g_hn
            if NEXT:
                if RESET == 1:
                    g_ra = g_pm * (RESET_VALUE * 0.5 - v_qp) + g_nm * (RESET_VALUE * 0.5 - v_qn)
                    g_pm = g_pm * (1.0 - ra)
                    g_nm = g_nm * (1.0 - ra)
                else:
                    g_ra = -(g_pt + g_nt) * 0.5
                g_q1, g_q2, d_th, d_nth = _pending_grad(g_ra, v_s1, v_s2, th, nth, d_th, d_nth, KIND, RESET)
            g_d = tl.where(d >= 0.0, g_up, g_un)
            # ---- recurrence
            if REC:
                if A2A:
                    # all-to-all recurrence: p(w) fed the positive membrane, n(w) the negative
                    g_w = tl.where(wv >= 0.0, g_up, g_un)
                    d_rb += g_w
                    tl.store(gd_ptr + idx, g_w, mask=mask)
                    g_r = _a2a(g_w, wm, mask, ROWS, NPAD, BLOCK)
                else:
                    d_pw += g_up * _pos(r)
                    d_nw += g_un * _neg(r)
                    g_r = tl.where(r >= 0.0, g_up * pw, g_un * nw)
                g_prt = g_r + g_pr
                g_nrt = g_r + g_nr
                d_pg += g_prt * (v_pr - _pos(v_o))
                d_ng += g_nrt * (v_nr - _neg(v_o))
                g_pr = pg * g_prt
                g_nr = ng * g_nrt
                g_o = tl.where(v_o >= 0.0, (1.0 - pg) * g_prt, (1.0 - ng) * g_nrt)
            # ---- synapses
            if SYN and SYN_ADD:
                g_pst = g_d + g_ps
                g_nst = g_d + g_ns
                d_pa += g_pst * v_ps
                d_na += g_nst * v_ns
                g_ps = pa * g_pst
                g_ns = na * g_nst
                g_x = tl.where(x >= 0.0, g_pst, g_nst)
            elif SYN:
                g_pst = g_d + g_ps
                g_nst = g_d + g_ns
                d_pa += g_pst * (v_ps - _pos(x))
                d_na += g_nst * (v_ns - _neg(x))
                g_ps = pa * g_pst
                g_ns = na * g_nst
                g_x = tl.where(x >= 0.0, (1.0 - pa) * g_pst, (1.0 - na) * g_nst)
            else:
                g_x = g_d
        else:
            g_pp = a_pp + g_mem
            g_pt = g_pp  # the adjoint of the membrane before the reset, held or not
            if REFRAC > 0:
                # a refractory neuron's held membrane passes its gradient straight through
                g_hp = tl.where(c_rfb > 0.0, g_pp, 0.0)
                g_pp = tl.where(c_rfb > 0.0, 0.0, g_pp)
            if SYN:
                d = c_ps
            else:
                d = x
            if REC:
                if A2A:
                    if DECAY_IN:
                        dense = _a2a(c_pr, wt, mask, ROWS, NPAD, BLOCK) + rb
                        u = d + dense
                    else:
                        u = d
                else:
                    u = d + pw * c_pr
            else:
                u = d
            m_p = v_qp
            if NEXT:
                ra = _pending(v_s1, v_s2, th, nth, KIND, RESET)
                if RESET == 1:
                    m_p = _reset_to(v_qp, ra, RESET_VALUE)
            if KIND == 1 or DECAY_IN:
                d_pb += g_pp * (m_p - u)
                g_u = g_pp * (1.0 - pb)
            else:
                d_pb += g_pp * m_p
                g_u = g_pp
            if REST != 0.0:
                d_pb -= g_pp * REST
            g_pm = pb * g_pp
            if REFRAC > 0:
                g_pm = g_pm + g_hp
            if NEXT:
                if RESET == 1:
                    g_ra = g_pm * (RESET_VALUE - v_qp)
                    g_pm = g_pm * (1.0 - ra)
                else:
                    g_ra = -g_pt
                g_q1, g_q2, d_th, d_nth = _pending_grad(g_ra, v_s1, v_s2, th, nth, d_th, d_nth, KIND, RESET)
            if REC:
                if A2A:
                    # all-to-all recurrence: the dense term's adjoint (in u, or added after the leak)
                    if DECAY_IN:
                        g_dn = g_u
                    else:
                        g_dn = g_pp
                    d_rb += g_dn
                    tl.store(gd_ptr + idx, g_dn, mask=mask)
                    g_rt = _a2a(g_dn, wm, mask, ROWS, NPAD, BLOCK) + g_pr
                else:
                    d_pw += g_u * c_pr
                    g_rt = g_u * pw + g_pr
                d_pg += g_rt * (v_pr - v_o)
                g_pr = pg * g_rt
                g_o = (1.0 - pg) * g_rt
            if SYN and SYN_ADD:
                g_st = g_u + g_ps
                d_pa += g_st * v_ps
                g_ps = pa * g_st
                g_x = g_st
            elif SYN:
                g_st = g_u + g_ps
                d_pa += g_st * (v_ps - x)
                g_ps = pa * g_st
                g_x = (1.0 - pa) * g_st
            else:
                g_x = g_u
        tl.store(gx_ptr + idx, g_x.to(gx_ptr.dtype.element_ty), mask=mask)
        c_pp = v_pp
        c_pn = v_pn
        c_s1 = v_s1
        c_s2 = v_s2
        c_qp = v_qp
        c_qn = v_qn
        c_o = v_o
        c_ps = v_ps
        c_ns = v_ns
        c_pr = v_pr
        c_nr = v_nr
        c_adb = v_adb
        c_rfb = v_rfb
    ty = gs0_ptr.dtype.element_ty
    tl.store(gs0_ptr + I_POS_MEM * E + offs, g_pm.to(ty), mask=mask)
    if DUAL:
        tl.store(gs0_ptr + I_NEG_MEM * E + offs, g_nm.to(ty), mask=mask)
    if SYN:
        tl.store(gs0_ptr + I_POS_SYN * E + offs, g_ps.to(ty), mask=mask)
        if DUAL:
            tl.store(gs0_ptr + I_NEG_SYN * E + offs, g_ns.to(ty), mask=mask)
    if REC:
        tl.store(gs0_ptr + I_POS_REC * E + offs, g_pr.to(ty), mask=mask)
        tl.store(gs0_ptr + I_PREV_OUTPUT * E + offs, g_o.to(ty), mask=mask)
        if DUAL:
            tl.store(gs0_ptr + I_NEG_REC * E + offs, g_nr.to(ty), mask=mask)
    if NEXT:
        if KIND == 2:
            tl.store(gs0_ptr + I_PREV_SPIKE * E + offs, g_q1.to(ty), mask=mask)
        else:
            tl.store(gs0_ptr + I_PREV_POS_SPIKE * E + offs, g_q1.to(ty), mask=mask)
            tl.store(gs0_ptr + I_PREV_NEG_SPIKE * E + offs, g_q2.to(ty), mask=mask)
    if ADAPT:
        tl.store(gs0_ptr + I_ADAPT * E + offs, g_ad.to(ty), mask=mask)
    if REFRAC > 0:
        tl.store(gs0_ptr + I_REFRAC * E + offs, g_rf.to(ty), mask=mask)
    # parameter gradients: one row per parameter, [NP, E] float32 (summed over rows by the caller)
    tl.store(gp_ptr + P_POS_BETA * E + offs, d_pb, mask=mask)
    if DUAL:
        tl.store(gp_ptr + P_NEG_BETA * E + offs, d_nb, mask=mask)
    if SYN:
        tl.store(gp_ptr + P_POS_ALPHA * E + offs, d_pa, mask=mask)
        if DUAL:
            tl.store(gp_ptr + P_NEG_ALPHA * E + offs, d_na, mask=mask)
    if REC:
        tl.store(gp_ptr + P_POS_GAMMA * E + offs, d_pg, mask=mask)
        if A2A:
            tl.store(gp_ptr + P_REC_BIAS * E + offs, d_rb, mask=mask)  # all-to-all recurrence
        else:
            tl.store(gp_ptr + P_POS_REC_WEIGHT * E + offs, d_pw, mask=mask)
        if DUAL:
            tl.store(gp_ptr + P_NEG_GAMMA * E + offs, d_ng, mask=mask)
            if not A2A:
                tl.store(gp_ptr + P_NEG_REC_WEIGHT * E + offs, d_nw, mask=mask)
    if KIND == 2:
        tl.store(gp_ptr + P_THRESHOLD * E + offs, d_th, mask=mask)
    if KIND >= 3:
        tl.store(gp_ptr + P_POS_THRESHOLD * E + offs, d_th, mask=mask)
    if KIND >= 3:
        tl.store(gp_ptr + P_NEG_THRESHOLD * E + offs, d_nth, mask=mask)
    if KIND == 4:
        tl.store(gp_ptr + P_POS_SCALE * E + offs, d_psc, mask=mask)
        tl.store(gp_ptr + P_NEG_SCALE * E + offs, d_nsc, mask=mask)
    if ADAPT:
        tl.store(gp_ptr + P_ADAPT_DECAY * E + offs, d_rho, mask=mask)
        tl.store(gp_ptr + P_ADAPT_STRENGTH * E + offs, d_ast, mask=mask)


def layout(cfg: LeakyConfig, reuse: bool = False) -> dict[str, int]:
    """The kernels' slot constants of one configuration (`_op.slot_constants`);
    ``reuse``: the output doubles as the saved membrane (`_op.reuses_output`).

    Raises:
        ValueError: if the configuration has a slot the kernels do not know.
    """
    return slot_constants(cfg, reuse)


_SLOT_ARGS = tuple(
    dict.fromkeys(a for k in (_leaky_fwd_kernel, _leaky_bwd_kernel) for a in k.arg_names if a[:2] in ("I_", "P_", "V_"))
)
"""Every slot constant the kernels take (read from their signatures; equal to
`_op.SLOT_ARGS`, which a test checks)."""


def _launch(E: int, device: torch.device, block: int, f: dict, backward: bool) -> tuple[int, int]:
    """``(BLOCK, num_warps)``: `tracetorch.kernels._launch.launch_shape` from ``E``, the
    device's SM count and the configuration's elements per thread; ``block`` (or the
    tests' ``BLOCK_OVERRIDE``) forces the block with 4 warps. Not yet tuned on a GPU:
    ``benchmarks/kernels/leaky.py --block`` sweeps it."""
    if block or BLOCK_OVERRIDE:
        return block or BLOCK_OVERRIDE, 4
    ept = elements_per_thread(bool(f["DUAL"]), bool(f["REC"]), int(f["KIND"]), backward)
    # device None: an H100/H200-sized device (132 SMs), for compiling without a GPU
    return launch_shape(E, sm_count(device) if device is not None else 132, ept)


def _block(E: int, device: torch.device, block: int, f: dict, backward: bool) -> int:
    """Elements per program (see `_launch`)."""
    return _launch(E, device, block, f, backward)[0]


_OPTION_DEFAULTS = {"RESET": 0, "NEXT": 0, "DETACH": 0, "DECAY_IN": 0, "SYN_ADD": 0, "RESET_VALUE": 0, "REST": 0}
_OPTION_DEFAULTS.update(ADAPT=0, REFRAC=0)  # adaptive threshold and refractory period

A2A_ROWS = 16
"""All-to-all recurrence: batch rows per program (``tl.dot`` needs at least 16)."""


def _a2a_launch(E: int, N: int) -> tuple[tuple[int], int, dict[str, Any]]:
    """All-to-all recurrence: the grid, warps and constexprs of a launch over ``E = B x N``
    elements (`A2A_ROWS` whole rows per program, the neurons padded to ``NPAD``). 8 warps
    from ``NPAD = 32`` on: with 4, the float32 ``tl.dot`` operands push the dual BPTT
    kernels past 255 registers into spills (``compile_check.py --options``)."""
    npad = a2a_pad(N)
    warps = 4 if npad <= 16 else 8
    return (triton.cdiv(E // N, A2A_ROWS),), warps, {"NPAD": npad, "ROWS": A2A_ROWS, "BLOCK": A2A_ROWS * npad}


def _a2a_matrix(w: Optional[Tensor], N: int, where: str) -> Tensor:
    """All-to-all recurrence: ``w`` checked to be the ``[N, N]`` float32 contiguous
    ``rec_matrix`` the kernels read."""
    if w is None or tuple(w.shape) != (N, N) or w.dtype != torch.float32 or not w.is_contiguous():
        got = None if w is None else f"{tuple(w.shape)} {w.dtype}"
        raise ValueError(
            f"tracetorch.kernels.{where}: an all-to-all configuration needs `w=`, the rec_matrix as a contiguous "
            f"[{N}, {N}] float32 tensor; got {got}."
        )
    return w


def _seed_arg(seed: Union[Tensor, int], device: torch.device) -> Tensor:
    """The kernels' ``seed_ptr``: a 0-d int64 tensor on ``device``."""
    if isinstance(seed, Tensor):
        return seed
    return torch.tensor(seed, dtype=torch.int64, device=device)


def _flags(flags: tuple[int, ...]) -> dict[str, Any]:
    """The kernels' constexpr flags from a flags list (`_op.config_flags`); a list of
    the first six flags gets the default neuron options."""
    f = {**_OPTION_DEFAULTS, **dict(zip(FLAG_NAMES, flags))}
    out: dict[str, Any] = {}
    for k, v in f.items():
        if k in ("DUAL", "SYN", "REC", "NEXT", "DETACH", "DECAY_IN", "SYN_ADD", "ADAPT", "A2A"):
            out[k] = bool(v)
        elif k in ("RESET_VALUE", "REST"):
            out[k] = _bits_float(v)
        else:
            out[k] = v
    return out


def leaky_forward(
    x: Tensor,
    s0: Tensor,
    p: Tensor,
    flags: tuple[int, ...],
    spike_param: float,
    seed: Union[Tensor, int],
    save: bool,
    block: int = 0,
    inner: int = 1,
    checkpoint: int = 0,
    t0: int = 0,
    w: Optional[Tensor] = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """Run the forward kernel.

    Args:
        x: ``[T, E]`` contiguous input (neuron ``(e // inner) % N``).
        s0: ``[NS, E]`` initial states (order of ``LeakyConfig.states``), dtype of ``x``.
        p: ``[NP, N]`` float32 activated parameters (order of ``LeakyConfig.param_names``).
        flags: ``(dual, synaptic, recurrent, kind, spike, quant, *neuron options)`` as
            ints (`_op.FLAG_NAMES`; the options may be left out: the defaults).
        spike_param: The spike function's slope / width parameter.
        seed: Philox key for random quantisation: a 0-d int64 tensor on ``x``'s
            device (read by the kernel there), or an int (copied to one).
        save: Store what the backward pass needs.
        block: Elements per program (power of two); 0 picks one.
        inner: Elements of a step between two consecutive neurons (the product of
            the axes after the neuron axis; 1 when the neurons are the last axis).
        checkpoint: With ``save``, ``K > 0`` stores only the states after every
            ``K``-th step (``[NS, (T - 1) // K, E]`` float32) for a checkpointed
            backward (`leaky_backward` with the same ``checkpoint``).
        t0: The step ``x[0]`` is in a longer sequence (a segment's Philox counters).
        w: All-to-all configurations (``A2A``): ``rec_matrix``, ``[N, N]`` float32
            contiguous (``rec_bias`` is a row of ``p``); ignored otherwise. ``block`` is
            then ignored: a program owns 16 whole rows.

    Returns:
        ``(out [T, E], final states [NS, E], saved [NSAVE, T, E] float32 or empty)``;
        for single-pathway LI/EMA in float32 the output is the saved membrane (not in
        ``saved``: pass ``out`` to `leaky_backward`); with ``checkpoint`` the saved
        tensor is the checkpoints (the backward recomputes each segment's output).
    """
    T, E = x.shape
    N = p.shape[1]
    f = _flags(flags)
    reuse = reuses_output(flags, x.dtype)
    lay = layout(flags_config(flags), reuse)
    out = _empty_like(x)
    sf = _empty_like(s0)
    sv = (
        _empty((lay["NSAVE"], T, E), torch.float32, x.device)
        if save and not checkpoint
        else torch.empty(0, dtype=torch.float32, device=x.device)
    )
    ckpt = checkpoint if save else 0
    if ckpt:
        sv = _empty((lay["NS"], max(T - 1, 0) // ckpt, E), torch.float32, x.device)
    if T == 0 or E == 0:
        return out, s0.clone(), sv
    BLOCK, warps = _launch(E, x.device, block, f, backward=False)
    consts = {k: v for k, v in lay.items() if k[:2] in ("I_", "P_", "V_")}
    grid: tuple[int] = (triton.cdiv(E, BLOCK),)
    a2a: dict[str, Any] = {}
    if f.get("A2A"):
        # all-to-all recurrence: 16 whole rows per program, and the matrix
        grid, warps, a2a = _a2a_launch(E, N)
        BLOCK = a2a.pop("BLOCK")
        a2a["w_ptr"] = _a2a_matrix(w, N, "leaky_forward")
    with device_guard(x.device):
        _leaky_fwd_kernel[grid](
            x,
            s0,
            p,
            out,
            sf,
            sv,
            _seed_arg(seed, x.device),
            T,
            E,
            N,
            inner,
            t0,
            float(spike_param),
            SAVE=save and not ckpt,
            CKPT=ckpt,
            STRIDED=inner != 1,
            PRE_IN_OUT=reuse,
            BLOCK=BLOCK,
            num_warps=warps,  # pyright: ignore[reportCallIssue]  (Triton launch options, not kernel arguments)
            enable_fp_fusion=False,  # pyright: ignore[reportCallIssue]  (Triton launch options, not kernel arguments)
            **f,
            **consts,
            **a2a,
        )
    return out, sf, sv


def leaky_backward(
    x: Tensor,
    s0: Tensor,
    p: Tensor,
    sv: Tensor,
    grad_out: Tensor,
    grad_sf: Tensor,
    flags: tuple[int, ...],
    spike_param: float,
    seed: Union[Tensor, int],
    block: int = 0,
    inner: int = 1,
    checkpoint: int = 0,
    t0: int = 0,
    gp_acc: Optional[Tensor] = None,
    gx_out: Optional[Tensor] = None,
    gp_out: Optional[Tensor] = None,
    out: Optional[Tensor] = None,
    w: Optional[Tensor] = None,
    gw: Optional[Tensor] = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """Run the BPTT kernel.

    Args:
        x: As given to `leaky_forward`.
        s0: As given to `leaky_forward`.
        p: As given to `leaky_forward`.
        sv: The saved tensors from `leaky_forward` (``save=True``).
        grad_out: ``[T, E]`` gradient of the outputs.
        grad_sf: ``[NS, E]`` gradient of the final states.
        flags: As given to `leaky_forward`.
        spike_param: As given to `leaky_forward`.
        seed: As given to `leaky_forward` (the same seed regenerates the same draws).
        block: Elements per program; 0 picks one.
        inner: As given to `leaky_forward`.
        checkpoint: As given to `leaky_forward` (then ``sv`` holds its checkpoints):
            each segment of ``checkpoint`` steps is recomputed from its checkpoint and
            walked back, last segment first.
        t0: As given to `leaky_forward`.
        gp_acc: ``[NP, E]`` float32 sums of a later segment to continue (read only).
        gx_out: Where to write ``grad_x`` (a ``[T, E]`` view of a longer one).
        gp_out: Where to write ``grad_p`` (not ``gp_acc``'s memory).
        out: The forward's output; required where it doubles as the saved membrane
            (`_op.reuses_output`: single-pathway LI/EMA in float32) and the backward
            is not checkpointed (which recomputes it), ignored otherwise.
        w: As given to `leaky_forward` (all-to-all configurations).
        gw: All-to-all configurations: an ``[N, N]`` float32 tensor the ``rec_matrix``
            gradient is added to (``sum_t g_t^T @ rec_t`` with ``g_t`` the adjoints of
            the dense term, which the kernel writes per step, and ``rec_t`` the saved
            recurrent traces); None: not computed.

    Returns:
        ``(grad_x [T, E], grad_s0 [NS, E], grad_p [NP, E] float32)``; ``grad_p`` is summed
        over time; the caller sums it over the rows that share a neuron.

    Raises:
        ValueError: if the output is needed and not given, or an all-to-all
            configuration gets no ``[N, N]`` float32 ``w``.
    """
    T, E = x.shape
    if checkpoint and T > 0 and E > 0:
        return _backward_checkpointed(
            x, s0, p, sv, grad_out, grad_sf, flags, spike_param, seed, block, inner, checkpoint, w, gw
        )
    N = p.shape[1]
    f = _flags(flags)
    reuse = reuses_output(flags, x.dtype)
    if reuse and out is None and T > 0 and E > 0:
        raise ValueError(
            "tracetorch.kernels.leaky_backward: this configuration saves no membrane (the float32 output is "
            "the membrane): pass the forward's output as `out=`."
        )
    lay = layout(flags_config(flags), reuse)
    gx = _empty_like(x) if gx_out is None else gx_out
    gs0 = _empty_like(s0)
    gp = _empty((lay["NP"], E), torch.float32, x.device) if gp_out is None else gp_out
    if E == 0:
        return gx, gs0, gp
    BLOCK, warps = _launch(E, x.device, block, f, backward=True)
    consts = {k: v for k, v in lay.items() if k[:2] in ("I_", "P_", "V_")}
    grid: tuple[int] = (triton.cdiv(E, BLOCK),)
    a2a: dict[str, Any] = {}
    gd: Optional[Tensor] = None
    if f.get("A2A"):
        # all-to-all recurrence: 16 whole rows per program, the matrix, the dense term's adjoints
        gd = _empty((T, E), torch.float32, x.device)
        grid, warps, a2a = _a2a_launch(E, N)
        BLOCK = a2a.pop("BLOCK")
        a2a.update(w_ptr=_a2a_matrix(w, N, "leaky_backward"), gd_ptr=gd)
    with device_guard(x.device):
        _leaky_bwd_kernel[grid](
            x,
            s0,
            p,
            sv,
            grad_out,
            grad_sf,
            gx,
            gs0,
            gp,
            gp if gp_acc is None else gp_acc,
            out if reuse and out is not None else x,  # read only where the output is the saved membrane
            _seed_arg(seed, x.device),
            T,
            E,
            N,
            inner,
            t0,
            float(spike_param),
            ACC=gp_acc is not None,
            STRIDED=inner != 1,
            PRE_IN_OUT=reuse,
            BLOCK=BLOCK,
            num_warps=warps,  # pyright: ignore[reportCallIssue]  (Triton launch options, not kernel arguments)
            enable_fp_fusion=False,  # pyright: ignore[reportCallIssue]  (Triton launch options, not kernel arguments)
            **f,
            **consts,
            **a2a,
        )
    if gd is not None and gw is not None and T > 0:
        # rec_matrix: sum over steps and rows of g_t^T @ rec_t (rec: the trace the product read)
        rec = sv[lay["V_POS_REC"]]
        if f["DUAL"]:
            rec = rec + sv[lay["V_NEG_REC"]]
        gw.addmm_(gd.view(-1, N).t(), rec.view(-1, N))
    return gx, gs0, gp


def _backward_checkpointed(
    x: Tensor,
    s0: Tensor,
    p: Tensor,
    ck: Tensor,
    grad_out: Tensor,
    grad_sf: Tensor,
    flags: tuple[int, ...],
    spike_param: float,
    seed: Union[Tensor, int],
    block: int,
    inner: int,
    every: int,
    w: Optional[Tensor] = None,
    gw: Optional[Tensor] = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """`leaky_backward` from checkpoints: segment ``j`` (steps ``[jK, jK + K)``) is
    recomputed from the states after step ``jK - 1`` (``s0`` for the first) with the
    forward kernel (same Philox counters through ``t0``), then walked back with the
    adjoints of the segment after it as its final-state gradients; the parameter sums
    continue in one ``[NP, E]`` buffer. Every float32 value equals the one the stored
    path computes; the per-segment state adjoints stay float32."""
    T = x.shape[0]
    seed = _seed_arg(seed, x.device)
    starts = ck.transpose(0, 1)  # [J - 1, NS, E]: the states before segments 1 .. J - 1
    gx = _empty_like(x)
    gp: Optional[Tensor] = None
    spare: Optional[Tensor] = None  # two buffers in turn: a segment reads one, writes the other
    g = grad_sf
    for j in reversed(range(triton.cdiv(T, every))):
        a, b = j * every, min(T, (j + 1) * every)
        sj = s0 if j == 0 else starts[j - 1].contiguous()
        out, _, sv = leaky_forward(x[a:b], sj, p, flags, spike_param, seed, True, block, inner, t0=a, w=w)
        prev = gp
        _, g, gp = leaky_backward(
            x[a:b], sj, p, sv, grad_out[a:b], g, flags, spike_param, seed, block, inner,
            t0=a, gp_acc=prev, gx_out=gx[a:b], gp_out=spare, out=out, w=w, gw=gw,
        )  # fmt: skip
        spare = prev
    return gx, g, cast(Tensor, gp)  # T > 0: at least one segment ran
