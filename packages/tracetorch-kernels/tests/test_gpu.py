"""Compiled kernels on a CUDA device (skipped without one).

Run on a GPU machine with ``pytest -m gpu packages/tracetorch-kernels/tests``; do not
set ``TRITON_INTERPRET`` (the conftest leaves it unset when CUDA is available).
"""

from __future__ import annotations

import pytest
import torch
import tracetorch.functional as TF
from tracetorch import rnn, snn
from tracetorch.kernels import dispatch, leaky_sequence, leaky_sequence_naive, linear_scan, linear_scan_naive
from tracetorch.snn.functional import LAYER_NAMES, LeakyConfig

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]

ATAN = TF.heaviside_atan(2.0)


@pytest.fixture(autouse=True)
def _compiled(device: str) -> None:
    if device != "cuda":
        pytest.skip("Triton runs in interpreter mode in this process (TRITON_INTERPRET=1)")


def _case(name: str, T: int, B: int, N: int, dtype=torch.float32):
    cfg = LeakyConfig.from_name(name)
    g = torch.Generator().manual_seed(0)
    x = (torch.randn(T, B, N, generator=g) * 1.5).cuda().to(dtype).requires_grad_()
    states = tuple((torch.randn(B, N, generator=g) * 0.5).cuda().to(dtype).requires_grad_() for _ in cfg.states)
    params = []
    for info in cfg.params:
        if info.kind == "decay":
            v = torch.rand(N, generator=g) * 0.8 + 0.1
        elif info.kind == "threshold":
            v = torch.rand(N, generator=g) * 0.5 + 0.5
        else:
            v = torch.randn(N, generator=g)
        params.append(v.cuda().requires_grad_())
    return cfg, x, states, tuple(params)


@pytest.mark.parametrize("name", LAYER_NAMES)
def test_every_configuration_on_gpu(name: str) -> None:
    cfg, x, states, params = _case(name, 37, 8, 300)
    out, fin = leaky_sequence(cfg, x, states, params, ATAN, TF.quant_round)
    ref, rfin = leaky_sequence_naive(cfg, x, states, params, ATAN, TF.quant_round)
    # FMA contraction on the GPU may change the last bit of a membrane: allow a spike
    # flip at exactly-threshold values by comparing with tolerances, not equality.
    mismatch = (out != ref).float().mean().item()
    assert mismatch < 1e-3
    if mismatch == 0:
        torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
        for s, r in zip(fin, rfin):
            torch.testing.assert_close(s, r, rtol=1e-5, atol=1e-5)
        ins = (x, *states, *params)
        gk = torch.autograd.grad(out.sum() + fin[0].sum(), ins)
        gr = torch.autograd.grad(ref.sum() + rfin[0].sum(), ins)
        for a, b in zip(gk, gr):
            scale = max(1.0, float(b.abs().max()))
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5 * scale)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
def test_scan_on_gpu(dtype: torch.dtype) -> None:
    a = (torch.rand(64, 4, 1000, device="cuda") * 0.99).to(dtype).requires_grad_()
    b = torch.randn(64, 4, 1000, device="cuda").to(dtype).requires_grad_()
    h = linear_scan(a, b)
    r = linear_scan_naive(a.float(), b.float())
    tol = {torch.float32: 1e-5, torch.bfloat16: 2e-2, torch.float16: 4e-3}[dtype]
    torch.testing.assert_close(h.float(), r, rtol=tol, atol=tol)
    gk = torch.autograd.grad(h.float().sum(), (a, b))
    gr = torch.autograd.grad(r.sum(), (a, b))
    for u, v in zip(gk, gr):
        torch.testing.assert_close(u.float(), v.float(), rtol=4 * tol, atol=4 * tol * max(1.0, float(v.abs().max())))


def test_random_draws_reproducible_on_gpu() -> None:
    cfg, x, states, params = _case("DSRLIT", 16, 4, 512)
    spike, quant = TF.sigmoid(4.0), TF.quant_bernoulli
    torch.manual_seed(7)
    a, _ = leaky_sequence(cfg, x, states, params, spike, quant)
    torch.manual_seed(7)
    b, _ = leaky_sequence(cfg, x, states, params, spike, quant)
    assert torch.equal(a, b)


def test_layers_pick_the_kernels_automatically(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRACETORCH_KERNELS", raising=False)
    ran = []
    orig = dispatch._leaky_kernel
    monkeypatch.setattr(dispatch, "_leaky_kernel", lambda *a, **k: (ran.append(1), orig(*a, **k))[1])
    layer = snn.LIB(64, spike_fn="heaviside_atan", quant_fn="round").cuda()
    ref = snn.LIB(64, spike_fn="heaviside_atan", quant_fn="round").cuda()
    ref.load_state_dict(layer.state_dict())
    x = torch.randn(20, 8, 64, device="cuda")
    y = layer.forward_sequence(x)
    assert ran == [1]
    monkeypatch.setenv("TRACETORCH_KERNELS", "0")
    yr = ref.forward_sequence(x)
    assert ran == [1]
    assert (y != yr).float().mean().item() < 1e-3
    ssm = rnn.SelectiveSSM(32, 32, 16).cuda()
    ssm.forward_sequence(torch.randn(10, 4, 32, device="cuda"))


def test_compile_on_gpu() -> None:
    layer = snn.DSLIB(128, spike_fn="heaviside_fast_sigmoid", quant_fn="round").cuda()
    x = torch.randn(16, 4, 128, device="cuda", requires_grad=True)

    def f(x):  # type: ignore[no-untyped-def]
        layer.zero_states()
        return layer.forward_sequence(x).sum()

    eager = f(x)
    (ge,) = torch.autograd.grad(eager, x)
    compiled = torch.compile(f, fullgraph=True)
    got = compiled(x)
    (gc,) = torch.autograd.grad(got, x)
    torch.testing.assert_close(got, eager)
    torch.testing.assert_close(gc, ge)
