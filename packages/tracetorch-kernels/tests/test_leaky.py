"""The leaky-integrator sequence and step kernels against the snn reference.

CPU through Triton's interpreter (or CUDA when a GPU runs the suite). The reference
is ``tracetorch.snn``'s own sequence loop (`leaky_sequence_naive` calls it).
Tolerances (documented in the package README): fp32 outputs and states within 1e-6
(spikes identical with deterministic Heaviside spikes), input and state gradients
within 1e-6, parameter gradients (sums over time and batch in another order) within
1e-5 relative; bf16/fp16 see `test_low_precision`.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
import tracetorch.functional as TF
from tracetorch.kernels import leaky_sequence, leaky_sequence_naive, leaky_step
from tracetorch.snn.functional import LAYER_NAMES, LeakyConfig

ATAN = TF.heaviside_atan(2.0)


def _case(name: str, T: int, B: int, N: int, rank: int, device: str, dtype=torch.float32, seed: int = 0):
    cfg = LeakyConfig.from_name(name)
    g = torch.Generator().manual_seed(seed)
    x = (torch.randn(T, B, N, generator=g) * 1.5).to(device, dtype).requires_grad_()
    states = tuple((torch.randn(B, N, generator=g) * 0.5).to(device, dtype).requires_grad_() for _ in cfg.states)
    params = []
    for info in cfg.params:
        shape = (N,) if rank else ()
        if info.kind == "decay":
            v = torch.rand(shape, generator=g) * 0.8 + 0.1
        elif info.kind == "threshold":
            v = torch.rand(shape, generator=g) * 0.5 + 0.5
        else:
            v = torch.randn(shape, generator=g)
        params.append(v.to(device).requires_grad_())
    return cfg, x, states, tuple(params)


def _loss(out: torch.Tensor, final: tuple[torch.Tensor, ...], g: torch.Tensor, gs: list[torch.Tensor]) -> torch.Tensor:
    return (out.float() * g).sum() + sum((s.float() * h).sum() for s, h in zip(final, gs))


def _compare(
    name: str,
    spike: Any = ATAN,
    quant: Any = TF.quant_round,
    *,
    T: int = 4,
    B: int = 2,
    N: int = 19,
    rank: int = 1,
    device: str = "cpu",
    grads: bool = True,
) -> None:
    cfg, x, states, params = _case(name, T, B, N, rank, device)
    out, final = leaky_sequence(cfg, x, states, params, spike, quant)
    ref, rfinal = leaky_sequence_naive(cfg, x, states, params, spike, quant)
    assert not torch.isnan(out).any()
    if cfg.spiking and (spike is None or getattr(spike, "deterministic", False)):
        assert torch.equal(out, ref), f"{name}: spikes differ"
    torch.testing.assert_close(out, ref, rtol=1e-6, atol=1e-6)
    assert len(final) == len(rfinal)
    for s, r in zip(final, rfinal):
        assert s.shape == r.shape
        torch.testing.assert_close(s, r, rtol=1e-6, atol=1e-6)
    if not grads:
        return
    gen = torch.Generator().manual_seed(1)
    g = torch.randn(out.shape, generator=gen).to(device)
    gs = [torch.randn(s.shape, generator=gen).to(device) for s in final]
    ins = (x, *states, *params)
    gk = torch.autograd.grad(_loss(out, final, g, gs), ins)
    gr = torch.autograd.grad(_loss(ref, rfinal, g, gs), ins)
    n_in = 1 + len(states)
    for i, (a, b) in enumerate(zip(gk, gr)):
        assert a.shape == b.shape
        assert not torch.isnan(a).any()
        if i < n_in:
            torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-6, msg=lambda m: f"{name} input/state grad {i}: {m}")
        else:
            scale = max(1.0, float(b.abs().max()))
            torch.testing.assert_close(
                a, b, rtol=1e-5, atol=1e-5 * scale, msg=lambda m: f"{name} {cfg.param_names[i - n_in]}: {m}"
            )


@pytest.mark.parametrize("name", LAYER_NAMES)
def test_every_configuration(device: str, poison, name: str) -> None:
    """All 32 layers: outputs, final states and every gradient; N=19 with blocks of 16
    (E = 38: three programs, the last one partial); buffers pre-filled with NaN."""
    poison(16)
    _compare(name, T=3, device=device)


@pytest.mark.parametrize("name", ["LIB", "DSRLITS", "SLIEMA", "DRLIT"])
@pytest.mark.parametrize("T", [1, 7])
def test_rank0_and_lengths(device: str, poison, name: str, T: int) -> None:
    poison(0)
    _compare(name, T=T, rank=0, B=3, N=5, device=device)


SURROGATES = [
    TF.sigmoid(4.0),
    TF.heaviside_fast_sigmoid(25.0),
    TF.heaviside_atan(2.0),
    TF.heaviside_triangle(0.7),
    TF.heaviside_straight_through(0.5),
]


@pytest.mark.parametrize("spike", SURROGATES, ids=lambda s: s.kind)
@pytest.mark.parametrize("name", ["LIB", "DSRLITS"])
def test_surrogates(device: str, spike: Any, name: str) -> None:
    """Every surrogate gradient; ``round`` quantisation (deterministic)."""
    _compare(name, spike, TF.quant_round, T=4, device=device)


@pytest.mark.parametrize("name", ["LIT", "DSRLIB"])
def test_heaviside_probabilistic(device: str, name: str) -> None:
    """Heaviside with ``probabilistic``: deterministic forward, gradient ``2p * surrogate``."""
    _compare(name, TF.heaviside_fast_sigmoid(10.0), TF.quant_probabilistic, T=4, device=device)


def _replay_quant(spikes: torch.Tensor, probabilistic: bool) -> Any:
    """A quantisation function that replays given 0/1 draws step by step (for B layers)."""
    it = iter(spikes.unbind(0))

    def quant(p: torch.Tensor) -> torch.Tensor:
        s = next(it)
        if probabilistic:
            draw = (s != 0).to(p.dtype)
            sq = p * p
            return p.detach() * draw + (sq - sq.detach())
        return s.detach() + (p - p.detach())

    return quant


@pytest.mark.parametrize("quant", ["bernoulli", "probabilistic"])
@pytest.mark.parametrize("name", ["LIB", "DSRLIB"])
def test_random_quantisation(device: str, name: str, quant: str) -> None:
    """In-kernel Philox draws: reproducible under ``torch.manual_seed``; with the same
    draws replayed, the reference gives the same outputs and gradients."""
    qf = TF.QUANT_FUNCTIONS[quant]
    spike = TF.sigmoid(4.0)
    cfg, x, states, params = _case(name, 4, 3, 8, 1, device)
    torch.manual_seed(123)
    out1, _ = leaky_sequence(cfg, x, states, params, spike, qf)
    torch.manual_seed(123)
    out2, fin2 = leaky_sequence(cfg, x, states, params, spike, qf)
    assert torch.equal(out1, out2)
    torch.manual_seed(124)
    out3, _ = leaky_sequence(cfg, x, states, params, spike, qf)
    assert not torch.equal(out1, out3)
    # replay the kernel's draws through the reference
    replay = _replay_quant(out2.detach(), quant == "probabilistic")
    fire = lambda v: replay(spike(v))  # noqa: E731
    from tracetorch.snn.functional import leaky_sequence_reference

    ref, rfin = leaky_sequence_reference(cfg, x, states, params, fire)
    torch.testing.assert_close(out2, ref, rtol=1e-6, atol=1e-6)
    for s, r in zip(fin2, rfin):
        torch.testing.assert_close(s, r, rtol=1e-6, atol=1e-6)
    g = torch.randn(out2.shape).to(device)
    ins = (x, *states, *params)
    gk = torch.autograd.grad((out2 * g).sum() + sum(s.sum() for s in fin2), ins)
    gr = torch.autograd.grad((ref * g).sum() + sum(s.sum() for s in rfin), ins)
    for a, b in zip(gk, gr):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_bernoulli_rate(device: str) -> None:
    """Draws follow the firing probability: at a fixed membrane the spike rate is p."""
    cfg = LeakyConfig.from_name("LIB")
    T, N = 1, 4096
    x = torch.full((T, 1, N), 1.0, device=device)
    mem0 = torch.zeros(1, N, device=device)
    beta = torch.tensor(0.5, device=device)
    th = torch.tensor(1.2, device=device)
    torch.manual_seed(0)
    out, _ = leaky_sequence(cfg, x, (mem0,), (beta, th), TF.sigmoid(4.0), TF.quant_bernoulli)
    p = torch.sigmoid(torch.tensor(4.0 * (1.0 - 1.2))).item()
    rate = out.mean().item()
    assert set(out.unique().tolist()) <= {0.0, 1.0}
    assert abs(rate - p) < 4 * (p * (1 - p) / N) ** 0.5


def test_dim_minus3(device: str) -> None:
    """Neurons along ``dim=-3`` of a ``[B, C, H, W]`` step, params viewed ``[C, 1, 1]``."""
    cfg = LeakyConfig.from_name("DSRLIT")
    T, B, C, H, W = 3, 2, 5, 2, 3
    g = torch.Generator().manual_seed(3)
    x = torch.randn(T, B, C, H, W, generator=g).to(device).requires_grad_()
    states = tuple(torch.randn(B, C, H, W, generator=g).to(device) * 0.3 for _ in cfg.states)
    params = tuple(
        (torch.rand(C, generator=g) * 0.8 + 0.1).to(device).view(C, 1, 1).requires_grad_() for _ in cfg.params
    )
    out, fin = leaky_sequence(cfg, x, states, params, ATAN, TF.quant_round, dim=-3)
    ref, rfin = leaky_sequence_naive(cfg, x, states, params, ATAN, TF.quant_round)
    assert torch.equal(out, ref)
    for s, r in zip(fin, rfin):
        assert s.shape == r.shape
        torch.testing.assert_close(s, r, rtol=1e-6, atol=1e-6)
    gk = torch.autograd.grad(out.sum() + fin[0].sum(), (x, *params))
    gr = torch.autograd.grad(ref.sum() + rfin[0].sum(), (x, *params))
    for a, b in zip(gk, gr):
        assert a.shape == b.shape
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", ["LIB", "DSLI", "SRLITS"])
def test_step_kernel(device: str, poison, name: str) -> None:
    """The single-step path (one launch per step), stepped over a sequence, equals the
    reference sequence, gradients through all steps included."""
    poison(0)
    cfg, x, states, params = _case(name, 4, 2, 11, 1, device)
    st = states
    outs = []
    for t in range(x.shape[0]):
        o, st = leaky_step(cfg, x[t], st, params, ATAN, TF.quant_round)
        outs.append(o)
    out = torch.stack(outs)
    ref, rfin = leaky_sequence_naive(cfg, x, states, params, ATAN, TF.quant_round)
    torch.testing.assert_close(out, ref, rtol=1e-6, atol=1e-6)
    for s, r in zip(st, rfin):
        torch.testing.assert_close(s, r, rtol=1e-6, atol=1e-6)
    ins = (x, *states, *params)
    gk = torch.autograd.grad(out.sum() + st[0].sum(), ins)
    gr = torch.autograd.grad(ref.sum() + rfin[0].sum(), ins)
    for a, b in zip(gk, gr):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


# bf16 / fp16: inputs, outputs and states in the low-precision dtype, parameters in
# fp32, states and maths in fp32 inside. The kernel reads the rounded inputs exactly
# and rounds only on store, so it is compared with the fp32 reference run on the same
# (rounded) inputs: spikes identical, other values within the rounding of the dtype
# (relative 2^-8 for bf16, 2^-11 for fp16, with margin).
LOW_TOL = {torch.bfloat16: 1e-2, torch.float16: 2e-3}


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("name", ["DSLI", "LIEMA", "LIB", "SRLITS"])
def test_low_precision(device: str, poison, dtype: torch.dtype, name: str) -> None:
    poison(0)
    cfg, x, states, params = _case(name, 5, 3, 16, 1, device, dtype=dtype)
    # a low-precision layer: parameters in that dtype too (fp32 ones would promote the run to fp32)
    params = tuple(p.detach().to(dtype).requires_grad_() for p in params)
    out, fin = leaky_sequence(cfg, x, states, params, ATAN, TF.quant_round)
    assert out.dtype == dtype and all(s.dtype == dtype for s in fin)
    xf = x.detach().float().requires_grad_()
    sf = tuple(s.detach().float() for s in states)
    ref, rfin = leaky_sequence_naive(cfg, xf, sf, params, ATAN, TF.quant_round)
    tol = LOW_TOL[dtype]
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


def test_no_grad_saves_nothing(device: str) -> None:
    """Without autograd the forward stores nothing for a backward pass."""
    from tracetorch.kernels.ops.leaky import fused

    cfg, x, states, params = _case("DSRLIB", 3, 2, 8, 1, device)
    flags = [1, 1, 1, 2, 2, 0]
    x2 = x.detach().reshape(3, -1).contiguous()
    s0 = torch.stack([s.detach() for s in states]).reshape(len(states), -1).contiguous()
    p = torch.stack([q.detach().expand(8) for q in params]).contiguous()
    _, _, sv = fused.leaky_forward(x2, s0, p, tuple(flags), 2.0, 0, save=False)
    assert sv.numel() == 0
    _, _, sv = fused.leaky_forward(x2, s0, p, tuple(flags), 2.0, 0, save=True)
    assert sv.shape == (6, 3, x2.shape[1])  # two membranes, two synapses, two traces


def test_unsupported_functions_are_rejected() -> None:
    cfg = LeakyConfig.from_name("LIB")
    x = torch.zeros(2, 1, 3)
    with pytest.raises(ValueError, match="no kernel"):
        leaky_sequence(
            cfg, x, (torch.zeros(1, 3),), (torch.full((3,), 0.5), torch.ones(3)), torch.sigmoid, TF.quant_round
        )


@pytest.mark.parametrize("name,shape", [("LIB", (1, 1)), ("DSRLIT", (2, 3, 4))])
def test_edge_shapes(device: str, poison, name: str, shape: tuple[int, ...]) -> None:
    """One neuron in one row (E = 1), and several batch axes."""
    poison(0)
    cfg = LeakyConfig.from_name(name)
    g = torch.Generator().manual_seed(4)
    T, N = 3, shape[-1]
    x = torch.randn((T,) + shape, generator=g).to(device).requires_grad_()
    states = tuple(torch.randn(shape, generator=g).to(device) * 0.3 for _ in cfg.states)
    params = tuple((torch.rand((), generator=g) * 0.8 + 0.1).to(device).requires_grad_() for _ in cfg.params)
    out, fin = leaky_sequence(cfg, x, states, params, ATAN, TF.quant_round)
    ref, rfin = leaky_sequence_naive(cfg, x, states, params, ATAN, TF.quant_round)
    assert torch.equal(out, ref)
    for s, r in zip(fin, rfin):
        torch.testing.assert_close(s, r, rtol=1e-6, atol=1e-6)
    gk = torch.autograd.grad(out.sum() + fin[0].sum(), (x, *params))
    gr = torch.autograd.grad(ref.sum() + rfin[0].sum(), (x, *params))
    for a, b in zip(gk, gr):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    assert N == shape[-1]


def test_double_backward_is_refused(device: str) -> None:
    cfg, x, states, params = _case("LIB", 2, 1, 3, 1, device)
    out, _ = leaky_sequence(cfg, x, states, params, ATAN, TF.quant_round)
    (gx,) = torch.autograd.grad(out.sum(), x, create_graph=True)
    with pytest.raises(RuntimeError):
        torch.autograd.grad(gx.sum(), params[0])
