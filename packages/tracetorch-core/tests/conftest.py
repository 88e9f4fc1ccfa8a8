"""Shared fixtures for the core tests: small layers built on tt.Layer only."""

from __future__ import annotations

import pytest
import torch
import tracetorch as tt


class Leaky(tt.Layer):
    """A leaky integrator with a learnable decay, used to exercise the core."""

    def __init__(self, n: int, beta=0.9, *, dim: int = -1, beta_rank: int = 1, learn_beta: bool = True):
        super().__init__(n, dim)
        self._register_decay("beta", beta, beta_rank, learn_beta)
        self._register_threshold("threshold", 1.0, 1, True)
        self._register_parameter("gain", 2.0, 0, True)
        self._initialize_state("mem")
        self._initialize_state("trace")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._ensure_states(x)
        beta = self._view_param(self.beta, x)
        thr = self._view_param(self.threshold, x)
        mem = beta * self.mem + x
        self.trace = 0.5 * self.trace + mem
        self.mem = mem
        return self.gain * torch.tanh(mem - thr)


class Projecting(tt.Layer):
    """A layer whose input width differs from its state width (like an RNN)."""

    def __init__(self, in_features: int, out_features: int, hidden: int, dim: int = -1):
        super().__init__(out_features, dim)
        self._input_width = in_features
        self.lin = torch.nn.Linear(in_features, out_features)
        self._initialize_state("h")
        self._initialize_state("wide", size=hidden)

    def forward(self, x):
        self._ensure_states(x)
        y = self._from_working_dim(self.lin(self._to_working_dim(x)))
        self.h = 0.5 * self.h + y
        return self.h


@pytest.fixture(scope="session")
def Leaky_cls():
    return Leaky


@pytest.fixture(scope="session")
def Projecting_cls():
    return Projecting


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
