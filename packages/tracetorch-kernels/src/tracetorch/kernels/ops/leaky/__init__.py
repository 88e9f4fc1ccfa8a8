"""The 32 leaky-integrator configurations over a sequence (and one step)."""

from ._op import config_flags, leaky_sequence, leaky_step, supports
from .naive import leaky_sequence_naive, make_fire

__all__ = ["config_flags", "leaky_sequence", "leaky_step", "leaky_sequence_naive", "make_fire", "supports"]
