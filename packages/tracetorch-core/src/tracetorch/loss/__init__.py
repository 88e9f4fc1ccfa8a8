"""Loss functions: soft cross entropy, spike-count and membrane losses, firing-rate regularisers.

Spike and membrane losses take time-major recordings ``[T, B, C]`` and class indices
``[B]``; the regularisers take any recording ``[T, B, ...]`` (for example from
`tracetorch.Monitor`).
"""

from ._rates import rate_l1, rate_l2, rate_lower_bound, rate_upper_bound
from ._soft_cross_entropy import soft_cross_entropy
from ._spikes import ce_count_loss, ce_rate_loss, mse_count_loss, mse_membrane_loss

__all__ = [
    "soft_cross_entropy",
    "ce_count_loss",
    "ce_rate_loss",
    "mse_count_loss",
    "mse_membrane_loss",
    "rate_l1",
    "rate_l2",
    "rate_lower_bound",
    "rate_upper_bound",
]
