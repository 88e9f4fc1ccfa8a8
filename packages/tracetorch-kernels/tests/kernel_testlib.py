"""Helpers shared by the kernels' option tests: configurations with options, the
weighted losses whose gradients are compared, the comparison of forward values, and a
sequence run one step kernel at a time."""

from __future__ import annotations

import dataclasses
from typing import Any

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
