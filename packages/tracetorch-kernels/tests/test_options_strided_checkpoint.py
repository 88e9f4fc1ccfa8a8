"""The neuron options, strided access (``dim != -1``), checkpointed BPTT and the random
spikes together.

Each feature has its own tests (``test_options``, ``test_strided``, ``test_checkpoint``,
``test_rng``); these check that they compose: an options configuration along any
neuron axis gives, bit for bit, what it gives with the neurons last (and the snn
reference's outputs); under `tracetorch.kernels.checkpoint_bptt` its gradients are
bit-identical to the stored path (the pending spikes of ``reset_timing="next"`` are
checkpointed states too, and random draws are recomputed with the forward's
counters); and single-pathway LI/EMA layers in float32, whose output doubles as the
saved membrane, keep that along any axis and under checkpoints.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
import tracetorch.functional as TF
from kernel_testlib import ranked_grads, with_options
from tracetorch.kernels import checkpoint_bptt, leaky_sequence, leaky_sequence_naive
from tracetorch.kernels.ops.leaky import fused, supports
from tracetorch.snn.functional import LeakyConfig

ATAN = TF.heaviside_atan(2.0)

OPTIONS: dict[str, dict[str, Any]] = {
    "next": dict(reset_timing="next"),
    "next_value": dict(reset_timing="next", reset="value", reset_value=-0.3),
    "value_rest": dict(reset="value", reset_value=0.4, detach_reset=True, rest=0.1),
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
    "none_decay": dict(reset="none", decay_input=True),
}


def _config(name: str, opts: str) -> LeakyConfig:
    return with_options(name, OPTIONS[opts] if opts else {})


def _inputs(cfg: LeakyConfig, T: int, step: tuple[int, ...], dim: int, device: str, seed: int = 0):
    """Inputs with the neurons along ``dim``; parameters viewed ``[N, 1, ..., 1]`` as
    the layers view them; pending spikes (``prev_*spike``) 0/1 (negative: 0/-1)."""
    g = torch.Generator().manual_seed(seed)
    N = step[dim]
    view = [1] * (len(step) - (dim % len(step)))
    view[0] = N
    x = (torch.randn((T,) + step, generator=g) * 1.5).to(device).requires_grad_()
    states = []
    for n in cfg.states:
        if n in ("prev_spike", "prev_pos_spike"):
            v = (torch.rand(step, generator=g) < 0.4).float()
        elif n == "prev_neg_spike":
            v = -(torch.rand(step, generator=g) < 0.3).float()
        else:
            v = torch.randn(step, generator=g) * 0.5
        states.append(v.to(device).requires_grad_())
    params = []
    for info in cfg.params:
        if info.kind == "decay":
            v = torch.rand(N, generator=g) * 0.8 + 0.1
        elif info.kind == "threshold":
            v = torch.rand(N, generator=g) * 0.5 + 0.5
        else:
            v = torch.randn(N, generator=g)
        params.append(v.to(device).view(view).requires_grad_())
    return x, tuple(states), tuple(params)


def _run(cfg, x, states, params, dim: int, every: int = 0, spike=ATAN, quant=TF.quant_round):  # type: ignore[no-untyped-def]
    """Outputs, final states and every gradient; ``every > 0``: under ``checkpoint_bptt``."""
    torch.manual_seed(21)
    with checkpoint_bptt(every):
        out, final = leaky_sequence(cfg, x, states, params, spike, quant, dim)
    return out, final, ranked_grads(out, final, (x, *states, *params))


def _moved_last(cfg, x, states, params, dim: int, spike=ATAN, quant=TF.quant_round):  # type: ignore[no-untyped-def]
    """The same layer with the neuron axis moved last (copies), run, moved back."""
    d = dim % (x.ndim - 1)
    torch.manual_seed(21)
    out, final = leaky_sequence(
        cfg,
        x.movedim(d + 1, -1),
        tuple(s.movedim(d, -1) for s in states),
        tuple(p.reshape(-1) for p in params),
        spike,
        quant,
        -1,
    )
    out, final = out.movedim(-1, d + 1), tuple(s.movedim(-1, d) for s in final)
    return out, final, ranked_grads(out, final, (x, *states, *params))


def _identical(a, b) -> None:  # type: ignore[no-untyped-def]
    out_a, fin_a, g_a = a
    out_b, fin_b, g_b = b
    assert out_a.shape == out_b.shape and torch.equal(out_a, out_b)
    assert len(fin_a) == len(fin_b)
    for u, v in zip(fin_a, fin_b):
        assert u.shape == v.shape and torch.equal(u, v)
    assert len(g_a) == len(g_b)
    for u, v in zip(g_a, g_b):
        assert u.shape == v.shape and not torch.isnan(u).any() and torch.equal(u, v)


# ----------------------------------------------------------------- options along any axis
@pytest.mark.parametrize(
    "opts,name,step,dim",
    [
        ("next", "DSRLITS", (2, 5, 2, 3), -3),
        ("all_value", "SRLIB", (2, 4, 3), -2),
        ("all_subtract", "DSLIT", (3, 2, 2), 0),
        ("value_rest", "DRLITS", (2, 3, 2, 2), -3),
    ],
)
def test_options_along_any_axis_bit_identical_to_neurons_last(
    device: str, poison, opts: str, name: str, step: tuple[int, ...], dim: int
) -> None:
    """Outputs, final states (pending spikes included) and gradients along ``dim``
    equal those with the neurons moved last, bit for bit."""
    poison(8)
    cfg = _config(name, opts)
    assert supports(cfg, ATAN, TF.quant_round)
    x, states, params = _inputs(cfg, 4, step, dim, device)
    _identical(_run(cfg, x, states, params, dim), _moved_last(cfg, x, states, params, dim))


def test_options_at_dim_minus_3_match_the_reference_outputs(device: str) -> None:
    """The strided kernel against the snn reference itself (neurons moved last for it):
    outputs and final states bit-identical on the CPU."""
    cfg = _config("DSRLIB", "all_value")
    x, states, params = _inputs(cfg, 5, (2, 3, 2, 2), -3, device)
    out, final = leaky_sequence(cfg, x, states, params, ATAN, TF.quant_round, -3)
    ref, rfinal = leaky_sequence_naive(
        cfg,
        x.movedim(2, -1),
        tuple(s.movedim(1, -1) for s in states),
        tuple(p.reshape(-1) for p in params),
        ATAN,
        TF.quant_round,
    )
    tol = 0.0 if device == "cpu" else 1e-6
    torch.testing.assert_close(out, ref.movedim(-1, 2), rtol=tol, atol=tol)
    for s, r in zip(final, rfinal):
        torch.testing.assert_close(s, r.movedim(-1, 1), rtol=tol, atol=tol)


# ----------------------------------------------------------------- options under checkpoints
@pytest.mark.parametrize(
    "opts,name,T,every",
    [
        ("next", "LIB", 9, 4),
        ("next", "DSRLITS", 9, 4),
        ("next_value", "RLIT", 7, 3),
        ("all_value", "DSRLIB", 9, 4),
        ("all_subtract", "SRLITS", 8, 4),
        ("value_rest", "DLIT", 5, 2),
        ("none_decay", "SLIB", 6, 4),
    ],
)
def test_options_under_checkpoints_gradients_bit_identical(
    device: str, poison, opts: str, name: str, T: int, every: int
) -> None:
    """The recomputed segments carry the options (and, with ``reset_timing="next"``,
    start from checkpointed pending spikes): every gradient equals the stored path's."""
    poison(8)
    cfg = _config(name, opts)
    x, states, params = _inputs(cfg, T, (2, 11), -1, device)
    _identical(_run(cfg, x, states, params, -1, every), _run(cfg, x, states, params, -1))


def test_pending_spikes_are_checkpointed(device: str) -> None:
    """With ``reset_timing="next"`` the checkpoints hold the pending spikes: the states
    after step 4 of a 9-step forward (checkpoint 4) equal the final states of the same
    layer run for 4 steps."""
    from tracetorch.kernels.ops.leaky._op import config_flags

    cfg = _config("DSRLITS", "next_value")
    x, states, params = _inputs(cfg, 9, (2, 11), -1, device)
    flags, sp = config_flags(cfg, ATAN, TF.quant_round)
    E = 22
    x2 = x.detach().reshape(9, E)
    s0 = torch.stack([s.detach().reshape(E) for s in states]).contiguous()
    p = torch.stack([q.detach().reshape(-1) for q in params]).contiguous()
    _, _, ck = fused.leaky_forward(x2, s0, p, tuple(flags), sp, 0, True, checkpoint=4)
    assert ck.shape == (len(cfg.states), 2, E)
    _, after4, _ = fused.leaky_forward(x2[:4], s0, p, tuple(flags), sp, 0, False)
    assert torch.equal(ck[:, 0], after4)
    pending = [cfg.states.index(n) for n in ("prev_pos_spike", "prev_neg_spike")]
    assert ck[pending, 0].abs().sum() > 0  # some spikes pending: the slots are exercised


@pytest.mark.parametrize("quant", [TF.quant_bernoulli, TF.quant_probabilistic])
@pytest.mark.parametrize("opts,name", [("next", "LIT"), ("all_value", "DSRLITS")])
def test_random_spikes_with_options_under_checkpoints(device: str, quant: Any, opts: str, name: str) -> None:
    """Random spikes with options, recomputed per segment with the forward's Philox
    counters (``t0``): gradients bit-identical to the stored path, along ``dim=-2`` too."""
    cfg = _config(name, opts)
    spike = TF.sigmoid(4.0)
    for step, dim in (((2, 11), -1), ((2, 5, 3), -2)):
        x, states, params = _inputs(cfg, 7, step, dim, device)
        stored = _run(cfg, x, states, params, dim, 0, spike, quant)
        assert 0 < float(stored[0].detach().abs().mean()) < 1.5  # random spikes, some and not all
        _identical(_run(cfg, x, states, params, dim, 3, spike, quant), stored)


def test_options_strided_and_checkpointed_together(device: str, poison) -> None:
    """All three at once: options along ``dim=-3`` under ``checkpoint_bptt(4)`` equal
    the stored path along that axis and the stored path with the neurons last."""
    poison(8)
    cfg = _config("DSRLITS", "all_subtract")
    x, states, params = _inputs(cfg, 9, (2, 3, 2, 2), -3, device)
    ck = _run(cfg, x, states, params, -3, 4)
    _identical(ck, _run(cfg, x, states, params, -3))
    _identical(ck, _moved_last(cfg, x, states, params, -3))


# ----------------------------------------------------------------- LI/EMA: the output as the saved membrane
REUSING = ["LI", "LIEMA", "SLI", "SLIEMA"]


@pytest.mark.parametrize("name", REUSING)
def test_reused_output_along_another_axis(device: str, poison, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """float32 LI/EMA along ``dim=-2``: no membrane saved (the output is read instead)
    and every gradient bit-identical to the neurons-last path."""
    poison(8)
    cfg = LeakyConfig.from_name(name)
    x, states, params = _inputs(cfg, 5, (2, 4, 3), -2, device)
    saved: list[tuple[int, int]] = []
    forward = fused.leaky_forward

    def spy(*a, **k):  # type: ignore[no-untyped-def]
        res = forward(*a, **k)
        saved.append((k.get("inner", 1), res[2].shape[0]))
        return res

    monkeypatch.setattr(fused, "leaky_forward", spy)
    strided = _run(cfg, x, states, params, -2)
    assert saved == [(3, len(cfg.layout.traces))]  # strided, and the traces only
    _identical(strided, _moved_last(cfg, x, states, params, -2))


@pytest.mark.parametrize("name", REUSING)
@pytest.mark.parametrize("dim", [-1, -2])
def test_reused_output_under_checkpoints(device: str, poison, name: str, dim: int) -> None:
    """float32 LI/EMA under ``checkpoint_bptt(3)``: each recomputed segment reads its
    own recomputed output as the membrane; gradients bit-identical to the stored path."""
    poison(8)
    cfg = LeakyConfig.from_name(name)
    x, states, params = _inputs(cfg, 8, (2, 4, 3), dim, device)
    _identical(_run(cfg, x, states, params, dim, 3), _run(cfg, x, states, params, dim))


def test_checkpointed_li_does_not_keep_the_output(device: str) -> None:
    """Under checkpoints the LI output is not kept for the backward (it is recomputed):
    the checkpointed backward keeps less than the stored one by the output and more."""
    cfg = LeakyConfig.from_name("LI")
    T, step = 16, (2, 6)
    x, states, params = _inputs(cfg, T, step, -1, device)
    kept: dict[int, list[torch.Tensor]] = {}
    for every in (0, 4):
        tensors: list[torch.Tensor] = []

        def pack(t: torch.Tensor) -> torch.Tensor:
            tensors.append(t)  # noqa: B023
            return t

        with checkpoint_bptt(every), torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            out, _ = leaky_sequence(cfg, x, states, params)
        kept[every] = tensors
        if every == 0:
            assert any(t.data_ptr() == out.data_ptr() for t in tensors)  # the output is the membrane
        else:
            assert not any(t.data_ptr() == out.data_ptr() for t in tensors)
    nbytes = {k: sum(t.numel() * t.element_size() for t in v if t.numel()) for k, v in kept.items()}
    E = 12
    # stored: the output (T x E float32); checkpointed: the membrane every 4 steps
    assert nbytes[0] - nbytes[4] == 4 * E * (T - (T - 1) // 4)


def test_options_strided_checkpointed_under_torch_compile(device: str) -> None:
    """The custom ops carry the option flags, ``inner``, the checkpoint interval and the
    reused output: compiled (``aot_eager``) gradients equal eager ones, bit for bit."""
    cases = [(_config("SRLIB", "next_value"), ATAN, TF.quant_round), (LeakyConfig.from_name("SLIEMA"), None, None)]
    for cfg, spike, quant in cases:
        x, states, params = _inputs(cfg, 7, (2, 3, 2), -2, device)
        ins = (x, *states, *params)
        ns = len(states)

        def f(x, *rest, cfg=cfg, spike=spike, quant=quant, n=ns):  # type: ignore[no-untyped-def]
            out, fin = leaky_sequence(cfg, x, rest[:n], rest[n:], spike, quant, -2)
            return (out * out).sum() + fin[0].sum()

        with checkpoint_bptt(3):
            eager = f(*ins)
            ge = torch.autograd.grad(eager, ins)
            got = torch.compile(f, backend="aot_eager", fullgraph=True)(*ins)
            gc = torch.autograd.grad(got, ins)
        assert torch.equal(got, eager)
        for u, v in zip(gc, ge):
            assert torch.equal(u, v)
