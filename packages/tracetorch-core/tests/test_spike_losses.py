"""tt.loss spike/membrane losses and rate regularisers; tt.metrics.accuracy; against snnTorch."""

from __future__ import annotations

import pytest
import torch
import tracetorch as tt
from torch.nn import functional as F

T, B, C = 25, 6, 10


def _spikes(seed=0, p=0.3):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(T, B, C, generator=g) < p).float(), torch.randint(0, C, (B,), generator=g)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_ce_count_loss_is_cross_entropy_of_counts(reduction):
    s, y = _spikes()
    expected = F.cross_entropy(s.sum(0), y, reduction=reduction)
    assert torch.equal(tt.loss.ce_count_loss(s, y, reduction), expected)


def test_ce_rate_loss_averages_the_per_step_cross_entropy():
    s, y = _spikes(1)
    manual = torch.stack([F.cross_entropy(s[t], y) for t in range(T)]).mean()
    torch.testing.assert_close(tt.loss.ce_rate_loss(s, y), manual)
    assert tt.loss.ce_rate_loss(s, y, "none").shape == (B,)


def test_mse_count_loss_targets_correct_and_incorrect_rates():
    y = torch.tensor([2, 0])
    s = torch.zeros(10, 2, 3)
    s[:8, 0, 2] = 1  # sample 0 fires 8 of 10 steps on its class
    s[:2, 0, 1] = 1  # and 2 on another
    s[:8, 1, 0] = 1
    s[:2, 1, 1] = 1
    s[:2, 1, 2] = 1
    assert float(tt.loss.mse_count_loss(s, y, correct_rate=0.8, incorrect_rate=0.2)) == pytest.approx(
        ((0 - 2) ** 2 + 0 + 0 + 0 + 0 + 0) / 6 / 10
    )
    none = tt.loss.mse_count_loss(s, y, 0.8, 0.2, "none")
    assert none.shape == (2, 3) and float(none[0, 0]) == pytest.approx(0.4)


def test_mse_membrane_loss_against_on_off_targets():
    mem = torch.zeros(4, 2, 3)
    mem[:, 0, 1] = 1.0
    y = torch.tensor([1, 2])
    # sample 0 hits its target exactly; sample 1 misses its correct class by 1 at every step
    assert float(tt.loss.mse_membrane_loss(mem, y)) == pytest.approx(1 / 6)
    assert float(tt.loss.mse_membrane_loss(mem, y, on_target=2.0, off_target=-1.0, reduction="sum")) == pytest.approx(
        (1 + 1 + 1) + (1 + 4 + 1) + 0  # sample 0: (1-2)^2 + two (0+1)^2; sample 1: (0+1)^2*2 + (0-2)^2
    )


@pytest.mark.parametrize(
    "fn", [tt.loss.ce_count_loss, tt.loss.ce_rate_loss, tt.loss.mse_count_loss, tt.loss.mse_membrane_loss]
)
def test_losses_reject_mismatched_batch_bad_targets_and_shapes(fn):
    s, y = _spikes()
    with pytest.raises(ValueError, match=rf"batch size {B}.*expected \[{B}\].*time is the first axis"):
        fn(s, y[:-1])
    with pytest.raises(ValueError, match=r"class indices in \[0, 9\]"):
        fn(s, torch.full((B,), 10))
    with pytest.raises(ValueError, match=r"time-major \[T, B, C\]"):
        fn(s[0], y)
    with pytest.raises(TypeError, match="integer class indices"):
        fn(s, y.float())
    with pytest.raises(ValueError, match="reduction"):
        fn(s, y, reduction="avg")


def test_mse_count_loss_rejects_rates_outside_0_1():
    s, y = _spikes()
    with pytest.raises(ValueError, match="correct_rate.*\\[0, 1\\]"):
        tt.loss.mse_count_loss(s, y, correct_rate=2.0)


def test_losses_backpropagate_to_the_spikes():
    s, y = _spikes()
    s.requires_grad_(True)
    for fn in (tt.loss.ce_count_loss, tt.loss.ce_rate_loss, tt.loss.mse_count_loss, tt.loss.mse_membrane_loss):
        s.grad = None
        fn(s, y).backward()
        assert s.grad is not None and s.grad.abs().sum() > 0


# ---------------------------------------------------------------------------- regularisers
def test_rate_regularisers_follow_their_formulas():
    s = torch.zeros(4, 2, 3)
    s[:, 0, 0] = 1.0  # rate 1
    s[:2, 1, 1] = -1.0  # a ternary neuron, rate 0.5
    r = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.5, 0.0]])
    assert float(tt.loss.rate_l1(s)) == pytest.approx(float(r.mean()))
    assert float(tt.loss.rate_l2(s)) == pytest.approx(float((r**2).mean()))
    assert float(tt.loss.rate_lower_bound(s, 0.25)) == pytest.approx(float(((0.25 - r).clamp_min(0) ** 2).mean()))
    assert float(tt.loss.rate_upper_bound(s, 0.2)) == pytest.approx(float(((r.mean(1) - 0.2).clamp_min(0) ** 2).mean()))
    assert float(tt.loss.rate_upper_bound(s, 0.2, per="neuron", power=1)) == pytest.approx(
        float((r - 0.2).clamp_min(0).mean())
    )
    assert float(tt.loss.rate_lower_bound(s, 0.1, per="population")) == 0.0
    # time on another axis gives the same numbers
    assert float(tt.loss.rate_l2(s.movedim(0, 2), time_dim=2)) == pytest.approx(float((r**2).mean()))


def test_rate_regularisers_reject_bad_arguments():
    s = torch.rand(4, 2, 3)
    with pytest.raises(ValueError, match="at least 3-D"):
        tt.loss.rate_l1(s[:, 0])
    with pytest.raises(ValueError, match="bound.*>= 0"):
        tt.loss.rate_lower_bound(s, -0.1)
    with pytest.raises(ValueError, match="per"):
        tt.loss.rate_upper_bound(s, 0.1, per="layer")
    with pytest.raises(ValueError, match="power"):
        tt.loss.rate_upper_bound(s, 0.1, power=0)


# ---------------------------------------------------------------------------- accuracy
def test_accuracy_from_counts_rates_and_membranes():
    out = torch.zeros(3, 2, 4)
    out[:, 0, 1] = 1.0
    out[0, 1, 3] = 5.0  # peaks early at class 3
    out[2, 1, 2] = 1.0  # last step says class 2
    y = torch.tensor([1, 2])
    assert float(tt.metrics.accuracy(out, y)) == 0.5
    assert float(tt.metrics.accuracy(out, y, "mean")) == 0.5
    assert float(tt.metrics.accuracy(out, y, "max")) == 0.5
    assert float(tt.metrics.accuracy(out, y, "last")) == 1.0
    assert float(tt.metrics.accuracy(out.sum(0), y, None)) == 0.5
    with pytest.raises(ValueError, match="batch size 2"):
        tt.metrics.accuracy(out, y[:1])
    with pytest.raises(ValueError, match="over_time"):
        tt.metrics.accuracy(out, y, "median")


# ---------------------------------------------------------------------------- against snnTorch
@pytest.fixture()
def SF():
    pytest.importorskip("snntorch")
    import snntorch.functional as SF

    return SF


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_spike_losses_match_snntorch(SF, reduction):
    s, y = _spikes(3)
    close = dict(rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(
        tt.loss.ce_count_loss(s, y, reduction),
        SF.ce_count_loss(reduction=reduction)(s, y).reshape_as(tt.loss.ce_count_loss(s, y, reduction)),
        **close,
    )
    ours = tt.loss.ce_rate_loss(s, y, reduction)
    torch.testing.assert_close(ours, SF.ce_rate_loss(reduction=reduction)(s.clone(), y).reshape_as(ours), **close)
    for on, off in ((1.0, 0.0), (0.8, 0.2), (0.6, 0.0)):  # T * rate is a whole number
        ours = tt.loss.mse_count_loss(s, y, on, off, reduction)
        theirs = SF.mse_count_loss(correct_rate=on, incorrect_rate=off, reduction=reduction)(s, y)
        torch.testing.assert_close(ours, theirs.reshape_as(ours), **close)
    mem = torch.randn(T, B, C)
    for on, off in ((1.0, 0.0), (1.5, 0.25)):
        ours = tt.loss.mse_membrane_loss(mem, y, on, off, reduction)
        theirs = SF.mse_membrane_loss(on_target=on, off_target=off, reduction=reduction)(mem, y)
        torch.testing.assert_close(ours, theirs.reshape_as(ours), **close)


def test_mse_count_loss_differs_from_snntorch_only_by_its_integer_truncation(SF):
    s, y = _spikes(4)
    theirs = SF.mse_count_loss(correct_rate=0.75, incorrect_rate=0.1)(s, y)  # targets int(18.75)=18, int(2.5)=2
    assert not torch.allclose(tt.loss.mse_count_loss(s, y, 0.75, 0.1), theirs)
    torch.testing.assert_close(tt.loss.mse_count_loss(s, y, 18 / T, 2 / T), theirs)


def test_accuracy_equals_snntorch_accuracy_rate(SF):
    for seed in range(5):
        s, y = _spikes(seed, p=0.5)
        assert float(tt.metrics.accuracy(s, y)) == pytest.approx(float(SF.acc.accuracy_rate(s, y)))
