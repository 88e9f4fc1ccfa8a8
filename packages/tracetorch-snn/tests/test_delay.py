"""snn.Delay: per-neuron integer delays held in a delay line managed like every state."""

from __future__ import annotations

import io

import pytest
import torch
import tracetorch as tt
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from tracetorch import snn


def reference(x: torch.Tensor, delays: list[int], dim: int) -> torch.Tensor:
    """``y_t[n] = x_{t - d_n}[n]`` (zeros before the first input), written out by hand."""
    xs = x.movedim(1 + (dim % (x.ndim - 1)), -1)  # [T, ..., N]
    out = torch.zeros_like(xs)
    for n, d in enumerate(delays):
        if d < xs.shape[0]:
            out[d:, ..., n] = xs[: xs.shape[0] - d, ..., n]
    return out.movedim(-1, 1 + (dim % (x.ndim - 1)))


def step_through(layer: tt.Layer, x: torch.Tensor) -> torch.Tensor:
    return torch.stack([layer(xt) for xt in x])


SHAPES = {-1: (7, 2, 4), -3: (7, 2, 4, 3, 2)}


@pytest.mark.parametrize("dim", [-1, -3])
def test_output_is_the_input_of_step_t_minus_delay_with_zeros_before(dim):
    delays = [0, 1, 3, 9]  # 9 > T: that neuron outputs only zeros
    x = torch.randn(SHAPES[dim])
    layer = snn.Delay(4, delays, dim=dim)
    torch.testing.assert_close(step_through(layer, x), reference(x, delays, dim), rtol=0, atol=0)
    layer.zero_states()
    torch.testing.assert_close(layer.forward_sequence(x), reference(x, delays, dim), rtol=0, atol=0)


@pytest.mark.parametrize("dim", [-1, -3])
def test_sequence_equals_stepping_bitwise_in_outputs_states_and_gradients(dim):
    torch.manual_seed(0)
    delays = torch.tensor([2, 0, 1, 4])
    x = torch.randn(SHAPES[dim])
    first = torch.randn(SHAPES[dim][1:])
    results = []
    for mode in ("step", "seq"):
        layer = snn.Delay(4, delays, dim=dim)
        layer(first)  # a step before: the sequence continues from it
        xg = x.clone().requires_grad_()
        y = step_through(layer, xg) if mode == "step" else layer.forward_sequence(xg)
        g = torch.randn(y.shape, generator=torch.Generator().manual_seed(1))
        (y * g).sum().backward()
        results.append((y.detach(), layer.history.detach().clone(), xg.grad))
    for a, b in zip(*results):
        assert torch.equal(a, b)


def test_time_dim_other_than_zero():
    x = torch.randn(2, 6, 3)  # [B, T, N]
    layer = snn.Delay(3, [1, 0, 2])
    y = layer.forward_sequence(x, time_dim=1)
    layer.zero_states()
    torch.testing.assert_close(y, step_through(layer, x.movedim(1, 0)).movedim(0, 1), rtol=0, atol=0)


@settings(max_examples=25, deadline=None)
@given(
    steps=st.integers(1, 6),
    delays=st.lists(st.integers(0, 5), min_size=1, max_size=4),
    dim=st.sampled_from([-1, -2, -3]),
    split=st.integers(0, 6),
)
def test_any_split_into_sequences_and_steps_gives_the_reference(steps, delays, dim, split):
    n = len(delays)
    shape = [steps, 2, 3, 2, 2]
    shape[len(shape) + dim] = n
    x = torch.randn(shape)
    layer = snn.Delay(n, delays, dim=dim)
    split = min(split, steps)
    parts = []
    if split:
        parts.append(layer.forward_sequence(x[:split]))
    parts.extend(layer(xt).unsqueeze(0) for xt in x[split:])
    torch.testing.assert_close(torch.cat(parts), reference(x, delays, dim), rtol=0, atol=0)


def test_all_zero_delays_pass_through_and_hold_no_state():
    layer = snn.Delay(3, 0)
    x = torch.randn(4, 3)
    assert layer(x) is x
    assert layer.state_names == () and layer.max_delay == 0
    xs = torch.randn(5, 4, 3)
    assert torch.equal(layer.forward_sequence(xs), xs)


def test_the_delay_line_is_a_state_the_model_zeroes_detaches_saves_and_loads():
    class Net(tt.Model):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3, 3)
            self.delay = snn.Delay(3, [1, 2, 3])

        def forward(self, x):
            return self.delay(self.fc(x))

    torch.manual_seed(0)
    net = Net()
    xs = torch.randn(6, 2, 3)
    for xt in xs[:3]:
        net(xt)
    assert net.delay.history.shape == (2, 9) and net.delay.history.grad_fn is not None
    net.detach_states()
    assert net.delay.history.grad_fn is None
    saved = net.save_states()
    assert set(saved) == {"delay.history"}
    rest = torch.stack([net(xt) for xt in xs[3:]])
    net.zero_states()
    assert net.delay.history is None
    net.load_states(saved)
    torch.testing.assert_close(torch.stack([net(xt) for xt in xs[3:]]), rest, rtol=0, atol=0)
    # through a file (weights_only) as well
    buf = io.BytesIO()
    torch.save(saved, buf)
    buf.seek(0)
    net.load_states(torch.load(buf, weights_only=True))
    torch.testing.assert_close(net.delay.history, saved["delay.history"], rtol=0, atol=0)


def test_masked_zero_states_resets_only_the_chosen_batch_entries():
    layer = snn.Delay(2, [2, 1])
    for _ in range(2):
        layer(torch.ones(3, 2))
    layer.zero_states(torch.tensor([False, True, False]))
    assert layer.history[1].abs().sum() == 0
    assert torch.equal(layer.history[0], torch.ones(4)) and torch.equal(layer.history[2], torch.ones(4))
    y = layer(torch.ones(3, 2))
    assert torch.equal(y, torch.tensor([[1.0, 1.0], [0.0, 0.0], [1.0, 1.0]]))


def test_states_follow_dtype_moves_and_a_new_batch_size_needs_zero_states():
    layer = snn.Delay(2, [1, 1])
    model = tt.Sequential(layer)
    model(torch.randn(3, 2))
    model.double()
    assert layer.history.dtype == torch.float64 and layer.delays.dtype == torch.int64
    with pytest.raises(ValueError, match="zero_states"):
        model(torch.randn(5, 2, dtype=torch.float64))


@pytest.mark.parametrize("mode", ["step", "seq"])
def test_inside_sequential_in_both_modes(mode):
    torch.manual_seed(0)
    # elementwise neighbours, so that batching over time cannot change any rounding
    net = tt.Sequential(nn.Tanh(), snn.Delay(4, [0, 1, 2, 3]), nn.Softsign())
    xs = torch.randn(5, 2, 4)
    net.zero_states()
    ref = torch.stack([net(xt) for xt in xs])
    net.zero_states()
    y = torch.stack([net(xt) for xt in xs]) if mode == "step" else net.forward_sequence(xs)
    torch.testing.assert_close(y, ref, rtol=0, atol=0)
    # neuron 3 outputs softsign(0) = 0 for its first three steps, then tanh of the input
    torch.testing.assert_close(y[:3, :, 3], torch.zeros(3, 2), rtol=0, atol=0)
    torch.testing.assert_close(y[3:, :, 3], nn.functional.softsign(torch.tanh(xs[:2, :, 3])), rtol=0, atol=0)


def test_delays_accept_an_int_a_list_a_tensor_and_a_numpy_array():
    np = pytest.importorskip("numpy")
    expected = torch.tensor([2, 0, 1])
    for value in ([2, 0, 1], (2, 0, 1), torch.tensor([2, 0, 1], dtype=torch.int32), np.array([2, 0, 1])):
        layer = snn.Delay(3, value)
        assert layer.delays.dtype == torch.int64 and torch.equal(layer.delays, expected)
        assert layer.max_delay == 2
    assert torch.equal(snn.Delay(3, np.int64(4)).delays, torch.tensor([4, 4, 4]))
    with pytest.raises(TypeError, match="integer tensor"):
        snn.Delay(3, np.array([1.5, 0.0, 1.0]))


def test_delays_are_a_saved_buffer_not_a_parameter():
    layer = snn.Delay(3, [2, 0, 1])
    assert list(layer.parameters()) == []
    sd = layer.state_dict()
    assert torch.equal(sd["delays"], torch.tensor([2, 0, 1]))
    other = snn.Delay(3, 2)
    other.load_state_dict(sd)
    assert torch.equal(other.delays, torch.tensor([2, 0, 1]))
    x = torch.randn(4, 1, 3)
    torch.testing.assert_close(other.forward_sequence(x), reference(x, [2, 0, 1], -1), rtol=0, atol=0)


@pytest.mark.parametrize(
    "bad, err, match",
    [
        (torch.tensor([1, 5, 0]), RuntimeError, "max_delay"),
        (torch.tensor([1, -1, 0]), RuntimeError, "0..2"),
        (torch.tensor([1.0, 1.0, 0.0]), RuntimeError, "integer"),
        (torch.tensor([1, 1]), RuntimeError, "shape"),
    ],
)
def test_loading_bad_delays_is_refused_and_changes_nothing(bad, err, match):
    layer = snn.Delay(3, [2, 0, 1])
    with pytest.raises(err, match=match):
        layer.load_state_dict({"delays": bad})
    assert torch.equal(layer.delays, torch.tensor([2, 0, 1]))


@pytest.mark.parametrize(
    "delays, err, match",
    [
        (-1, ValueError, "non-negative"),
        ([0, -2, 1], ValueError, "non-negative"),
        (1.5, TypeError, "float"),
        ([1, 1.5, 0], TypeError, r"delays\[1\]"),
        (torch.tensor([1.0, 2.0, 0.0]), TypeError, "integer tensor"),
        (True, TypeError, "bool"),
        ([1, True, 0], TypeError, r"delays\[1\]"),
        (torch.tensor([True, False, True]), TypeError, "bool"),
        ([1, 2], ValueError, "one value per neuron"),
        (torch.zeros(3, 1, dtype=torch.long), ValueError, "one value per neuron"),
        ("2", TypeError, "str"),
    ],
)
def test_bad_delays_are_clear_errors(delays, err, match):
    with pytest.raises(err, match=match):
        snn.Delay(3, delays)


def test_bad_input_changes_no_state():
    layer = snn.Delay(2, [1, 2])
    layer(torch.randn(3, 2))
    before = layer.history.clone()
    with pytest.raises(ValueError, match="expected 2 features"):
        layer(torch.randn(3, 5))
    with pytest.raises(ValueError, match="expected 2 features"):
        layer.forward_sequence(torch.randn(4, 3, 5))
    with pytest.raises(TypeError, match="floating-point"):
        layer.forward_sequence(torch.ones(4, 3, 2, dtype=torch.long))
    bad = torch.randn(4, 3, 2)
    bad[3, 0, 1] = float("nan")  # only at the last step: the whole sequence is checked first
    with tt.check_finite(), pytest.raises(ValueError, match="NaN or inf"):
        layer.forward_sequence(bad)
    assert torch.equal(layer.history, before)


def test_lengths_keep_each_sequence_at_its_last_valid_step():
    layer = snn.Delay(2, [1, 0])
    x = torch.randn(5, 2, 2)
    y = layer.forward_sequence(x, lengths=torch.tensor([5, 3]))
    torch.testing.assert_close(y[:5, 0], reference(x[:, :1], [1, 0], -1)[:, 0], rtol=0, atol=0)
    torch.testing.assert_close(layer.history[1], x[2, 1], rtol=0, atol=0)


def test_stepping_compiles_with_zero_graph_breaks():
    net = tt.Sequential(nn.Linear(3, 3), snn.Delay(3, [1, 0, 2]))

    def two_sequences(xs):
        net.zero_states()
        y = net(xs[0]) + net(xs[1])
        net.zero_states()
        return y + net(xs[2])

    explanation = torch._dynamo.explain(two_sequences)(torch.randn(3, 2, 3))
    assert explanation.graph_break_count == 0, explanation.break_reasons
    assert explanation.graph_count == 1


def test_compiled_stepping_equals_eager():
    torch._dynamo.reset()
    layer = snn.Delay(3, [1, 0, 2])
    xs = torch.randn(5, 2, 3)
    eager = step_through(layer, xs)
    layer.zero_states()
    step = torch.compile(layer, backend="aot_eager", fullgraph=True)
    compiled = torch.stack([step(xt) for xt in xs])
    torch.testing.assert_close(compiled, eager, rtol=0, atol=0)
