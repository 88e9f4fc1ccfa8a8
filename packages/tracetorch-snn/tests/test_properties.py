"""Property tests over shapes and neuron axes (hypothesis)."""

from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from snn_testlib import ALL_LAYERS, activated, make_layer, reference_step, state_names

N = 5


@st.composite
def shape_and_dim(draw):
    ndim = draw(st.integers(1, 4))
    dim = draw(st.integers(-ndim, ndim - 1))
    shape = [draw(st.integers(1, 3)) for _ in range(ndim)]
    shape[dim] = N
    return tuple(shape), dim


@settings(max_examples=25, deadline=None)
@given(name=st.sampled_from(ALL_LAYERS), sd=shape_and_dim(), seed=st.integers(0, 10_000), variant=st.integers(0, 1))
def test_any_shape_and_dim_matches_the_reference_and_sequence_mode(name, sd, seed, variant):
    shape, dim = sd
    layer = make_layer(name, dim=dim, variant=variant, seed=seed)
    twin = make_layer(name, dim=dim, variant=variant, seed=seed)
    gen = torch.Generator().manual_seed(seed)
    xs = torch.randn((4,) + shape, generator=gen) * 1.5
    P = activated(layer)
    ref = {s: torch.zeros(shape) for s in state_names(name)}
    # the reference's parameter view assumes a negative dim
    neg_dim = dim - len(shape) if dim >= 0 else dim
    with torch.no_grad():
        outs = []
        for x in xs:
            out = layer(x)
            r, ref = reference_step(name, x, ref, P, neg_dim)
            torch.testing.assert_close(out, r, rtol=0, atol=1e-6)
            outs.append(out)
        for s in state_names(name):
            assert layer.__dict__[s].shape == shape
            torch.testing.assert_close(layer.__dict__[s], ref[s], rtol=0, atol=1e-6)
        seq = twin.forward_sequence(xs)
    torch.testing.assert_close(seq, torch.stack(outs), rtol=1e-6, atol=1e-6)
