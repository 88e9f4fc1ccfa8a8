"""The leaky-integrator kernels as custom ops, and their public entry points.

``tracetorch::leaky_sequence`` (forward, also returning the tensors the backward
needs) and ``tracetorch::leaky_sequence_backward`` are `torch.library` custom ops
with fake implementations and an autograd formula, used under `torch.compile`; in
eager mode an equivalent `torch.autograd.Function` calls the same launchers with
less per-call overhead. Nothing here imports Triton.
"""

from __future__ import annotations

import math
import struct
from typing import Any, Optional

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable
from tracetorch._internal import QUANT_FUNCTIONS, SPIKE_KINDS
from tracetorch.snn.functional import OUTPUT_KINDS, LeakyConfig, promote  # pyright: ignore[reportMissingImports]

from ..._backend import load_fused
from ..._options import bptt_checkpoint_every

__all__ = [
    "leaky_sequence",
    "leaky_step",
    "supports",
    "config_flags",
    "slot_constants",
    "SLOT_ARGS",
    "KERNEL_OPTIONS",
    "option_flags",
    "reuses_output",
]

FLAG_NAMES = (
    "DUAL",
    "SYN",
    "REC",
    "KIND",
    "SPIKE",
    "QUANT",
    # neuron options
    "RESET",
    "NEXT",
    "DETACH",
    "DECAY_IN",
    "SYN_ADD",
    "RESET_VALUE",
    "REST",
    # adaptive threshold and refractory period
    "ADAPT",
    "REFRAC",
    # all-to-all recurrence
    "A2A",
)
"""The kernels' compile-time flags, in the order of the flags list (`config_flags`).

The neuron options (`option_flags`): ``RESET`` (0 subtract, 1 value, 2 none), ``NEXT``
(the reset lands on the next step: ``reset_timing="next"`` with a reset), ``DETACH``
(``detach_reset``), ``DECAY_IN`` (``decay_input``), ``SYN_ADD`` (``syn_input="add"``),
and the floats ``RESET_VALUE`` and ``REST``, which travel in the (integer) flags list
as the bit patterns of their IEEE-754 doubles (`_float_bits`), so that the custom ops'
schema stays ``list[int]``; ``ADAPT`` (``adaptive``: the threshold in effect is
``threshold + adapt_strength*adapt``) and ``REFRAC`` (``refractory``: the number of
steps, 0 for none). ``A2A`` (``all_to_all``): the recurrent trace reaches the
membranes through ``rec_matrix`` (a tensor of its own; at most `A2A_MAX_N` neurons)
and ``rec_bias`` (a row of ``p``). A list of the first six flags only stands for the
default options."""

KERNEL_OPTIONS: dict[str, tuple[Any, ...]] = {
    "reset": ("subtract", "value", "none"),
    "reset_value": (),
    "reset_timing": ("same", "next"),
    "detach_reset": (False, True),
    "decay_input": (False, True),
    "rest": (),
    "syn_input": ("ema", "add"),
    "adaptive": (False, True),
    "refractory": (),
    "all_to_all": (False, True),
}
"""The neuron options the kernels implement, with the values they accept (``()``: any
finite float; for the integer options of `_INT_OPTIONS`, any int >= 0). A configuration
with any other option (or value) is declined."""

_INT_OPTIONS = ("refractory",)
"""The options of `KERNEL_OPTIONS` whose values are ints >= 0 (a compile-time flag each)."""

A2A_MAX_N = 64
"""The most neurons a single-pathway all-to-all layer (``all_to_all=True``) runs with in
the kernels; dual layers: `A2A_MAX_N_DUAL`.

A program owns 16 whole batch rows (``tl.dot`` needs 16 rows at least) with the
neurons padded to ``NPAD`` lanes (a power of two, at least 16) and multiplies them by
the ``[NPAD, NPAD]`` matrix every step (a float32 FMA dot: TF32 would change the
values; twice per step in the dual and ``decay_input`` BPTT). The dot's operands take
registers (``benchmarks/kernels/compile_check.py --options``, sm_90, 8 warps): at
``NPAD = 64`` the single-pathway kernels compile without spills (RLIB 140/176
registers forward/BPTT) and the dual ones spill (DSRLITS 16 B forward, 112 B BPTT;
DRLIB BPTT 112 B); at ``NPAD = 128`` RLIB's BPTT spills 80 B and DSRLITS's 2.3 KB.
Larger layers take the PyTorch path (one cuBLAS product per step over the batch)."""

A2A_MAX_N_DUAL = 32
"""The most neurons a dual all-to-all layer runs with in the kernels (DSRLITS at
``NPAD = 32``: 128/169 registers forward/BPTT, no spills; see `A2A_MAX_N`)."""


def a2a_max_n(dual: bool) -> int:
    """`A2A_MAX_N_DUAL` for dual configurations, `A2A_MAX_N` otherwise."""
    return A2A_MAX_N_DUAL if dual else A2A_MAX_N


def a2a_pad(n: int) -> int:
    """``NPAD`` of an all-to-all layer of ``n`` neurons: the next power of two, at least 16."""
    return max(16, 1 << max(n - 1, 0).bit_length())


def _a2a_fits(step_shape: tuple[int, ...], dim: int, dual: bool) -> bool:
    """Whether an all-to-all call with steps of ``step_shape`` and neurons along ``dim``
    runs in the kernels: neurons along the last axis (the matrix acts on it) and at
    most `a2a_max_n` of them."""
    nd = len(step_shape)
    if nd == 0 or not -nd <= dim < nd or dim % nd != nd - 1:
        return False
    return 1 <= step_shape[-1] <= a2a_max_n(dual)


_KINDS = {kind: i for i, kind in enumerate(OUTPUT_KINDS)}
"""The kernels' ``KIND`` flag: the position in `OUTPUT_KINDS` (LI 0, EMA 1, B 2, T 3, TS 4)."""
_SPIKES = {kind: i for i, kind in enumerate(SPIKE_KINDS)}
"""The kernels' ``SPIKE`` flag: the position in core's `SPIKE_KINDS` (the Triton
``_dfire`` transcribes ``SpikeFunction.derivative`` case by case in this order)."""


def _quant_code(quant_fn: Any) -> Optional[int]:
    """The kernels' ``QUANT`` flag: the position in core's `QUANT_FUNCTIONS` (round 0,
    bernoulli 1, probabilistic 2), or None for a custom callable."""
    for i, fn in enumerate(QUANT_FUNCTIONS.values()):
        if quant_fn is fn:
            return i
    return None


SLOT_ARGS = (
    "I_POS_MEM",
    "I_NEG_MEM",
    "I_POS_SYN",
    "I_NEG_SYN",
    "I_POS_REC",
    "I_NEG_REC",
    "I_PREV_OUTPUT",
    "P_POS_ALPHA",
    "P_NEG_ALPHA",
    "P_POS_BETA",
    "P_NEG_BETA",
    "P_POS_GAMMA",
    "P_NEG_GAMMA",
    "P_THRESHOLD",
    "P_POS_THRESHOLD",
    "P_NEG_THRESHOLD",
    "P_POS_SCALE",
    "P_NEG_SCALE",
    "P_POS_REC_WEIGHT",
    "P_NEG_REC_WEIGHT",
    "V_POS_MEM_PRE",
    "V_NEG_MEM_PRE",
    "V_POS_SYN",
    "V_NEG_SYN",
    "V_POS_REC",
    "V_NEG_REC",
    # neuron options: the pending spikes of reset_timing="next"
    "I_PREV_SPIKE",
    "I_PREV_POS_SPIKE",
    "I_PREV_NEG_SPIKE",
    # adaptive threshold and refractory period
    "I_ADAPT",
    "I_REFRAC",
    "P_ADAPT_DECAY",
    "P_ADAPT_STRENGTH",
    "V_ADAPT",
    "V_REFRAC",
    # all-to-all recurrence: the row of rec_bias in p (rec_matrix travels on its own)
    "P_REC_BIAS",
)
"""Every slot constant the Triton kernels take (``I_`` state rows, ``P_`` parameter
rows, ``V_`` saved rows); a test checks it against the kernels' signatures."""


def _float_bits(v: float) -> int:
    """The IEEE-754 bit pattern of a double, as a signed 64-bit int (exact)."""
    return struct.unpack("<q", struct.pack("<d", float(v)))[0]


def _bits_float(b: int) -> float:
    """The inverse of `_float_bits`."""
    return struct.unpack("<d", struct.pack("<q", int(b)))[0]


def _kernel_options(cfg: Any) -> Optional[dict[str, Any]]:
    """The neuron options of ``cfg`` as keyword arguments of `LeakyConfig`, or None when
    one of them (or its value) is not among `KERNEL_OPTIONS`."""
    opts: dict[str, Any] = {}
    for name, value in getattr(cfg, "options", ()):
        valid = KERNEL_OPTIONS.get(name)
        if valid is None:
            return None
        if valid and value not in valid:
            return None
        if name in _INT_OPTIONS:
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                return None
        elif not valid and (isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)):
            return None
        opts[name] = value
    return opts


def option_flags(cfg: Any) -> list[int]:
    """The neuron-option flags of ``cfg`` (``RESET`` ... ``A2A`` of `FLAG_NAMES`).

    Raises:
        ValueError: for an option the kernels do not implement (see `supports`).
    """
    opts = _kernel_options(cfg)
    if opts is None:
        raise ValueError(
            f"tracetorch.kernels: {getattr(cfg, 'name', cfg)} has neuron options the leaky kernels do not "
            f"implement ({getattr(cfg, 'options', ())}); they implement {', '.join(KERNEL_OPTIONS)}."
        )
    reset = opts.get("reset", "subtract")
    later = opts.get("reset_timing", "same") == "next" and reset != "none"
    return [
        KERNEL_OPTIONS["reset"].index(reset),
        int(later),
        int(bool(opts.get("detach_reset", False))),
        int(bool(opts.get("decay_input", False))),
        int(opts.get("syn_input", "ema") == "add"),
        _float_bits(opts.get("reset_value", 0.0)),
        _float_bits(opts.get("rest", 0.0)),
        int(bool(opts.get("adaptive", False))),
        int(opts.get("refractory", 0)),
        int(bool(opts.get("all_to_all", False))),
    ]


def reuses_output(flags: Any, dtype: torch.dtype) -> bool:
    """Whether the output doubles as the saved membrane: single-pathway LI/EMA layers
    (output == membrane) with float32 outputs (the stored output is then bit-identical
    to the float32 membrane the backward needs). The forward then saves no membrane
    and the backward reads the output instead (4 bytes less per neuron-step)."""
    f = dict(zip(FLAG_NAMES, flags))
    return not f["DUAL"] and f["KIND"] <= 1 and dtype == torch.float32


def _slot_key(name: str, twin: tuple[str, ...]) -> str:
    """The kernel's name of a slot: the name it has in the dual configuration (the
    single pathway of a non-dual layer is the kernel's positive one), upper case."""
    return (name if name in twin else "pos_" + name).upper()


def twin_cfg(cfg: Any) -> LeakyConfig:
    """The dual configuration with the same parts (and neuron options) as ``cfg``."""
    return LeakyConfig(True, cfg.synaptic, cfg.recurrent, cfg.output, **(_kernel_options(cfg) or {}))


def kernel_params(names: tuple[str, ...]) -> tuple[str, ...]:
    """The parameters (of ``layout.params``) that travel as rows of ``p``: all but the
    all-to-all ``rec_matrix`` (``[N, N]``, passed as a tensor of its own)."""
    return tuple(n for n in names if n != "rec_matrix")


def slot_constants(cfg: Any, reuse: bool = False) -> dict[str, int]:
    """The kernels' slot constants of one configuration, derived from ``cfg.layout``.

    ``I_<NAME>`` is the row of state ``name`` in ``s0``/``sf`` (the order of
    ``cfg.layout.states``), ``P_<NAME>`` the row of a parameter in ``p`` (the order of
    ``cfg.layout.params`` without the all-to-all ``rec_matrix``: `kernel_params`) and
    ``V_<NAME>`` the row of a tensor the forward stores for the backward
    (`saved_names`). ``NAME`` is the slot's name in the dual configuration (``mem`` is
    ``POS_MEM``). Slots the configuration does not have are 0 (their code
    is compiled out by the flags). ``NS``, ``NP`` and ``NSAVE`` are the counts.
    ``reuse``: the output doubles as the saved membrane (`reuses_output`), which then
    has no row of its own.

    Raises:
        ValueError: if the configuration has a slot the kernels do not know (a new
            state or parameter needs its maths in the kernel body too).
    """
    lay = cfg.layout
    tcfg = twin_cfg(cfg)
    twin = tcfg.layout
    consts: dict[str, int] = dict.fromkeys(SLOT_ARGS, 0)
    groups = (
        ("I_", lay.states, twin.states),
        ("P_", kernel_params(lay.params), kernel_params(twin.params)),
        ("V_", saved_names(cfg, reuse), saved_names(tcfg)),
    )
    for prefix, names, twin_names in groups:
        for i, n in enumerate(names):
            key = prefix + _slot_key(n, twin_names)
            if key not in consts:
                raise ValueError(
                    f"tracetorch.kernels: {getattr(cfg, 'name', cfg)} has a slot {n!r} ({key}) the leaky kernels "
                    "do not implement."
                )
            consts[key] = i
    consts["NS"] = len(lay.states)
    consts["NP"] = len(kernel_params(lay.params))
    consts["NSAVE"] = len(saved_names(cfg, reuse))
    return consts


def _known_slots(cfg: Any) -> bool:
    """Whether every slot of ``cfg.layout`` is one the kernels implement."""
    try:
        slot_constants(cfg)
    except (ValueError, AttributeError, TypeError):
        return False
    return True


def supports(
    cfg: Any,
    spike_fn: Any = None,
    quant_fn: Any = None,
    *,
    step_shape: Optional[tuple[int, ...]] = None,
    dim: int = -1,
) -> bool:
    """Whether the kernels implement this configuration with these functions.

    The 32 classic `LeakyConfig` configurations are supported, and with them the neuron
    options of `KERNEL_OPTIONS` (``reset``, ``reset_value``, ``reset_timing``,
    ``detach_reset``, ``decay_input``, ``rest``, ``syn_input``, ``adaptive``,
    ``refractory``, ``all_to_all``), alone or combined; ``all_to_all`` with neurons along
    the last axis and at most `A2A_MAX_N` of them (`A2A_MAX_N_DUAL` for dual layers;
    checked when ``step_shape`` is given).
    Declined (False, so the PyTorch path runs): a configuration with any other neuron
    option (or an option value the kernels do not know: a whitelist), one whose
    layout has a state, parameter or saved slot the kernels do not know, and spiking
    kinds without a built-in `tracetorch.functional.SpikeFunction` and one of the
    built-in quantisation functions (a custom callable has no known derivative), and
    a random quantiser while `tracetorch.deterministic` is on (the PyTorch path rounds).

    Args:
        cfg: A ``LeakyConfig`` (anything with ``dual``, ``synaptic``, ``recurrent``,
            ``output``).
        spike_fn: The layer's spike function.
        quant_fn: The layer's quantisation function.
        step_shape: The shape of one timestep (without the time axis), when known.
        dim: The neuron axis of a step.

    Returns:
        True when `leaky_sequence` can run it.
    """
    if getattr(cfg, "output", None) not in _KINDS:
        return False
    if _kernel_options(cfg) is None:
        return False
    if (
        getattr(cfg, "all_to_all", False)
        and step_shape is not None
        and not _a2a_fits(tuple(step_shape), dim, bool(cfg.dual))
    ):
        return False
    if not _known_slots(cfg):
        return False
    if cfg.output in ("LI", "EMA"):
        return True
    import tracetorch
    from tracetorch._internal import skips_quantisation
    from tracetorch.functional import SpikeFunction, quant_round

    if tracetorch.is_deterministic() and quant_fn is not quant_round and not skips_quantisation(spike_fn, quant_fn):
        # under tt.deterministic() the random quantisers round: the PyTorch path does that
        return False
    return isinstance(spike_fn, SpikeFunction) and spike_fn.kind in _SPIKES and _quant_code(quant_fn) is not None


def config_flags(cfg: Any, spike_fn: Any = None, quant_fn: Any = None) -> tuple[list[int], float]:
    """The kernel's compile-time flags ``[dual, synaptic, recurrent, kind, spike, quant,
    *option_flags(cfg)]`` (`FLAG_NAMES`) and the spike function's parameter."""
    kind = _KINDS[cfg.output]
    if kind >= 2:
        spike = _SPIKES[spike_fn.kind]
        quant = _quant_code(quant_fn)
        param = float(spike_fn.param)
    else:
        spike, quant, param = 0, 0, 1.0
    base = [int(cfg.dual), int(cfg.synaptic), int(cfg.recurrent), kind, spike, int(quant or 0)]
    return base + option_flags(cfg), param


def _random(flags: list[int]) -> bool:
    """Whether the configuration draws random numbers (sigmoid spike, random quantiser)."""
    f = dict(zip(FLAG_NAMES, flags))
    return f["KIND"] >= 2 and f["SPIKE"] == 0 and f["QUANT"] != 0


SEED_HIGH = 2**62
"""Kernel seeds are drawn uniformly from ``[0, SEED_HIGH)``."""


def _seed_tensor(flags: list[int], device: torch.device) -> Tensor:
    """The Philox key of one launch, as a 0-d int64 tensor on the kernel's device.

    For a configuration that draws random numbers it is drawn on ``device`` from that
    device's default generator (``torch.randint``), so: ``torch.manual_seed`` makes the
    draws reproducible; the draw is an ordinary device-side random op, so a captured
    CUDA graph draws a new key on every replay (PyTorch advances its generator's
    Philox offset per replay) and the kernel reads it from device memory, never from
    a host integer baked into the graph; the backward reads the same tensor, so it
    regenerates the forward's draws. Otherwise an uninitialised tensor (not read).
    """
    if _random(flags):
        return torch.randint(0, SEED_HIGH, (), dtype=torch.int64, device=device)
    return torch.empty((), dtype=torch.int64, device=device)


# ----------------------------------------------------------------- custom ops
# The seed is a 0-d int64 tensor on the device (drawn by a traced ``torch.randint``),
# so that compiled graphs draw a fresh seed per call without a graph break on ``.item()``.
@torch.library.custom_op("tracetorch::leaky_sequence", mutates_args=())
def _leaky_op(
    x: Tensor,
    s0: Tensor,
    p: Tensor,
    flags: list[int],
    spike_param: float,
    seed: Tensor,
    save: bool,
    inner: int = 1,
    checkpoint: int = 0,
    w: Optional[Tensor] = None,
) -> tuple[Tensor, Tensor, Tensor]:
    out, sf, sv = load_fused("leaky", x.device).leaky_forward(
        x, s0, p, tuple(flags), spike_param, seed, save, inner=inner, checkpoint=checkpoint, w=w
    )
    return out, sf, sv


def saved_names(cfg: LeakyConfig, reuse: bool = False) -> tuple[str, ...]:
    """What the forward kernel stores per step for the backward, by slot name: the
    membrane(s) before the reset (not when ``reuse``: the output is that membrane, see
    `reuses_output`) and the synaptic and recurrent traces, the adaptation trace and
    the refractory counter (``cfg.layout.traces``; float32). Spikes (the
    pending ones of ``reset_timing="next"`` included) are recomputed from the
    membranes, the previous output from the states."""
    return (() if reuse else cfg.layout.pre) + cfg.layout.traces


def flags_config(flags: Any) -> LeakyConfig:
    """The configuration a flags list (`config_flags`) stands for (neuron options
    included; a list of the first six flags stands for the default options)."""
    f: dict[str, int] = dict(zip(FLAG_NAMES, flags))
    opts: dict[str, Any] = {}
    reset = KERNEL_OPTIONS["reset"][f.get("RESET", 0)]
    if reset != "subtract":
        opts["reset"] = reset
    if f.get("NEXT", 0):
        opts["reset_timing"] = "next"
    for flag, name in (("DETACH", "detach_reset"), ("DECAY_IN", "decay_input")):
        if f.get(flag, 0):
            opts[name] = True
    if f.get("SYN_ADD", 0):
        opts["syn_input"] = "add"
    if f.get("A2A", 0):
        opts["all_to_all"] = True
    for flag, name in (("RESET_VALUE", "reset_value"), ("REST", "rest")):
        value = _bits_float(f.get(flag, 0))
        if value != 0.0:
            opts[name] = value
    if f.get("ADAPT", 0):
        opts["adaptive"] = True
    if f.get("REFRAC", 0):
        opts["refractory"] = int(f["REFRAC"])
    return LeakyConfig(bool(f["DUAL"]), bool(f["SYN"]), bool(f["REC"]), OUTPUT_KINDS[f["KIND"]], **opts)


def _nsave(flags: list[int], dtype: torch.dtype) -> int:
    return len(saved_names(flags_config(flags), reuses_output(flags, dtype)))


@_leaky_op.register_fake
def _(
    x: Tensor,
    s0: Tensor,
    p: Tensor,
    flags: list[int],
    spike_param: float,
    seed: Tensor,
    save: bool,
    inner: int = 1,
    checkpoint: int = 0,
    w: Optional[Tensor] = None,
):
    T, E = x.shape
    if save and checkpoint:
        sv = x.new_empty((s0.shape[0], max(T - 1, 0) // checkpoint, E), dtype=torch.float32)
    elif save:
        sv = x.new_empty((_nsave(flags, x.dtype), T, E), dtype=torch.float32)
    else:
        sv = x.new_empty(0, dtype=torch.float32)
    return torch.empty_like(x), torch.empty_like(s0), sv


@torch.library.custom_op("tracetorch::leaky_sequence_backward", mutates_args=())
def _leaky_bwd_op(
    x: Tensor,
    s0: Tensor,
    p: Tensor,
    sv: Tensor,
    grad_out: Tensor,
    grad_sf: Tensor,
    flags: list[int],
    spike_param: float,
    seed: Tensor,
    inner: int = 1,
    checkpoint: int = 0,
    out: Optional[Tensor] = None,
    w: Optional[Tensor] = None,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    gw = _gw_buffer(w, x)
    gx, gs0, gp = load_fused("leaky", x.device).leaky_backward(
        x, s0, p, sv, grad_out, grad_sf, tuple(flags), spike_param, seed, inner=inner, checkpoint=checkpoint, out=out,
        w=w, gw=gw if w is not None else None,
    )  # fmt: skip
    return gx, gs0, gp, gw


def _gw_buffer(w: Optional[Tensor], x: Tensor) -> Tensor:
    """The all-to-all matrix gradient, zeroed (the backward adds to it); empty without one."""
    if w is None:
        return x.new_empty(0, dtype=torch.float32)
    return torch.zeros_like(w, dtype=torch.float32)


@_leaky_bwd_op.register_fake
def _(x, s0, p, sv, grad_out, grad_sf, flags, spike_param, seed, inner=1, checkpoint=0, out=None, w=None):  # type: ignore[no-untyped-def]
    gw = x.new_empty(0, dtype=torch.float32) if w is None else torch.empty_like(w, dtype=torch.float32)
    return (
        torch.empty_like(x),
        torch.empty_like(s0),
        x.new_empty((p.shape[0], x.shape[1]), dtype=torch.float32),
        gw,
    )


def _reduce_gp(gp: Tensor, p: Tensor, inner: int = 1) -> Tensor:
    """Per-element parameter gradients ``[NP, E]`` summed over rows to ``[NP, N]``.

    With ``inner > 1`` (neurons not along the last axis: ``E = outer x N x inner``)
    the elements of one neuron are first gathered in the order the neurons-last
    layout had them (outer, then inner), so the sum adds in the same order."""
    NP, N = p.shape
    if inner > 1:
        gp = gp.view(NP, -1, N, inner).transpose(2, 3).contiguous()  # copied: a view would sum in another order
    return gp.reshape(NP, -1, N).sum(1)


def _setup(ctx: Any, inputs: tuple, output: tuple) -> None:
    """What the backward keeps (both the custom op's autograd and `_LeakyFn`)."""
    x, s0, p, flags, spike_param, seed, _save, *rest = inputs
    inner, checkpoint, w = (*rest, *(1, 0, None)[len(rest) :])[:3]  # defaults when not passed
    # LI/EMA in float32: the output is the saved membrane (kept for the backward; a
    # checkpointed backward recomputes it)
    keep = reuses_output(flags, x.dtype) and not checkpoint
    ctx.save_for_backward(x, s0, p, output[2], output[0] if keep else None, w)
    ctx.flags, ctx.spike_param, ctx.seed, ctx.inner, ctx.checkpoint = flags, spike_param, seed, inner, checkpoint
    ctx.mark_non_differentiable(output[2])


def _incoming(x: Tensor, s0: Tensor, g_out: Optional[Tensor], g_sf: Optional[Tensor]) -> tuple[Tensor, Tensor]:
    """The output and final-state gradients as the backward kernel reads them
    (contiguous; zeros where autograd passes none)."""
    g_out = torch.zeros_like(x) if g_out is None else g_out.contiguous()
    g_sf = torch.zeros_like(s0) if g_sf is None else g_sf.contiguous()
    return g_out, g_sf


def _op_backward(ctx: Any, g_out: Tensor, g_sf: Tensor, _g_sv: Any):
    x, s0, p, sv, out, w = ctx.saved_tensors
    g_out, g_sf = _incoming(x, s0, g_out, g_sf)
    gx, gs0, gp, gw = _leaky_bwd_op(
        x, s0, p, sv, g_out, g_sf, ctx.flags, ctx.spike_param, ctx.seed, ctx.inner, ctx.checkpoint, out, w
    )
    gp = _reduce_gp(gp, p, ctx.inner).to(p.dtype)
    return gx, gs0, gp, None, None, None, None, None, None, None if w is None else gw.to(w.dtype)


_leaky_op.register_autograd(_op_backward, setup_context=_setup)


class _LeakyFn(torch.autograd.Function):
    """Eager twin of the custom op (same launchers, less dispatch overhead)."""

    @staticmethod
    def forward(
        ctx: Any,
        x: Tensor,
        s0: Tensor,
        p: Tensor,
        flags: list[int],
        spike_param: float,
        seed: Tensor,
        save: bool,
        inner: int = 1,
        checkpoint: int = 0,
        w: Optional[Tensor] = None,
    ):  # type: ignore[override]
        out, sf, sv = load_fused("leaky", x.device).leaky_forward(
            x, s0, p, tuple(flags), spike_param, seed, save, inner=inner, checkpoint=checkpoint, w=w
        )
        _setup(ctx, (x, s0, p, flags, spike_param, seed, save, inner, checkpoint, w), (out, sf, sv))
        return out, sf, sv

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, g_out: Tensor, g_sf: Tensor, _g_sv: Any):  # type: ignore[override]
        x, s0, p, sv, out, w = ctx.saved_tensors
        g_out, g_sf = _incoming(x, s0, g_out, g_sf)
        gw = _gw_buffer(w, x) if w is not None and ctx.needs_input_grad[9] else None  # rec_matrix learnt
        gx, gs0, gp = load_fused("leaky", x.device).leaky_backward(
            x, s0, p, sv, g_out, g_sf, tuple(ctx.flags), ctx.spike_param, ctx.seed, inner=ctx.inner,
            checkpoint=ctx.checkpoint, out=out, w=w, gw=gw,
        )  # fmt: skip
        gp = _reduce_gp(gp, p, ctx.inner).to(p.dtype)
        return gx, gs0, gp, None, None, None, None, None, None, gw


# ----------------------------------------------------------------- entry points
def leaky_sequence(
    cfg: Any,
    x: Tensor,
    states: tuple[Tensor, ...],
    params: tuple[Tensor, ...],
    spike_fn: Any = None,
    quant_fn: Any = None,
    dim: int = -1,
) -> tuple[Tensor, tuple[Tensor, ...]]:
    """A leaky-integrator configuration over a whole sequence, by the Triton kernel.

    Equal to `tracetorch.kernels.ops.leaky.leaky_sequence_naive` (the snn package's
    reference loop): same operation order, float32 states and maths, outputs and
    states stored in the dtype the reference steps in (``x`` promoted with the states
    and parameters: a bf16 input with fp32 states runs in fp32). NaN propagates as in
    the reference; an empty sequence (``T = 0``) returns empty outputs and the states. Differentiable with respect to ``x``,
    the initial states and the parameters (a hand-written BPTT kernel). Random
    quantisation draws come from in-kernel Philox streams keyed by one ``torch.randint``
    per call on ``x``'s device (its default generator): reproducible under
    ``torch.manual_seed``, new on every replay of a captured CUDA graph, but not the
    draws ``torch.bernoulli`` makes on the reference path.

    All-to-all configurations (``all_to_all=True``) multiply the recurrent trace by
    ``rec_matrix`` with ``tl.dot`` in float32 (IEEE, not TF32), which sums in another
    order than ``F.linear``: their values are close to the reference's, not bit-equal
    (the tests bound the difference), and the ``rec_matrix`` gradient is summed over
    time and batch by one matrix product after the kernel.

    Args:
        cfg: A ``tracetorch.snn.functional.LeakyConfig``.
        x: ``[T, *step]``: time first; ``x[t]`` is one timestep with the neurons
            along ``dim``.
        states: The states before the first step in the order of ``cfg.states``,
            each broadcastable to one step's shape.
        params: The activated parameters in the order of ``cfg.param_names``, each
            with 1 or ``N`` elements (rank 0 or 1; trailing singleton axes, as the
            layers view them for ``dim != -1``, are fine).
        spike_fn: A built-in `tracetorch.functional.SpikeFunction` (spiking kinds).
        quant_fn: ``quant_round``, ``quant_bernoulli`` or ``quant_probabilistic``.
        dim: The neuron axis of one timestep (the layer's ``dim``). The kernels read
            the tensor in its own layout (neuron ``(e // inner) % N`` of element ``e``
            of a step, ``inner`` the size of the axes after ``dim``): no copies for a
            contiguous ``x``.

    Returns:
        ``(outputs [T, *step], final states shaped like one step)``.

    Memory: under `tracetorch.kernels.checkpoint_bptt` the backward recomputes
    segments from checkpoints instead of keeping every step (same gradients).

    Raises:
        ValueError: for spike or quantisation functions the kernel does not implement
            (see `supports`), and for an all-to-all configuration whose neurons are not
            the last axis of a step, number more than `a2a_max_n`, or whose
            ``rec_matrix`` is not ``[N, N]``.
    """
    if not supports(cfg, spike_fn, quant_fn):
        raise ValueError(
            f"tracetorch.kernels.leaky_sequence: {getattr(cfg, 'name', cfg)} with spike_fn={spike_fn!r}, "
            f"quant_fn={quant_fn!r} has no kernel (custom callables run on the reference path)."
        )
    a2a = bool(getattr(cfg, "all_to_all", False))
    if a2a and not _a2a_fits(tuple(x.shape[1:]), dim, bool(cfg.dual)):
        raise ValueError(
            f"tracetorch.kernels.leaky_sequence: {getattr(cfg, 'name', cfg)} with all_to_all=True runs in the "
            f"kernels with the neurons along the last axis of a step and at most {a2a_max_n(cfg.dual)} of them; "
            f"got steps of shape {tuple(x.shape[1:])} with dim={dim} (the PyTorch path runs the others)."
        )
    flags, sparam = config_flags(cfg, spike_fn, quant_fn)
    # the dtype stepping ends up in (a bf16 input with fp32 states or parameters runs,
    # and returns, in fp32), as on the PyTorch path
    x, states = promote(x, tuple(states), tuple(params))
    nd = x.ndim - 1
    if not -nd <= dim < nd:
        raise ValueError(f"tracetorch.kernels.leaky_sequence: dim={dim} is out of range for steps of {nd} dims.")
    d = dim % nd
    T = x.shape[0]
    step_shape = tuple(x.shape[1:])
    N = step_shape[d]
    inner = math.prod(step_shape[d + 1 :])  # elements of a step between two neurons
    E = math.prod(step_shape)
    x2 = x.contiguous().view(T, E)  # explicit E: T = 0 has no -1 to infer
    s0 = torch.stack([s.to(x.dtype).expand(step_shape) for s in states]).reshape(len(states), E).contiguous()
    save = torch.is_grad_enabled() and (x.requires_grad or any(t.requires_grad for t in (*states, *params)))
    w: Optional[Tensor] = None
    if a2a:
        # the [N, N] matrix travels on its own; every other parameter is a row of p
        named = dict(zip(cfg.layout.params, params))
        w = named["rec_matrix"]
        if tuple(w.shape) != (N, N):
            raise ValueError(
                f"tracetorch.kernels.leaky_sequence: rec_matrix must have shape [N, N] = [{N}, {N}] for {N} "
                f"neurons, got {tuple(w.shape)}."
            )
        w = w.to(torch.float32).contiguous()
        params = tuple(named[n] for n in kernel_params(cfg.layout.params))
    p = torch.stack([q.to(torch.float32).reshape(-1).expand(N) for q in params]).contiguous()
    seed = _seed_tensor(flags, x.device)
    every = bptt_checkpoint_every() if save else 0
    if torch.compiler.is_compiling():
        out, sf, _ = _leaky_op(x2, s0, p, flags, sparam, seed, bool(save), inner, every, w)
    else:
        out, sf, _ = _LeakyFn.apply(x2, s0, p, flags, sparam, seed, bool(save), inner, every, w)
    final = tuple(sf[i].view(step_shape) for i in range(len(states)))
    return out.view(x.shape), final


def leaky_step(
    cfg: Any,
    x: Tensor,
    states: tuple[Tensor, ...],
    params: tuple[Tensor, ...],
    spike_fn: Any = None,
    quant_fn: Any = None,
    dim: int = -1,
) -> tuple[Tensor, tuple[Tensor, ...]]:
    """One timestep in one kernel launch (forward) and one launch for its backward.

    The sequence kernel specialised to a single step: no Python-level elementwise
    ops, every state read once and written once.

    Args:
        cfg: A ``LeakyConfig``.
        x: One timestep, neurons along ``dim``.
        states: As for `leaky_sequence`.
        params: As for `leaky_sequence`.
        spike_fn: As for `leaky_sequence`.
        quant_fn: As for `leaky_sequence`.
        dim: The neuron axis of ``x``.

    Returns:
        ``(output, new states)``, shaped like ``x``.
    """
    out, final = leaky_sequence(cfg, x.unsqueeze(0), states, params, spike_fn, quant_fn, dim)
    return out[0], final
