"""tt.loss.soft_cross_entropy."""

from __future__ import annotations

import pytest
import torch
import tracetorch as tt


def test_matches_cross_entropy_on_one_hot_targets():
    logits = torch.randn(4, 5)
    labels = torch.tensor([0, 3, 1, 4])
    pred = logits.softmax(-1)
    target = torch.nn.functional.one_hot(labels, 5).float()
    ours = tt.loss.soft_cross_entropy(pred, target, eps=0.0)
    assert torch.allclose(ours, torch.nn.functional.cross_entropy(logits, labels), atol=1e-6)


def test_sums_non_batch_axes_and_reduces_over_batch():
    pred = torch.full((2, 3, 4), 0.5)
    target = torch.ones(2, 3, 4)
    per = tt.loss.soft_cross_entropy(pred, target, eps=0.0, reduction="none")
    assert per.shape == (2,) and torch.allclose(per, torch.full((2,), 12 * -torch.log(torch.tensor(0.5))))
    assert torch.allclose(tt.loss.soft_cross_entropy(pred, target, eps=0.0, reduction="sum"), per.sum())


def test_zero_probability_stays_finite():
    assert torch.isfinite(tt.loss.soft_cross_entropy(torch.tensor([[0.0, 1.0]]), torch.tensor([[1.0, 0.0]])))


def test_bad_arguments_are_errors():
    with pytest.raises(ValueError, match="same shape"):
        tt.loss.soft_cross_entropy(torch.ones(2, 3), torch.ones(2, 4))
    with pytest.raises(ValueError, match="reduction"):
        tt.loss.soft_cross_entropy(torch.ones(2, 3), torch.ones(2, 3), reduction="avg")
