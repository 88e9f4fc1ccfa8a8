"""Metrics of spiking networks: accuracy, spike counts, firing rates, sparsity, synaptic operations.

They take time-major recordings ``[T, B, ...]``, such as those of `tracetorch.Monitor`
(which also offers them per recorded layer).
"""

from ._metrics import (
    CONNECTION_TYPES,
    SynapticOps,
    accuracy,
    activation_sparsity,
    firing_rates,
    spike_counts,
    synaptic_operations,
)

__all__ = [
    "accuracy",
    "spike_counts",
    "firing_rates",
    "activation_sparsity",
    "synaptic_operations",
    "SynapticOps",
    "CONNECTION_TYPES",
]
