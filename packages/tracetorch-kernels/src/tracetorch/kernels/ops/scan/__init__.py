"""Diagonal linear recurrence ``h_t = a_t * h_{t-1} + b_t`` (LI/EMA, SelectiveSSM)."""

from ._op import linear_scan
from .naive import linear_scan_naive

__all__ = ["linear_scan", "linear_scan_naive"]
