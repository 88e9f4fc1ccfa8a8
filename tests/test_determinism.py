"""Determinism: the same seed gives the same outputs, stochastic spikes included."""

from __future__ import annotations

import pytest
import torch
import tracetorch as tt
from torch import nn
from tracetorch import rnn, snn


def build() -> tt.Sequential:
    return tt.Sequential(
        nn.Linear(6, 10),
        snn.LIB(10),  # default: sigmoid(4x) probabilities, bernoulli draws
        snn.DSRLITS(10, quant_fn="probabilistic"),
        rnn.GRU(10, 10),
        snn.SLIT(10, quant_fn="bernoulli"),
    )


def run(seed: int, sequence: bool) -> torch.Tensor:
    torch.manual_seed(seed)
    model = build()
    xs = torch.randn(12, 3, 6)
    if sequence:
        return model.forward_sequence(xs)
    return torch.stack([model(x) for x in xs])


@pytest.mark.parametrize("sequence", [False, True], ids=["step", "sequence"])
def test_same_seed_same_outputs(sequence):
    a, b = run(3, sequence), run(3, sequence)
    assert torch.equal(a, b)
    assert not torch.equal(a, run(4, sequence))  # and the draws really are random


def test_stochastic_spikes_are_not_all_equal_across_steps():
    out = run(5, False)
    assert 0 < (out != 0).float().mean() < 1
