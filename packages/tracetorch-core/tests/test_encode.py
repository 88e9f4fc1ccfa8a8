"""tt.encode: shapes, dtypes, seeding, bad input, and agreement with snnTorch's spikegen."""

from __future__ import annotations

import pytest
import torch
import tracetorch as tt
from hypothesis import given, settings
from hypothesis import strategies as st


@settings(max_examples=25, deadline=None)
@given(shape=st.lists(st.integers(1, 4), min_size=0, max_size=4), steps=st.integers(1, 6))
def test_rate_and_direct_put_time_first_for_any_shape(shape, steps):
    x = torch.rand(shape)
    s = tt.encode.rate(x, steps)
    assert s.shape == (steps, *shape)
    assert set(s.unique().tolist()) <= {0.0, 1.0}
    d = tt.encode.direct(x, steps)
    assert d.shape == (steps, *shape) and torch.equal(d[-1], x)


def test_rate_extremes_and_statistics():
    x = torch.tensor([0.0, 1.0, 0.25])
    s = tt.encode.rate(x, 20000, generator=torch.Generator().manual_seed(1))
    assert s[:, 0].sum() == 0 and s[:, 1].sum() == 20000
    assert abs(float(s[:, 2].mean()) - 0.25) < 0.015


def test_rate_is_reproducible_with_a_generator_and_keeps_dtype():
    x = torch.rand(3, 5, dtype=torch.float64)
    a = tt.encode.rate(x, 7, generator=torch.Generator().manual_seed(3))
    b = tt.encode.rate(x, 7, generator=torch.Generator().manual_seed(3))
    c = tt.encode.rate(x, 7, generator=torch.Generator().manual_seed(4))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.dtype == torch.float64
    assert tt.encode.rate(x, 2, dtype=torch.float16).dtype == torch.float16


def test_rate_accepts_integer_pixels_with_a_gain_and_time_major_data():
    pixels = torch.tensor([[0, 255], [255, 0]], dtype=torch.uint8)
    s = tt.encode.rate(pixels, 4, gain=1 / 255)
    assert s.dtype == torch.get_default_dtype()
    assert torch.equal(s, pixels.bool().float().expand(4, 2, 2))
    probs = torch.tensor([[0.0, 1.0], [1.0, 0.0]])  # already [T, N]
    assert torch.equal(tt.encode.rate(probs, None), probs)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(data=torch.tensor([-0.1, 0.5]), num_steps=3), r"\[0, 1\].*-0\.1"),
        (dict(data=torch.tensor([0.5, 1.5]), num_steps=3), r"\[0, 1\].*1\.5"),
        (dict(data=torch.tensor([float("nan")]), num_steps=3), r"\[0, 1\]"),
        (dict(data=torch.tensor([0.5]), num_steps=0), "num_steps.*>= 1"),
        (dict(data=torch.rand(3, 4) * 255, num_steps=3), "images / 255"),
    ],
)
def test_rate_bad_input_is_a_clear_error(kwargs, match):
    with pytest.raises(ValueError, match=match):
        tt.encode.rate(**kwargs)


def test_rate_clamp_and_type_errors():
    s = tt.encode.rate(torch.tensor([-3.0, 7.0]), 5, clamp=True)
    assert s[:, 0].sum() == 0 and s[:, 1].sum() == 5
    with pytest.raises(TypeError, match="must be a torch.Tensor"):
        tt.encode.rate([0.5], 3)
    with pytest.raises(TypeError, match="num_steps"):
        tt.encode.rate(torch.rand(2), 2.0)
    with pytest.raises(TypeError, match="num_steps"):
        tt.encode.direct(torch.rand(2), True)
    with pytest.raises(ValueError, match="num_steps"):
        tt.encode.direct(torch.rand(2), 0)


def test_latency_fires_once_earlier_for_larger_values():
    x = torch.tensor([0.02, 0.5, 1.0])
    s = tt.encode.latency(x, 5, linear=True, normalize=True)
    assert torch.equal(s.sum(0), torch.ones(3))
    assert s.argmax(0).tolist() == [4, 2, 0]
    log = tt.encode.latency(torch.tensor([0.005, 0.3, 1.0]), 25, normalize=True)
    first = log.argmax(0).tolist()
    assert first[0] == 24 and first[0] > first[1] >= first[2]
    clipped = tt.encode.latency(torch.tensor([0.005, 0.3]), 25, normalize=True, clip=True)
    assert clipped[:, 0].sum() == 0 and clipped[:, 1].sum() == 1


def test_latency_bad_input_is_a_clear_error():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        tt.encode.latency(torch.tensor([1.2]), 5)
    with pytest.raises(ValueError, match="beyond the last step.*normalize=True"):
        tt.encode.latency(torch.tensor([0.001]), 5, tau=5.0)
    with pytest.raises(ValueError, match="tau"):
        tt.encode.latency(torch.tensor([0.5]), 5, tau=0.0)
    with pytest.raises(ValueError, match="threshold"):
        tt.encode.latency(torch.tensor([0.5]), 5, threshold=1.0)
    with pytest.raises(ValueError, match="first_spike_time"):
        tt.encode.latency(torch.tensor([0.5]), 5, first_spike_time=5)
    with pytest.raises(ValueError, match="num_steps"):
        tt.encode.latency(torch.tensor([0.5]), 0)


def test_delta_on_and_off_spikes():
    x = torch.tensor([1.0, 2.0, 0.0, 2.0, 2.9])
    assert tt.encode.delta(x, 1.0, off_spike=True).tolist() == [1.0, 1.0, -1.0, 1.0, 0.0]
    assert tt.encode.delta(x, 1.0, padding=True, off_spike=True).tolist() == [0.0, 1.0, -1.0, 1.0, 0.0]
    assert tt.encode.delta(x, 1.0).tolist() == [1.0, 1.0, 0.0, 1.0, 0.0]
    with pytest.raises(ValueError, match=r"time-major \[T, \.\.\.\]"):
        tt.encode.delta(torch.tensor(1.0))


def test_direct_is_a_view_with_gradient():
    x = torch.rand(2, 3, requires_grad=True)
    tt.encode.direct(x, 4).sum().backward()
    assert torch.equal(x.grad, torch.full((2, 3), 4.0))


# ---------------------------------------------------------------------------- against snnTorch
@pytest.fixture()
def spikegen():
    return pytest.importorskip("snntorch.spikegen")


@pytest.mark.parametrize("shape", [(6,), (4, 7), (2, 3, 5)])
@pytest.mark.parametrize("gain, offset", [(1.0, 0.0), (0.5, 0.25)])
def test_rate_equals_snntorch_under_the_same_seed(spikegen, shape, gain, offset):
    x = torch.rand(shape)
    torch.manual_seed(11)
    ours = tt.encode.rate(x, 9, gain=gain, offset=offset)
    torch.manual_seed(11)
    theirs = spikegen.rate(x, num_steps=9, gain=gain, offset=offset)
    assert torch.equal(ours, theirs)
    torch.manual_seed(5)
    ours_tv = tt.encode.rate(x, None)  # time-varying: the data's first axis is time
    torch.manual_seed(5)
    assert torch.equal(ours_tv, spikegen.rate(x, time_var_input=True))


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(),
        dict(normalize=True),
        dict(linear=True, normalize=True),
        dict(linear=True, tau=5.0),
        dict(tau=0.5, threshold=0.05),
        dict(normalize=True, clip=True),
        dict(linear=True, normalize=True, clip=True, threshold=0.2),
        dict(first_spike_time=3, normalize=True),
        dict(first_spike_time=2, linear=True, tau=4.0),
    ],
)
def test_latency_equals_snntorch(spikegen, kwargs):
    x = torch.rand(4, 30)
    x[0, :3] = torch.tensor([0.0, 1.0, 0.01])
    ours = tt.encode.latency(x, 25, **kwargs)
    theirs = spikegen.latency(x, num_steps=25, **kwargs)
    assert torch.equal(ours, theirs)


@pytest.mark.parametrize("padding", [False, True])
@pytest.mark.parametrize("off_spike", [False, True])
def test_delta_equals_snntorch(spikegen, padding, off_spike):
    x = torch.randn(12, 3, 5)
    ours = tt.encode.delta(x, 0.4, padding=padding, off_spike=off_spike)
    theirs = spikegen.delta(x, threshold=0.4, padding=padding, off_spike=off_spike)
    assert torch.equal(ours, theirs)
