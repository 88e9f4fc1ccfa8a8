"""Property tests over widths, shapes, feature axes and sequence lengths."""

from __future__ import annotations

import copy

import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from tracetorch import rnn

KINDS = ["SimpleRNN", "LSTM", "GRU", "SelectiveSSM"]


def build(kind: str, i: int, o: int, hidden: int, dim: int) -> rnn.Layer:
    if kind == "SelectiveSSM":
        return rnn.SelectiveSSM(i, o, hidden, dim=dim)
    return getattr(rnn, kind)(i, o, dim=dim)


@st.composite
def configurations(draw):
    kind = draw(st.sampled_from(KINDS))
    i, o, hidden = draw(st.integers(1, 5)), draw(st.integers(1, 5)), draw(st.integers(1, 5))
    other = draw(st.lists(st.integers(1, 3), min_size=0, max_size=3))  # batch/spatial axes
    pos = draw(st.integers(0, len(other)))
    negative = draw(st.booleans())
    ndim = len(other) + 1
    dim = pos - ndim if negative else pos
    steps = draw(st.integers(1, 6))
    return kind, i, o, hidden, other, pos, dim, steps


@settings(max_examples=40, deadline=None)
@given(configurations())
def test_any_shape_and_dim_gives_the_right_shapes_and_sequence_equals_stepping(cfg):
    kind, i, o, hidden, other, pos, dim, steps = cfg
    torch.manual_seed(0)
    layer = build(kind, i, o, hidden, dim)
    seq = copy.deepcopy(layer)
    step_shape = list(other)
    step_shape.insert(pos, i)
    x = torch.randn([steps] + step_shape)
    with torch.no_grad():
        ys = torch.stack([layer(xt) for xt in x])
        yq = seq.forward_sequence(x)
    out_shape = list(other)
    out_shape.insert(pos, o)
    assert ys.shape == (steps, *out_shape)
    torch.testing.assert_close(yq, ys, rtol=1e-6, atol=1e-6)
    width = hidden if kind == "SelectiveSSM" else o
    state_shape = list(other)
    state_shape.insert(pos, width)
    for name in layer.state_names:
        assert getattr(layer, name).shape == tuple(state_shape)
        torch.testing.assert_close(getattr(seq, name), getattr(layer, name), rtol=1e-6, atol=1e-6)


@settings(max_examples=25, deadline=None)
@given(
    kind=st.sampled_from(["SimpleRNN", "LSTM", "GRU"]),
    i=st.integers(1, 6),
    o=st.integers(1, 6),
    bias=st.booleans(),
    batch=st.integers(1, 4),
)
def test_round_trip_through_torch_is_bit_exact_for_any_width(kind, i, o, bias, batch):
    layer = getattr(rnn, kind)(i, o, bias=bias)
    back = type(layer).from_torch(layer.to_torch())
    for (n1, p1), (n2, p2) in zip(layer.named_parameters(), back.named_parameters()):
        assert n1 == n2 and torch.equal(p1, p2)
    x = torch.randn(3, batch, i)
    with torch.no_grad():
        assert torch.equal(layer.forward_sequence(x), back.forward_sequence(x))
