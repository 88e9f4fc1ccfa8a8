"""The neuron options in the leaky kernels, and the LI/EMA output reused as the saved membrane.

CPU through Triton's interpreter (or CUDA when a GPU runs the suite), against the snn
reference (`leaky_sequence_naive` = ``tracetorch.snn``'s own loop of ``_step``).
Forward outputs and final states: bit-identical on the CPU (the kernels perform the
reference's operations in its order, without multiply-add contraction), within 1e-6
on a GPU as in ``test_leaky``; gradients within ``test_leaky``'s tolerances (input and
state gradients 1e-6, parameter gradients 1e-5 relative). Every option alone and
combined, over a representative set of the configuration families (single/dual,
S, R, B/T/TS); the full product of the option sets and the 24 spiking layers is
``slow``. bfloat16 follows ``test_leaky.test_low_precision``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
import torch
import tracetorch.functional as TF
from kernel_testlib import initial_state, layer_sequence_on_the_kernel, same, stepped, weighted_grads, with_options
from tracetorch import _internal
from tracetorch.kernels import leaky_sequence, leaky_sequence_naive
from tracetorch.snn.functional import LAYER_NAMES, LeakyConfig, leaky_sequence_reference

ATAN = TF.heaviside_atan(2.0)

OPTION_SETS: dict[str, dict[str, Any]] = {
    "value": dict(reset="value", reset_value=0.25),
    "value0": dict(reset="value"),
    "none": dict(reset="none"),
    "next": dict(reset_timing="next"),
    "next_value": dict(reset_timing="next", reset="value", reset_value=-0.3),
    "next_none": dict(reset_timing="next", reset="none"),
    "detach": dict(detach_reset=True),
    "decay_input": dict(decay_input=True),
    "rest": dict(rest=0.2),
    "syn_add": dict(syn_input="add"),
    "all_value": dict(
        reset="value",
        reset_value=0.5,
        reset_timing="next",
        detach_reset=True,
        decay_input=True,
        rest=-0.1,
        syn_input="add",
    ),
    "all_subtract": dict(reset_timing="next", detach_reset=True, decay_input=True, rest=0.3, syn_input="add"),
    "detach_value": dict(reset="value", reset_value=0.4, detach_reset=True, rest=0.1),
    "next_detach": dict(reset_timing="next", detach_reset=True),
    # adaptive threshold and refractory period (more in test_options_adaptive_refractory.py)
    "adaptive_refractory": dict(adaptive=True, refractory=2, reset="value", reset_value=0.1),
}
"""Each neuron option alone, and combined (``syn_input`` is dropped on non-synaptic layers)."""

SPIKING = tuple(n for n in LAYER_NAMES if LeakyConfig.from_name(n).spiking)

# every option set on two to four families; together: single and dual, S and R, B, T and TS
FAST = [
    ("value", "LIB"),
    ("value", "DSLIT"),
    ("value", "SRLITS"),
    ("value0", "DRLIB"),
    ("value0", "LIT"),
    ("none", "SLIB"),
    ("none", "DLITS"),
    ("next", "LIB"),
    ("next", "DSRLIT"),
    ("next", "SLITS"),
    ("next", "DRLIB"),
    ("next_value", "RLIB"),
    ("next_value", "DSLITS"),
    ("next_none", "DLIB"),
    ("detach", "LIT"),
    ("detach", "DSRLIB"),
    ("decay_input", "LIB"),
    ("decay_input", "DRLITS"),
    ("rest", "SRLIB"),
    ("rest", "DLIT"),
    ("syn_add", "SLIB"),
    ("syn_add", "DSRLITS"),
    ("all_value", "SRLIB"),
    ("all_value", "DSLIT"),
    ("all_value", "LITS"),
    ("all_subtract", "DSRLIB"),
    ("all_subtract", "SRLITS"),
    ("all_subtract", "DLIT"),
    ("detach_value", "DSRLITS"),
    ("detach_value", "RLIT"),
    ("next_detach", "DSLIB"),
    ("next_detach", "RLITS"),
]


def _config(name: str, opts: str) -> LeakyConfig:
    return with_options(name, OPTION_SETS[opts])


def _case(cfg: LeakyConfig, T: int, B: int, N: int, device: str, dtype: torch.dtype = torch.float32, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = (torch.randn(T, B, N, generator=g) * 1.5).to(device, dtype).requires_grad_()
    states = tuple(initial_state(cfg, n, (B, N), g).to(device, dtype).requires_grad_() for n in cfg.states)
    params = []
    for info in cfg.params:
        if info.kind == "decay":
            v = torch.rand(N, generator=g) * 0.8 + 0.1
        elif info.kind == "threshold":
            v = torch.rand(N, generator=g) * 0.5 + 0.5
        else:
            v = torch.randn(N, generator=g)
        params.append(v.to(device).requires_grad_())
    return x, states, tuple(params)


def _compare(cfg: LeakyConfig, device: str, spike: Any = ATAN, quant: Any = TF.quant_round, T: int = 4) -> None:
    from tracetorch.kernels.ops.leaky import supports

    assert supports(cfg, spike, quant), cfg
    x, states, params = _case(cfg, T, 2, 11, device)
    out, final = leaky_sequence(cfg, x, states, params, spike, quant)
    ref, rfinal = leaky_sequence_naive(cfg, x, states, params, spike, quant)
    same(out, ref, device, f"{cfg} outputs")
    assert len(final) == len(rfinal) == len(cfg.states)
    for n, s, r in zip(cfg.states, final, rfinal):
        same(s, r, device, f"{cfg} final {n}")
    ins = (x, *states, *params)
    gk = weighted_grads(out, final, ins)
    gr = weighted_grads(ref, rfinal, ins)
    names = ("x", *cfg.states, *cfg.param_names)
    for i, (n, a, b) in enumerate(zip(names, gk, gr)):
        assert a.shape == b.shape and not torch.isnan(a).any(), n
        if i <= len(states):
            torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-6, msg=lambda m: f"{cfg} grad {n}: {m}")
        else:
            scale = max(1.0, float(b.abs().max()))
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5 * scale, msg=lambda m: f"{cfg} grad {n}: {m}")


@pytest.mark.parametrize("opts,name", FAST, ids=[f"{n}-{o}" for o, n in FAST])
def test_each_option_alone_and_combined_matches_the_reference(device: str, poison, opts: str, name: str) -> None:
    """Blocks of 8 over E = 22 elements (three programs, the last partial), buffers
    pre-filled with NaN: an element the kernels fail to write shows up."""
    poison(8)
    _compare(_config(name, opts), device)


_SLOW = [
    (o, n)
    for o in OPTION_SETS
    for n in SPIKING
    if (o, n) not in FAST and not (o == "syn_add" and not LeakyConfig.from_name(n).synaptic)
]


@pytest.mark.slow
@pytest.mark.parametrize("opts,name", _SLOW, ids=[f"{n}-{o}" for o, n in _SLOW])
def test_every_option_set_on_every_spiking_layer(device: str, opts: str, name: str) -> None:
    _compare(_config(name, opts), device, T=3)


@pytest.mark.parametrize(
    "opts,name,spike,quant",
    [
        ("all_value", "DSRLITS", TF.heaviside_triangle(0.7), TF.quant_probabilistic),
        ("next", "SRLIB", TF.heaviside_fast_sigmoid(10.0), TF.quant_round),
        ("value", "DLIT", TF.heaviside_straight_through(0.5), TF.quant_round),
        ("all_subtract", "LIB", TF.sigmoid(4.0), TF.quant_round),
    ],
    ids=["triangle-probabilistic", "fast_sigmoid", "straight_through", "sigmoid"],
)
def test_options_with_other_surrogates(device: str, opts: str, name: str, spike: Any, quant: Any) -> None:
    _compare(_config(name, opts), device, spike, quant)


def _replay_quant(spikes: torch.Tensor) -> Any:
    """A bernoulli quantiser that replays given 0/1 draws step by step (B layers)."""
    it = iter(spikes.unbind(0))

    def quant(p: torch.Tensor) -> torch.Tensor:
        return next(it).detach() + (p - p.detach())

    return quant


@pytest.mark.parametrize("opts,name", [("next", "LIB"), ("all_value", "DSRLIB")])
def test_pending_random_spikes_are_recomputed_with_the_forward_draws(device: str, opts: str, name: str) -> None:
    """``reset_timing="next"`` with bernoulli spikes: the backward recomputes the
    pending spikes with the forward's Philox counters; with those draws replayed the
    reference gives the same outputs, states and gradients."""
    cfg = _config(name, opts)
    spike = TF.sigmoid(4.0)
    x, states, params = _case(cfg, 4, 3, 8, device)
    torch.manual_seed(7)
    out, fin = leaky_sequence(cfg, x, states, params, spike, TF.quant_bernoulli)
    assert 0 < float(out.detach().mean()) < 1  # random spikes, some and not all
    replay = _replay_quant(out.detach())
    ref, rfin = leaky_sequence_reference(cfg, x, states, params, lambda v: replay(spike(v)))
    torch.testing.assert_close(out, ref, rtol=1e-6, atol=1e-6)
    for s, r in zip(fin, rfin):
        torch.testing.assert_close(s, r, rtol=1e-6, atol=1e-6)
    ins = (x, *states, *params)
    for a, b in zip(weighted_grads(out, fin, ins), weighted_grads(ref, rfin, ins)):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_every_option_set_changes_the_reference() -> None:
    """The test data exercise every option: the reference with the options differs from
    the classic configuration (outputs, states, or for ``detach_reset`` gradients)."""
    for opts in OPTION_SETS:
        for name in ("SRLIB", "DSLITS"):
            cfg = _config(name, opts)
            plain = LeakyConfig.from_name(name)
            x, states, params = _case(cfg, 4, 2, 11, "cpu")
            ref, rfin = leaky_sequence_naive(cfg, x, states, params, ATAN, TF.quant_round)
            base_states = tuple(s for n, s in zip(cfg.states, states) if n in plain.states)
            b, bfin = leaky_sequence_naive(plain, x, base_states, params, ATAN, TF.quant_round)
            differs = not torch.equal(ref, b) or not all(
                torch.equal(r, q) for n, r, q in zip(cfg.states, rfin, bfin) if n in plain.states
            )
            if not differs:  # detach_reset changes the gradients only
                ins = (x, *params)
                ga = torch.autograd.grad(ref.sum() + rfin[0].sum(), ins)
                gb = torch.autograd.grad(b.sum() + bfin[0].sum(), ins)
                differs = any(not torch.equal(u, v) for u, v in zip(ga, gb))
            assert differs, (opts, name)


@pytest.mark.parametrize("opts,name", [("next", "LIB"), ("all_value", "DSRLITS"), ("value", "SLIT")])
def test_the_step_kernel_with_options(device: str, opts: str, name: str) -> None:
    """One launch per step, stepped over a sequence (the pending spikes are states)."""
    cfg = _config(name, opts)
    x, states, params = _case(cfg, 4, 2, 5, device)
    out, st = stepped(cfg, x, states, params, ATAN, TF.quant_round)
    ref, rfin = leaky_sequence_naive(cfg, x, states, params, ATAN, TF.quant_round)
    same(out, ref, device, "outputs")
    for n, s, r in zip(cfg.states, st, rfin):
        same(s, r, device, n)
    ins = (x, *states, *params)
    for a, b in zip(weighted_grads(out, st, ins), weighted_grads(ref, rfin, ins)):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


# bf16: inputs, outputs, states and parameters in bf16, float32 inside; compared with
# the float32 reference on the same (rounded) inputs, as test_leaky.test_low_precision
@pytest.mark.parametrize("opts,name", [("all_value", "SRLIB"), ("next", "DSLITS"), ("rest", "DLIT"), ("none", "LIB")])
def test_options_in_bfloat16(device: str, poison, opts: str, name: str) -> None:
    poison(0)
    cfg = _config(name, opts)
    x, states, params = _case(cfg, 5, 3, 16, device, dtype=torch.bfloat16)
    params = tuple(p.detach().to(torch.bfloat16).requires_grad_() for p in params)
    out, fin = leaky_sequence(cfg, x, states, params, ATAN, TF.quant_round)
    assert out.dtype == torch.bfloat16 and all(s.dtype == torch.bfloat16 for s in fin)
    xf = x.detach().float().requires_grad_()
    sf = tuple(s.detach().float() for s in states)
    ref, rfin = leaky_sequence_naive(cfg, xf, sf, params, ATAN, TF.quant_round)
    tol = 1e-2
    if cfg.output == "B":
        assert torch.equal(out.float(), ref)
    torch.testing.assert_close(out.float(), ref, rtol=tol, atol=tol)
    for s, r in zip(fin, rfin):
        torch.testing.assert_close(s.float(), r, rtol=tol, atol=tol)
    g = torch.randn(out.shape).to(device)
    gk = torch.autograd.grad((out.float() * g).sum(), (x, *params))
    gr = torch.autograd.grad((ref * g).sum(), (xf, *params))
    for a, b in zip(gk, gr):
        scale = max(1.0, float(b.abs().max()))
        torch.testing.assert_close(a.float(), b.float(), rtol=4 * tol, atol=4 * tol * scale)


# ----------------------------------------------------------------- the whitelist
class _WithOption:
    """A configuration with one more neuron option (as others may add), by delegation."""

    def __init__(self, cfg: LeakyConfig, extra: tuple[str, Any]) -> None:
        self._cfg = cfg
        self._extra = extra

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cfg, name)

    @property
    def options(self) -> tuple[tuple[str, Any], ...]:
        return self._cfg.options + (self._extra,)


@pytest.mark.parametrize(
    "extra", [("adaptive_threshold", True), ("refractory", 2.5), ("reset", "zero"), ("syn_input", "mul")]
)
def test_options_outside_the_whitelist_are_declined(monkeypatch: pytest.MonkeyPatch, extra: tuple) -> None:
    from tracetorch.kernels import _register, dispatch
    from tracetorch.kernels.ops.leaky import supports

    sf, qf = ATAN, TF.quant_round
    base = _config("DSRLIB", "all_value")
    assert supports(base, sf, qf)
    cfg = _WithOption(base, extra)
    assert not supports(cfg, sf, qf)
    x = torch.randn(3, 2, 4)
    assert not dispatch.wants_leaky(cfg, x, (), sf, qf, use_kernels=True)
    states = tuple(torch.zeros(2, 4) for _ in base.states)
    params = tuple(torch.full((4,), 0.5) for _ in base.params)
    monkeypatch.setenv("TRACETORCH_KERNELS", "1")
    # the registered kernel declines (None: the PyTorch path runs) even when kernels are forced
    assert _register._leaky_sequence(cfg, x, states, params, sf, qf, -1) is None
    assert _register._leaky_step(cfg, x[0], states, params, sf, qf, -1) is None
    with pytest.raises(ValueError, match="no kernel"):
        leaky_sequence(cfg, x, states, params, sf, qf)


def test_every_implemented_option_is_accepted() -> None:
    from tracetorch.kernels.ops.leaky import supports
    from tracetorch.kernels.ops.leaky._op import KERNEL_OPTIONS

    seen = set()
    for opts in OPTION_SETS:
        for name in SPIKING:
            cfg = _config(name, opts)
            seen.update(n for n, _ in cfg.options)
            assert supports(cfg, ATAN, _internal.QUANT_FUNCTIONS["round"]), cfg
    for name in SPIKING:  # all_to_all: recurrent layers only (tests in test_all_to_all.py)
        if LeakyConfig.from_name(name).recurrent:
            cfg = dataclasses.replace(_config(name, "all_subtract"), all_to_all=True)
            seen.update(n for n, _ in cfg.options)
            assert supports(cfg, ATAN, _internal.QUANT_FUNCTIONS["round"]), cfg
    assert seen == set(KERNEL_OPTIONS)


def test_flags_round_trip_to_the_configuration() -> None:
    """The flags list carries every option (floats exactly) back to the same layout."""
    from tracetorch.kernels.ops.leaky._op import config_flags, flags_config

    for opts in OPTION_SETS:
        for name in ("LIB", "DSRLITS", "SLIT"):
            cfg = _config(name, opts)
            flags, _ = config_flags(cfg, ATAN, TF.quant_round)
            back = flags_config(flags)
            assert back.layout == cfg.layout
            assert back.reset_value == cfg.reset_value and back.rest == cfg.rest
            later = cfg.reset_timing == "next" and cfg.reset != "none"
            assert (back.reset_timing == "next") == later
    cfg = dataclasses.replace(LeakyConfig.from_name("LIB"), rest=0.1 + 1e-17, reset="value", reset_value=-1 / 3)
    back = flags_config(config_flags(cfg, ATAN, TF.quant_round)[0])
    assert back.rest == cfg.rest and back.reset_value == cfg.reset_value


@pytest.mark.slow
def test_opcheck_leaky_with_options(device: str) -> None:
    """`torch.library.opcheck` of the custom op with option flags (pending spikes in s0)."""
    from tracetorch.kernels.ops.leaky._op import config_flags

    cfg = _config("DLIB", "all_value")  # pos_mem, neg_mem, prev_spike
    flags, _ = config_flags(cfg, ATAN, TF.quant_round)
    x = torch.randn(3, 8, device=device, requires_grad=True)
    s0 = torch.randn(len(cfg.states), 8, device=device, requires_grad=True)
    p = torch.rand(len(cfg.params), 4, device=device, requires_grad=True)
    seed = torch.zeros((), dtype=torch.int64)
    torch.library.opcheck(
        torch.ops.tracetorch.leaky_sequence.default,
        (x, s0, p, flags, 2.0, seed, True),
        test_utils=("test_schema", "test_faketensor", "test_autograd_registration"),
    )


# ----------------------------------------------------------------- LI/EMA: the output is the saved membrane
LINEAR = ["LI", "LIEMA", "SLI", "SLIEMA"]


def _raw(cfg: LeakyConfig, dtype: torch.dtype, device: str, T: int = 5, E: int = 12):
    from tracetorch.kernels.ops.leaky._op import config_flags

    flags, _ = config_flags(cfg)
    g = torch.Generator().manual_seed(2)
    x = torch.randn(T, E, generator=g).to(device, dtype)
    s0 = torch.randn(len(cfg.states), E, generator=g).to(device, dtype)
    p = (torch.rand(len(cfg.params), E, generator=g) * 0.8 + 0.1).to(device)
    return tuple(flags), x, s0, p


@pytest.mark.parametrize("name", LINEAR + ["DLI", "DSLIEMA"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_li_ema_in_float32_save_no_membrane(device: str, name: str, dtype: torch.dtype) -> None:
    """Single-pathway LI/EMA in float32 store no membrane for the backward (the output
    is that membrane): LI 20 instead of 24 bytes per neuron-step forward+backward. Dual
    layers (output = the sum of two membranes) and bf16 outputs (rounded) still save it."""
    from tracetorch.kernels.ops.leaky import fused

    cfg = LeakyConfig.from_name(name)
    flags, x, s0, p = _raw(cfg, dtype, device)
    out, _, sv = fused.leaky_forward(x, s0, p, flags, 1.0, 0, save=True)
    reuse = not cfg.dual and dtype == torch.float32
    assert sv.shape == (len(cfg.layout.traces) + (0 if reuse else len(cfg.layout.pre)), *x.shape)
    if reuse:
        # ... and the backward needs the output in its place
        g = torch.ones_like(x)
        with pytest.raises(ValueError, match="out="):
            fused.leaky_backward(x, s0, p, sv, g, torch.zeros_like(s0), flags, 1.0, 0)
        fused.leaky_backward(x, s0, p, sv, g, torch.zeros_like(s0), flags, 1.0, 0, out=out)


@pytest.mark.parametrize("name", LINEAR)
def test_reusing_the_output_leaves_the_gradients_bit_identical(
    device: str, poison, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    """Every gradient with the output as the saved membrane equals, bit for bit, the
    gradient with the membrane saved separately (as before)."""
    from tracetorch.kernels.ops.leaky import _op, fused

    poison(8)
    cfg = LeakyConfig.from_name(name)

    def run():  # type: ignore[no-untyped-def]
        x, states, params = _case(cfg, 5, 2, 11, device)
        out, fin = leaky_sequence(cfg, x, states, params)
        return out, fin, weighted_grads(out, fin, (x, *states, *params))

    out_a, fin_a, g_a = run()
    saved: list[int] = []
    forward = fused.leaky_forward

    def spy(*a, **k):  # type: ignore[no-untyped-def]
        res = forward(*a, **k)
        saved.append(res[2].shape[0])
        return res

    monkeypatch.setattr(fused, "leaky_forward", spy)
    for mod in (_op, fused):
        monkeypatch.setattr(mod, "reuses_output", lambda flags, dtype: False)
    out_b, fin_b, g_b = run()
    assert saved == [len(cfg.layout.pre) + len(cfg.layout.traces)]  # the membrane was saved this time
    assert torch.equal(out_a, out_b)
    for u, v in zip(fin_a, fin_b):
        assert torch.equal(u, v)
    for u, v in zip(g_a, g_b):
        assert torch.equal(u, v)


def test_modifying_the_reused_output_in_place_before_backward_is_an_error(device: str) -> None:
    """The output is saved for the backward: autograd refuses a backward after it was
    changed in place (instead of silently wrong gradients)."""
    cfg = LeakyConfig.from_name("LIEMA")
    x, states, params = _case(cfg, 3, 2, 4, device)
    out, _ = leaky_sequence(cfg, x, states, params)
    out.mul_(2.0)
    with pytest.raises(RuntimeError, match="inplace"):
        out.sum().backward()


def test_reused_output_under_torch_compile(device: str) -> None:
    """The custom ops keep the output for the backward too: compiled gradients equal eager."""
    import tracetorch.kernels as K

    cfg = LeakyConfig.from_name("SLIEMA")

    def f(x, a, b):  # type: ignore[no-untyped-def]
        st = (torch.zeros_like(x[0]), torch.zeros_like(x[0]))
        out, fin = K.leaky_sequence(cfg, x, st, (a, b))
        return (out * out).sum() + fin[0].sum()

    x = torch.randn(4, 2, 5, device=device, requires_grad=True)
    a = torch.full((5,), 0.6, device=device, requires_grad=True)
    b = torch.full((5,), 0.8, device=device, requires_grad=True)
    eager = f(x, a, b)
    ge = torch.autograd.grad(eager, (x, a, b))
    got = torch.compile(f, backend="aot_eager", fullgraph=True)(x, a, b)
    gc = torch.autograd.grad(got, (x, a, b))
    torch.testing.assert_close(got, eager, rtol=0, atol=0)
    for u, v in zip(gc, ge):
        torch.testing.assert_close(u, v, rtol=0, atol=0)


# ----------------------------------------------------------------- the layers
@pytest.mark.parametrize(
    "name,options",
    [
        ("LIB", dict(reset="value", reset_value=0.2, reset_timing="next", decay_input=True)),
        ("DSRLITS", dict(reset_timing="next", detach_reset=True, rest=0.1, syn_input="add")),
    ],
    ids=["LIB", "DSRLITS"],
)
def test_a_layer_with_options_runs_its_sequence_on_the_kernel(
    device: str, monkeypatch: pytest.MonkeyPatch, name: str, options: dict
) -> None:
    """``forward_sequence`` of a layer with neuron options takes the kernel (forced on the
    CPU) and equals stepping: outputs, states (pending spikes included) and gradients."""
    cfg = layer_sequence_on_the_kernel(device, monkeypatch, name, options)
    assert any(n.startswith("prev_") and n != "prev_output" for n in cfg.states)
