"""SelectiveSSM computes the update written in its docstring, step by step and over sequences."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
import tracetorch as tt
from torch import nn
from tracetorch import rnn


def reference_loop(layer: rnn.SelectiveSSM, x: torch.Tensor, h: torch.Tensor | None = None):
    """The SelectiveSSM update written out as a plain loop, for inputs [T, B, in] with features last."""
    W_a, b_a = layer.a_proj.weight, layer.a_proj.bias
    W_b, b_b = layer.b_proj.weight, layer.b_proj.bias
    W_g, b_g = layer.g_proj.weight, layer.g_proj.bias
    W_c = layer.c_proj.weight
    scale = torch.exp(layer.raw_scale)
    if h is None:
        h = torch.zeros(x.shape[1], layer.hidden_features, dtype=x.dtype)
    ys = []
    for xt in x:
        a = xt @ W_a.T + b_a
        b = xt @ W_b.T + b_b
        g = xt @ W_g.T + b_g
        delta = F.softplus(a)
        decay_t = torch.exp(-delta * scale)
        h = decay_t * h + (1 - decay_t) * b
        skip = xt if layer.in_features == layer.out_features else xt @ layer.skip.weight.T
        ys.append(skip + F.silu(g) * (h @ W_c.T))
    return torch.stack(ys), h


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("in_f, out_f", [(6, 6), (6, 4), (3, 9)])
def test_stepping_matches_the_spec_reference_loop(in_f, out_f, dtype):
    torch.manual_seed(0)
    layer = rnn.SelectiveSSM(in_f, out_f, 5, decay=0.8).to(dtype)
    with torch.no_grad():  # make the biases non-trivial
        for p in (layer.a_proj.bias, layer.b_proj.bias, layer.g_proj.bias, layer.raw_scale):
            p.add_(torch.randn_like(p) * 0.3)
    x = torch.randn(50, 16, in_f, dtype=dtype)
    ref, ref_h = reference_loop(layer, x)
    outs = torch.stack([layer(xt) for xt in x])
    tol = dict(rtol=1e-6, atol=1e-6) if dtype == torch.float32 else dict(rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(outs, ref, **tol)
    torch.testing.assert_close(layer.h, ref_h, **tol)


def test_gradients_match_the_reference_loop():
    torch.manual_seed(1)
    layer = rnn.SelectiveSSM(4, 3, 6)
    x = torch.randn(50, 2, 4)
    w = torch.randn(50, 2, 3)
    (reference_loop(layer, x)[0] * w).sum().backward()
    ref = {n: p.grad.clone() for n, p in layer.named_parameters()}
    layer.zero_grad()
    (torch.stack([layer(xt) for xt in x]) * w).sum().backward()
    for n, p in layer.named_parameters():
        torch.testing.assert_close(p.grad, ref[n], rtol=1e-5, atol=1e-5)


def test_skip_is_identity_when_widths_match_and_a_learned_projection_otherwise():
    same = rnn.SelectiveSSM(8, 8, 4)
    assert isinstance(same.skip, nn.Identity)
    diff = rnn.SelectiveSSM(8, 3, 4)
    assert isinstance(diff.skip, nn.Linear) and diff.skip.bias is None
    assert diff.skip.weight.shape == (3, 8) and diff.skip.weight.requires_grad
    y = diff(torch.randn(2, 8))
    assert y.shape == (2, 3) and diff.h.shape == (2, 4)


def test_projection_biases_start_at_zero_and_c_has_no_bias():
    layer = rnn.SelectiveSSM(5, 7, 3)
    for proj in (layer.a_proj, layer.b_proj, layer.g_proj):
        assert torch.count_nonzero(proj.bias) == 0
    assert layer.c_proj.bias is None
    assert layer.a_proj.weight.shape == (3, 5) and layer.b_proj.weight.shape == (3, 5)
    assert layer.g_proj.weight.shape == (7, 5) and layer.c_proj.weight.shape == (7, 3)


@pytest.mark.parametrize("decay", [0.5, 0.9, 0.999])
def test_effective_decay_equals_decay_when_a_is_zero(decay):
    layer = rnn.SelectiveSSM(4, 4, 6, decay=decay)
    torch.testing.assert_close(layer.scale, torch.full((6,), -math.log(decay) / math.log(2)))
    torch.testing.assert_close(layer.decay, torch.full((6,), decay))
    with torch.no_grad():
        layer.a_proj.weight.zero_()
        layer.b_proj.weight.fill_(0.0)
        layer.b_proj.bias.fill_(1.0)  # constant drive b = 1
    x = torch.randn(3, 4)
    layer(x)
    layer(x)
    # h_1 = (1 - d), h_2 = d (1 - d) + (1 - d) = 1 - d^2
    torch.testing.assert_close(layer.h, torch.full((3, 6), 1 - decay**2))


def test_decay_rank_and_learn_decay_apply_to_the_stored_scale():
    layer = rnn.SelectiveSSM(4, 4, 6, decay=0.7, decay_rank=0, learn_decay=False)
    assert layer.scale.shape == ()
    assert "scale" in dict(layer.named_buffers())  # a fixed parameter holds its value itself
    assert "raw_scale" not in dict(layer.named_parameters()) and "raw_scale" not in dict(layer.named_buffers())
    assert layer.parameter_rank("scale") == 0
    learned = rnn.SelectiveSSM(4, 4, 6)
    assert isinstance(learned.raw_scale, nn.Parameter) and learned.raw_scale.shape == (6,)
    per_feature = rnn.SelectiveSSM(4, 4, 3, decay=torch.tensor([0.5, 0.9, 0.99]))
    torch.testing.assert_close(per_feature.decay, torch.tensor([0.5, 0.9, 0.99]))


def test_the_decay_is_trained_through_raw_scale():
    layer = rnn.SelectiveSSM(4, 4, 6)
    out = layer.forward_sequence(torch.randn(10, 2, 4))
    out.square().sum().backward()
    assert layer.raw_scale.grad is not None and torch.count_nonzero(layer.raw_scale.grad) > 0


def test_ttcompile_freezes_scale_and_keeps_outputs():
    torch.manual_seed(2)
    layer = rnn.SelectiveSSM(4, 5, 6)
    raw = layer.raw_scale
    x = torch.randn(8, 3, 4)
    before = layer.forward_sequence(x)
    layer.zero_states()
    layer.TTcompile()
    assert "raw_scale" not in dict(layer.named_parameters())
    assert torch.equal(layer.scale, torch.exp(raw.detach()))
    with torch.no_grad():
        during = torch.stack([layer(xt) for xt in x])
    torch.testing.assert_close(during, before.detach(), rtol=1e-6, atol=1e-6)
    layer.TTdecompile()
    assert layer.raw_scale is raw


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(decay=1.0), ValueError, "between 0 and 1"),
        (dict(decay=0.0), ValueError, "between 0 and 1"),
        (dict(decay=torch.tensor([0.5, 1.5, 0.5])), ValueError, "between 0 and 1"),
        (dict(decay="0.9"), TypeError, "decay"),
        (dict(decay=True), TypeError, "decay"),
        (dict(decay=torch.tensor([0.5, 0.5])), ValueError, "hidden_features=3"),
        (dict(decay_rank=2), ValueError, "decay_rank"),
        (dict(learn_decay="yes"), TypeError, "learn_decay"),
        (dict(hidden_features=0), ValueError, "hidden_features"),
        (dict(hidden_features=2.0), TypeError, "hidden_features"),
    ],
)
def test_bad_arguments_raise_clear_errors(kwargs, exc, match):
    args = dict(in_features=4, out_features=4, hidden_features=3)
    args.update(kwargs)
    with pytest.raises(exc, match=match) as info:
        rnn.SelectiveSSM(**args)
    assert "SelectiveSSM" in str(info.value)


def test_works_inside_a_model_with_save_and_load():
    class Net(tt.Model):
        def __init__(self):
            super().__init__()
            self.ssm = rnn.SelectiveSSM(4, 2, 8)

        def forward(self, x):
            return self.ssm(x)

    net = Net()
    net(torch.randn(3, 4))
    states = net.save_states()
    assert set(states) == {"ssm.h"} and states["ssm.h"].shape == (3, 8)
