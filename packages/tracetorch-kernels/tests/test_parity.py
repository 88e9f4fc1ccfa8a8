"""Edge cases where the kernel must behave as the PyTorch reference: NaN and
infinities in dual layers, dtype promotion of a low-precision input with fp32
states, and empty sequences (T = 0). Interpreter on CPU (or CUDA with a GPU)."""

from __future__ import annotations

import pytest
import torch
import tracetorch.functional as TF
from tracetorch.kernels import leaky_sequence, leaky_sequence_naive
from tracetorch.snn.functional import LeakyConfig

ATAN = TF.heaviside_atan(2.0)


def _setup(name: str, x: torch.Tensor, state_dtype: torch.dtype = torch.float32):
    cfg = LeakyConfig.from_name(name)
    g = torch.Generator().manual_seed(1)
    B, N = x.shape[1], x.shape[2]
    states = tuple((torch.randn(B, N, generator=g) * 0.5).to(x.device, state_dtype) for _ in cfg.states)
    params = tuple(
        (torch.rand(N, generator=g) * 0.8 + 0.1 if p.kind != "free" else torch.randn(N, generator=g)).to(x.device)
        for p in cfg.params
    )
    return cfg, states, params


@pytest.mark.parametrize("name", ["DLI", "DSLIB", "DRLIT"])
def test_nan_and_infinities_in_dual_layers_follow_the_reference(name: str, device: str) -> None:
    x = torch.randn(3, 2, 8)
    x[0, 0, 1] = float("nan")
    x[1, 1, 2] = float("inf")
    x[2, 0, 3] = float("-inf")
    x = x.to(device)
    cfg, states, params = _setup(name, x)
    out, final = leaky_sequence(cfg, x, states, params, ATAN, TF.quant_round)
    ref, rfinal = leaky_sequence_naive(cfg, x, states, params, ATAN, TF.quant_round)
    # the case is meaningful: the reference propagates NaN (into the membranes at least)
    assert any(torch.isnan(r).any() for r in (ref, *rfinal))
    torch.testing.assert_close(out, ref, rtol=1e-6, atol=1e-6, equal_nan=True)
    for s, r in zip(final, rfinal):
        torch.testing.assert_close(s, r, rtol=1e-6, atol=1e-6, equal_nan=True)


@pytest.mark.parametrize("name", ["LIB", "DSLIEMA"])
@pytest.mark.parametrize("low", [torch.bfloat16, torch.float16])
def test_a_low_precision_input_with_fp32_states_is_promoted(name: str, low: torch.dtype, device: str) -> None:
    x = torch.randn(4, 2, 8).to(device, low)
    cfg, states, params = _setup(name, x)
    out, final = leaky_sequence(cfg, x, states, params, ATAN, TF.quant_round)
    ref, rfinal = leaky_sequence_naive(cfg, x, states, params, ATAN, TF.quant_round)
    assert ref.dtype == torch.float32  # the reference promotes
    assert out.dtype == torch.float32 and all(s.dtype == torch.float32 for s in final)
    torch.testing.assert_close(out, ref, rtol=1e-6, atol=1e-6)
    for s, r in zip(final, rfinal):
        torch.testing.assert_close(s, r, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", ["LIB", "DSRLITS"])
def test_an_empty_sequence_returns_empty_outputs_and_the_states(name: str, device: str) -> None:
    """T = 0: the layers reject an empty sequence before either path runs (a clear
    ValueError), and the functional reference loop cannot stack zero steps; the kernel
    returns the only consistent result instead of crashing: no outputs, the states
    unchanged (gradients pass to them as through the identity)."""
    x = torch.randn(0, 2, 8, device=device, requires_grad=True)
    cfg, states, params = _setup(name, x.detach())
    states = tuple(s.requires_grad_() for s in states)
    out, final = leaky_sequence(cfg, x, states, params, ATAN, TF.quant_round)
    assert out.shape == (0, 2, 8) and out.dtype == x.dtype
    assert len(final) == len(states)
    for s, r in zip(final, states):
        assert s.shape == r.shape
        torch.testing.assert_close(s, r, rtol=0, atol=0)
    sum(s.sum() for s in final).backward()
    for s in states:
        torch.testing.assert_close(s.grad, torch.ones_like(s))
    assert x.grad is None or x.grad.shape == x.shape
