"""Core behaviour behind issue 16: lengths on any tt.Layer, last_valid, the guards.

Built on the core test layers only (no snn/rnn): the generic paths must work for a
custom layer that knows nothing about them.
"""

from __future__ import annotations

import copy

import pytest
import torch
import tracetorch as tt
from torch import nn


def test_a_custom_layer_takes_lengths_without_implementing_them(Leaky_cls):
    layer = Leaky_cls(3)
    x = torch.randn(6, 4, 3)
    lengths = [6, 1, 4, 4]
    out = layer.forward_sequence(x, lengths=lengths)
    for b, L in enumerate(lengths):
        alone = Leaky_cls(3)
        alone.load_state_dict(layer.state_dict())
        ref = torch.stack([alone(xt) for xt in x[:L, b : b + 1]])
        assert torch.equal(out[:L, b : b + 1], ref)
        assert torch.equal(out[L:, b], torch.zeros(6 - L, 3))
        assert torch.equal(layer.mem[b : b + 1], alone.mem)
        assert torch.equal(layer.trace[b : b + 1], alone.trace)


def test_lengths_with_a_state_of_another_width(Projecting_cls):
    layer = Projecting_cls(2, 3, hidden=5)
    x = torch.randn(4, 3, 2)
    layer.forward_sequence(x, lengths=[1, 4, 2])
    assert layer.states()["wide"].shape == (3, 5)


def test_lengths_refuse_a_layer_whose_dim_is_the_batch_axis(Leaky_cls):
    layer = Leaky_cls(4, dim=0)
    layer(torch.randn(4, 3))
    before = layer.mem.clone()
    with pytest.raises(ValueError, match="batch on axis 0"):
        layer.forward_sequence(torch.randn(5, 4, 3), lengths=[1, 2, 3, 4])
    assert torch.equal(layer.mem, before)


def test_lengths_keep_the_gradient_to_the_previous_states(Leaky_cls):
    layer = Leaky_cls(3)
    h0 = torch.randn(2, 3, requires_grad=True)
    layer(h0)
    out = layer.forward_sequence(torch.randn(4, 2, 3), lengths=[2, 4])
    (g,) = torch.autograd.grad(tt.last_valid(out, [2, 4])[0].sum(), h0)
    assert g[0].abs().sum() > 0 and torch.equal(g[1], torch.zeros(3))


def test_last_valid_is_differentiable_and_validates():
    y = torch.randn(5, 2, 3, requires_grad=True)
    tt.last_valid(y, [5, 2]).sum().backward()
    expect = torch.zeros(5, 2, 3)
    expect[4, 0] = 1
    expect[1, 1] = 1
    assert torch.equal(y.grad, expect)
    with pytest.raises(ValueError, match="batch axis"):
        tt.last_valid(torch.randn(5), [1])
    with pytest.raises(TypeError, match="time_dim"):
        tt.last_valid(y, [1, 1], time_dim=0.0)  # type: ignore[arg-type]


def test_layers_and_models_refuse_data_parallel_replication(Leaky_cls):
    for module in (Leaky_cls(3), tt.Sequential(nn.Linear(3, 3), Leaky_cls(3))):
        with pytest.raises(RuntimeError, match="DistributedDataParallel"):
            module._replicate_for_data_parallel()


def test_deepcopy_of_a_layer_with_a_graph_in_its_states(Leaky_cls):
    layer = Leaky_cls(3)
    layer(torch.randn(2, 3, requires_grad=True))
    twin = copy.deepcopy(layer)
    assert twin.mem.grad_fn is None and torch.equal(twin.mem, layer.mem)
    assert layer.mem.grad_fn is not None
    assert twin.raw_beta is not layer.raw_beta and torch.equal(twin.raw_beta, layer.raw_beta)


def test_compiled_state_dict_loads_into_an_uncompiled_layer_and_a_compiled_one(Leaky_cls):
    src, dst = Leaky_cls(3, beta=0.5), Leaky_cls(3, beta=0.7)
    src.TTcompile()
    dst.load_state_dict(src.state_dict())  # value -> raw through the inverse
    torch.testing.assert_close(dst.beta.detach(), src.beta, rtol=2e-7, atol=0)
    dst.TTcompile()
    dst.load_state_dict(src.state_dict())  # value -> value: exact
    assert torch.equal(dst.beta, src.beta)


def test_deterministic_rounds_the_stochastic_quantisers():
    p = torch.tensor([0.2, 0.5, 0.51, 0.9], requires_grad=True)
    with tt.deterministic():
        b = tt.functional.quant_bernoulli(p)
        q = tt.functional.quant_probabilistic(p)
    assert torch.equal(b, torch.tensor([0.0, 0.0, 1.0, 1.0]))
    assert torch.equal(q, b)
    (g,) = torch.autograd.grad(q.sum(), p)
    assert torch.allclose(g, 2 * p.detach())
    assert not tt.is_deterministic()
