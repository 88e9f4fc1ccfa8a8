"""Quantisation functions: a firing probability to a spike.

Each forward value is exact (a spike is exactly 0 or 1, never ``1 + 1e-7``); the
gradient is a straight-through estimate. A probability that is already exactly 0 or 1
is returned unchanged by all of them.
"""

from __future__ import annotations

from typing import Callable, Union

import torch
from torch import Tensor

__all__ = [
    "quant_round",
    "quant_bernoulli",
    "quant_probabilistic",
    "resolve_quant_fn",
    "QUANT_FUNCTIONS",
]


def quant_round(p: Tensor) -> Tensor:
    """Round a probability to 0 or 1; gradient passed straight through.

    Args:
        p: Firing probabilities in [0, 1].

    Returns:
        ``round(p)`` in the forward pass, with ``d out / d p = 1``.
    """
    return torch.round(p).detach() + (p - p.detach())


def quant_bernoulli(p: Tensor) -> Tensor:
    """Sample a spike with probability ``p``; gradient passed straight through.

    Uses torch's global generator, so ``torch.manual_seed`` makes it reproducible.

    Args:
        p: Firing probabilities in [0, 1].

    Returns:
        ``bernoulli(p)`` in the forward pass, with ``d out / d p = 1``.
    """
    return torch.bernoulli(p.detach()) + (p - p.detach())


def quant_probabilistic(p: Tensor) -> Tensor:
    """Sample a spike and scale it by its probability: ``p * bernoulli(p)``.

    The expected output is ``p ** 2``, and the gradient is its derivative ``2 p``.

    Args:
        p: Firing probabilities in [0, 1].

    Returns:
        ``p * bernoulli(p)`` in the forward pass, with ``d out / d p = 2 p``.
    """
    pd = p.detach()
    sq = p * p
    return pd * torch.bernoulli(pd) + (sq - sq.detach())


QUANT_FUNCTIONS: dict[str, Callable[[Tensor], Tensor]] = {
    "round": quant_round,
    "bernoulli": quant_bernoulli,
    "probabilistic": quant_probabilistic,
}
"""Quantisation functions that may be named by string."""


def resolve_quant_fn(quant_fn: Union[str, Callable[[Tensor], Tensor], None]) -> Callable[[Tensor], Tensor]:
    """Turn a ``quant_fn`` argument into a callable.

    Args:
        quant_fn: ``None`` (the default, ``"bernoulli"``), a name from
            `QUANT_FUNCTIONS`, or any callable from tensor to tensor. A callable is
            used exactly as given – it is never replaced.

    Returns:
        The callable to use.

    Raises:
        ValueError: for an unknown name.
        TypeError: for anything that is neither a string nor callable.
    """
    if quant_fn is None:
        return quant_bernoulli
    if isinstance(quant_fn, str):
        try:
            return QUANT_FUNCTIONS[quant_fn]
        except KeyError:
            raise ValueError(
                f"unknown quant_fn {quant_fn!r}; expected one of {sorted(QUANT_FUNCTIONS)} or a callable."
            ) from None
    if callable(quant_fn):
        return quant_fn
    raise TypeError(
        f"quant_fn must be a name or a callable, got {type(quant_fn).__name__} ({quant_fn!r})."
    )
