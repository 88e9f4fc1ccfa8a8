"""Cross entropy between two probability tensors."""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["soft_cross_entropy"]


def soft_cross_entropy(pred: Tensor, target: Tensor, eps: float = 1e-8, reduction: str = "mean") -> Tensor:
    """Cross entropy ``-sum(target * log(pred + eps))`` between probability tensors.

    Unlike ``torch.nn.functional.cross_entropy`` this takes *probabilities* (e.g.
    after a softmax, or soft labels), not logits and class indices.

    Args:
        pred: Predicted probabilities, shape ``[B, ...]``.
        target: Target probabilities of the same shape.
        eps: Added inside the log so that a zero probability gives a finite loss.
        reduction: ``"mean"`` over the batch, ``"sum"`` over the batch, or ``"none"``
            for one value per batch entry. The non-batch axes are always summed.

    Returns:
        The loss: a scalar, or shape ``[B]`` for ``reduction="none"``.

    Raises:
        ValueError: if the shapes differ, the input has no batch axis, or
            ``reduction`` is unknown.
    """
    if not isinstance(pred, Tensor) or not isinstance(target, Tensor):
        raise TypeError("soft_cross_entropy: pred and target must be tensors.")
    if pred.shape != target.shape:
        raise ValueError(
            f"soft_cross_entropy: pred and target must have the same shape, got {tuple(pred.shape)} "
            f"and {tuple(target.shape)}."
        )
    if pred.ndim < 1:
        raise ValueError("soft_cross_entropy: inputs need a batch axis (at least 1-D).")
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"soft_cross_entropy: reduction must be 'mean', 'sum' or 'none', got {reduction!r}.")
    per_item = -(target * torch.log(pred + eps))
    per_sample = per_item.reshape(per_item.shape[0], -1).sum(dim=1)
    if reduction == "mean":
        return per_sample.mean()
    if reduction == "sum":
        return per_sample.sum()
    return per_sample
