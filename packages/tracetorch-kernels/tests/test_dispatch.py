"""Choosing between the kernels and the references; custom ops under torch.compile."""

from __future__ import annotations

import sys

import pytest
import torch
import tracetorch.functional as TF
from tracetorch.kernels import _backend, dispatch
from tracetorch.kernels.ops.leaky import leaky_sequence_naive
from tracetorch.snn.functional import LeakyConfig


def test_rule_and_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    cpu = torch.zeros(2)
    monkeypatch.delenv("TRACETORCH_KERNELS", raising=False)
    assert _backend.kernels_mode() == "auto"
    assert not dispatch.use_kernels_for(cpu)  # CPU: reference
    assert not dispatch.use_kernels_for(torch.zeros(2, device="meta"))
    assert dispatch.use_kernels_for(cpu, use_kernels=True)
    assert not dispatch.use_kernels_for(cpu, use_kernels=False)
    monkeypatch.setenv("TRACETORCH_KERNELS", "1")
    assert _backend.kernels_mode() == "on"
    assert dispatch.use_kernels_for(cpu)
    assert not dispatch.use_kernels_for(cpu, use_kernels=False)  # the argument wins
    monkeypatch.setenv("TRACETORCH_KERNELS", "0")
    assert not dispatch.use_kernels_for(cpu, torch.zeros(2, dtype=torch.float64))
    assert dispatch.use_kernels_for(cpu, use_kernels=True)
    monkeypatch.setenv("TRACETORCH_KERNELS", "sometimes")
    with pytest.raises(ValueError, match="TRACETORCH_KERNELS"):
        dispatch.use_kernels_for(cpu)
    with pytest.raises(TypeError):
        dispatch.use_kernels_for(cpu, use_kernels="yes")  # type: ignore[arg-type]
    monkeypatch.delenv("TRACETORCH_KERNELS")
    monkeypatch.setattr(_backend, "triton_available", lambda: False)
    assert not dispatch.use_kernels_for(cpu)
    with pytest.raises(RuntimeError, match="Triton is not installed"):
        dispatch.use_kernels_for(cpu, use_kernels=True)


def test_forced_paths_run_what_they_say(device: str, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def ref(a, b, h0):  # type: ignore[no-untyped-def]
        calls.append(1)
        return torch.zeros_like(b)

    a, b = torch.rand(3, 4, device=device), torch.randn(3, 4, device=device)
    dispatch.linear_scan(a, b, use_kernels=False, reference=ref)
    assert calls == [1]
    out = dispatch.linear_scan(a, b, use_kernels=True, reference=ref)
    assert calls == [1] and "tracetorch.kernels.ops.scan.fused" in sys.modules
    torch.testing.assert_close(out, dispatch.linear_scan(a, b, use_kernels=False))
    monkeypatch.setenv("TRACETORCH_KERNELS", "1")
    dispatch.linear_scan(a, b, reference=ref)
    assert calls == [1]
    # a custom callable has no kernel: the reference runs even when forced
    cfg = LeakyConfig.from_name("LIB")
    x = torch.randn(2, 1, 3, device=device)
    st = (torch.zeros(1, 3, device=device),)
    ps = (torch.full((3,), 0.5, device=device), torch.ones(3, device=device))
    spike = lambda v: torch.sigmoid(3 * v)  # noqa: E731
    assert not dispatch.wants_leaky(cfg, x, st, spike, TF.quant_round)
    out, _ = dispatch.leaky_sequence(cfg, x, st, ps, spike, TF.quant_round)
    ref_out, _ = leaky_sequence_naive(cfg, x, st, ps, spike, TF.quant_round)
    torch.testing.assert_close(out, ref_out)


def test_torch_compile_through_custom_ops(device: str) -> None:
    """``torch.compile(fullgraph=True)`` traces the custom ops (fake implementations,
    autograd registration, a traced seed draw) without graph breaks; results equal
    eager, random spikes included under the same ``torch.manual_seed``."""
    import tracetorch.kernels as K

    cfg = LeakyConfig.from_name("SLIB")

    def f(a, b, x, p0, p1, p2):  # type: ignore[no-untyped-def]
        h = K.linear_scan(a, b)
        st = (torch.zeros_like(x[0]), torch.zeros_like(x[0]))
        out, fin = K.leaky_sequence(cfg, x + h, st, (p0, p1, p2), TF.heaviside_atan(), TF.quant_round)
        rnd, _ = K.leaky_sequence(cfg, x, st, (p0, p1, p2), TF.sigmoid(), TF.quant_bernoulli)
        return out.sum() + fin[0].sum() + h.sum() + (rnd * x).sum()

    a = torch.rand(3, 2, 5, device=device, requires_grad=True)
    b = torch.randn(3, 2, 5, device=device)
    x = torch.randn(3, 2, 5, device=device)
    ps = [torch.full((5,), v, device=device, requires_grad=True) for v in (0.5, 0.9, 1.0)]
    torch.manual_seed(5)
    eager = f(a, b, x, *ps)
    ge = torch.autograd.grad(eager, [a, *ps])
    compiled = torch.compile(f, backend="aot_eager", fullgraph=True)
    torch.manual_seed(5)
    got = compiled(a, b, x, *ps)
    gc = torch.autograd.grad(got, [a, *ps])
    torch.testing.assert_close(got, eager)
    for u, v in zip(gc, ge):
        torch.testing.assert_close(u, v)


def test_opcheck_scan(device: str) -> None:
    """`torch.library.opcheck`: schema, fake tensor, autograd registration."""
    a = torch.rand(3, 6, device=device, requires_grad=True)
    b = torch.randn(3, 6, device=device, requires_grad=True)
    h0 = torch.randn(6, device=device)
    torch.library.opcheck(
        torch.ops.tracetorch.linear_scan.default,
        (a, b, h0),
        test_utils=("test_schema", "test_faketensor", "test_autograd_registration"),
    )


def test_opcheck_leaky(device: str) -> None:
    x = torch.randn(3, 8, device=device, requires_grad=True)
    s0 = torch.randn(2, 8, device=device, requires_grad=True)
    p = torch.rand(4, 4, device=device, requires_grad=True)  # DLIB: pos_beta, neg_beta, threshold
    flags = [1, 0, 0, 2, 2, 0]
    seed = torch.zeros((), dtype=torch.int64, device=device)
    torch.library.opcheck(
        torch.ops.tracetorch.leaky_sequence.default,
        (x, s0, p[:3], flags, 2.0, seed, True),
        test_utils=("test_schema", "test_faketensor", "test_autograd_registration"),
    )
