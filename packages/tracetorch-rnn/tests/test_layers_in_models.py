"""rnn layers work with any dim and with tt.Model's state management."""

from __future__ import annotations

import copy

import pytest
import torch
import tracetorch as tt
from torch import nn
from tracetorch import rnn

ALL = {
    "SimpleRNN": lambda i, o, dim: rnn.SimpleRNN(i, o, dim=dim),
    "LSTM": lambda i, o, dim: rnn.LSTM(i, o, dim=dim),
    "GRU": lambda i, o, dim: rnn.GRU(i, o, dim=dim),
    "SelectiveSSM": lambda i, o, dim: rnn.SelectiveSSM(i, o, 6, dim=dim),
}
STATES = {"SimpleRNN": ("h",), "LSTM": ("h", "c"), "GRU": ("h",), "SelectiveSSM": ("h",)}


@pytest.mark.parametrize("name", list(ALL))
def test_states_are_created_lazily_with_the_input_dtype_and_layout(name):
    layer = ALL[name](3, 5, -1)
    assert layer.state_names == STATES[name]
    assert all(getattr(layer, s) is None for s in layer.state_names)
    layer.double()
    y = layer(torch.randn(2, 3, dtype=torch.float64))
    assert y.shape == (2, 5) and y.dtype == torch.float64
    width = 6 if name == "SelectiveSSM" else 5
    for s in layer.state_names:
        assert getattr(layer, s).shape == (2, width) and getattr(layer, s).dtype == torch.float64


@pytest.mark.parametrize("name", list(ALL))
def test_dim_minus_3_is_a_per_pixel_recurrent_layer(name):
    torch.manual_seed(0)
    layer = ALL[name](3, 4, -3)
    flat = copy.deepcopy(layer)
    flat.dim = -1
    x = torch.randn(6, 2, 3, 5, 7)  # [T, B, C, H, W]
    with torch.no_grad():
        ys = torch.stack([layer(xt) for xt in x])
        assert ys.shape == (6, 2, 4, 5, 7)
        # the same as an ordinary layer on every pixel as its own batch entry
        pixels = x.permute(0, 1, 3, 4, 2).reshape(6, 2 * 5 * 7, 3)
        ref = torch.stack([flat(xt) for xt in pixels]).reshape(6, 2, 5, 7, 4).permute(0, 1, 4, 2, 3)
    torch.testing.assert_close(ys, ref, rtol=1e-6, atol=1e-6)
    width = 6 if name == "SelectiveSSM" else 4
    for s in layer.state_names:
        assert getattr(layer, s).shape == (2, width, 5, 7)


@pytest.mark.parametrize("dim", [0, 1, -2])
def test_other_feature_axes_work(dim):
    layer = rnn.GRU(3, 4, dim=dim)
    shape = [5, 6]
    shape.insert(dim % 3, 3)
    y = layer(torch.randn(shape))
    shape[dim % 3] = 4
    assert y.shape == tuple(shape) and layer.h.shape == tuple(shape)


class Net(tt.Model):
    def __init__(self, dim: int = -1) -> None:
        super().__init__()
        self.body = nn.ModuleList([rnn.LSTM(3, 4, dim=dim), rnn.GRU(4, 4, dim=dim)])
        self.ssm = rnn.SelectiveSSM(4, 2, 5, dim=dim)
        self.rnn = rnn.SimpleRNN(2, 2, dim=dim)

    def forward(self, x):
        for layer in self.body:
            x = layer(x)
        return self.rnn(self.ssm(x))


@pytest.mark.parametrize("suffix", [".pt", ".safetensors"])
@pytest.mark.parametrize("dim", [-1, -3])
def test_model_save_load_states_round_trip(tmp_path, suffix, dim):
    torch.manual_seed(1)
    net = Net(dim)
    x = torch.randn(5, 2, 3) if dim == -1 else torch.randn(5, 2, 3, 4, 4)
    with torch.no_grad():
        for xt in x[:3]:
            net(xt)
        snap = net.save_states(tmp_path / f"s{suffix}")
        assert set(snap) == {"body.0.h", "body.0.c", "body.1.h", "ssm.h", "rnn.h"}
        expected = [net(xt) for xt in x[3:]]
        net.zero_states()
        net.load_states(tmp_path / f"s{suffix}")
        for xt, want in zip(x[3:], expected):
            torch.testing.assert_close(net(xt), want, rtol=0, atol=0)


def test_model_zero_and_detach_states():
    net = Net()
    x = torch.randn(2, 3, requires_grad=True)
    net(x)
    assert all(s.requires_grad for s in net.save_states().values()) is False  # snapshots are detached
    assert net.body[0].h.requires_grad
    net.detach_states()
    assert not net.body[0].h.requires_grad and not net.body[0].c.requires_grad
    net.zero_states()
    assert net.body[0].h is None and net.ssm.h is None


def test_model_compile_and_decompile_keep_outputs():
    torch.manual_seed(2)
    net = Net()
    x = torch.randn(6, 2, 3)
    before = net.forward_sequence(x).detach()
    net.zero_states()
    raw = net.ssm.raw_scale
    net.TTcompile()
    assert net.ssm.is_compiled and not net.body[0].is_compiled  # nothing constrained in the cells
    with torch.no_grad():
        torch.testing.assert_close(net.forward_sequence(x), before, rtol=1e-6, atol=1e-6)
    net.TTdecompile()
    assert net.ssm.raw_scale is raw
    assert any(p is raw for p in net.parameters())


def test_states_follow_model_to_dtype():
    net = Net()
    net(torch.randn(2, 3))
    net.double()
    assert net.body[0].h.dtype == torch.float64 and net.ssm.h.dtype == torch.float64
    assert net(torch.randn(2, 3, dtype=torch.float64)).dtype == torch.float64


@pytest.mark.parametrize("name", list(ALL))
def test_states_are_never_modified_in_place(name):
    layer = ALL[name](3, 5, -1)
    first = layer(torch.randn(2, 3))
    kept = first.clone()
    states = {s: getattr(layer, s) for s in layer.state_names}
    copies = {s: v.clone() for s, v in states.items()}
    layer(torch.randn(2, 3))
    layer.forward_sequence(torch.randn(4, 2, 3))
    layer.zero_states(torch.tensor([True, False]))
    assert torch.equal(first, kept)
    for s in states:
        assert torch.equal(states[s], copies[s])


@pytest.mark.parametrize("name", list(ALL))
def test_a_training_loop_updates_every_parameter(name):
    torch.manual_seed(4)
    layer = ALL[name](3, 5, -1)
    opt = torch.optim.SGD(layer.parameters(), lr=0.1)
    before = {n: p.detach().clone() for n, p in layer.named_parameters()}
    for _ in range(2):
        layer.zero_states()
        opt.zero_grad()
        loss = sum(layer(xt).square().mean() for xt in torch.randn(4, 2, 3))
        loss.backward()
        opt.step()
    for n, p in layer.named_parameters():
        assert not torch.equal(p, before[n]), n


def test_torch_compile_runs_a_step_without_library_graph_breaks():
    pytest.importorskip("torch._dynamo")
    import torch._dynamo

    for layer in (rnn.LSTM(3, 4), rnn.SelectiveSSM(3, 4, 5)):
        x = torch.randn(2, 3)
        layer(x)  # states exist
        explained = torch._dynamo.explain(layer)(x)
        assert explained.graph_break_count == 0, explained.break_reasons
