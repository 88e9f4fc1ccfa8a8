"""Sequence mode of the leaky-integrator layers: dispatch to the fast paths."""

from __future__ import annotations

from typing import TYPE_CHECKING

from torch import Tensor

from tracetorch.core._sequence import loop_over_time

if TYPE_CHECKING:
    from ._leaky import LeakyLayer


def run_sequence(layer: "LeakyLayer", x: Tensor, time_dim: int) -> Tensor:
    """Run ``layer`` over a whole sequence (see `LeakyLayer.forward_sequence`)."""
    return loop_over_time(layer, x, time_dim)
