"""`tracetorch.snn.Layer`: the base class of the spiking layers."""

from __future__ import annotations

from tracetorch.core import Layer as _CoreLayer

__all__ = ["Layer"]


class Layer(_CoreLayer):
    """Base class of the spiking layers (a `tracetorch.Layer`).

    It adds nothing to `tracetorch.Layer` but a name: parameters are registered with
    ``_register_parameter``, ``_register_decay`` (sigmoid-bounded, in (0, 1)) and
    ``_register_threshold`` (softplus-bounded, > 0), states with
    ``_initialize_state``, and ``forward`` starts with ``_ensure_states(x)``.
    Subclass it to write a custom spiking layer that `tracetorch.Model` manages
    like the built-in ones.

    Args:
        num_neurons: Number of neurons (the size of the states along ``dim``).
        dim: The axis of one timestep's input that holds the neurons.

    Example:
        ```python
        import torch
        from tracetorch import snn

        class IF(snn.Layer):
            '''Integrate-and-fire with a fixed threshold of 1.'''

            def __init__(self, n: int, dim: int = -1):
                super().__init__(n, dim)
                self._initialize_state("mem")

            def forward(self, x):
                self._ensure_states(x)
                mem = self.mem + x
                s = (mem >= 1.0).to(x.dtype)
                self.mem = mem - s
                return s

        layer = IF(4)
        spikes = layer(torch.ones(2, 4))
        ```
    """
