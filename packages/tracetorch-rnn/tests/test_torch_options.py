"""Every option of nn.RNN/LSTM/GRU is either carried over by from_torch/to_torch or refused.

Converted options are checked against the torch module itself on the same data, in both
layouts (batch-first and time-first); refused ones must raise a clear error and leave the
module untouched.
"""

from __future__ import annotations

import copy
import warnings

import pytest
import torch
import tracetorch as tt
from torch import nn
from tracetorch import rnn

IN, OUT, STEPS, BATCH = 5, 7, 12, 3

KINDS = {
    "rnn_tanh": (rnn.SimpleRNN, nn.RNN, nn.RNNCell, {"nonlinearity": "tanh"}),
    "rnn_relu": (rnn.SimpleRNN, nn.RNN, nn.RNNCell, {"nonlinearity": "relu"}),
    "lstm": (rnn.LSTM, nn.LSTM, nn.LSTMCell, {}),
    "gru": (rnn.GRU, nn.GRU, nn.GRUCell, {}),
}
TOL = {torch.float32: dict(rtol=1e-6, atol=1e-6), torch.float64: dict(rtol=1e-12, atol=1e-12)}


def _reference(kind: str, module: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """The torch module's outputs and final states (the layer of index 0, batch-major)."""
    with torch.no_grad():
        out, hx = module(x)
    states = list(hx) if kind == "lstm" else [hx]
    return out, [s[0] for s in states]


def _states(layer: rnn.Layer) -> list[torch.Tensor]:
    return [getattr(layer, n) for n in layer.state_names]


def _assert_matches(kind, layer, module, x, dtype=torch.float32, **seq_kwargs):
    ref_out, ref_states = _reference(kind, module, x)
    with torch.no_grad():
        out = layer.forward_sequence(x, **seq_kwargs)
    torch.testing.assert_close(out, ref_out, **TOL[dtype])
    for mine, ref in zip(_states(layer), ref_states):
        torch.testing.assert_close(mine, ref, **TOL[dtype])


def _snapshot(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in module.state_dict().items()}


def _unchanged(module: nn.Module, before: dict[str, torch.Tensor]) -> bool:
    after = module.state_dict()
    return list(after) == list(before) and all(torch.equal(after[k], before[k]) for k in before)


# ---------------------------------------------------------------------------- batch_first


@pytest.mark.parametrize("kind", list(KINDS))
def test_from_torch_carries_batch_first_and_forward_sequence_matches_the_module(kind):
    cls, module_cls, _, extra = KINDS[kind]
    torch.manual_seed(0)
    module = module_cls(IN, OUT, batch_first=True, **extra)
    layer = cls.from_torch(module)
    assert layer.batch_first is True
    assert "batch_first=True" in repr(layer)
    x = torch.randn(BATCH, STEPS, IN)  # [B, T, F], the module's layout
    _assert_matches(kind, layer, module, x)


@pytest.mark.parametrize("kind", list(KINDS))
def test_batch_first_layer_still_takes_time_first_data_with_an_explicit_time_dim(kind):
    cls, module_cls, _, extra = KINDS[kind]
    torch.manual_seed(1)
    module = module_cls(IN, OUT, batch_first=True, **extra)
    layer = cls.from_torch(module)
    x_bf = torch.randn(BATCH, STEPS, IN)
    ref_out, ref_states = _reference(kind, module, x_bf)
    with torch.no_grad():
        out = layer.forward_sequence(x_bf.transpose(0, 1), time_dim=0)
    torch.testing.assert_close(out, ref_out.transpose(0, 1), **TOL[torch.float32])
    for mine, ref in zip(_states(layer), ref_states):
        torch.testing.assert_close(mine, ref, **TOL[torch.float32])


@pytest.mark.parametrize("kind", list(KINDS))
def test_time_first_module_gives_a_time_first_layer_that_matches_it(kind):
    cls, module_cls, _, extra = KINDS[kind]
    torch.manual_seed(2)
    module = module_cls(IN, OUT, **extra)
    layer = cls.from_torch(module)
    assert layer.batch_first is False
    assert "batch_first" not in repr(layer)
    _assert_matches(kind, layer, module, torch.randn(STEPS, BATCH, IN))


@pytest.mark.parametrize("kind", list(KINDS))
def test_stepping_a_batch_first_conversion_matches_the_module(kind):
    cls, module_cls, _, extra = KINDS[kind]
    torch.manual_seed(3)
    module = module_cls(IN, OUT, batch_first=True, **extra)
    layer = cls.from_torch(module)
    x = torch.randn(BATCH, STEPS, IN)
    ref_out, ref_states = _reference(kind, module, x)
    with torch.no_grad():
        out = torch.stack([layer(x[:, t]) for t in range(STEPS)], dim=1)
    torch.testing.assert_close(out, ref_out, **TOL[torch.float32])
    for mine, ref in zip(_states(layer), ref_states):
        torch.testing.assert_close(mine, ref, **TOL[torch.float32])


def test_batch_first_per_pixel_layer_reads_batch_time_channels_height_width():
    torch.manual_seed(4)
    module = nn.LSTM(IN, OUT, batch_first=True)
    layer = rnn.LSTM.from_torch(module, dim=-3)
    x = torch.randn(2, STEPS, IN, 3, 4)  # [B, T, C, H, W]
    with torch.no_grad():
        out = layer.forward_sequence(x)
        # every pixel is its own sequence: fold H, W into the batch for the torch module
        pixels = x.permute(0, 3, 4, 1, 2).reshape(2 * 3 * 4, STEPS, IN)
        ref, _ = module(pixels)
    ref = ref.reshape(2, 3, 4, STEPS, OUT).permute(0, 3, 4, 1, 2)
    assert out.shape == (2, STEPS, OUT, 3, 4)
    torch.testing.assert_close(out, ref, **TOL[torch.float32])


def test_sequential_passes_its_time_dim_to_a_batch_first_layer():
    torch.manual_seed(5)
    module = nn.GRU(IN, OUT, batch_first=True)
    head = nn.Linear(OUT, 2)
    net = tt.Sequential(rnn.GRU.from_torch(module), head)
    x = torch.randn(BATCH, STEPS, IN)
    with torch.no_grad():
        ref = head(module(x)[0])
        out_bf = net.forward_sequence(x, time_dim=1)
        net.zero_states()
        out_tf = net.forward_sequence(x.transpose(0, 1), time_dim=0)
    torch.testing.assert_close(out_bf, ref, **TOL[torch.float32])
    torch.testing.assert_close(out_tf, ref.transpose(0, 1), **TOL[torch.float32])


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("batch_first", [False, True])
def test_to_torch_keeps_the_layers_layout_and_matches_it(kind, batch_first):
    cls, module_cls, _, extra = KINDS[kind]
    torch.manual_seed(6)
    layer = cls(IN, OUT, batch_first=batch_first, **extra)
    back = layer.to_torch()
    assert type(back) is module_cls and back.batch_first is batch_first
    x = torch.randn(BATCH, STEPS, IN) if batch_first else torch.randn(STEPS, BATCH, IN)
    _assert_matches(kind, copy.deepcopy(layer), back, x)
    assert cls.from_torch(back).batch_first is batch_first
    # an explicit argument still wins
    assert layer.to_torch(batch_first=not batch_first).batch_first is (not batch_first)


def test_batch_first_must_be_a_bool():
    with pytest.raises(TypeError, match="LSTM: `batch_first` must be a bool"):
        rnn.LSTM(IN, OUT, batch_first=1)
    layer = rnn.GRU(IN, OUT)
    with pytest.raises(TypeError, match="GRU.to_torch: `batch_first` must be a bool"):
        layer.to_torch(batch_first="yes")


def test_cells_convert_to_time_first_layers():
    cells = ((rnn.LSTM, nn.LSTMCell), (rnn.GRU, nn.GRUCell), (rnn.SimpleRNN, nn.RNNCell))
    for cls, cell_cls in cells:
        assert cls.from_torch(cell_cls(IN, OUT)).batch_first is False


# ---------------------------------------------------------------------------- other options


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("kind", list(KINDS))
def test_bias_false_and_nonlinearity_are_carried_over(kind, batch_first):
    cls, module_cls, _, extra = KINDS[kind]
    torch.manual_seed(7)
    module = module_cls(IN, OUT, bias=False, batch_first=batch_first, **extra)
    layer = cls.from_torch(module)
    assert layer.bias is False and layer.bias_ih is None and layer.bias_hh is None
    if "nonlinearity" in extra:
        assert layer.nonlinearity == extra["nonlinearity"]
    x = torch.randn(BATCH, STEPS, IN) if batch_first else torch.randn(STEPS, BATCH, IN)
    _assert_matches(kind, layer, module, x)


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("kind", list(KINDS))
def test_float64_modules_convert_to_float64_layers_that_match(kind, batch_first):
    cls, module_cls, _, extra = KINDS[kind]
    torch.manual_seed(8)
    module = module_cls(IN, OUT, batch_first=batch_first, dtype=torch.float64, **extra)
    layer = cls.from_torch(module)
    assert all(p.dtype == torch.float64 for p in layer.parameters())
    shape = (BATCH, STEPS, IN) if batch_first else (STEPS, BATCH, IN)
    _assert_matches(kind, layer, module, torch.randn(shape, dtype=torch.float64), dtype=torch.float64)


def test_meta_device_is_carried_over():
    layer = rnn.LSTM.from_torch(nn.LSTM(IN, OUT, device="meta"))
    assert all(p.device.type == "meta" for p in layer.parameters())


@pytest.mark.parametrize("kind", list(KINDS))
def test_dropout_of_a_single_layer_module_has_no_effect_and_is_accepted(kind):
    cls, module_cls, _, extra = KINDS[kind]
    torch.manual_seed(9)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # torch warns that dropout needs num_layers > 1
        module = module_cls(IN, OUT, dropout=0.5, batch_first=True, **extra)
    module.train()
    layer = cls.from_torch(module)
    layer.train()
    _assert_matches(kind, layer, module, torch.randn(BATCH, STEPS, IN))


REFUSED = [
    (rnn.SimpleRNN, lambda: nn.RNN(IN, OUT, num_layers=2), "num_layers=2.*weight_ih_l\\{k\\}"),
    (rnn.LSTM, lambda: nn.LSTM(IN, OUT, num_layers=2, dropout=0.3), "num_layers=2.*dropout"),
    (rnn.GRU, lambda: nn.GRU(IN, OUT, num_layers=3, batch_first=True), "num_layers=3"),
    (rnn.SimpleRNN, lambda: nn.RNN(IN, OUT, bidirectional=True), "bidirectional=True"),
    (rnn.LSTM, lambda: nn.LSTM(IN, OUT, bidirectional=True, batch_first=True), "bidirectional=True"),
    (rnn.GRU, lambda: nn.GRU(IN, OUT, bidirectional=True), "bidirectional=True"),
    (rnn.LSTM, lambda: nn.LSTM(IN, 2 * OUT, proj_size=OUT), "proj_size=7.*nn.Linear"),
]


@pytest.mark.parametrize("cls, make, match", REFUSED)
def test_options_that_cannot_be_carried_over_are_refused_and_change_nothing(cls, make, match):
    torch.manual_seed(10)
    module = make()
    before = _snapshot(module)
    with pytest.raises(ValueError, match=match):
        cls.from_torch(module)
    assert _unchanged(module, before)


def test_weights_of_mixed_dtypes_are_refused_and_change_nothing():
    module = nn.GRU(IN, OUT)
    module.weight_hh_l0.data = module.weight_hh_l0.data.double()
    before = _snapshot(module)
    with pytest.raises(ValueError, match="GRU.from_torch: the module's weights differ.*weight_hh_l0: torch.float64"):
        rnn.GRU.from_torch(module)
    assert _unchanged(module, before)
