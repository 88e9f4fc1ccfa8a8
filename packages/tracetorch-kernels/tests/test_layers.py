"""The snn and rnn layers' sequence paths through the kernels (forced on CPU)."""

from __future__ import annotations

import pytest
import torch
from tracetorch import rnn, snn
from tracetorch.kernels import dispatch


@pytest.fixture
def forced(device: str, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """``TRACETORCH_KERNELS=1`` and a record of the kernels that ran."""
    monkeypatch.setenv("TRACETORCH_KERNELS", "1")
    ran: list[str] = []
    leaky, scan = dispatch._leaky_kernel, dispatch._scan_kernel

    def leaky_spy(*a, **k):  # type: ignore[no-untyped-def]
        ran.append("leaky")
        return leaky(*a, **k)

    def scan_spy(*a, **k):  # type: ignore[no-untyped-def]
        ran.append("scan")
        return scan(*a, **k)

    monkeypatch.setattr(dispatch, "_leaky_kernel", leaky_spy)
    monkeypatch.setattr(dispatch, "_scan_kernel", scan_spy)
    return ran


@pytest.mark.parametrize("name,dim", [("LIB", -1), ("DSRLITS", -3), ("SLIEMA", -1), ("DRLIT", 1)])
def test_snn_forward_sequence_uses_the_kernel(device: str, forced: list[str], name: str, dim: int) -> None:
    torch.manual_seed(0)
    cls = getattr(snn, name)
    kw = {"spike_fn": "heaviside_atan", "quant_fn": "round"} if cls.config.spiking else {}
    shape = (2, 4, 3, 2) if dim in (-3, 1) else (2, 4)
    a = cls(4, dim=dim, **kw).to(device)
    b = cls(4, dim=dim, **kw).to(device)
    b.load_state_dict(a.state_dict())
    x = torch.randn((5,) + shape, device=device) * 2
    xa = x.clone().requires_grad_()
    xb = x.clone().requires_grad_()
    ya = a.forward_sequence(xa)
    assert forced == ["leaky"]
    yb = torch.stack([b(xb[t]) for t in range(5)])  # stepping: the reference
    torch.testing.assert_close(ya, yb, rtol=1e-6, atol=1e-6)
    for n in a.config.states:
        torch.testing.assert_close(getattr(a, n), getattr(b, n), rtol=1e-6, atol=1e-6)
    ya.sum().backward()
    yb.sum().backward()
    torch.testing.assert_close(xa.grad, xb.grad, rtol=1e-6, atol=1e-6)
    for (n, p), q in zip(a.named_parameters(), b.parameters()):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-5, atol=1e-5, msg=lambda m: f"{n}: {m}")


def test_custom_spike_function_stays_on_the_reference(device: str, forced: list[str]) -> None:
    layer = snn.LIB(4, spike_fn=lambda v: torch.sigmoid(2 * v), quant_fn="round").to(device)
    layer.forward_sequence(torch.randn(3, 2, 4, device=device))
    assert forced == []


def test_selective_ssm_uses_the_scan_kernel(device: str, forced: list[str]) -> None:
    torch.manual_seed(1)
    a = rnn.SelectiveSSM(6, 5, 4).to(device)
    b = rnn.SelectiveSSM(6, 5, 4).to(device)
    b.load_state_dict(a.state_dict())
    x = torch.randn(7, 3, 6, device=device)
    ya = a.forward_sequence(x)
    assert forced == ["scan"]
    yb = torch.stack([b(x[t]) for t in range(7)])
    torch.testing.assert_close(ya, yb, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(a.h, b.h, rtol=1e-5, atol=1e-6)
    ya.square().sum().backward()
    yb.square().sum().backward()
    for (n, p), q in zip(a.named_parameters(), b.parameters()):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-4, atol=1e-5, msg=lambda m: f"{n}: {m}")
