"""Losses on time-major spike and membrane recordings ``[T, B, C]`` (classification)."""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torch.nn import functional as F

__all__ = ["ce_count_loss", "ce_rate_loss", "mse_count_loss", "mse_membrane_loss"]

_REDUCTIONS = ("mean", "sum", "none")


def check_classification(func: str, outputs: object, targets: object, what: str = "spikes") -> tuple[int, int, int]:
    """Validate ``outputs [T, B, C]`` and class-index ``targets [B]``; return ``(T, B, C)``."""
    if not isinstance(outputs, Tensor):
        raise TypeError(f"{func}: {what} must be a torch.Tensor [T, B, C], got {type(outputs).__name__}.")
    if not isinstance(targets, Tensor):
        raise TypeError(f"{func}: targets must be a tensor of class indices [B], got {type(targets).__name__}.")
    if not outputs.is_floating_point():
        raise TypeError(f"{func}: {what} must be floating point, got dtype {outputs.dtype}; use .float().")
    if outputs.ndim != 3:
        raise ValueError(
            f"{func}: {what} must be time-major [T, B, C] (time, batch, classes), got shape {tuple(outputs.shape)}. "
            "Stack the per-step outputs with torch.stack(outputs) (time first)."
        )
    T, B, C = outputs.shape
    if T == 0 or C == 0:
        raise ValueError(f"{func}: {what} must have at least one step and one class, got shape {tuple(outputs.shape)}.")
    if targets.dtype not in (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8):
        raise TypeError(
            f"{func}: targets must be integer class indices [B], got dtype {targets.dtype} "
            "(one-hot targets: use targets.argmax(-1))."
        )
    if targets.ndim != 1 or targets.shape[0] != B:
        raise ValueError(
            f"{func}: {what} have batch size {B} (shape {tuple(outputs.shape)}, [T, B, C]) but targets have shape "
            f"{tuple(targets.shape)}; expected [{B}]. Check that time is the first axis of the {what}."
        )
    if B and (int(targets.min()) < 0 or int(targets.max()) >= C):
        raise ValueError(
            f"{func}: targets must be class indices in [0, {C - 1}], got values in "
            f"[{int(targets.min())}, {int(targets.max())}]."
        )
    return T, B, C


def _check_reduction(func: str, reduction: object) -> str:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{func}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}.")
    return reduction  # type: ignore[return-value]


def _check_number(func: str, name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise TypeError(f"{func}: `{name}` must be a finite number, got {value!r}.")
    return float(value)


def ce_count_loss(spikes: Tensor, targets: Tensor, reduction: str = "mean") -> Tensor:
    """Cross entropy on spike counts: ``cross_entropy(spikes.sum(0), targets)``.

    The output spikes are summed over time and the counts used as logits, so the
    correct class is pushed to fire more than the others. Equal to snnTorch's
    ``functional.ce_count_loss()`` (checked by the tests).

    Args:
        spikes: Output spikes ``[T, B, C]`` (time, batch, classes).
        targets: Class indices ``[B]``.
        reduction: ``"mean"`` or ``"sum"`` over the batch, or ``"none"`` for ``[B]``.

    Returns:
        The loss (a scalar, or ``[B]``).

    Raises:
        TypeError: for non-tensors, non-floating spikes or non-integer targets.
        ValueError: for a shape other than ``[T, B, C]``, targets of another batch size,
            class indices out of range, or an unknown reduction.

    Example:
        ```python
        import torch
        import tracetorch as tt

        spikes = (torch.rand(25, 8, 10) < 0.2).float()
        loss = tt.loss.ce_count_loss(spikes, torch.randint(0, 10, (8,)))
        ```
    """
    func = "tt.loss.ce_count_loss"
    check_classification(func, spikes, targets)
    reduction = _check_reduction(func, reduction)
    return F.cross_entropy(spikes.sum(0), targets.long(), reduction=reduction)


def ce_rate_loss(spikes: Tensor, targets: Tensor, reduction: str = "mean") -> Tensor:
    """Cross entropy at every step, averaged over time: ``mean_t cross_entropy(spikes[t], targets)``.

    Equal to snnTorch's ``functional.ce_rate_loss()`` (checked by the tests).

    Args:
        spikes: Output spikes (or any per-step logits) ``[T, B, C]``.
        targets: Class indices ``[B]``.
        reduction: Per step, ``"mean"`` or ``"sum"`` over the batch, or ``"none"``
            for ``[B]``; then averaged over the ``T`` steps.

    Returns:
        The loss (a scalar, or ``[B]``).

    Raises:
        TypeError: for non-tensors, non-floating spikes or non-integer targets.
        ValueError: for a shape other than ``[T, B, C]``, targets of another batch size,
            class indices out of range, or an unknown reduction.
    """
    func = "tt.loss.ce_rate_loss"
    T, B, C = check_classification(func, spikes, targets)
    reduction = _check_reduction(func, reduction)
    per = F.cross_entropy(spikes.reshape(T * B, C), targets.long().repeat(T), reduction="none").view(T, B)
    per_step = per.mean(1) if reduction == "mean" else per.sum(1) if reduction == "sum" else per
    return per_step.mean(0)


def mse_count_loss(
    spikes: Tensor,
    targets: Tensor,
    correct_rate: float = 1.0,
    incorrect_rate: float = 0.0,
    reduction: str = "mean",
) -> Tensor:
    """Mean squared error between spike counts and target counts, divided by ``T``.

    The target count is ``T * correct_rate`` for the correct class and
    ``T * incorrect_rate`` for the others (SLAYER's spike-count loss)::

        loss = mse(spikes.sum(0), target_counts, reduction) / T

    Equal to snnTorch's ``functional.mse_count_loss(correct_rate, incorrect_rate)``
    whenever ``T * correct_rate`` and ``T * incorrect_rate`` are whole numbers
    (checked by the tests). snnTorch truncates the target counts to integers
    (``int(T * rate)``, so 25 steps at a rate of 0.75 target 18 spikes, not 18.75);
    here they are not truncated, so the target rate is what was asked for.

    Args:
        spikes: Output spikes ``[T, B, C]``.
        targets: Class indices ``[B]``.
        correct_rate: Target firing rate (spikes per step) of the correct class, in ``[0, 1]``.
        incorrect_rate: Target firing rate of the other classes, in ``[0, 1]``.
        reduction: ``"mean"`` or ``"sum"`` over batch and classes, or ``"none"`` for ``[B, C]``.

    Returns:
        The loss (a scalar, or ``[B, C]``).

    Raises:
        TypeError: for non-tensors, non-floating spikes, non-integer targets or non-numeric rates.
        ValueError: for a shape other than ``[T, B, C]``, targets of another batch size,
            class indices out of range, rates outside ``[0, 1]``, or an unknown reduction.
    """
    func = "tt.loss.mse_count_loss"
    T, B, C = check_classification(func, spikes, targets)
    reduction = _check_reduction(func, reduction)
    on = _check_number(func, "correct_rate", correct_rate)
    off = _check_number(func, "incorrect_rate", incorrect_rate)
    for v, name in ((on, "correct_rate"), (off, "incorrect_rate")):
        if not 0.0 <= v <= 1.0:
            raise ValueError(f"{func}: `{name}` is a firing rate (spikes per step) in [0, 1], got {v}.")
    counts = spikes.sum(0)
    target = torch.full_like(counts, T * off)
    target.scatter_(1, targets.long().view(B, 1), T * on)
    return F.mse_loss(counts, target, reduction=reduction) / T


def mse_membrane_loss(
    membrane: Tensor,
    targets: Tensor,
    on_target: float = 1.0,
    off_target: float = 0.0,
    reduction: str = "mean",
) -> Tensor:
    """Mean squared error of the membrane against a fixed target at every step, averaged over time.

    The target is ``on_target`` for the correct class and ``off_target`` for the
    others::

        loss = mean_t mse(membrane[t], target, reduction)

    Equal to snnTorch's ``functional.mse_membrane_loss(on_target=..., off_target=...)``
    for ``off_target >= 0`` (checked by the tests); snnTorch turns a negative
    ``off_target`` into 0 (its target is ``clamp(one_hot * on_target, min=off_target)``),
    here a negative ``off_target`` is used as given.

    Args:
        membrane: Output membrane potentials ``[T, B, C]`` (e.g. a `tt.snn.LI`
            readout recorded over time).
        targets: Class indices ``[B]``.
        on_target: Target membrane of the correct class.
        off_target: Target membrane of the other classes.
        reduction: ``"mean"`` or ``"sum"`` over batch and classes, or ``"none"`` for ``[B, C]``.

    Returns:
        The loss (a scalar, or ``[B, C]``).

    Raises:
        TypeError: for non-tensors, a non-floating membrane, non-integer targets or non-numeric targets values.
        ValueError: for a shape other than ``[T, B, C]``, targets of another batch size,
            class indices out of range, or an unknown reduction.
    """
    func = "tt.loss.mse_membrane_loss"
    T, B, C = check_classification(func, membrane, targets, what="membrane")
    reduction = _check_reduction(func, reduction)
    on = _check_number(func, "on_target", on_target)
    off = _check_number(func, "off_target", off_target)
    target = torch.full((B, C), off, dtype=membrane.dtype, device=membrane.device)
    target.scatter_(1, targets.long().view(B, 1).to(membrane.device), on)
    per = F.mse_loss(membrane, target.expand(T, B, C), reduction="none")
    if reduction == "mean":
        return per.mean()
    if reduction == "sum":
        return per.sum() / T
    return per.mean(0)
