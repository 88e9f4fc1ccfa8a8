"""`tracetorch.Monitor`: record outputs and states of chosen layers at every step.

The emit protocol for layer authors (values that exist only inside a step, and per-step
states in sequence mode) is in ``tracetorch._internal``: ``emit``, ``emit_sequence``,
``wants``.
"""

from ._monitor import LayerSelector, Monitor

__all__ = ["Monitor", "LayerSelector"]
