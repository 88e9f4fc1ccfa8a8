"""Property-based fuzzing over layer type × shape × dim × dtype.

Invariants checked for every drawn case:

* a whole sequence through ``forward_sequence`` equals stepping (outputs and states);
* save → zero → load restores exactly the next step's output;
* a masked reset equals zeroing those batch entries by hand.
"""

from __future__ import annotations

import torch
import tracetorch as tt
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tracetorch import rnn, snn

SPIKING = sorted(
    n
    for n in snn.__all__
    if isinstance(getattr(snn, n), type) and issubclass(getattr(snn, n), snn.Layer) and n not in ("Layer", "LeakyLayer")
)
RECURRENT = ["SimpleRNN", "LSTM", "GRU", "SelectiveSSM"]


def build(name: str, n: int, dim: int, seed: int) -> tt.Layer:
    torch.manual_seed(seed)
    if name in RECURRENT:
        cls = getattr(rnn, name)
        return cls(n, n, 3, dim=dim) if name == "SelectiveSSM" else cls(n, n, dim=dim)
    cls = getattr(snn, name)
    if cls.config.spiking:
        return cls(n, dim=dim, spike_fn="heaviside_atan")
    return cls(n, dim=dim)


@st.composite
def cases(draw):
    name = draw(st.sampled_from(SPIKING + RECURRENT))
    n = draw(st.integers(1, 5))
    batch = draw(st.integers(1, 3))
    extra = draw(st.lists(st.integers(1, 3), min_size=0, max_size=2))
    axis = draw(st.integers(1, 1 + len(extra)))  # neurons anywhere after the batch axis
    shape = [batch] + extra
    shape.insert(axis, n)
    dim = draw(st.sampled_from([axis, axis - len(shape)]))
    dtype = draw(st.sampled_from([torch.float32, torch.float64]))
    steps = draw(st.integers(1, 7))
    seed = draw(st.integers(0, 2**16))
    return name, n, tuple(shape), dim, dtype, steps, seed


def twins(name, n, dim, dtype, seed):
    a = build(name, n, dim, seed).to(dtype)
    b = build(name, n, dim, seed).to(dtype)
    b.load_state_dict(a.state_dict())
    return a, b


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=cases())
def test_sequence_equals_stepping_for_any_layer_shape_dim_and_dtype(case):
    name, n, shape, dim, dtype, steps, seed = case
    a, b = twins(name, n, dim, dtype, seed)
    xs = torch.randn((steps,) + shape, dtype=dtype, generator=torch.Generator().manual_seed(seed)) * 2
    seq = a.forward_sequence(xs)
    stepped = torch.stack([b(x) for x in xs])
    tol = 1e-5 if dtype == torch.float32 else 1e-10
    assert seq.shape == stepped.shape
    assert torch.allclose(seq, stepped, atol=tol, rtol=tol)
    for (k, s1), (_, s2) in zip(a.states().items(), b.states().items()):
        assert s1.dtype == dtype and torch.allclose(s1, s2, atol=tol, rtol=tol), k


@settings(max_examples=40, deadline=None)
@given(case=cases())
def test_save_zero_load_restores_the_next_step_exactly(case):
    name, n, shape, dim, dtype, steps, seed = case
    model = tt.Sequential(build(name, n, dim, seed)).to(dtype)
    g = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        model(torch.randn(shape, dtype=dtype, generator=g))
    x = torch.randn(shape, dtype=dtype, generator=g)
    snap = model.save_states()
    expected = model(x)
    model.zero_states()
    model.load_states(snap)
    assert torch.equal(model(x), expected)


@settings(max_examples=40, deadline=None)
@given(case=cases(), mask_bits=st.lists(st.booleans(), min_size=3, max_size=3))
def test_masked_reset_equals_zeroing_by_hand(case, mask_bits):
    name, n, shape, dim, dtype, steps, seed = case
    a, b = twins(name, n, dim, dtype, seed)
    g = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        x = torch.randn(shape, dtype=dtype, generator=g)
        a(x)
        b(x)
    mask = torch.tensor(mask_bits[: shape[0]])
    a.zero_states(mask)
    for key, s in b.states().items():
        zeroed = s.clone()  # same memory layout as the state (a permuted rnn state stays permuted)
        zeroed[mask] = 0
        b.__dict__[key] = zeroed
    x = torch.randn(shape, dtype=dtype, generator=g)
    assert torch.equal(a(x), b(x))
