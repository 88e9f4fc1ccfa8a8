"""Accuracy, spike counts, firing rates, activation sparsity and synaptic operations."""

from __future__ import annotations

from typing import Iterable, NamedTuple, Union

import torch
from torch import Tensor, nn

__all__ = [
    "accuracy",
    "spike_counts",
    "firing_rates",
    "activation_sparsity",
    "SynapticOps",
    "synaptic_operations",
    "CONNECTION_TYPES",
]

CONNECTION_TYPES: tuple[type[Union[nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d]], ...] = (
    nn.Linear,
    nn.Conv1d,
    nn.Conv2d,
    nn.Conv3d,
)
"""The connection modules whose synaptic operations are counted (NeuroBench's stateless layers)."""

_OVER_TIME = ("sum", "mean", "max", "last")


def accuracy(outputs: Tensor, targets: Tensor, over_time: Union[str, None] = "sum") -> Tensor:
    """Fraction of samples whose largest output is the target class.

    Time-major outputs ``[T, B, C]`` are first reduced over time:

    * ``"sum"`` — spike counts (snnTorch's ``functional.accuracy_rate``; equal to it,
      checked by the tests);
    * ``"mean"`` — firing rates (the same decision as ``"sum"``);
    * ``"max"`` — the peak membrane;
    * ``"last"`` — the membrane (or output) at the last step.

    With ``over_time=None`` the outputs are already ``[B, C]``.

    Args:
        outputs: ``[T, B, C]`` (or ``[B, C]`` with ``over_time=None``).
        targets: Class indices ``[B]``.
        over_time: How time is reduced: ``"sum"``, ``"mean"``, ``"max"``, ``"last"`` or ``None``.

    Returns:
        A 0-d float tensor on the outputs' device (``float(acc)`` for a number).

    Raises:
        TypeError: for non-tensors or non-integer targets.
        ValueError: for wrong shapes, another batch size in the targets, or an unknown ``over_time``.

    Example:
        ```python
        import torch
        import tracetorch as tt

        spikes = torch.zeros(5, 2, 3)
        spikes[:, 0, 1] = 1.0
        spikes[:, 1, 2] = 1.0
        assert float(tt.metrics.accuracy(spikes, torch.tensor([1, 0]))) == 0.5
        ```
    """
    func = "tt.metrics.accuracy"
    if not isinstance(outputs, Tensor) or not isinstance(targets, Tensor):
        raise TypeError(f"{func}: outputs and targets must be tensors.")
    if over_time is None:
        if outputs.ndim != 2:
            raise ValueError(f"{func}: with over_time=None outputs must be [B, C], got shape {tuple(outputs.shape)}.")
        scores = outputs
    else:
        if over_time not in _OVER_TIME:
            raise ValueError(f"{func}: over_time must be one of {_OVER_TIME} or None, got {over_time!r}.")
        if outputs.ndim != 3:
            raise ValueError(
                f"{func}: outputs must be time-major [T, B, C], got shape {tuple(outputs.shape)} "
                "(pass over_time=None for [B, C])."
            )
        if outputs.shape[0] == 0:
            raise ValueError(f"{func}: outputs have no timesteps.")
        if over_time == "sum":
            scores = outputs.sum(0)
        elif over_time == "mean":
            scores = outputs.mean(0)
        elif over_time == "max":
            scores = outputs.max(0).values
        else:
            scores = outputs[-1]
    if targets.is_floating_point() or targets.is_complex() or targets.dtype == torch.bool:
        raise TypeError(f"{func}: targets must be integer class indices, got dtype {targets.dtype}.")
    if targets.ndim != 1 or targets.shape[0] != scores.shape[0]:
        raise ValueError(
            f"{func}: outputs have batch size {scores.shape[0]} but targets have shape {tuple(targets.shape)}; "
            f"expected [{scores.shape[0]}]."
        )
    if scores.shape[0] == 0:
        raise ValueError(f"{func}: empty batch.")
    predicted = scores.detach().max(1).indices
    return (predicted == targets.to(predicted.device)).float().mean()


def _time_first(func: str, spikes: object, time_dim: int) -> Tensor:
    if not isinstance(spikes, Tensor):
        raise TypeError(f"{func}: spikes must be a tensor [T, B, ...], got {type(spikes).__name__}.")
    if isinstance(time_dim, bool) or not isinstance(time_dim, int) or not -spikes.ndim <= time_dim < spikes.ndim:
        raise ValueError(f"{func}: time_dim={time_dim!r} is not an axis of spikes with shape {tuple(spikes.shape)}.")
    s = spikes.movedim(time_dim, 0)
    if s.ndim < 2:
        raise ValueError(f"{func}: spikes must be [T, B, ...] (at least 2-D), got shape {tuple(spikes.shape)}.")
    return s


def spike_counts(spikes: Tensor, time_dim: int = 0) -> Tensor:
    """Number of spikes (non-zero outputs) of every neuron of every sample, summed over time.

    A ternary ``-1`` counts as one spike, like a ``+1``; for 0/1 spikes this is
    ``spikes.sum(time_dim)``.

    Args:
        spikes: A recording ``[T, B, ...]``.
        time_dim: The axis that holds time.

    Returns:
        ``[B, ...]`` counts (int64), without gradient.

    Raises:
        TypeError, ValueError: for a non-tensor or fewer than 2 axes.
    """
    s = _time_first("tt.metrics.spike_counts", spikes, time_dim)
    return (s.detach() != 0).sum(0)


def firing_rates(spikes: Tensor, time_dim: int = 0, per_neuron: bool = True) -> Tensor:
    """Firing rates in spikes per step, averaged over the batch.

    Args:
        spikes: A recording ``[T, B, ...]``.
        time_dim: The axis that holds time.
        per_neuron: ``True`` for one rate per neuron (shape ``spikes.shape[2:]``),
            ``False`` for the layer's mean rate (a 0-d tensor).

    Returns:
        Rates in ``[0, 1]`` (float, without gradient). Use `tracetorch.loss.rate_l1`
        and friends for differentiable rates.

    Raises:
        TypeError, ValueError: for a non-tensor or fewer than 2 axes.
    """
    s = _time_first("tt.metrics.firing_rates", spikes, time_dim)
    events = (s.detach() != 0).to(torch.get_default_dtype() if not s.is_floating_point() else s.dtype)
    rates = events.mean((0, 1))
    return rates if per_neuron else rates.mean()


def activation_sparsity(recordings: Union[Tensor, Iterable[Tensor]]) -> float:
    """Fraction of zero activations over all layers, timesteps and samples (NeuroBench's definition).

    ``1 - (number of non-zero entries) / (number of entries)``, summed over all given
    tensors: NeuroBench's ``ActivationSparsity`` on the outputs of the same layers
    (checked by the tests against ``neurobench`` 2.x).

    Args:
        recordings: One tensor or several (e.g. ``monitor.recordings("output").values()``).

    Returns:
        The sparsity in ``[0, 1]``; 0.0 when there are no entries (as NeuroBench).

    Raises:
        TypeError: if an item is not a tensor.
    """
    items = [recordings] if isinstance(recordings, Tensor) else list(recordings)
    nonzero = 0
    total = 0
    for t in items:
        if not isinstance(t, Tensor):
            raise TypeError(f"tt.metrics.activation_sparsity: expected tensors, got {type(t).__name__}.")
        nonzero += int(torch.count_nonzero(t.detach()))
        total += t.numel()
    return 0.0 if total == 0 else (total - nonzero) / total


class SynapticOps(NamedTuple):
    """Synaptic operations of one or more calls of connection modules.

    Attributes:
        effective_acs: Accumulates: operations with a non-zero input and a non-zero
            weight, counted for calls whose input is spiking (all values in {-1, 0, 1}).
        effective_macs: The same for calls with non-spiking (analogue) input.
        dense: Every operation the connection could do (all inputs and weights
            non-zero), bias excluded.
    """

    effective_acs: int
    effective_macs: int
    dense: int

    def __add__(self, other: object) -> SynapticOps:  # type: ignore[override]
        if not isinstance(other, SynapticOps):
            return NotImplemented
        return SynapticOps(*(a + b for a, b in zip(self, other)))


def _ops(module: nn.Module, x: Tensor, w: Tensor) -> int:
    """Sum over outputs of ``module``'s map applied to 0/1 input ``x`` with 0/1 weight ``w``, bias excluded."""
    if isinstance(module, nn.Linear):
        rows = x.reshape(-1, x.shape[-1]).sum(0, dtype=torch.float64)
        return int(torch.dot(rows, w.sum(0, dtype=torch.float64)).round())
    out = module._conv_forward(x, w, None)  # type: ignore[operator]
    return int(out.sum(dtype=torch.float64).round())


@torch.no_grad()
def synaptic_operations(module: nn.Module, x: Tensor) -> SynapticOps:
    """Synaptic operations of one call ``module(x)`` of a connection (Linear or Conv1d/2d/3d).

    Follows NeuroBench's ``SynapticOperations``: input and weights are binarised
    (non-zero to 1, bias dropped) and the layer's output summed, which counts, for every
    non-zero input, the non-zero weights it meets — its fan-out (for a ``Linear``,
    ``sum_i [x_i != 0] * fan_out_i``). A call whose input holds only -1, 0 and 1 is
    spiking and counts as accumulates (ACs), any other as multiply-accumulates (MACs).
    ``dense`` counts with every input and weight set to one. Equal to NeuroBench on the
    same model and input (checked by the tests against ``neurobench`` 2.x).

    Args:
        module: An ``nn.Linear`` or ``nn.Conv1d``/``Conv2d``/``Conv3d``.
        x: Its input (any batch shape; time may be folded into the batch).

    Returns:
        A `SynapticOps` with ints.

    Raises:
        TypeError: for another module type or a non-tensor input.
    """
    if not isinstance(module, CONNECTION_TYPES):
        raise TypeError(
            f"tt.metrics.synaptic_operations: expected one of {[t.__name__ for t in CONNECTION_TYPES]}, got "
            f"{type(module).__name__}."
        )
    if not isinstance(x, Tensor):
        raise TypeError(f"tt.metrics.synaptic_operations: input must be a tensor, got {type(x).__name__}.")
    weight = module.weight
    dtype = weight.dtype if weight.is_floating_point() else torch.get_default_dtype()
    nz = x != 0
    spiking = bool(((x == 0) | (x == 1) | (x == -1)).all())
    xb = nz.to(dtype)
    wb = (weight != 0).to(dtype)
    effective = _ops(module, xb, wb)
    dense = _ops(module, torch.ones_like(xb), torch.ones_like(wb))
    return SynapticOps(effective if spiking else 0, 0 if spiking else effective, dense)
