"""Running one-step modules over a whole sequence."""

from __future__ import annotations

from typing import Any, Callable

import torch
from torch import Tensor


def check_time_dim(owner: str, x: Tensor, time_dim: int) -> int:
    """Validate a sequence input and return ``time_dim`` resolved to be non-negative."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{owner}.forward_sequence: input must be a torch.Tensor, got {type(x).__name__}.")
    if isinstance(time_dim, bool) or not isinstance(time_dim, int):
        raise TypeError(f"{owner}.forward_sequence: time_dim must be an int, got {type(time_dim).__name__}.")
    if not -x.ndim <= time_dim < x.ndim:
        raise ValueError(
            f"{owner}.forward_sequence: time_dim={time_dim} is out of range for an input of shape "
            f"{tuple(x.shape)}."
        )
    t = time_dim % x.ndim
    if x.shape[t] == 0:
        raise ValueError(f"{owner}.forward_sequence: the sequence is empty (size 0 along time_dim={time_dim}).")
    return t


def _stack(outs: list[Any], time_dim: int) -> Any:
    first = outs[0]
    if isinstance(first, Tensor):
        return torch.stack(outs, time_dim)
    if isinstance(first, tuple):
        return type(first)(_stack([o[i] for o in outs], time_dim) for i in range(len(first))) if not hasattr(first, "_fields") else type(first)(*(_stack([o[i] for o in outs], time_dim) for i in range(len(first))))
    raise TypeError(f"forward_sequence: cannot stack step outputs of type {type(first).__name__}.")


def loop_over_time(step: Callable[[Tensor], Any], x: Tensor, time_dim: int = 0) -> Any:
    """Call ``step`` on every timestep of ``x`` and stack the outputs along ``time_dim``."""
    t = check_time_dim(type(step).__name__, x, time_dim)
    outs = [step(xt) for xt in x.unbind(t)]
    return _stack(outs, t)
