"""The parallel scan behind SelectiveSSM.forward_sequence."""

from __future__ import annotations

import pytest
import torch
from tracetorch.rnn import linear_scan


def loop(a, u, h0):
    h, out = h0, []
    for at, ut in zip(a, u):
        h = at * h + ut
        out.append(h)
    return torch.stack(out)


@pytest.mark.parametrize("steps", [1, 2, 3, 7, 8, 33, 100])
def test_scan_equals_the_sequential_loop(steps):
    a = torch.rand(steps, 3, 5, dtype=torch.float64)
    u = torch.randn(steps, 3, 5, dtype=torch.float64)
    h0 = torch.randn(3, 5, dtype=torch.float64)
    torch.testing.assert_close(linear_scan(a, u, h0), loop(a, u, h0), rtol=1e-12, atol=1e-12)


def test_scan_gradients_pass_gradcheck():
    a = torch.rand(9, 2, 3, dtype=torch.float64, requires_grad=True)
    u = torch.randn(9, 2, 3, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(linear_scan, (a, u, h0))


def test_scan_broadcasts_a_and_h0():
    a = torch.rand(6, 1, 4)
    u = torch.randn(6, 3, 4)
    h0 = torch.zeros(4, requires_grad=True)
    a.requires_grad_()
    out = linear_scan(a, u, h0)
    assert out.shape == (6, 3, 4)
    torch.testing.assert_close(out, loop(a.expand(6, 3, 4), u, h0.expand(3, 4)))
    out.sum().backward()
    assert a.grad.shape == a.shape and h0.grad.shape == h0.shape


def test_scan_is_stable_for_long_sequences_with_tiny_and_unit_decays():
    steps = 5000
    a = torch.cat([torch.full((steps, 1), 1.0), torch.full((steps, 1), 1e-30), torch.rand(steps, 1)], 1)
    u = torch.randn(steps, 3)
    out = linear_scan(a, u, torch.zeros(3))
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out[:, 0], torch.cumsum(u[:, 0], 0), rtol=1e-4, atol=1e-3)
    torch.testing.assert_close(out[:, 1], u[:, 1])
