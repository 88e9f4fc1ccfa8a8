"""The scan kernel against its reference (CPU through Triton's interpreter, or CUDA)."""

from __future__ import annotations

import pytest
import torch
from tracetorch.kernels import linear_scan, linear_scan_naive

# fp32: same operation order and float32 state -> outputs equal to 1e-6; the gradient
# of a factor shared over time is a sum over time and rows whose order differs.
TOL = {torch.float32: (1e-6, 1e-6), torch.bfloat16: (2e-2, 2e-2), torch.float16: (4e-3, 4e-3)}


def _grads(h: torch.Tensor, ins: tuple[torch.Tensor, ...], g: torch.Tensor) -> tuple[torch.Tensor, ...]:
    return torch.autograd.grad(h, ins, g)


@pytest.mark.parametrize("a_kind", ["per_step", "per_neuron", "scalar", "per_element", "time_one"])
@pytest.mark.parametrize("T", [1, 5])
def test_scan_matches_reference_fp32(device: str, poison, a_kind: str, T: int) -> None:
    poison(16)  # several programs and a partial last block (E = 3 * 37 = 111)
    torch.manual_seed(0)
    B, N = 3, 37
    shape = {
        "per_step": (T, B, N),
        "per_neuron": (N,),
        "scalar": (),
        "per_element": (B, N),
        "time_one": (1, B, N),
    }[a_kind]
    a = (torch.rand(shape, device=device) * 0.9 + 0.05).requires_grad_()
    b = torch.randn(T, B, N, device=device, requires_grad=True)
    h0 = torch.randn(B, N, device=device, requires_grad=True)
    h = linear_scan(a, b, h0)
    r = linear_scan_naive(a, b, h0)
    assert not torch.isnan(h).any()
    torch.testing.assert_close(h, r, rtol=1e-6, atol=1e-6)
    g = torch.randn_like(h)
    for x, y in zip(_grads(h, (a, b, h0), g), _grads(r, (a, b, h0), g)):
        assert x.shape == y.shape
        assert not torch.isnan(x).any()
        torch.testing.assert_close(x, y, rtol=1e-5, atol=1e-5 if x.shape == a.shape else 1e-6)


def test_scan_without_h0_and_broadcast_b(device: str) -> None:
    torch.manual_seed(1)
    a = torch.rand(4, 1, 5, device=device)
    b = torch.randn(4, 2, 5, device=device)
    torch.testing.assert_close(linear_scan(a, b), linear_scan_naive(a, b), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_scan_low_precision(device: str, poison, dtype: torch.dtype) -> None:
    """Inputs and outputs in bf16/fp16, state in fp32: compared with the fp32
    reference on the same (rounded) inputs; the error is the output rounding."""
    poison(16)
    torch.manual_seed(2)
    T, B, N = 6, 2, 21
    a = (torch.rand(T, B, N, device=device) * 0.9).to(dtype).requires_grad_()
    b = torch.randn(T, B, N, device=device).to(dtype).requires_grad_()
    h0 = torch.randn(B, N, device=device).to(dtype).requires_grad_()
    h = linear_scan(a, b, h0)
    assert h.dtype == dtype
    r = linear_scan_naive(a.float(), b.float(), h0.float())
    rtol, atol = TOL[dtype]
    torch.testing.assert_close(h.float(), r, rtol=rtol, atol=atol)
    g = torch.randn(T, B, N, device=device)
    gk = torch.autograd.grad(h, (a, b, h0), g.to(dtype))
    gr = torch.autograd.grad(r, (a, b, h0), g)
    for x, y in zip(gk, gr):
        assert x.dtype == dtype
        torch.testing.assert_close(x.float(), y.float(), rtol=4 * rtol, atol=4 * atol)
