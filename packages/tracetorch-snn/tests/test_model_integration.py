"""The layers with tt.Model: compile round trips, save/load, masked reset."""

from __future__ import annotations

import copy
import pickle

import pytest
import torch
import tracetorch as tt
from snn_testlib import ALL_LAYERS, LAYOUTS, inputs, make_layer
from torch import nn
from tracetorch import snn


@pytest.mark.parametrize("name", ALL_LAYERS)
def test_compile_round_trip_is_exact(name):
    shape, dim = LAYOUTS["conv"]
    layer = make_layer(name, dim=dim, variant=1)
    xs = inputs(shape, 8, seed=2)
    with torch.no_grad():
        ref = torch.stack([layer(x) for x in xs])
        raws = {k: v for k, v in layer.named_parameters()}
        layer.zero_states()
        layer.TTcompile()
        layer.TTcompile()
        assert layer.is_compiled
        comp = torch.stack([layer(x) for x in xs])
        layer.zero_states()
        layer.TTdecompile()
        assert not layer.is_compiled
        back = torch.stack([layer(x) for x in xs])
    torch.testing.assert_close(comp, ref, rtol=0, atol=1e-6)
    torch.testing.assert_close(back, ref, rtol=0, atol=1e-6)
    for k, v in layer.named_parameters():
        assert raws[k] is v


@pytest.mark.parametrize("name", ["LIB", "DSRLITS", "SLIEMA", "DRLIT"])
def test_model_save_load_round_trip(name, tmp_path):
    class Net(tt.Model):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 5)
            self.blocks = nn.ModuleList([make_layer(name), make_layer(name, seed=1)])

        def forward(self, x):
            h = self.fc(x)
            for b in self.blocks:
                h = b(h)
            return h

    torch.manual_seed(0)
    net = Net()
    xs = torch.randn(10, 3, 4)
    with torch.no_grad():
        for x in xs[:5]:
            net(x)
        path = tmp_path / "s.safetensors"
        snap = net.save_states(path)
        assert set(snap) == {f"blocks.{i}.{s}" for i in (0, 1) for s in net.blocks[0].state_names}
        ref = [net(x) for x in xs[5:]]
        net.zero_states()
        net.load_states(path)
        again = [net(x) for x in xs[5:]]
    for a, b in zip(ref, again):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


@pytest.mark.parametrize("name", ["LIB", "DSRLITS", "DSLI"])
@pytest.mark.parametrize("layout", ["mlp", "conv"])
def test_masked_reset_equals_resetting_by_hand_in_step_and_sequence_mode(name, layout):
    shape, dim = LAYOUTS[layout]
    xs = inputs(shape, 10, seed=4)
    mask = torch.tensor([True, False] + [True] * (shape[0] - 2))
    a = make_layer(name, dim=dim)
    b = make_layer(name, dim=dim)
    with torch.no_grad():
        for x in xs[:4]:
            a(x)
            b(x)
        a.zero_states(mask)
        for s in b.state_names:
            v = b.__dict__[s].clone()
            v[mask] = 0
            b.__dict__[s] = v
        ya = a.forward_sequence(xs[4:])
        yb = torch.stack([b(x) for x in xs[4:]])
    torch.testing.assert_close(ya, yb, rtol=0, atol=1e-6)
    for s in a.state_names:
        torch.testing.assert_close(a.__dict__[s], b.__dict__[s], rtol=0, atol=1e-6)
    m = tt.Model()
    m.layer = a
    m.zero_states(~mask)
    for s in a.state_names:
        assert (a.__dict__[s][~mask] == 0).all()


def test_layers_deepcopy_pickle_and_move_dtype():
    layer = snn.SRLIT(4, spike_fn="heaviside_atan", quant_fn="round")
    layer(torch.randn(2, 4))
    layer.detach_states()  # states that carry a graph cannot be deep-copied (torch rule)
    clone = copy.deepcopy(layer)
    restored = pickle.loads(pickle.dumps(layer))
    x = torch.randn(2, 4)
    out = layer(x)
    torch.testing.assert_close(clone(x), out)
    torch.testing.assert_close(restored(x), out)
    layer.double()
    assert layer.mem.dtype == torch.float64 and layer.raw_beta.dtype == torch.float64
    assert layer(x.double()).dtype == torch.float64


def test_sequential_runs_layers_through_their_sequence_mode():
    torch.manual_seed(0)
    net = tt.Sequential(nn.Linear(6, 5), make_layer("SLIB"), nn.Linear(5, 5), make_layer("DLI"))
    xs = torch.randn(12, 3, 6)
    ys = net.forward_sequence(xs)
    net.zero_states()
    steps = torch.stack([net(x) for x in xs])
    torch.testing.assert_close(ys, steps, rtol=1e-6, atol=1e-6)
