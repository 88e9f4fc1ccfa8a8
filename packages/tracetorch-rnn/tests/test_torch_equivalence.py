"""SimpleRNN, LSTM and GRU compute what torch.nn.RNN/LSTM/GRU compute (to float rounding), from one base."""

from __future__ import annotations

import inspect

import pytest
import torch
from torch import nn
from tracetorch import rnn

STEPS = 50
IN, OUT = 5, 7

KINDS = {
    "rnn_tanh": (rnn.SimpleRNN, nn.RNN, nn.RNNCell, {"nonlinearity": "tanh"}),
    "rnn_relu": (rnn.SimpleRNN, nn.RNN, nn.RNNCell, {"nonlinearity": "relu"}),
    "lstm": (rnn.LSTM, nn.LSTM, nn.LSTMCell, {}),
    "gru": (rnn.GRU, nn.GRU, nn.GRUCell, {}),
}
TOL = {torch.float32: dict(rtol=1e-6, atol=1e-6), torch.float64: dict(rtol=1e-12, atol=1e-12)}
GRAD_TOL = dict(rtol=1e-5, atol=1e-5)


def _torch_states(kind: str, module: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
    out, hx = module(x)
    states = list(hx) if kind == "lstm" else [hx]
    return out, [s[0] for s in states]


def _layer_states(kind: str, layer: rnn.Layer) -> list[torch.Tensor]:
    return [layer.h, layer.c] if kind == "lstm" else [layer.h]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("batch", [1, 16])
@pytest.mark.parametrize("kind", list(KINDS))
def test_stepping_matches_torch_module_outputs_states_and_grads(kind, batch, bias, dtype):
    cls, module_cls, _, extra = KINDS[kind]
    torch.manual_seed(0)
    module = module_cls(IN, OUT, bias=bias, dtype=dtype, **extra)
    layer = cls.from_torch(module)
    x = torch.randn(STEPS, batch, IN, dtype=dtype)
    weights = torch.randn(STEPS, batch, OUT, dtype=dtype)

    ref_out, ref_states = _torch_states(kind, module, x)
    outs = torch.stack([layer(xt) for xt in x])
    torch.testing.assert_close(outs, ref_out, **TOL[dtype])
    for mine, ref in zip(_layer_states(kind, layer), ref_states):
        torch.testing.assert_close(mine, ref, **TOL[dtype])

    (ref_out * weights).sum().backward()
    (outs * weights).sum().backward()
    for name, p in layer.named_parameters():
        torch.testing.assert_close(p.grad, getattr(module, name + "_l0").grad, **GRAD_TOL)


@pytest.mark.parametrize("kind", list(KINDS))
def test_input_gradients_match_torch_module(kind):
    cls, module_cls, _, extra = KINDS[kind]
    torch.manual_seed(1)
    module = module_cls(IN, OUT, **extra)
    layer = cls.from_torch(module)
    x1 = torch.randn(STEPS, 3, IN, requires_grad=True)
    x2 = x1.detach().clone().requires_grad_()
    ref_out, _ = _torch_states(kind, module, x1)
    ref_out.square().sum().backward()
    torch.stack([layer(xt) for xt in x2]).square().sum().backward()
    torch.testing.assert_close(x2.grad, x1.grad, **GRAD_TOL)


@pytest.mark.parametrize("kind", list(KINDS))
def test_same_seed_gives_same_initialisation_as_torch(kind):
    cls, module_cls, cell_cls, extra = KINDS[kind]
    torch.manual_seed(3)
    layer = cls(IN, OUT, **extra)
    torch.manual_seed(3)
    cell = cell_cls(IN, OUT, **extra)
    torch.manual_seed(3)
    module = module_cls(IN, OUT, **extra)
    for name, p in layer.named_parameters():
        assert torch.equal(p, getattr(cell, name))
        assert torch.equal(p, getattr(module, name + "_l0"))


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("kind", list(KINDS))
def test_load_state_dict_from_a_torch_cell_and_step_like_it(kind, bias):
    cls, _, cell_cls, extra = KINDS[kind]
    cell = cell_cls(IN, OUT, bias=bias, **extra)
    layer = cls(IN, OUT, bias=bias, **extra)
    layer.load_state_dict(cell.state_dict())
    assert list(layer.state_dict()) == list(cell.state_dict())
    x = torch.randn(10, 4, IN)
    hx = None
    for xt in x:
        hx = cell(xt, hx)
        out = layer(xt)
    ref = hx[0] if kind == "lstm" else hx
    torch.testing.assert_close(out, ref, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("kind", list(KINDS))
def test_from_torch_step_to_torch_round_trip_is_bit_exact(kind, bias):
    cls, module_cls, cell_cls, extra = KINDS[kind]
    for source in (module_cls(IN, OUT, bias=bias, **extra), cell_cls(IN, OUT, bias=bias, **extra)):
        layer = cls.from_torch(source, dim=-1)
        layer(torch.randn(3, IN))
        back = layer.to_torch()
        assert type(back) is module_cls
        assert back.bias == bias and back.num_layers == 1 and not back.bidirectional
        if kind.startswith("rnn"):
            assert back.nonlinearity == extra["nonlinearity"]
        suffix = "_l0" if isinstance(source, module_cls) else ""
        names = ["weight_ih", "weight_hh"] + (["bias_ih", "bias_hh"] if bias else [])
        assert sorted(n for n, _ in layer.named_parameters()) == sorted(names)
        for name in names:
            original = getattr(source, name + suffix)
            assert torch.equal(getattr(layer, name), original)
            assert torch.equal(getattr(back, name + "_l0"), original)
            assert getattr(layer, name).data_ptr() != original.data_ptr()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_from_torch_keeps_dtype_and_requires_grad(dtype):
    module = nn.LSTM(IN, OUT, dtype=dtype)
    module.weight_hh_l0.requires_grad_(False)
    layer = rnn.LSTM.from_torch(module, dim=-3)
    assert layer.dim == -3
    assert layer.weight_ih.dtype == dtype
    assert not layer.weight_hh.requires_grad and layer.weight_ih.requires_grad
    assert layer.to_torch().weight_ih_l0.dtype == dtype


@pytest.mark.parametrize("kind", list(KINDS))
def test_to_torch_module_runs_the_sequence_like_stepping(kind):
    cls, _, _, extra = KINDS[kind]
    layer = cls(IN, OUT, **extra)
    x = torch.randn(20, 4, IN)
    outs = torch.stack([layer(xt) for xt in x])
    ref, _ = _torch_states(kind, layer.to_torch(batch_first=False), x)
    torch.testing.assert_close(outs, ref, rtol=1e-6, atol=1e-6)
    ref_bf, _ = _torch_states(kind, layer.to_torch(batch_first=True), x.transpose(0, 1))
    torch.testing.assert_close(outs, ref_bf.transpose(0, 1), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: nn.LSTM(IN, OUT, num_layers=2), "num_layers=2"),
        (lambda: nn.LSTM(IN, OUT, bidirectional=True), "bidirectional"),
        (lambda: nn.LSTM(IN, 2 * OUT, proj_size=OUT), "proj_size"),
    ],
)
def test_from_torch_rejects_unsupported_torch_configurations(make, match):
    with pytest.raises(ValueError, match=match):
        rnn.LSTM.from_torch(make())


@pytest.mark.parametrize(
    "cls, module",
    [
        (rnn.LSTM, nn.GRU(IN, OUT)),
        (rnn.GRU, nn.LSTMCell(IN, OUT)),
        (rnn.SimpleRNN, nn.Linear(IN, OUT)),
        (rnn.SimpleRNN, "nn.RNN"),
    ],
)
def test_from_torch_rejects_other_modules_with_type_error(cls, module):
    with pytest.raises(TypeError, match=f"{cls.__name__}.from_torch"):
        cls.from_torch(module)


def test_gru_and_rnn_reject_multilayer_and_bidirectional_modules():
    with pytest.raises(ValueError, match="num_layers=3"):
        rnn.GRU.from_torch(nn.GRU(IN, OUT, num_layers=3))
    with pytest.raises(ValueError, match="bidirectional"):
        rnn.SimpleRNN.from_torch(nn.RNN(IN, OUT, bidirectional=True))


def test_from_torch_reads_the_relu_nonlinearity():
    module = nn.RNN(IN, OUT, nonlinearity="relu")
    layer = rnn.SimpleRNN.from_torch(module)
    assert layer.nonlinearity == "relu"
    assert rnn.SimpleRNN.from_torch(nn.RNNCell(IN, OUT, nonlinearity="relu")).nonlinearity == "relu"
    x = torch.randn(30, 2, IN)
    torch.testing.assert_close(torch.stack([layer(xt) for xt in x]), module(x)[0], rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("kind", list(KINDS))
def test_layers_share_one_base_and_keep_explicit_signatures(kind):
    cls = KINDS[kind][0]
    base = cls.__mro__[1]
    # one forward, one forward_sequence, one from_torch/to_torch: only the ops and state names differ
    for name in ("forward", "forward_sequence", "from_torch", "to_torch"):
        assert name not in cls.__dict__, f"{cls.__name__} redefines {name}"
        assert name in base.__dict__
    assert set(cls.__dict__) & {"_cell_op", "_sequence_op"} == {"_cell_op", "_sequence_op"}
    params = inspect.signature(cls).parameters
    assert not any(p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL) for p in params.values())
    expected = ["in_features", "out_features", "bias"] + (["nonlinearity"] if kind.startswith("rnn") else [])
    assert list(params)[: len(expected)] == expected
    assert {"dim", "batch_first", "device", "dtype"} <= set(params)
    layer = cls(IN, OUT, **KINDS[kind][3])
    assert layer.state_names == (("h", "c") if kind == "lstm" else ("h",))
