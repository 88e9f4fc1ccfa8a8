"""Gradients: they reach every learnable parameter and the input; surrogates are exact."""

from __future__ import annotations

import pytest
import torch
import tracetorch as tt
from snn_testlib import ALL_LAYERS, RECURRENT, SPIKING, inputs, make_layer, param_names
from tracetorch import snn
from tracetorch.snn.functional import fire_derivative, has_fire_derivative

SPIKE_FNS = [
    tt.functional.sigmoid(4.0),
    tt.functional.heaviside_fast_sigmoid(25.0),
    tt.functional.heaviside_atan(2.0),
    tt.functional.heaviside_triangle(1.0),
    tt.functional.heaviside_straight_through(1.0),
]
QUANTS = [tt.functional.quant_round, tt.functional.quant_bernoulli, tt.functional.quant_probabilistic]


@pytest.mark.parametrize("name", ALL_LAYERS)
def test_gradients_reach_learnable_parameters_and_input_not_buffers(name):
    layer = make_layer(name, variant=1, spike_fn="heaviside_triangle" if name in SPIKING else None)
    # rec weights of 0 would hide nothing; make sure every path is active
    xs = inputs((3, 5), 12, seed=5).requires_grad_()
    outs = [layer(x) for x in xs]
    loss = torch.stack(outs).pow(2).sum() + sum(v.sum() for v in layer.states().values())
    loss.backward()
    assert xs.grad is not None and xs.grad.abs().sum() > 0
    for p in param_names(name):
        raw_name = f"raw_{p}"
        params = dict(layer.named_parameters())
        buffers = dict(layer.named_buffers())
        if raw_name in params:
            g = params[raw_name].grad
            assert g is not None, p
            assert torch.isfinite(g).all()
        else:
            assert p in buffers and raw_name not in buffers  # a fixed parameter holds its value
            assert not buffers[p].requires_grad and buffers[p].grad is None


@pytest.mark.parametrize("fn", SPIKE_FNS, ids=repr)
def test_surrogate_gradcheck_and_backward_equals_its_derivative(fn):
    x = (torch.linspace(-2.5, 2.5, 41, dtype=torch.float64) + 0.013).requires_grad_()
    assert torch.autograd.gradcheck(fn.surrogate, (x,))
    (g_spike,) = torch.autograd.grad(fn(x).sum(), x)
    (g_sur,) = torch.autograd.grad(fn.surrogate(x).sum(), x)
    torch.testing.assert_close(g_spike, g_sur, rtol=1e-10, atol=1e-12)
    if fn.deterministic:
        assert set(fn(x).detach().unique().tolist()) <= {0.0, 1.0}


@pytest.mark.parametrize("quant", QUANTS, ids=lambda q: q.__name__)
@pytest.mark.parametrize("fn", SPIKE_FNS, ids=repr)
def test_fire_derivative_equals_autograd(fn, quant):
    assert has_fire_derivative(fn, quant)
    v = (torch.linspace(-2.0, 2.0, 33, dtype=torch.float64) + 0.011).requires_grad_()
    torch.manual_seed(0)
    (g,) = torch.autograd.grad(quant(fn(v)).sum(), v)
    torch.testing.assert_close(fire_derivative(fn, quant, v.detach()), g, rtol=1e-12, atol=1e-12)


def test_fire_derivative_is_not_claimed_for_custom_callables():
    assert not has_fire_derivative(lambda v: torch.sigmoid(v), tt.functional.quant_round)
    assert not has_fire_derivative(tt.functional.sigmoid(), lambda p: p.round())


@pytest.mark.parametrize("name", RECURRENT)
def test_recurrent_layers_learn_online_with_detached_states(name):
    torch.manual_seed(0)
    layer = make_layer(name, spike_fn="heaviside_fast_sigmoid")
    readout = torch.nn.Linear(5, 1)
    opt = torch.optim.SGD(list(layer.parameters()) + list(readout.parameters()), lr=0.05)
    xs = inputs((3, 5), 30, seed=7)
    target = torch.ones(3, 1)
    losses = []
    for epoch in range(3):
        layer.zero_states()
        total = 0.0
        for x in xs:
            opt.zero_grad()
            loss = (readout(layer(x)) - target).pow(2).mean()
            loss.backward()  # would fail on a second pass through an old graph without detach
            opt.step()
            layer.detach_states()
            total += loss.item()
        losses.append(total)
    assert all(torch.isfinite(torch.tensor(losses)))
    assert losses[-1] < losses[0]


def test_layers_work_under_float64_gradcheck():
    layer = snn.DSLIEMA(3).double()
    x = torch.randn(6, 2, 3, dtype=torch.float64, requires_grad=True)

    def run(x):
        layer.zero_states()
        return torch.stack([layer(xt) for xt in x])

    assert torch.autograd.gradcheck(run, (x,))
