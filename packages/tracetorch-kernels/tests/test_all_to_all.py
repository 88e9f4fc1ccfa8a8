"""All-to-all recurrence (``all_to_all=True``) in the leaky kernels.

CPU through Triton's interpreter (or CUDA when a GPU runs the suite), against the snn
reference loop (`leaky_sequence_naive`). The kernels multiply the recurrent trace by
``rec_matrix`` with a float32 ``tl.dot``, which sums in another order than
``F.linear``: spikes must be identical, membranes, outputs and states within 1e-5
(absolute), gradients (input, states, every parameter, ``rec_matrix`` and
``rec_bias`` included) within 1e-4 relative to the largest reference value.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
import torch
import tracetorch.functional as TF
from kernel_testlib import initial_state, weighted_grads
from tracetorch import snn
from tracetorch.kernels import checkpoint_bptt, dispatch, leaky_sequence, leaky_sequence_naive, leaky_step
from tracetorch.kernels.ops.leaky import _op, supports
from tracetorch.snn.functional import LAYER_NAMES, LeakyConfig

ATAN = TF.heaviside_atan(2.0)


def _config(name: str, **opts: Any) -> LeakyConfig:
    return dataclasses.replace(LeakyConfig.from_name(name), all_to_all=True, **opts)


def _case(cfg: LeakyConfig, T: int, B: int, N: int, device: str, bias_rank: int = 1, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = (torch.randn(T, B, N, generator=g) * 1.5).to(device).requires_grad_()
    states = tuple(initial_state(cfg, n, (B, N), g).to(device).requires_grad_() for n in cfg.states)
    params = []
    for info in cfg.params:
        if info.kind == "decay":
            v = torch.rand(N, generator=g) * 0.8 + 0.1
        elif info.kind == "threshold":
            v = torch.rand(N, generator=g) * 0.5 + 0.5
        elif info.kind == "matrix":
            v = torch.randn(N, N, generator=g) * (1.5 / N**0.5)
        elif info.name == "rec_bias" and bias_rank == 0:
            v = torch.randn((), generator=g) * 0.3
        else:
            v = torch.randn(N, generator=g) * 0.5
        params.append(v.to(device).requires_grad_())
    return x, states, tuple(params)


def _close_grads(cfg: LeakyConfig, gk, gr, rtol: float = 1e-4) -> None:  # type: ignore[no-untyped-def]
    names = ("x", *cfg.states, *cfg.param_names)
    assert len(gk) == len(gr) == len(names)
    for n, a, b in zip(names, gk, gr):
        assert a.shape == b.shape and not torch.isnan(a).any(), n
        scale = max(1.0, float(b.abs().max()))
        torch.testing.assert_close(a, b, rtol=0.0, atol=rtol * scale, msg=lambda m: f"{cfg.name} grad {n}: {m}")


def _compare(cfg: LeakyConfig, device: str, T: int, B: int, N: int, bias_rank: int = 1) -> None:
    assert supports(cfg, ATAN, TF.quant_round, step_shape=(B, N))
    x, states, params = _case(cfg, T, B, N, device, bias_rank)
    out, final = leaky_sequence(cfg, x, states, params, ATAN, TF.quant_round)
    ref, rfinal = leaky_sequence_naive(cfg, x, states, params, ATAN, TF.quant_round)
    if cfg.output == "TS":
        torch.testing.assert_close(out, ref, rtol=0.0, atol=1e-5)
    else:
        assert torch.equal(out, ref), f"{cfg.name}: spikes differ"
    assert len(final) == len(rfinal) == len(cfg.states)
    for n, s, r in zip(cfg.states, final, rfinal):
        if n.startswith("prev_"):
            assert torch.equal(s, r), f"{cfg.name} final {n}"  # spikes (or outputs built from them)
        else:
            torch.testing.assert_close(s, r, rtol=0.0, atol=1e-5, msg=lambda m: f"{cfg.name} final {n}: {m}")
    ins = (x, *states, *params)
    _close_grads(cfg, weighted_grads(out, final, ins), weighted_grads(ref, rfinal, ins))


# (name, options, T, B, N, rec_bias rank): single and dual, S and R, B/T/TS, decay_input,
# N not a power of two (20), N < 16 (5), B not a multiple of the 16 rows of a program;
# combined with adaptive and refractory
FAST = [
    ("RLIB", {}, 50, 17, 20, 1),
    ("SRLIB", dict(decay_input=True), 50, 3, 5, 1),
    ("RLIT", dict(reset="value", reset_value=0.2), 30, 3, 20, 0),
    ("RLITS", dict(reset_timing="next", rest=0.1), 30, 2, 16, 1),
    ("DRLIB", {}, 50, 17, 5, 1),
    ("DSRLITS", dict(decay_input=True, syn_input="add"), 30, 3, 20, 0),
    # with the adaptive threshold and the refractory period (their own kernel flags)
    ("RLIT", dict(adaptive=True, refractory=2), 30, 3, 20, 1),
    ("DSRLIB", dict(adaptive=True, refractory=1, reset="value", detach_reset=True), 30, 17, 5, 1),
]


@pytest.mark.parametrize("name,opts,T,B,N,rank", FAST, ids=[f"{c[0]}-N{c[4]}-B{c[3]}" for c in FAST])
def test_all_to_all_matches_the_reference(
    device: str, poison, name: str, opts: dict, T: int, B: int, N: int, rank: int
) -> None:
    """Buffers pre-filled with NaN: an element the kernels fail to write shows up."""
    poison()
    _compare(_config(name, **opts), device, T, B, N, rank)


RECURRENT = [n for n in LAYER_NAMES if LeakyConfig.from_name(n).recurrent]  # the 12 R layers
SLOW_OPTIONS = ({}, dict(decay_input=True), dict(reset_timing="next", detach_reset=True), dict(reset="none", rest=-0.2))
# every R layer with every option set, N = 5 and 32 in turn (each layer gets both)
SLOW = [(n, o, (5, 32)[(i + j) % 2]) for i, n in enumerate(RECURRENT) for j, o in enumerate(SLOW_OPTIONS)]


@pytest.mark.slow
@pytest.mark.parametrize("name,opts,N", SLOW, ids=[f"{n}-{'+'.join(o) or 'plain'}-N{k}" for n, o, k in SLOW])
def test_every_recurrent_layer_with_all_to_all(device: str, name: str, opts: dict, N: int) -> None:
    cfg = _config(name, **opts)
    _compare(cfg, device, 10, 18, N)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["RLIB", "DSRLITS"])
def test_all_to_all_at_the_largest_kernel_size(device: str, name: str) -> None:
    cfg = _config(name)
    _compare(cfg, device, 12, 20, _op.a2a_max_n(cfg.dual))


def test_all_to_all_step_kernel_matches_one_reference_step(device: str) -> None:
    cfg = _config("DRLIT")
    x, states, params = _case(cfg, 1, 3, 7, device)
    out, final = leaky_step(cfg, x[0], states, params, ATAN, TF.quant_round)
    ref, rfinal = leaky_sequence_naive(cfg, x, states, params, ATAN, TF.quant_round)
    assert torch.equal(out, ref[0])
    for s, r in zip(final, rfinal):
        torch.testing.assert_close(s, r, rtol=0.0, atol=1e-5)


@pytest.mark.parametrize("name", ["RLIB", "DSRLIT"])
def test_checkpointed_bptt_with_all_to_all(device: str, name: str) -> None:
    """Segments of 4 over 11 steps: gradients as the stored path's (the rec_matrix sum
    is added segment by segment, so within float32 rounding) and the reference's."""
    cfg = _config(name)
    x, states, params = _case(cfg, 11, 17, 6, device, seed=3)
    ins = (x, *states, *params)
    out, final = leaky_sequence(cfg, x, states, params, ATAN, TF.quant_round)
    stored = weighted_grads(out, final, ins)
    with checkpoint_bptt(4):
        out_c, final_c = leaky_sequence(cfg, x, states, params, ATAN, TF.quant_round)
        ckpt = weighted_grads(out_c, final_c, ins)
    assert torch.equal(out_c, out)
    names = ("x", *cfg.states, *cfg.param_names)
    for n, a, b in zip(names, ckpt, stored):
        if n == "rec_matrix":
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
        else:
            assert torch.equal(a, b), n  # same kernel arithmetic, same order
    ref, rfinal = leaky_sequence_naive(cfg, x, states, params, ATAN, TF.quant_round)
    _close_grads(cfg, ckpt, weighted_grads(ref, rfinal, ins))


def test_supports_bounds_the_neurons_and_wants_them_last() -> None:
    single, dual = _config("RLIB"), _config("DRLIB")
    q = TF.quant_round
    assert supports(single, ATAN, q) and supports(dual, ATAN, q)  # no shape: the configuration alone
    assert supports(single, ATAN, q, step_shape=(4, _op.A2A_MAX_N))
    assert not supports(single, ATAN, q, step_shape=(4, _op.A2A_MAX_N + 1))
    assert supports(dual, ATAN, q, step_shape=(4, _op.A2A_MAX_N_DUAL))
    assert not supports(dual, ATAN, q, step_shape=(4, _op.A2A_MAX_N_DUAL + 1))
    assert not supports(single, ATAN, q, step_shape=(8, 4), dim=0)  # neurons not last: inner != 1
    assert supports(single, ATAN, q, step_shape=(8, 4), dim=1)
    assert not supports(single, ATAN, q, step_shape=())
    # without all_to_all the shape does not matter
    assert supports(LeakyConfig.from_name("RLIB"), ATAN, q, step_shape=(4, 1000), dim=0)


def test_too_many_neurons_take_the_pytorch_path(device: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from tracetorch.kernels import _register

    monkeypatch.setenv("TRACETORCH_KERNELS", "1")
    cfg = _config("RLIB")
    n = _op.A2A_MAX_N + 1
    x, states, params = _case(cfg, 2, 2, n, device)
    assert not dispatch.wants_leaky(cfg, x, states, ATAN, TF.quant_round)
    assert dispatch.wants_leaky(cfg, x[..., :-1], states, ATAN, TF.quant_round)
    assert _register._leaky_sequence(cfg, x, states, params, ATAN, TF.quant_round, -1) is None
    assert _register._leaky_step(cfg, x[0], states, params, ATAN, TF.quant_round, -1) is None
    with pytest.raises(ValueError, match="at most 64"):
        leaky_sequence(cfg, x, states, params, ATAN, TF.quant_round)


def test_a_rec_matrix_of_the_wrong_shape_is_a_clear_error(device: str) -> None:
    cfg = _config("RLIB")
    x, states, params = _case(cfg, 2, 2, 4, device)
    named = dict(zip(cfg.param_names, params))
    named["rec_matrix"] = torch.zeros(4, 3, device=device)
    with pytest.raises(ValueError, match=r"rec_matrix must have shape \[N, N\] = \[4, 4\]"):
        leaky_sequence(cfg, x, states, tuple(named.values()), ATAN, TF.quant_round)


def test_the_launchers_refuse_all_to_all_without_the_matrix(device: str) -> None:
    from tracetorch.kernels.ops.leaky import fused

    cfg = _config("RLIB")
    flags, sparam = _op.config_flags(cfg, ATAN, TF.quant_round)
    x = torch.randn(2, 8, device=device)
    s0 = torch.zeros(len(cfg.states), 8, device=device)
    p = torch.full((len(_op.kernel_params(cfg.param_names)), 4), 0.5, device=device)
    with pytest.raises(ValueError, match=r"contiguous \[4, 4\] float32"):
        fused.leaky_forward(x, s0, p, tuple(flags), sparam, 0, False)
    with pytest.raises(ValueError, match=r"contiguous \[4, 4\] float32"):
        fused.leaky_forward(x, s0, p, tuple(flags), sparam, 0, False, w=torch.zeros(4, 4, dtype=torch.float64))


def test_flags_carry_all_to_all_and_rec_matrix_travels_alone() -> None:
    for name in ("RLIB", "DSRLITS"):
        cfg = _config(name, decay_input=True)
        flags, _ = _op.config_flags(cfg, ATAN, TF.quant_round)
        assert dict(zip(_op.FLAG_NAMES, flags))["A2A"] == 1
        back = _op.flags_config(flags)
        assert back.all_to_all and back.layout == cfg.layout
        consts = _op.slot_constants(cfg)
        rows = _op.kernel_params(cfg.param_names)
        assert "rec_matrix" not in rows and consts["NP"] == len(cfg.param_names) - 1
        assert rows[consts["P_REC_BIAS"]] == "rec_bias"
    plain, _ = _op.config_flags(LeakyConfig.from_name("RLIB"), ATAN, TF.quant_round)
    assert dict(zip(_op.FLAG_NAMES, plain))["A2A"] == 0


def test_rlib_all_to_all_layer_reaches_the_kernel(device: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """``forward_sequence`` of an all-to-all layer runs the kernel (TRACETORCH_KERNELS=1);
    stepping the twin layer is the reference."""
    monkeypatch.setenv("TRACETORCH_KERNELS", "1")
    ran: list[int] = []
    kernel = dispatch._leaky_kernel

    def spy(*a, **k):  # type: ignore[no-untyped-def]
        res = kernel(*a, **k)
        ran.append(1)
        return res

    monkeypatch.setattr(dispatch, "_leaky_kernel", spy)
    torch.manual_seed(0)
    kw = dict(all_to_all=True, spike_fn="heaviside_atan", quant_fn="round")
    a = snn.RLIB(12, **kw).to(device)
    b = snn.RLIB(12, **kw).to(device)
    b.load_state_dict(a.state_dict())
    x = torch.randn(9, 3, 12, device=device) * 2
    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    ya = a.forward_sequence(xa)
    assert ran == [1]
    yb = torch.stack([b(xb[t]) for t in range(9)])
    assert torch.equal(ya, yb)
    for n in a.config.states:
        torch.testing.assert_close(getattr(a, n), getattr(b, n), rtol=0.0, atol=1e-5)
    ya.sum().backward()
    yb.sum().backward()
    torch.testing.assert_close(xa.grad, xb.grad, rtol=1e-4, atol=1e-5)
    for (n, p), q in zip(a.named_parameters(), b.parameters()):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-4, atol=1e-5, msg=lambda m: f"{n}: {m}")
    # a layer past the kernels' bound steps through the PyTorch path
    big = snn.RLIB(_op.A2A_MAX_N + 1, **kw).to(device)
    big.forward_sequence(torch.randn(2, 1, _op.A2A_MAX_N + 1, device=device))
    assert ran == [1]


def test_opcheck_leaky_all_to_all(device: str) -> None:
    """`torch.library.opcheck` of both custom ops with the matrix argument."""
    cfg = _config("RLIB")
    flags, _ = _op.config_flags(cfg, ATAN, TF.quant_round)
    x = torch.randn(3, 8, device=device, requires_grad=True)
    s0 = torch.randn(3, 8, device=device, requires_grad=True)
    p = torch.rand(4, 4, device=device, requires_grad=True)  # beta, gamma, threshold, rec_bias
    w = torch.randn(4, 4, device=device, requires_grad=True)
    seed = torch.zeros((), dtype=torch.int64, device=device)
    torch.library.opcheck(
        torch.ops.tracetorch.leaky_sequence.default,
        (x, s0, p, flags, 2.0, seed, True, 1, 0, w),
        test_utils=("test_schema", "test_faketensor", "test_autograd_registration"),
    )


def test_all_to_all_under_torch_compile(device: str) -> None:
    """The custom ops carry the matrix: compiled (fullgraph) gradients equal eager."""
    cfg = _config("DRLIB")
    x, states, params = _case(cfg, 5, 3, 6, device)

    def f(x, *ps):  # type: ignore[no-untyped-def]
        out, fin = leaky_sequence(cfg, x, states, ps, ATAN, TF.quant_round)
        return (out * out).sum() + fin[0].square().sum()

    ins = (x, *params)
    eager = f(*ins)
    ge = torch.autograd.grad(eager, ins)
    got = torch.compile(f, backend="aot_eager", fullgraph=True)(*ins)
    gc = torch.autograd.grad(got, ins)
    assert torch.equal(got, eager)
    for a, b in zip(gc, ge):
        assert torch.equal(a, b)


def test_a_fixed_rec_matrix_still_gives_every_other_gradient(device: str) -> None:
    """``learn_rec_matrix=False``: the matrix gets no gradient, the rest as the reference's."""
    cfg = _config("SRLIT")
    x, states, params = _case(cfg, 8, 3, 6, device)
    i = cfg.param_names.index("rec_matrix")
    params = params[:i] + (params[i].detach(),) + params[i + 1 :]
    ins = (x, *states, *params[:i], *params[i + 1 :])
    out, final = leaky_sequence(cfg, x, states, params, ATAN, TF.quant_round)
    ref, rfinal = leaky_sequence_naive(cfg, x, states, params, ATAN, TF.quant_round)
    for a, b in zip(weighted_grads(out, final, ins), weighted_grads(ref, rfinal, ins)):
        torch.testing.assert_close(a, b, rtol=0.0, atol=1e-4 * max(1.0, float(b.abs().max())))
