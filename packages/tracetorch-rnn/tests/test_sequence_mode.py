"""forward_sequence gives exactly what stepping gives, for every rnn layer and layout."""

from __future__ import annotations

import copy
import warnings

import pytest
import torch
import tracetorch as tt
from tracetorch import rnn

IN, OUT = 3, 4

FACTORIES = {
    "SimpleRNN": lambda dim: rnn.SimpleRNN(IN, OUT, dim=dim),
    "SimpleRNN_relu": lambda dim: rnn.SimpleRNN(IN, OUT, nonlinearity="relu", bias=False, dim=dim),
    "LSTM": lambda dim: rnn.LSTM(IN, OUT, dim=dim),
    "GRU": lambda dim: rnn.GRU(IN, OUT, dim=dim),
    "SelectiveSSM": lambda dim: rnn.SelectiveSSM(IN, OUT, 5, dim=dim),
    "SelectiveSSM_same_width": lambda dim: rnn.SelectiveSSM(IN, IN, 5, decay=0.5, dim=dim, decay_rank=0),
}
TOL = dict(rtol=1e-6, atol=1e-6)
GRAD_TOL = dict(rtol=1e-5, atol=1e-5)


def make(name: str, dim: int) -> rnn.Layer:
    torch.manual_seed(0)
    layer = FACTORIES[name](dim)
    if isinstance(layer, rnn.SelectiveSSM):
        with torch.no_grad():
            for p in (layer.a_proj.bias, layer.b_proj.bias, layer.g_proj.bias):
                p.add_(torch.randn_like(p))
    return layer


def step_through(layer: rnn.Layer, x: torch.Tensor, time_dim: int = 0) -> torch.Tensor:
    return torch.stack([layer(xt) for xt in x.unbind(time_dim)], time_dim)


def sequence_input(dim: int, steps: int, batch: int = 2) -> torch.Tensor:
    if dim == -1:
        return torch.randn(steps, batch, IN)
    return torch.randn(steps, batch, IN, 3, 2)  # [T, B, C, H, W], dim=-3


def assert_same_states(a: rnn.Layer, b: rnn.Layer, **tol) -> None:
    for name in a.state_names:
        sa, sb = getattr(a, name), getattr(b, name)
        assert sa.shape == sb.shape
        torch.testing.assert_close(sa, sb, **(tol or TOL))


@pytest.mark.parametrize("dim", [-1, -3])
@pytest.mark.parametrize("name", list(FACTORIES))
def test_sequence_equals_stepping_outputs_states_and_gradients(name, dim):
    stepper = make(name, dim)
    seq = copy.deepcopy(stepper)
    warm = sequence_input(dim, 3)
    step_through(stepper, warm)
    step_through(seq, warm)  # both continue from the same non-zero states

    x = sequence_input(dim, 12)
    x_step = x.clone().requires_grad_()
    x_seq = x.clone().requires_grad_()
    y_step = step_through(stepper, x_step)
    y_seq = seq.forward_sequence(x_seq)
    assert y_seq.shape == y_step.shape
    if dim == -3:
        assert y_seq.shape[2] == stepper.out_features
    torch.testing.assert_close(y_seq, y_step, **TOL)
    assert_same_states(seq, stepper)

    w = torch.randn_like(y_step)
    loss_step = (y_step * w).sum() + sum(getattr(stepper, n).sum() for n in stepper.state_names)
    loss_seq = (y_seq * w).sum() + sum(getattr(seq, n).sum() for n in seq.state_names)
    loss_step.backward()
    loss_seq.backward()
    torch.testing.assert_close(x_seq.grad, x_step.grad, **GRAD_TOL)
    for (pname, p_step), (_, p_seq) in zip(stepper.named_parameters(), seq.named_parameters()):
        assert p_seq.grad is not None, pname
        torch.testing.assert_close(p_seq.grad, p_step.grad, **GRAD_TOL)


@pytest.mark.parametrize("name", list(FACTORIES))
def test_mixing_sequences_and_steps_equals_pure_stepping(name):
    stepper = make(name, -1)
    mixed = copy.deepcopy(stepper)
    x = sequence_input(-1, 20)
    y_step = step_through(stepper, x)
    parts = [
        mixed.forward_sequence(x[:7]),
        torch.stack([mixed(x[7]), mixed(x[8])]),
        mixed.forward_sequence(x[9:10]),
        mixed.forward_sequence(x[10:]),
    ]
    torch.testing.assert_close(torch.cat(parts), y_step, **TOL)
    assert_same_states(mixed, stepper)


@pytest.mark.parametrize("name", list(FACTORIES))
def test_a_one_step_sequence_equals_one_step(name):
    stepper = make(name, -3)
    seq = copy.deepcopy(stepper)
    x = sequence_input(-3, 1)
    y = seq.forward_sequence(x)
    torch.testing.assert_close(y, stepper(x[0]).unsqueeze(0), **TOL)
    assert_same_states(seq, stepper)


@pytest.mark.parametrize("name", list(FACTORIES))
def test_time_dim_may_be_any_axis(name):
    stepper = make(name, -1)
    seq = copy.deepcopy(stepper)
    x = torch.randn(2, 9, IN)  # batch first: [B, T, F]
    torch.testing.assert_close(seq.forward_sequence(x, time_dim=1), step_through(stepper, x, 1), **TOL)
    assert_same_states(seq, stepper)
    x = torch.randn(2, IN, 9)  # time last
    stepper.zero_states()
    seq.zero_states()
    torch.testing.assert_close(seq.forward_sequence(x, time_dim=-1), step_through(stepper, x, -1), **TOL)


@pytest.mark.parametrize("name", list(FACTORIES))
def test_unbatched_sequences_work(name):
    stepper = make(name, -1)
    seq = copy.deepcopy(stepper)
    x = torch.randn(6, IN)  # [T, F]: each step is a single [F] vector
    torch.testing.assert_close(seq.forward_sequence(x), step_through(stepper, x), **TOL)
    assert seq.h.ndim == 1


@pytest.mark.parametrize("mode", ["step", "sequence"])
@pytest.mark.parametrize("dim", [-1, -3])
@pytest.mark.parametrize("name", list(FACTORIES))
@torch.no_grad()
def test_masked_reset_equals_resetting_by_hand(name, dim, mode):
    layer = make(name, dim)
    by_hand = copy.deepcopy(layer)
    x = sequence_input(dim, 5, batch=4)
    run = (lambda m, s: m.forward_sequence(s)) if mode == "sequence" else step_through
    run(layer, x)
    run(by_hand, x)
    mask = torch.tensor([True, False, True, False])
    layer.zero_states(mask)
    for name_ in by_hand.state_names:
        s = getattr(by_hand, name_).clone()
        s[mask] = 0
        setattr(by_hand, name_, s)
    assert_same_states(layer, by_hand, rtol=0, atol=0)
    torch.testing.assert_close(run(layer, x), run(by_hand, x), **TOL)
    # the kept entries did not restart: they differ from a full reset
    fresh = copy.deepcopy(layer)
    fresh.zero_states()
    y_fresh = run(fresh, x)
    assert not torch.allclose(run(layer, x)[:, ~mask], y_fresh[:, ~mask])


def test_model_zero_states_with_mask_resets_rnn_layers_in_sequence_mode():
    net = tt.Sequential(rnn.LSTM(IN, OUT), rnn.SelectiveSSM(OUT, OUT, 6), rnn.GRU(OUT, 2))
    x = torch.randn(4, 3, IN)
    net.forward_sequence(x)
    mask = torch.tensor([False, True, False])
    saved = net.save_states()
    net.zero_states(mask)
    for key, value in net.save_states().items():
        assert torch.count_nonzero(value[1]) == 0
        assert torch.equal(value[0], saved[key][0]) and torch.equal(value[2], saved[key][2])


def test_sequential_runs_rnn_layers_through_forward_sequence():
    torch.manual_seed(3)
    net = tt.Sequential(
        torch.nn.Linear(IN, 5), rnn.GRU(5, 6), rnn.SelectiveSSM(6, 4, 8), rnn.LSTM(4, 3), rnn.SimpleRNN(3, 2)
    )
    stepped = copy.deepcopy(net)
    x = torch.randn(15, 2, IN)
    torch.testing.assert_close(net.forward_sequence(x), step_through(stepped, x), **TOL)
    for (k, a), (_, b) in zip(net.save_states().items(), stepped.save_states().items()):
        torch.testing.assert_close(a, b, **TOL)


def test_long_sequences_stay_equal_to_stepping():
    layer = make("SelectiveSSM", -1)
    seq = copy.deepcopy(layer)
    x = torch.randn(1000, 2, IN)
    with torch.no_grad():
        torch.testing.assert_close(seq.forward_sequence(x), step_through(layer, x), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(seq.h, layer.h, rtol=1e-5, atol=1e-5)


def test_sequence_input_errors_name_the_layer():
    layer = rnn.LSTM(IN, OUT)
    with pytest.raises(ValueError, match="LSTM.*expected 3 features"):
        layer.forward_sequence(torch.randn(5, 2, IN + 1))
    with pytest.raises(ValueError, match="time_dim=3"):
        layer.forward_sequence(torch.randn(5, 2, IN), time_dim=3)
    with pytest.raises(ValueError, match="empty"):
        layer.forward_sequence(torch.randn(0, 2, IN))
    with pytest.raises(TypeError, match="floating"):
        layer.forward_sequence(torch.ones(5, 2, IN, dtype=torch.long))
    layer.forward_sequence(torch.randn(5, 2, IN))
    with pytest.raises(ValueError, match="zero_states"):
        layer.forward_sequence(torch.randn(5, 3, IN))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("name", list(FACTORIES))
def test_cuda_sequence_path_equals_stepping(name):
    # cuDNN uses other algorithms than the per-step cells: equal up to float rounding
    stepper = make(name, -1).cuda()
    seq = copy.deepcopy(stepper)
    x = sequence_input(-1, 30, batch=8).cuda()
    with warnings.catch_warnings(), torch.backends.cudnn.flags(enabled=True, allow_tf32=False):
        warnings.simplefilter("error")  # no cuDNN weight-compaction warning leaks out
        y_seq = seq.forward_sequence(x)
    torch.testing.assert_close(y_seq, step_through(stepper, x), rtol=1e-4, atol=1e-5)
    assert_same_states(seq, stepper, rtol=1e-4, atol=1e-5)
