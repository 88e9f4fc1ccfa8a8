"""`checkpoint_bptt`: the kernels' switch for checkpointed (recomputing) BPTT.

A setting of this package, not of core: it changes how the leaky-integrator kernels
keep what their backward pass needs, never the numbers, so core and the layers do not
know about it (they never import `tracetorch.kernels`).
"""

from __future__ import annotations

from types import TracebackType
from typing import Optional

__all__ = ["checkpoint_bptt", "bptt_checkpoint_every"]


class _Settings:
    every: int = 0


_SETTINGS = _Settings()


def bptt_checkpoint_every() -> int:
    """The current `checkpoint_bptt` interval (0: every step is stored)."""
    return _SETTINGS.every


class checkpoint_bptt:
    """Checkpointed BPTT for the leaky-integrator sequence kernel.

    With ``every = K > 0`` the forward kernel stores, for the backward pass, only the
    states after every ``K``-th step (float32, ``NS`` values per neuron every ``K``
    steps) instead of ``NSAVE`` float32 values per neuron and step; the backward pass
    recomputes each segment of ``K`` steps from its checkpoint (one more forward
    launch of ``K`` steps per segment) and walks it back. Gradients are bit-identical
    to the stored path (same instructions, same Philox counters, parameter sums
    continued across segments in the same order); the cost is about one extra forward
    pass and ``2 * ceil(T / K)`` launches instead of one in the backward.

    Calling it sets the interval until changed; used in a ``with`` block it also
    restores the previous interval on exit. It applies to calls made while it is set
    (the forward decides what is stored; the backward follows what the forward
    stored). Under ``torch.compile`` the interval is read while tracing.

    Args:
        every: Steps per segment, a positive int; 0 switches checkpointing off.

    Raises:
        TypeError: if ``every`` is not an int (nothing changes).
        ValueError: if ``every`` is negative (nothing changes).
    """

    def __init__(self, every: int = 8) -> None:
        if isinstance(every, bool) or not isinstance(every, int):
            raise TypeError(
                f"checkpoint_bptt: every must be an int (steps per segment, 0 = off), got {type(every).__name__}."
            )
        if every < 0:
            raise ValueError(f"checkpoint_bptt: every must be >= 0 (0 switches checkpointing off), got {every}.")
        self._previous = _SETTINGS.every
        _SETTINGS.every = every

    def __enter__(self) -> checkpoint_bptt:
        return self

    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        _SETTINGS.every = self._previous
