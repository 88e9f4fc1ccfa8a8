"""Helpers shared by the kernels' option tests: configurations with options, the
weighted losses whose gradients are compared, the comparison of forward values, and a
sequence run one step kernel at a time."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
import torch
from tracetorch.kernels import leaky_step
from tracetorch.snn.functional import LeakyConfig


def with_options(name: str, options: dict[str, Any]) -> LeakyConfig:
    """Layer ``name``'s configuration with neuron ``options`` (``syn_input`` is dropped
    on layers without a synapse)."""
    cfg = LeakyConfig.from_name(name)
    kw = dict(options)
    if not cfg.synaptic:
        kw.pop("syn_input", None)
    return dataclasses.replace(cfg, **kw)


def initial_state(cfg: LeakyConfig, name: str, shape: tuple[int, ...], g: torch.Generator) -> torch.Tensor:
    """A random initial state ``name`` (float32, on the CPU): pending spikes 0/1
    (negative: 0/-1), refractory counters 0 .. k (some neurons start refractory), a
    positive adaptation trace, otherwise N(0, 0.25)."""
    if name in ("prev_spike", "prev_pos_spike"):
        return (torch.rand(shape, generator=g) < 0.4).float()
    if name == "prev_neg_spike":
        return -(torch.rand(shape, generator=g) < 0.3).float()
    if name == "refrac":
        return torch.randint(0, cfg.refractory + 1, shape, generator=g).float()
    if name == "adapt":
        return torch.rand(shape, generator=g) * 0.6
    return torch.randn(shape, generator=g) * 0.5


def weighted_grads(out, final, ins, seed: int = 1):  # type: ignore[no-untyped-def]
    """Gradients of ``sum(out * g) + sum_i sum(final_i * h_i)`` with random ``g``, ``h_i``
    (drawn from ``seed``; computed in float32 for low-precision outputs)."""
    gen = torch.Generator().manual_seed(seed)
    g = torch.randn(out.shape, generator=gen).to(out.device)
    gs = [torch.randn(s.shape, generator=gen).to(s.device) for s in final]
    loss = (out.float() * g).sum() + sum((s.float() * h).sum() for s, h in zip(final, gs))
    return torch.autograd.grad(loss, ins)


def ranked_grads(out, final, ins, seed: int = 1):  # type: ignore[no-untyped-def]
    """Gradients of ``sum(out * g) + sum_i (i + 1) * sum(final_i)`` (random ``g``)."""
    gen = torch.Generator().manual_seed(seed)
    go = torch.randn(out.shape, generator=gen).to(out.device)
    loss = (out * go).sum() + sum((s * (i + 1)).sum() for i, s in enumerate(final))
    return torch.autograd.grad(loss, ins)


def same(a: torch.Tensor, b: torch.Tensor, device: str, what: str) -> None:
    """Bit-identical on the CPU (interpreter), within 1e-6 on a GPU."""
    assert a.shape == b.shape and a.dtype == b.dtype, what
    tol = 0.0 if device == "cpu" else 1e-6
    torch.testing.assert_close(a, b, rtol=tol, atol=tol, msg=lambda m: f"{what}: {m}")


def stepped(cfg: LeakyConfig, x: torch.Tensor, states: tuple, params: tuple, spike_fn: Any, quant_fn: Any):  # type: ignore[no-untyped-def]
    """``(outputs [T, ...], final states)`` of the step kernel launched once per step."""
    st = states
    outs = []
    for t in range(x.shape[0]):
        o, st = leaky_step(cfg, x[t], st, params, spike_fn, quant_fn)
        outs.append(o)
    return torch.stack(outs), st


def layer_sequence_on_the_kernel(
    device: str, monkeypatch: pytest.MonkeyPatch, name: str, options: dict[str, Any], shift: float = 0.0
) -> LeakyConfig:
    """Run ``forward_sequence`` of layer ``name`` with neuron ``options`` with the kernels
    forced (``TRACETORCH_KERNELS=1``; on CUDA they run by default), check that it reached
    the kernel and equals stepping a copy of the layer (outputs and states within 1e-6,
    input gradients within 1e-6, parameter gradients within 1e-5), and return the
    layer's configuration."""
    from tracetorch import snn
    from tracetorch.kernels import dispatch

    monkeypatch.setenv("TRACETORCH_KERNELS", "1")
    ran: list[str] = []
    kernel = dispatch._leaky_kernel

    def spy(*a, **k):  # type: ignore[no-untyped-def]
        ran.append("leaky")
        return kernel(*a, **k)

    monkeypatch.setattr(dispatch, "_leaky_kernel", spy)
    torch.manual_seed(0)
    cls = getattr(snn, name)
    a = cls(4, spike_fn="heaviside_atan", quant_fn="round", **options).to(device)
    b = cls(4, spike_fn="heaviside_atan", quant_fn="round", **options).to(device)
    b.load_state_dict(a.state_dict())
    x = torch.randn(6, 2, 4, device=device) * 2 + shift
    xa = x.clone().requires_grad_()
    xb = x.clone().requires_grad_()
    ya = a.forward_sequence(xa)
    assert ran == ["leaky"]
    yb = torch.stack([b(xb[t]) for t in range(6)])
    torch.testing.assert_close(ya, yb, rtol=1e-6, atol=1e-6)
    for n in a.config.states:
        torch.testing.assert_close(getattr(a, n), getattr(b, n), rtol=1e-6, atol=1e-6)
    ya.sum().backward()
    yb.sum().backward()
    torch.testing.assert_close(xa.grad, xb.grad, rtol=1e-6, atol=1e-6)
    for (n, p), q in zip(a.named_parameters(), b.parameters()):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-5, atol=1e-5, msg=lambda m: f"{n}: {m}")
    return a.config
