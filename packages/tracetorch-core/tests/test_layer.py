"""tt.Layer: lazy states, dim handling, parameter registration and validation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import tracetorch as tt
from hypothesis import given, settings
from hypothesis import strategies as st


def test_states_are_created_lazily_with_the_inputs_shape_dtype_and_device(Leaky_cls):
    layer = Leaky_cls(5)
    assert layer.mem is None and layer.trace is None
    x = torch.randn(3, 5, dtype=torch.float64)
    layer(x)
    assert layer.mem.shape == (3, 5) and layer.mem.dtype == torch.float64
    assert layer.mem.device == x.device


@settings(max_examples=40, deadline=None)
@given(
    shape=st.lists(st.integers(1, 4), min_size=1, max_size=4),
    axis=st.integers(0, 3),
    n=st.integers(1, 6),
    negative=st.booleans(),
)
def test_any_valid_dim_puts_the_neurons_on_that_axis(Leaky_cls, shape, axis, n, negative):
    axis = axis % len(shape)
    shape[axis] = n
    dim = axis - len(shape) if negative else axis
    layer = Leaky_cls(n, beta=torch.linspace(0.1, 0.9, n), dim=dim)
    x = torch.randn(shape)
    y = layer(x)
    assert y.shape == x.shape and layer.mem.shape == x.shape
    # the per-neuron decay must act along `axis`
    expected_beta = torch.linspace(0.1, 0.9, n).view([-1 if i == axis else 1 for i in range(len(shape))])
    layer(x)
    assert torch.allclose(layer.mem, expected_beta * x + x, atol=1e-6)


@pytest.mark.parametrize("dim", [2, -3, 5])
def test_out_of_range_dim_is_a_clear_error(Leaky_cls, dim):
    layer = Leaky_cls(4, dim=dim)
    with pytest.raises(ValueError, match=r"Leaky: dim=.* out of range .*valid"):
        layer(torch.randn(2, 4))
    assert layer.mem is None


def test_wrong_width_names_layer_expected_and_actual(Leaky_cls):
    layer = Leaky_cls(4)
    with pytest.raises(ValueError, match=r"Leaky: expected 4 features along dim=-1, got input of shape \(2, 5\)"):
        layer(torch.randn(2, 5))
    assert layer.mem is None


def test_batch_change_without_zero_states_is_an_error_and_changes_nothing(Leaky_cls):
    layer = Leaky_cls(4)
    layer(torch.randn(2, 4))
    before = layer.mem.clone()
    with pytest.raises(ValueError, match=r"zero_states\(\)"):
        layer(torch.randn(3, 4))
    assert torch.equal(layer.mem, before)
    layer.zero_states()
    assert layer(torch.randn(3, 4)).shape == (3, 4)


@pytest.mark.parametrize("dtype", [torch.int64, torch.bool, torch.int32])
def test_integer_or_boolean_input_is_a_type_error(Leaky_cls, dtype):
    layer = Leaky_cls(3)
    with pytest.raises(TypeError, match="floating-point"):
        layer(torch.ones(2, 3, dtype=dtype))


def test_states_with_another_size_along_dim(Projecting_cls):
    layer = Projecting_cls(3, 5, 7, dim=-3)
    x = torch.randn(2, 3, 4, 4)
    y = layer(x)
    assert y.shape == (2, 5, 4, 4)
    assert layer.wide.shape == (2, 7, 4, 4)
    with pytest.raises(ValueError, match="expected 3 features"):
        layer(torch.randn(2, 5, 4, 4))


def test_parameter_properties_are_per_instance_and_survive_compiling_another(Leaky_cls):
    a = Leaky_cls(3, beta=0.5)
    b = Leaky_cls(3, beta=0.8)
    a.TTcompile()
    assert torch.allclose(a.beta, torch.full((3,), 0.5))
    assert torch.allclose(b.beta, torch.full((3,), 0.8))
    x = torch.randn(2, 3)
    b(x)  # the uncompiled instance still works
    a(x)
    assert "beta" not in type(b).__dict__


def test_learnable_parameters_are_parameters_and_static_ones_buffers(Leaky_cls):
    learn = Leaky_cls(3, learn_beta=True)
    static = Leaky_cls(3, learn_beta=False)
    assert "raw_beta" in dict(learn.named_parameters())
    assert "beta" in dict(static.named_buffers())  # the value itself, not its logit
    assert "raw_beta" not in dict(static.named_parameters()) and "raw_beta" not in dict(static.named_buffers())
    assert sorted(static.state_dict()) == ["beta", "raw_gain", "raw_threshold"]


def test_raw_values_go_through_the_inverse_and_read_back_through_the_activation(Leaky_cls):
    layer = Leaky_cls(2, beta=torch.tensor([0.25, 0.75]))
    assert torch.allclose(torch.sigmoid(layer.raw_beta), torch.tensor([0.25, 0.75]))
    assert torch.allclose(layer.beta, torch.tensor([0.25, 0.75]))
    assert torch.allclose(torch.nn.functional.softplus(layer.raw_threshold), torch.ones(2))


@pytest.mark.parametrize("rank,shape", [(0, ()), (1, (4,))])
def test_rank_decides_the_shape_of_a_float_value(Leaky_cls, rank, shape):
    layer = Leaky_cls(4, beta=0.3, beta_rank=rank)
    assert layer.beta.shape == shape
    assert layer.parameter_rank("beta") == rank


@pytest.mark.parametrize(
    "value", [[0.1, 0.2, 0.3], np.array([0.1, 0.2, 0.3]), torch.tensor([0.1, 0.2, 0.3], dtype=torch.float64)]
)
def test_lists_numpy_arrays_and_tensors_are_accepted(Leaky_cls, value):
    layer = Leaky_cls(3, beta=value)
    assert torch.allclose(layer.beta, torch.tensor([0.1, 0.2, 0.3]))
    assert layer.raw_beta.dtype == torch.get_default_dtype()


def test_a_tensor_value_is_copied_not_aliased(Leaky_cls):
    value = torch.tensor([0.1, 0.2, 0.3])
    layer = Leaky_cls(3, beta=value)
    value.fill_(0.9)
    assert torch.allclose(layer.beta, torch.tensor([0.1, 0.2, 0.3]))


@pytest.mark.parametrize(
    "kwargs,exc,pattern",
    [
        ({"beta": 1.0}, ValueError, r"Leaky: `beta` must be a decay strictly between 0 and 1"),
        ({"beta": 0.0}, ValueError, "strictly between 0 and 1"),
        ({"beta": -0.5}, ValueError, "strictly between 0 and 1"),
        ({"beta": torch.tensor([0.5, 1.5, 0.5])}, ValueError, "strictly between 0 and 1"),
        ({"beta": float("nan")}, ValueError, "beta"),
        ({"beta": torch.tensor([0.5, 0.5])}, ValueError, r"num_neurons=3 elements; got shape \(2,\)"),
        ({"beta": torch.full((3, 1), 0.5)}, ValueError, "1-d tensor"),
        ({"beta": 0.5, "beta_rank": 2}, ValueError, r"`beta_rank` must be 0 .* or 1"),
        ({"beta": "0.5"}, TypeError, "`beta` must be a float or a tensor"),
        ({"beta": True}, TypeError, "bool"),
        ({"beta": torch.tensor([True, False, True])}, TypeError, "real numbers"),
        ({"beta": object()}, TypeError, "`beta`"),
    ],
)
def test_bad_parameter_values_are_clear_errors(Leaky_cls, kwargs, exc, pattern):
    with pytest.raises(exc, match=pattern):
        Leaky_cls(3, **kwargs)


def test_threshold_must_be_positive():
    class T(tt.Layer):
        def __init__(self, v):
            super().__init__(2)
            self._register_threshold("threshold", v, 1, True)

    with pytest.raises(ValueError, match=r"T: `threshold` must be strictly greater than 0"):
        T(0.0)
    with pytest.raises(ValueError, match="strictly greater than 0"):
        T(torch.tensor([1.0, -1.0]))
    assert torch.allclose(T(1e-3).threshold, torch.full((2,), 1e-3), rtol=1e-4)
    assert torch.allclose(T(50.0).threshold, torch.full((2,), 50.0))


@pytest.mark.parametrize(
    "n,exc", [(0, ValueError), (-2, ValueError), (2.0, TypeError), (True, TypeError), ("3", TypeError)]
)
def test_num_neurons_must_be_a_positive_int(n, exc):
    with pytest.raises(exc, match="num_neurons"):
        tt.Layer(n)


def test_dim_must_be_an_int():
    with pytest.raises(TypeError, match="dim"):
        tt.Layer(3, dim=1.0)


def test_names_cannot_be_registered_twice(Leaky_cls):
    layer = Leaky_cls(3)
    with pytest.raises(ValueError, match="already used"):
        layer._initialize_state("mem")
    with pytest.raises(ValueError, match="already used"):
        layer._register_decay("beta", 0.5)


def test_detach_states_cuts_the_graph_but_keeps_values(Leaky_cls):
    layer = Leaky_cls(3)
    layer(torch.randn(2, 3, requires_grad=True))
    assert layer.mem.requires_grad
    before = layer.mem.detach().clone()
    layer.detach_states()
    assert not layer.mem.requires_grad and torch.equal(layer.mem, before)


def test_zero_states_without_mask_resets_to_none(Leaky_cls):
    layer = Leaky_cls(3)
    layer(torch.randn(2, 3))
    layer.zero_states()
    assert layer.states() == {"mem": None, "trace": None}


def test_masked_zero_states_resets_only_selected_batch_entries(Leaky_cls):
    layer = Leaky_cls(3, dim=-3)
    layer(torch.randn(4, 3, 2, 2))
    before = layer.mem.clone()
    layer.zero_states(torch.tensor([True, False, True, False]))
    assert torch.all(layer.mem[[0, 2]] == 0)
    assert torch.equal(layer.mem[[1, 3]], before[[1, 3]])


@pytest.mark.parametrize(
    "mask,exc",
    [
        (torch.tensor([1, 0, 1]), TypeError),
        ([True, False], TypeError),
        (torch.tensor([[True, False]]), ValueError),
        (torch.tensor([True, False, True]), ValueError),
    ],
)
def test_bad_reset_masks_are_errors_and_change_nothing(Leaky_cls, mask, exc):
    layer = Leaky_cls(3)
    layer(torch.randn(2, 3))
    before = layer.mem.clone()
    with pytest.raises(exc):
        layer.zero_states(mask)
    assert torch.equal(layer.mem, before)


def test_states_follow_dtype_and_device_moves(Leaky_cls):
    layer = Leaky_cls(3)
    layer(torch.randn(2, 3))
    layer.double()
    assert layer.mem.dtype == torch.float64 and layer.raw_beta.dtype == torch.float64
    layer(torch.randn(2, 3, dtype=torch.float64))
    layer.half()
    assert layer.mem.dtype == torch.float16
    layer.to(torch.float32)
    assert layer.mem.dtype == torch.float32
    layer.to("cpu")
    assert layer.mem.device.type == "cpu"


def test_view_param_broadcasts_along_dim(Leaky_cls):
    layer = Leaky_cls(3, dim=1)
    p = torch.tensor([1.0, 2.0, 3.0])
    x = torch.zeros(2, 3, 4, 5)
    assert layer._view_param(p, x).shape == (3, 1, 1)
    assert layer._view_param(torch.tensor(2.0), x).shape == ()


def test_working_dim_round_trip(Leaky_cls):
    layer = Leaky_cls(3, dim=-3)
    x = torch.randn(2, 3, 4, 5)
    w = layer._to_working_dim(x)
    assert w.shape == (2, 4, 5, 3)
    assert torch.equal(layer._from_working_dim(w), x)


def test_layer_forward_sequence_equals_stepping(Leaky_cls):
    a, b = Leaky_cls(3), Leaky_cls(3)
    b.load_state_dict(a.state_dict())
    x = torch.randn(6, 2, 3)
    seq = a.forward_sequence(x)
    steps = torch.stack([b(xt) for xt in x])
    assert torch.equal(seq, steps) and torch.equal(a.mem, b.mem)
    seq1 = a.forward_sequence(x.transpose(0, 1), time_dim=1)
    steps1 = torch.stack([b(xt) for xt in x], 1)
    assert torch.equal(seq1, steps1)


def test_non_finite_input_propagates_by_default_and_is_rejected_when_checking(Leaky_cls):
    layer = Leaky_cls(3)
    layer(torch.ones(2, 3))
    x = torch.tensor([[float("nan"), 0.0, 0.0], [0.0, float("inf"), 0.0]])
    with tt.check_finite():
        before = layer.mem.clone()
        with pytest.raises(ValueError, match="Leaky: the input contains NaN or inf"):
            layer(x)
        assert torch.equal(layer.mem, before)
    assert not tt.is_checking_finite()
    layer(x)  # default: no check, NaN propagates like any PyTorch op
    assert torch.isnan(layer.mem).any()
    tt.check_finite(True)
    try:
        assert tt.is_checking_finite()
    finally:
        tt.check_finite(False)
