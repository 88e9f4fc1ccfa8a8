"""The adaptive threshold (``adaptive``) and the refractory period (``refractory``) in the
leaky kernels.

CPU through Triton's interpreter (or CUDA when a GPU runs the suite), against the snn
reference (`leaky_sequence_naive` = ``tracetorch.snn``'s own loop of ``_step``), as
``test_options``: forward outputs and final states (the adaptation trace and the
refractory counter included) bit-identical on the CPU, within 1e-6 on a GPU; gradients
of the input, every initial state and every parameter (``adapt_decay`` and
``adapt_strength`` included) within ``test_options``' tolerances. Each option alone and
combined with the other neuron options over a representative set of families
(single/dual, S/R, B/T/TS); the full product with the 24 spiking layers is ``slow``.
The test data start some neurons refractory (counters 0 to k) with a positive
adaptation trace, so that held membranes, silenced spikes and adapted thresholds all
occur (`test_the_test_data_exercise_both_options` checks that they do).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
import torch
import tracetorch.functional as TF
from kernel_testlib import initial_state, layer_sequence_on_the_kernel, same, stepped, weighted_grads, with_options
from tracetorch import _internal
from tracetorch.kernels import checkpoint_bptt, leaky_sequence, leaky_sequence_naive
from tracetorch.snn.functional import LAYER_NAMES, LeakyConfig

ATAN = TF.heaviside_atan(2.0)

OPTION_SETS: dict[str, dict[str, Any]] = {
    "adaptive": dict(adaptive=True),
    "refractory": dict(refractory=2),
    "refractory1": dict(refractory=1),
    "both": dict(adaptive=True, refractory=3),
    "adaptive_next_value": dict(adaptive=True, reset_timing="next", reset="value", reset_value=0.2),
    "adaptive_none": dict(adaptive=True, reset="none"),
    "adaptive_detach": dict(adaptive=True, detach_reset=True, rest=0.1),
    "refractory_next": dict(refractory=2, reset_timing="next"),
    "refractory_value": dict(refractory=2, reset="value", reset_value=-0.25, decay_input=True),
    "refractory_all_subtract": dict(
        refractory=1, reset_timing="next", detach_reset=True, decay_input=True, rest=0.3, syn_input="add"
    ),
    "both_all_value": dict(
        adaptive=True,
        refractory=2,
        reset="value",
        reset_value=-0.2,
        reset_timing="next",
        detach_reset=True,
        decay_input=True,
        rest=0.1,
        syn_input="add",
    ),
    "both_same_detach": dict(adaptive=True, refractory=2, detach_reset=True, syn_input="add"),
}
"""Each option alone, and combined with the others (``syn_input`` is dropped on
non-synaptic layers). ``adaptive`` is not combined with a next-step ``"subtract"``
reset: `LeakyConfig` refuses that."""

SPIKING = tuple(n for n in LAYER_NAMES if LeakyConfig.from_name(n).spiking)

# every option set on one to three families; together: single and dual, S and R, B, T and TS
FAST = [
    ("adaptive", "LIB"),
    ("adaptive", "DSRLITS"),
    ("refractory", "LIB"),
    ("refractory", "DSRLIT"),
    ("refractory1", "SRLITS"),
    ("both", "DLIB"),
    ("both", "SLIT"),
    ("adaptive_next_value", "RLIB"),
    ("adaptive_next_value", "DSLITS"),
    ("adaptive_none", "DRLIT"),
    ("adaptive_detach", "SRLIB"),
    ("refractory_next", "DSLIB"),
    ("refractory_next", "RLITS"),
    ("refractory_value", "DLIT"),
    ("refractory_all_subtract", "DSRLIB"),
    ("both_all_value", "SRLIB"),
    ("both_all_value", "DSRLITS"),
    ("both_same_detach", "DSLIT"),
]


def _config(name: str, opts: str) -> LeakyConfig:
    return with_options(name, OPTION_SETS[opts])


def _param(kind: str, N: int, g: torch.Generator) -> torch.Tensor:
    if kind == "decay":
        return torch.rand(N, generator=g) * 0.8 + 0.1
    if kind == "threshold":
        return torch.rand(N, generator=g) * 0.5 + 0.5
    return torch.randn(N, generator=g)


def _case(cfg: LeakyConfig, T: int, B: int, N: int, device: str, seed: int = 0, rank0: tuple[str, ...] = ()):
    """Inputs ``[T, B, N]``, states ``[B, N]`` and parameters ``[N]`` (rank 0 for the
    names in ``rank0``), all requiring gradients."""
    g = torch.Generator().manual_seed(seed)
    x = (torch.randn(T, B, N, generator=g) * 1.5 + 0.3).to(device).requires_grad_()
    states = tuple(initial_state(cfg, n, (B, N), g).to(device).requires_grad_() for n in cfg.states)
    params = []
    for info in cfg.params:
        v = _param(info.kind, N, g)
        if info.name in rank0:
            v = v[0]
        params.append(v.to(device).requires_grad_())
    return x, states, tuple(params)


def _close_grads(cfg: LeakyConfig, gk: tuple, gr: tuple, n_states: int, what: str = "") -> None:
    """Input and state gradients within 1e-6, parameter gradients within 1e-5 relative."""
    names = ("x", *cfg.states, *cfg.param_names)
    for i, (n, a, b) in enumerate(zip(names, gk, gr)):
        assert a.shape == b.shape and not torch.isnan(a).any(), n
        if i <= n_states:
            torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-6, msg=lambda m: f"{cfg}{what} grad {n}: {m}")
        else:
            scale = max(1.0, float(b.abs().max()))
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5 * scale, msg=lambda m: f"{cfg}{what} grad {n}: {m}")


def _compare(
    cfg: LeakyConfig,
    device: str,
    spike: Any = ATAN,
    quant: Any = TF.quant_round,
    T: int = 5,
    rank0: tuple[str, ...] = (),
) -> None:
    from tracetorch.kernels.ops.leaky import supports

    assert supports(cfg, spike, quant), cfg
    x, states, params = _case(cfg, T, 2, 11, device, rank0=rank0)
    out, final = leaky_sequence(cfg, x, states, params, spike, quant)
    ref, rfinal = leaky_sequence_naive(cfg, x, states, params, spike, quant)
    same(out, ref, device, f"{cfg} outputs")
    assert len(final) == len(rfinal) == len(cfg.states)
    for n, s, r in zip(cfg.states, final, rfinal):
        same(s, r, device, f"{cfg} final {n}")
    ins = (x, *states, *params)
    _close_grads(cfg, weighted_grads(out, final, ins), weighted_grads(ref, rfinal, ins), len(states))


@pytest.mark.parametrize("opts,name", FAST, ids=[f"{n}-{o}" for o, n in FAST])
def test_adaptive_and_refractory_match_the_reference(device: str, poison, opts: str, name: str) -> None:
    """Blocks of 8 over E = 22 elements (three programs, the last partial), buffers
    pre-filled with NaN: an element the kernels fail to write shows up."""
    poison(8)
    _compare(_config(name, opts), device)


# the option sets of the full product: between them every option (and both timings and
# the three resets) with the adaptive threshold and the refractory period
PRODUCT_SETS = (
    "both",
    "both_all_value",
    "both_same_detach",
    "adaptive_none",
    "refractory_next",
    "refractory_value",
    "refractory_all_subtract",
)
_SLOW = [(o, n) for o in PRODUCT_SETS for n in SPIKING if (o, n) not in FAST]


@pytest.mark.slow
@pytest.mark.parametrize("opts,name", _SLOW, ids=[f"{n}-{o}" for o, n in _SLOW])
def test_the_combined_option_sets_on_every_spiking_layer(device: str, opts: str, name: str) -> None:
    _compare(_config(name, opts), device, T=4)


def test_the_test_data_exercise_both_options() -> None:
    """On the fast cases' data the reference holds membranes and silences spikes (some
    neuron is refractory while its membrane is over the threshold), and the adapted
    threshold changes spikes: the options are not vacuous here."""
    silenced = adapted = 0
    for opts, name in FAST:
        cfg = _config(name, opts)
        x, states, params = _case(cfg, 5, 2, 11, "cpu")
        ref, rfin = leaky_sequence_naive(cfg, x, states, params, ATAN, TF.quant_round)
        plain_kw = {k: v for k, v in dataclasses.asdict(cfg).items() if k in ("adaptive", "refractory")}
        for flag in plain_kw:
            off = dataclasses.replace(cfg, **{flag: type(plain_kw[flag])()})
            if off == cfg:
                continue
            st = tuple(s for n, s in zip(cfg.states, states) if n in off.states)
            ps = tuple(p for n, p in zip(cfg.param_names, params) if n in off.param_names)
            b, _ = leaky_sequence_naive(off, x, st, ps, ATAN, TF.quant_round)
            if not torch.equal(ref, b):
                if flag == "refractory":
                    silenced += 1
                else:
                    adapted += 1
    assert silenced >= 8 and adapted >= 8, (silenced, adapted)


@pytest.mark.parametrize("name", ["LIB", "DSLIT"])
def test_the_refractory_counter_gradient_matches_autograd(device: str, name: str) -> None:
    """The counter is a float state: autograd passes its gradient where it counts down
    (``clamp_min(refrac - 1, 0)`` above the tie) and no spike resets it. With k = 4
    over 3 steps, counters of 3 pass it until the tie on the last step (none reaches
    the start) and counters of 4 pass it to the initial counter."""
    cfg = dataclasses.replace(LeakyConfig.from_name(name), refractory=4)
    x, states, params = _case(cfg, 3, 2, 11, device)
    out, fin = leaky_sequence(cfg, x, states, params, ATAN, TF.quant_round)
    ref, rfin = leaky_sequence_naive(cfg, x, states, params, ATAN, TF.quant_round)
    i = cfg.states.index("refrac")
    gk = torch.autograd.grad(fin[i].sum() + out.sum(), states[i])[0]
    gr = torch.autograd.grad(rfin[i].sum() + ref.sum(), states[i])[0]
    start = states[i].detach()
    assert bool((start == 3).any()) and bool((start == 4).any())
    assert torch.equal(gr, (start == 4).float())  # the tie passes nothing
    torch.testing.assert_close(gk, gr, rtol=0, atol=0)


@pytest.mark.parametrize(
    "opts,name,spike,quant",
    [
        ("both", "DSRLITS", TF.heaviside_triangle(0.7), TF.quant_probabilistic),
        ("both_all_value", "LIB", TF.heaviside_fast_sigmoid(10.0), TF.quant_round),
        ("refractory_next", "DLIT", TF.sigmoid(4.0), TF.quant_round),
    ],
    ids=["triangle-probabilistic", "fast_sigmoid", "sigmoid"],
)
def test_adaptive_refractory_with_other_surrogates(device: str, opts: str, name: str, spike: Any, quant: Any) -> None:
    _compare(_config(name, opts), device, spike, quant)


@pytest.mark.parametrize("opts,name", [("both", "SRLIB"), ("both_all_value", "DLITS")])
def test_rank0_and_rank1_parameters(device: str, opts: str, name: str) -> None:
    """Scalar (rank-0) parameters, ``adapt_decay``/``adapt_strength`` among them, next to
    per-neuron ones: the gradients of the scalars are the sums over neurons."""
    cfg = _config(name, opts)
    rank0 = ("adapt_decay", "adapt_strength", cfg.param_names[0])
    _compare(cfg, device, rank0=rank0)


@pytest.mark.parametrize("opts,name", [("both", "LIB"), ("both_all_value", "DSRLITS")])
def test_the_step_kernel_with_adaptive_and_refractory(device: str, opts: str, name: str) -> None:
    """One launch per step, stepped over a sequence (the trace and the counter are states)."""
    cfg = _config(name, opts)
    x, states, params = _case(cfg, 5, 2, 5, device)
    out, st = stepped(cfg, x, states, params, ATAN, TF.quant_round)
    ref, rfin = leaky_sequence_naive(cfg, x, states, params, ATAN, TF.quant_round)
    same(out, ref, device, "outputs")
    for n, s, r in zip(cfg.states, st, rfin):
        same(s, r, device, n)
    ins = (x, *states, *params)
    for a, b in zip(weighted_grads(out, st, ins), weighted_grads(ref, rfin, ins)):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("opts,name", [("both", "SRLIB"), ("both_all_value", "DSLIT")])
def test_adaptive_refractory_in_bfloat16(device: str, poison, opts: str, name: str) -> None:
    """bf16 inputs, states and parameters, float32 inside (trace and counter too), against
    the float32 reference on the same rounded values, as ``test_options_in_bfloat16``."""
    poison(0)
    cfg = _config(name, opts)
    x, states, params = _case(cfg, 5, 3, 16, device)
    x = x.detach().to(torch.bfloat16).requires_grad_()
    states = tuple(s.detach().to(torch.bfloat16) for s in states)
    params = tuple(p.detach().to(torch.bfloat16).requires_grad_() for p in params)
    out, fin = leaky_sequence(cfg, x, states, params, ATAN, TF.quant_round)
    assert out.dtype == torch.bfloat16 and all(s.dtype == torch.bfloat16 for s in fin)
    xf = x.detach().float().requires_grad_()
    ref, rfin = leaky_sequence_naive(cfg, xf, tuple(s.float() for s in states), params, ATAN, TF.quant_round)
    tol = 1e-2
    torch.testing.assert_close(out.float(), ref, rtol=tol, atol=tol)
    for n, s, r in zip(cfg.states, fin, rfin):
        torch.testing.assert_close(s.float(), r, rtol=tol, atol=tol, msg=lambda m: f"{n}: {m}")
    assert torch.equal(fin[cfg.states.index("refrac")].float(), rfin[cfg.states.index("refrac")])
    g = torch.randn(out.shape).to(device)
    gk = torch.autograd.grad((out.float() * g).sum(), (x, *params))
    gr = torch.autograd.grad((ref * g).sum(), (xf, *params))
    for a, b in zip(gk, gr):
        scale = max(1.0, float(b.abs().max()))
        torch.testing.assert_close(a.float(), b.float(), rtol=4 * tol, atol=4 * tol * scale)


@pytest.mark.parametrize("opts,name", [("both_all_value", "DSRLITS"), ("refractory_next", "SRLIB")])
def test_checkpointed_bptt_is_bit_identical_to_the_stored_path(device: str, poison, opts: str, name: str) -> None:
    """Under `checkpoint_bptt` (segments of 2 over 7 steps: the trace and the counter are
    checkpointed states) every gradient equals the stored path's bit for bit."""
    poison(8)
    cfg = _config(name, opts)
    x, states, params = _case(cfg, 7, 2, 11, device)
    ins = (x, *states, *params)
    out, fin = leaky_sequence(cfg, x, states, params, ATAN, TF.quant_round)
    g_stored = weighted_grads(out, fin, ins)
    with checkpoint_bptt(2):
        out_c, fin_c = leaky_sequence(cfg, x, states, params, ATAN, TF.quant_round)
    assert torch.equal(out, out_c)
    for u, v in zip(fin, fin_c):
        assert torch.equal(u, v)
    for n, u, v in zip(("x", *cfg.states, *cfg.param_names), g_stored, weighted_grads(out_c, fin_c, ins)):
        assert torch.equal(u, v), n


def test_neurons_along_another_axis(device: str, poison) -> None:
    """Neurons along ``dim = 1`` of ``[B, N, H]`` steps (parameters viewed ``[N, 1]`` as
    the layers view them): bit for bit what the neurons-last layout gives."""
    poison(8)
    cfg = _config("DSRLIT", "both_all_value")
    x, states, params = _case(cfg, 4, 6, 5, device)  # [T, B*H = 6, N = 5], neurons last
    B, H, N = 2, 3, 5

    def moved(t: torch.Tensor) -> torch.Tensor:  # [..., B*H, N] -> [..., B, N, H]
        return t.reshape(*t.shape[:-2], B, H, N).transpose(-1, -2).contiguous()

    xs = moved(x.detach()).requires_grad_()
    ss = tuple(moved(s.detach()).requires_grad_() for s in states)
    ps = tuple(p.detach().view(N, 1).requires_grad_() for p in params)
    out, fin = leaky_sequence(cfg, x, states, params, ATAN, TF.quant_round)
    out_s, fin_s = leaky_sequence(cfg, xs, ss, ps, ATAN, TF.quant_round, dim=1)
    assert torch.equal(moved(out), out_s)
    for u, v in zip(fin, fin_s):
        assert torch.equal(moved(u), v)
    gen = torch.Generator().manual_seed(3)
    g = torch.randn(out.shape, generator=gen).to(device)
    gk = torch.autograd.grad((out * g).sum() + fin[0].sum(), (x, *states, *params))
    gs = torch.autograd.grad((out_s * moved(g)).sum() + fin_s[0].sum(), (xs, *ss, *ps))
    for n, u, v in zip(("x", *cfg.states), gk, gs):
        assert torch.equal(moved(u), v), n
    for n, u, v in zip(cfg.param_names, gk[1 + len(states) :], gs[1 + len(states) :]):
        torch.testing.assert_close(u, v.view(N), rtol=1e-6, atol=1e-6, msg=lambda m: f"{n}: {m}")


@pytest.mark.slow
def test_opcheck_leaky_with_adaptive_and_refractory(device: str) -> None:
    """`torch.library.opcheck` of the custom op with the trace and the counter in ``s0``
    (the fake implementation's saved rows include them)."""
    from tracetorch.kernels.ops.leaky._op import config_flags

    cfg = _config("DLIB", "both")  # pos_mem, neg_mem, adapt, refrac
    flags, _ = config_flags(cfg, ATAN, TF.quant_round)
    x = torch.randn(3, 8, device=device, requires_grad=True)
    s0 = torch.cat([torch.randn(3, 8), torch.randint(0, 3, (1, 8)).float()]).to(device).requires_grad_()
    p = torch.rand(len(cfg.params), 4, device=device, requires_grad=True)
    seed = torch.zeros((), dtype=torch.int64, device=device)
    torch.library.opcheck(
        torch.ops.tracetorch.leaky_sequence.default,
        (x, s0, p, flags, 2.0, seed, True),
        test_utils=("test_schema", "test_faketensor", "test_autograd_registration"),
    )


# ----------------------------------------------------------------- flags and the whitelist
def test_adaptive_and_refractory_are_accepted_and_round_trip() -> None:
    from tracetorch.kernels.ops.leaky import supports
    from tracetorch.kernels.ops.leaky._op import KERNEL_OPTIONS, config_flags, flags_config
    from tracetorch.kernels.ops.leaky.fused import _flags

    assert {"adaptive", "refractory"} <= set(KERNEL_OPTIONS)
    for opts in OPTION_SETS:
        for name in ("LIB", "DSRLITS", "SLIT"):
            cfg = _config(name, opts)
            assert supports(cfg, ATAN, _internal.QUANT_FUNCTIONS["round"]), cfg
            flags, _ = config_flags(cfg, ATAN, TF.quant_round)
            back = flags_config(flags)
            assert back.layout == cfg.layout
            assert (back.adaptive, back.refractory) == (cfg.adaptive, cfg.refractory)
            f = _flags(tuple(flags))
            assert f["ADAPT"] is cfg.adaptive and f["REFRAC"] == cfg.refractory
    # the defaults: no adaptation, no refractory period (a short flags list too)
    assert _flags((0, 0, 0, 2, 2, 0))["ADAPT"] is False and _flags((0, 0, 0, 2, 2, 0))["REFRAC"] == 0


@pytest.mark.parametrize("value", [-1, 1.5, True, "2"])
def test_a_refractory_value_outside_the_whitelist_is_declined(value: Any) -> None:
    """Only ints >= 0 (a compile-time step count): anything else (as another
    configuration class might carry) is declined, not compiled."""
    from tracetorch.kernels.ops.leaky import supports
    from tracetorch.kernels.ops.leaky._op import option_flags

    class _Cfg:
        def __init__(self, base: LeakyConfig) -> None:
            self._base = base

        def __getattr__(self, name: str) -> Any:
            return getattr(self._base, name)

        @property
        def options(self) -> tuple[tuple[str, Any], ...]:
            return (("refractory", value),)

    cfg = _Cfg(LeakyConfig(False, False, False, "B", refractory=2))
    assert not supports(cfg, ATAN, TF.quant_round)
    with pytest.raises(ValueError, match="do not\\s+implement"):
        option_flags(cfg)


def test_slot_constants_of_the_new_states_and_parameters() -> None:
    from tracetorch.kernels.ops.leaky import fused
    from tracetorch.kernels.ops.leaky._op import saved_names

    cfg = _config("DSRLITS", "both_all_value")
    consts = fused.layout(cfg)
    lay = cfg.layout
    assert consts["I_ADAPT"] == lay.states.index("adapt") and consts["I_REFRAC"] == lay.states.index("refrac")
    assert consts["P_ADAPT_DECAY"] == lay.params.index("adapt_decay")
    assert consts["P_ADAPT_STRENGTH"] == lay.params.index("adapt_strength")
    saved = saved_names(cfg)
    assert consts["V_ADAPT"] == saved.index("adapt") and consts["V_REFRAC"] == saved.index("refrac")


# ----------------------------------------------------------------- the layers
@pytest.mark.parametrize(
    "name,options",
    [
        ("LIB", dict(adaptive=True)),
        ("DSRLITS", dict(refractory=2, reset="value", reset_value=0.1)),
        ("SLIT", dict(adaptive=True, refractory=1, detach_reset=True)),
    ],
    ids=["LIB-adaptive", "DSRLITS-refractory", "SLIT-both"],
)
def test_an_adaptive_or_refractory_layer_runs_its_sequence_on_the_kernel(
    device: str, monkeypatch: pytest.MonkeyPatch, name: str, options: dict
) -> None:
    """``forward_sequence`` of a layer with these options reaches the kernel (forced on
    the CPU with ``TRACETORCH_KERNELS=1``, as on CUDA by default) and equals stepping:
    outputs, states (trace and counter included) and gradients."""
    cfg = layer_sequence_on_the_kernel(device, monkeypatch, name, options, shift=0.5)
    assert {"adapt", "refrac"} & set(cfg.states)
