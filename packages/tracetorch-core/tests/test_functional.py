"""tt.functional: decay conversions, inverses, spike and quantisation functions."""

from __future__ import annotations

import math
import pickle

import pytest
import torch
import tracetorch as tt
from tracetorch import functional as F


def test_halflife_and_decay_are_inverse():
    d = F.halflife_to_decay(10.0)
    assert math.isclose(d**10, 0.5, rel_tol=1e-12)
    assert math.isclose(F.decay_to_halflife(d), 10.0, rel_tol=1e-12)


def test_timesteps_and_decay_are_inverse():
    assert math.isclose(F.timesteps_to_decay(4), 0.75)
    assert math.isclose(F.decay_to_timesteps(0.75), 4.0)


@pytest.mark.parametrize(
    "fn,bad",
    [(F.halflife_to_decay, 0), (F.decay_to_halflife, 1.0), (F.timesteps_to_decay, 1), (F.decay_to_timesteps, 0.0)],
)
def test_conversions_reject_out_of_range_values(fn, bad):
    with pytest.raises(ValueError):
        fn(bad)


def test_hippo_decays_and_scale():
    scale = F.max_halflife_to_hippo_scale(20.0)
    d = F.hippo_decays(8, scale)
    assert d.shape == (8,)
    assert torch.allclose(d, torch.exp(-torch.arange(1, 9) * scale))
    assert math.isclose(F.decay_to_halflife(d[0].item()), 20.0, rel_tol=1e-5)
    torch.manual_seed(0)
    s = F.hippo_decays(8, scale, shuffle=True)
    assert torch.equal(s.sort().values, d.sort().values) and not torch.equal(s, d)


def test_inverse_activations():
    x = torch.tensor([1e-4, 0.3, 0.5, 0.99], dtype=torch.float64)
    assert torch.allclose(torch.sigmoid(F.sigmoid_inverse(x)), x)
    y = torch.tensor([1e-6, 0.5, 3.0, 80.0], dtype=torch.float64)
    assert torch.allclose(torch.nn.functional.softplus(F.softplus_inverse(y)), y, rtol=1e-9)


HEAVISIDES = [
    F.heaviside_fast_sigmoid(25.0),
    F.heaviside_atan(2.0),
    F.heaviside_triangle(0.7),
    F.heaviside_straight_through(1.5),
]


@pytest.mark.parametrize("fn", HEAVISIDES, ids=repr)
def test_heaviside_spikes_are_exactly_zero_or_one(fn):
    x = torch.tensor([-2.0, -1e-7, 0.0, 1e-7, 3.0])
    assert torch.equal(fn(x), torch.tensor([0.0, 0.0, 1.0, 1.0, 1.0]))


@pytest.mark.parametrize("fn", HEAVISIDES + [F.sigmoid(4.0)], ids=repr)
def test_surrogates_pass_gradcheck_in_float64(fn):
    x = torch.linspace(-2.3, 2.1, 17, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(fn.surrogate, (x,))


@pytest.mark.parametrize("fn", HEAVISIDES + [F.sigmoid(3.0)], ids=repr)
def test_backward_is_the_derivative_of_the_surrogate(fn):
    x = torch.linspace(-2.3, 2.1, 23, dtype=torch.float64, requires_grad=True)
    (g_spike,) = torch.autograd.grad(fn(x).sum(), x)
    (g_smooth,) = torch.autograd.grad(fn.surrogate(x).sum(), x)
    assert torch.allclose(g_spike, g_smooth, atol=1e-12)


def test_documented_surrogate_formulas():
    x = torch.tensor([0.5], requires_grad=True)
    (g,) = torch.autograd.grad(F.heaviside_atan(2.0)(x).sum(), x)
    assert torch.allclose(g, torch.tensor([1.0 / (1 + (math.pi / 2 * 2 * 0.5) ** 2)]))
    (g,) = torch.autograd.grad(F.heaviside_fast_sigmoid(25.0)(x).sum(), x)
    assert torch.allclose(g, torch.tensor([1 / (25 * 0.5 + 1) ** 2]))


def test_sigmoid_default_is_sigmoid_of_4x():
    x = torch.randn(10)
    assert torch.allclose(F.resolve_spike_fn(None)(x), torch.sigmoid(4 * x))


def test_spike_functions_pickle_and_compare():
    fn = F.heaviside_atan(3.0)
    assert pickle.loads(pickle.dumps(fn)) == fn
    assert fn != F.heaviside_atan(2.0)
    assert "heaviside_atan(3.0)" in repr(fn)


@pytest.mark.parametrize(
    "factory",
    [F.sigmoid, F.heaviside_atan, F.heaviside_fast_sigmoid, F.heaviside_triangle, F.heaviside_straight_through],
)
def test_spike_factories_reject_non_positive_parameters(factory):
    with pytest.raises(ValueError, match="> 0"):
        factory(0.0)
    with pytest.raises(TypeError):
        factory("2")


def test_spike_functions_resolve_by_name():
    assert F.resolve_spike_fn("heaviside_atan") == F.heaviside_atan()
    custom = lambda x: (x > 0).float()  # noqa: E731
    assert F.resolve_spike_fn(custom) is custom
    with pytest.raises(ValueError, match="unknown spike_fn 'atan'"):
        F.resolve_spike_fn("atan")
    with pytest.raises(TypeError):
        F.resolve_spike_fn(3)


@pytest.mark.parametrize("name", ["round", "bernoulli", "probabilistic"])
def test_quantisers_leave_exact_spikes_unchanged(name):
    q = F.resolve_quant_fn(name)
    s = torch.tensor([0.0, 1.0, 1.0, 0.0])
    assert torch.equal(q(s), s)


def test_round_and_bernoulli_values_are_exact_with_straight_through_gradient():
    p = torch.tensor([0.2, 0.7, 0.5001, 0.3], requires_grad=True)
    out = F.quant_round(p)
    assert torch.equal(out, torch.tensor([0.0, 1.0, 1.0, 0.0]))
    (g,) = torch.autograd.grad(out.sum(), p)
    assert torch.equal(g, torch.ones(4))
    torch.manual_seed(0)
    out = F.quant_bernoulli(p)
    assert set(out.tolist()) <= {0.0, 1.0}
    (g,) = torch.autograd.grad(out.sum(), p)
    assert torch.equal(g, torch.ones(4))


def test_bernoulli_is_reproducible_under_a_seed_and_has_the_right_rate():
    p = torch.full((20000,), 0.3)
    torch.manual_seed(5)
    a = F.quant_bernoulli(p)
    torch.manual_seed(5)
    b = F.quant_bernoulli(p)
    assert torch.equal(a, b)
    assert abs(a.mean().item() - 0.3) < 0.02


def test_probabilistic_is_p_times_a_sample_with_gradient_2p():
    p = torch.tensor([0.25, 0.5, 0.75], requires_grad=True)
    torch.manual_seed(0)
    out = F.quant_probabilistic(p)
    assert all(o in (0.0, v) for o, v in zip(out.tolist(), [0.25, 0.5, 0.75]))
    (g,) = torch.autograd.grad(out.sum(), p)
    assert torch.allclose(g, 2 * p.detach())


def test_custom_quantisers_are_used_as_given_and_names_checked():
    custom = lambda p: p * 0  # noqa: E731
    assert F.resolve_quant_fn(custom) is custom
    assert F.resolve_quant_fn(None) is F.quant_bernoulli
    with pytest.raises(ValueError, match="unknown quant_fn 'floor'"):
        F.resolve_quant_fn("floor")
    with pytest.raises(TypeError):
        F.resolve_quant_fn(1.0)


def test_everything_in_all_is_exported():
    for name in F.__all__:
        assert hasattr(F, name)
    assert tt.functional is F
