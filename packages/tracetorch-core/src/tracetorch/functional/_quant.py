"""Quantisation functions: a firing probability to a spike.

Each forward value is exact (a spike is exactly 0 or 1, never ``1 + 1e-7``); the
gradient is a straight-through estimate. A probability that is already exactly 0 or 1
is returned unchanged by all of them.
"""

from __future__ import annotations

from typing import Callable, Union

import torch
from torch import Tensor

from .._switch import Switch
from ._spike import SpikeFunction

__all__ = [
    "quant_round",
    "quant_bernoulli",
    "quant_probabilistic",
    "resolve_quant_fn",
    "QUANT_FUNCTIONS",
    "deterministic",
    "is_deterministic",
]


class _Flags:
    deterministic: bool = False


FLAGS = _Flags()


class deterministic(Switch):
    """Make the stochastic quantisers round instead of sampling (for inference).

    While on, `quant_bernoulli` and `quant_probabilistic` return ``round(p)`` in the
    forward pass (a firing probability above 0.5 spikes, one below does not; 0.5
    rounds to 0, as ``torch.round`` does) and draw no random numbers, so every layer
    that uses them gives the numbers of ``quant_fn="round"`` and two runs are equal.
    Their gradients stay their own straight-through estimates. ``quant_round`` and
    custom callables are not affected. Off by default: the layers' default stochastic
    spikes are unchanged unless you turn it on.

    Use it as a call (sets the mode until changed) or as a context manager (restores
    the previous mode on exit). The mode is a process-wide flag, read on every call
    of a quantiser (stepping and the PyTorch sequence paths); the fused Triton
    kernels of ``tracetorch-kernels`` do not read it yet, so on CUDA with the
    kernels installed run sequences with ``TRACETORCH_KERNELS=0`` (or step) when you
    need it there.

    Args:
        enabled: Whether stochastic quantisers round.

    Example:
        ```python
        import torch
        import tracetorch as tt
        from tracetorch import snn

        layer = snn.LIB(4)                       # quant_fn="bernoulli" by default
        x = torch.rand(10, 2, 4)
        with tt.deterministic():
            a = layer.forward_sequence(x)
            layer.zero_states()
            b = layer.forward_sequence(x)
        assert torch.equal(a, b)
        ```
    """

    _flags = FLAGS
    _flag = "deterministic"


def is_deterministic() -> bool:
    """Whether `deterministic` is currently on (stochastic quantisers round)."""
    return FLAGS.deterministic


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
    Under `deterministic` it rounds instead (no draw).

    Args:
        p: Firing probabilities in [0, 1].

    Returns:
        ``bernoulli(p)`` in the forward pass, with ``d out / d p = 1``.
    """
    if FLAGS.deterministic:
        return torch.round(p.detach()) + (p - p.detach())
    return torch.bernoulli(p.detach()) + (p - p.detach())


def quant_probabilistic(p: Tensor) -> Tensor:
    """Sample a spike and scale it by its probability: ``p * bernoulli(p)``.

    The expected output is ``p ** 2``, and the gradient is its derivative ``2 p``.
    Under `deterministic` the forward value is ``round(p)`` (no draw); the gradient
    stays ``2 p``.

    Args:
        p: Firing probabilities in [0, 1].

    Returns:
        ``p * bernoulli(p)`` in the forward pass, with ``d out / d p = 2 p``.
    """
    pd = p.detach()
    sq = p * p
    if FLAGS.deterministic:
        return torch.round(pd) + (sq - sq.detach())
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
    raise TypeError(f"quant_fn must be a name or a callable, got {type(quant_fn).__name__} ({quant_fn!r}).")


def skips_quantisation(spike_fn: object, quant_fn: object) -> bool:
    """Whether ``quant_fn(spike_fn(v))`` may be computed as ``spike_fn(v)`` alone.

    A deterministic (Heaviside) spike function returns exactly 0 or 1, which
    `quant_round` and `quant_bernoulli` return unchanged with a straight-through
    gradient, so both the values and the gradients are those of the spike function.
    (`quant_probabilistic` also leaves 0/1 unchanged but doubles the gradient, so it
    is not skipped.) This is the one place the rule is written; the spiking layers,
    their sequence paths and the kernels' reference all ask it.

    Args:
        spike_fn: A resolved spike function.
        quant_fn: A resolved quantisation function.

    Returns:
        True when the quantisation can be skipped.
    """
    return (
        isinstance(spike_fn, SpikeFunction)
        and spike_fn.deterministic
        and (quant_fn is quant_round or quant_fn is quant_bernoulli)
    )
