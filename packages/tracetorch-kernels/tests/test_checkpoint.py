"""Checkpointed BPTT (`tracetorch.kernels.checkpoint_bptt`): the forward keeps the
states after every K-th step only, the backward recomputes each segment.

Gradients must be bit-identical to the stored path (same instructions, same Philox
counters, parameter sums continued in the same order), and less is kept for the
backward pass.
"""

from __future__ import annotations

import pytest
import torch
import tracetorch.functional as TF
import tracetorch.kernels as K
from tracetorch.kernels import checkpoint_bptt, leaky_sequence
from tracetorch.snn.functional import LeakyConfig

ATAN = TF.heaviside_atan(2.0)


def _case(name: str, T: int, device: str, step: tuple[int, ...] = (2, 6), dtype=torch.float32, dim: int = -1):
    cfg = LeakyConfig.from_name(name)
    g = torch.Generator().manual_seed(1)
    N = step[dim]
    x = (torch.randn((T,) + step, generator=g) * 1.5).to(device, dtype).requires_grad_()
    states = tuple((torch.randn(step, generator=g) * 0.5).to(device, dtype).requires_grad_() for _ in cfg.states)
    params = tuple((torch.rand(N, generator=g) * 0.6 + 0.2).to(device).requires_grad_() for _ in cfg.params)
    return cfg, x, states, params


def _run(cfg, x, states, params, every: int, spike=ATAN, quant=TF.quant_round, dim: int = -1):  # type: ignore[no-untyped-def]
    ins = (x, *states, *params)
    saved: list[int] = []

    def pack(t: torch.Tensor) -> torch.Tensor:
        saved.append(t.numel() * t.element_size())
        return t

    torch.manual_seed(21)
    with checkpoint_bptt(every), torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out, final = leaky_sequence(cfg, x, states, params, spike, quant, dim)
    g = torch.Generator().manual_seed(2)
    go = torch.randn(out.shape, generator=g).to(out.device, out.dtype)
    loss = (out * go).sum() + sum((s * (i + 1)).sum() for i, s in enumerate(final))
    return out, final, torch.autograd.grad(loss, ins), sum(saved)


@pytest.mark.parametrize(
    "name,T,every",
    [("LIB", 9, 4), ("DSRLITS", 9, 4), ("DSRLITS", 8, 8), ("DSLIEMA", 7, 3), ("DSLIT", 5, 1), ("DRLIB", 3, 8)],
)
def test_gradients_bit_identical(device: str, poison, name: str, T: int, every: int) -> None:
    poison(8)
    cfg, x, states, params = _case(name, T, device)
    out, fin, grads, _ = _run(cfg, x, states, params, 0)
    cout, cfin, cgrads, _ = _run(cfg, x, states, params, every)
    assert torch.equal(out, cout)
    for a, b in zip(fin, cfin):
        assert torch.equal(a, b)
    for a, b in zip(grads, cgrads):
        assert a.shape == b.shape and torch.equal(a, b)


@pytest.mark.parametrize("quant", [TF.quant_bernoulli, TF.quant_probabilistic])
def test_random_spikes_recomputed_with_the_same_draws(device: str, quant) -> None:  # type: ignore[no-untyped-def]
    cfg, x, states, params = _case("DSRLITS", 7, device)
    _, _, grads, _ = _run(cfg, x, states, params, 0, TF.sigmoid(4.0), quant)
    _, _, cgrads, _ = _run(cfg, x, states, params, 3, TF.sigmoid(4.0), quant)
    for a, b in zip(grads, cgrads):
        assert torch.equal(a, b)


def test_channels_axis_and_bf16(device: str) -> None:
    cfg, x, states, params = _case("SRLIT", 6, device, step=(2, 3, 2), dtype=torch.bfloat16, dim=-2)
    params = tuple(p.detach().view(3, 1).requires_grad_() for p in params)  # neurons along dim=-2
    _, _, grads, _ = _run(cfg, x, states, params, 0, dim=-2)
    _, _, cgrads, _ = _run(cfg, x, states, params, 4, dim=-2)
    for a, b in zip(grads, cgrads):
        assert torch.equal(a, b)


def test_keeps_less_for_the_backward(device: str) -> None:
    """DSRLIB keeps 6 float32 values per neuron and step; every 8 steps it keeps the
    7 states once instead (plus the input and parameters, the same in both)."""
    T, E = 32, 12
    cfg, x, states, params = _case("DSRLIB", T, device)
    *_, stored = _run(cfg, x, states, params, 0)
    *_, ckpt = _run(cfg, x, states, params, 8)
    assert stored - ckpt == 4 * E * (6 * T - 7 * ((T - 1) // 8))


def test_empty_sequence(device: str) -> None:
    cfg, x, states, params = _case("LIB", 0, device)
    _, fin, grads, _ = _run(cfg, x, states, params, 4)
    assert torch.equal(fin[0], states[0])
    assert grads[0].shape == x.shape


def test_switch_validates_and_restores() -> None:
    assert K.bptt_checkpoint_every() == 0
    with checkpoint_bptt(8):
        assert K.bptt_checkpoint_every() == 8
        with checkpoint_bptt(0):
            assert K.bptt_checkpoint_every() == 0
        assert K.bptt_checkpoint_every() == 8
    assert K.bptt_checkpoint_every() == 0
    for bad, err in ((-1, ValueError), (2.0, TypeError), (True, TypeError), ("8", TypeError)):
        with pytest.raises(err, match="checkpoint_bptt: every"):
            checkpoint_bptt(bad)  # type: ignore[arg-type]
        assert K.bptt_checkpoint_every() == 0
    try:
        checkpoint_bptt(5)
        assert K.bptt_checkpoint_every() == 5
    finally:
        checkpoint_bptt(0)


def test_custom_ops_under_torch_compile(device: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The custom-op path (``torch.compile``) carries ``inner`` and the checkpoint
    interval: a compiled call along ``dim=-2`` under ``checkpoint_bptt(3)`` gives the
    eager stored path's outputs and gradients, bit for bit."""
    from tracetorch.kernels.ops.leaky import fused

    seen: list[tuple[int, int]] = []
    orig = fused.leaky_backward

    def spy(*a, **k):  # type: ignore[no-untyped-def]
        if "t0" not in k:  # the call of the op, not the per-segment ones
            seen.append((k.get("inner", 1), k.get("checkpoint", 0)))
        return orig(*a, **k)

    monkeypatch.setattr(fused, "leaky_backward", spy)
    cfg, x, states, params = _case("SRLIT", 7, device, step=(2, 3, 2), dim=-2)
    params = tuple(p.detach().view(3, 1).requires_grad_() for p in params)
    ins = (x, *states, *params)

    def f(x, *rest):  # type: ignore[no-untyped-def]
        out, fin = leaky_sequence(cfg, x, rest[: len(states)], rest[len(states) :], ATAN, TF.quant_round, -2)
        return (out * out).sum() + fin[0].sum()

    eager = f(*ins)
    ge = torch.autograd.grad(eager, ins)
    compiled = torch.compile(f, backend="aot_eager", fullgraph=True)
    with checkpoint_bptt(3):
        got = compiled(*ins)
    gc = torch.autograd.grad(got, ins)
    assert seen == [(2, 0), (2, 3)]  # eager: stored; compiled: checkpointed; neurons 2 apart
    assert torch.equal(got, eager)
    for a, b in zip(gc, ge):
        assert torch.equal(a, b)
