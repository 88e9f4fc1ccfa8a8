"""Core building blocks: `Layer` (a layer that owns its states), `Model` (manages them)
and `Sequential` (a drop-in ``nn.Sequential`` that runs whole sequences)."""

from ._finite import check_finite, is_checking_finite
from ._layer import Layer
from ._lengths import last_valid
from ._model import Model
from ._sequential import Sequential

__all__ = ["Layer", "Model", "Sequential", "check_finite", "is_checking_finite", "last_valid"]
