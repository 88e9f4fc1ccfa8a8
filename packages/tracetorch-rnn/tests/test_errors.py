"""Wrong arguments and inputs raise TypeError/ValueError naming the layer and the fix."""

from __future__ import annotations

import pytest
import torch
from tracetorch import rnn


@pytest.mark.parametrize("cls", [rnn.SimpleRNN, rnn.LSTM, rnn.GRU])
def test_constructor_checks_types_and_values(cls):
    with pytest.raises(TypeError, match=f"{cls.__name__}.*in_features"):
        cls(3.0, 4)
    with pytest.raises(ValueError, match=f"{cls.__name__}.*out_features"):
        cls(3, 0)
    with pytest.raises(TypeError, match=f"{cls.__name__}.*bias"):
        cls(3, 4, bias=1)
    with pytest.raises(TypeError, match=f"{cls.__name__}.*dim"):
        cls(3, 4, dim="last")
    with pytest.raises(TypeError):
        cls(3, 4, True)  # bias is keyword-only


def test_simple_rnn_checks_the_nonlinearity():
    with pytest.raises(ValueError, match="SimpleRNN.*'tanh' or 'relu'.*'sigmoid'"):
        rnn.SimpleRNN(3, 4, nonlinearity="sigmoid")
    with pytest.raises(TypeError, match="SimpleRNN.*nonlinearity"):
        rnn.SimpleRNN(3, 4, nonlinearity=torch.tanh)


@pytest.mark.parametrize("layer", [rnn.LSTM(3, 4), rnn.GRU(3, 4), rnn.SimpleRNN(3, 4), rnn.SelectiveSSM(3, 4, 2)])
def test_inputs_are_checked_before_anything_changes(layer):
    name = type(layer).__name__
    with pytest.raises(ValueError, match=f"{name}: expected 3 features along dim=-1"):
        layer(torch.randn(2, 4))
    with pytest.raises(TypeError, match=f"{name}.*floating"):
        layer(torch.ones(2, 3, dtype=torch.int64))
    assert all(getattr(layer, s) is None for s in layer.state_names)
    layer(torch.randn(2, 3))
    with pytest.raises(ValueError, match="zero_states"):
        layer(torch.randn(5, 3))
    layer.zero_states()
    assert layer(torch.randn(5, 3)).shape == (5, 4)


def test_dim_out_of_range_is_a_value_error():
    layer = rnn.LSTM(3, 4, dim=-3)
    with pytest.raises(ValueError, match="LSTM: dim=-3 is out of range"):
        layer(torch.randn(2, 3))


def test_repr_shows_the_configuration():
    assert repr(rnn.LSTM(3, 4, bias=False, dim=-3)) == "LSTM(in_features=3, out_features=4, dim=-3, bias=False)"
    assert "nonlinearity='relu'" in repr(rnn.SimpleRNN(3, 4, nonlinearity="relu"))
    assert "hidden_features=2" in repr(rnn.SelectiveSSM(3, 4, 2))


def test_public_api_is_exported():
    assert set(rnn.__all__) >= {"Layer", "SimpleRNN", "LSTM", "GRU", "SelectiveSSM"}
    for name in rnn.__all__:
        obj = getattr(rnn, name)
        assert obj.__doc__ and len(obj.__doc__) > 40, name
    assert issubclass(rnn.LSTM, rnn.Layer) and issubclass(rnn.SelectiveSSM, rnn.Layer)
    import tracetorch as tt

    assert tt.rnn is rnn and issubclass(rnn.Layer, tt.Layer)


def test_base_layer_example_widths():
    class Sum(rnn.Layer):
        def __init__(self):
            super().__init__(2, 3)
            self._initialize_state("h")

        def forward(self, x):
            self._ensure_states(x)
            return self.h

    layer = Sum()
    assert layer.num_neurons == 3 and layer.in_features == 2
    assert layer(torch.randn(4, 2)).shape == (4, 3)
    with pytest.raises(ValueError, match="state_features"):
        rnn.Layer(2, 3, state_features=0)
