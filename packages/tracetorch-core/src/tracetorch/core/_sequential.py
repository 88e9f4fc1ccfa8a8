"""`Sequential`: a drop-in ``nn.Sequential`` that also runs whole sequences fast."""

from __future__ import annotations

from torch import Tensor, nn

from ._layer import Layer
from ._model import Model
from ._sequence import check_time_dim, loop_over_time

__all__ = ["Sequential"]


def _time_folded(module: nn.Module, x: Tensor, t: int) -> Tensor:
    """Apply a per-timestep module to every step at once, time folded into the batch."""
    if x.ndim < 3:
        # a single step would have no batch axis to fold time into
        return loop_over_time(module, x, t)
    xt = x.movedim(t, 0)
    steps = xt.shape[0]
    folded = xt.reshape((steps * xt.shape[1],) + tuple(xt.shape[2:]))
    out = module(folded)
    if not isinstance(out, Tensor):
        raise TypeError(
            f"Sequential.forward_sequence: {type(module).__name__} returned {type(out).__name__}, "
            "expected a tensor."
        )
    out = out.reshape((steps, xt.shape[1]) + tuple(out.shape[1:]))
    return out.movedim(0, t)


class Sequential(nn.Sequential, Model):
    """A drop-in ``nn.Sequential`` that is also a `Model` and runs sequences layer by layer.

    Stepping (``seq(x_t)``) is exactly ``nn.Sequential``. `forward_sequence` runs the
    whole ``[T, ...]`` input through one module at a time: traceTorch layers (and
    nested models) through their own ``forward_sequence`` – fused kernels, scans,
    cuDNN – and every other module once on all timesteps with time folded into the
    batch axis. That is exact for per-timestep maps (``Linear``, ``Conv2d``,
    activations, ``Flatten``, pooling); two documented consequences:

    * ``Dropout`` draws one mask over the folded batch, so its random draws differ
      from stepping (same distribution).
    * ``BatchNorm`` in training mode computes statistics over all timesteps at once
      (in eval mode it is exact).

    Args:
        *modules: The modules, as for ``nn.Sequential`` (or one ``OrderedDict``).

    Example:
        ```python
        import torch
        from torch import nn
        import tracetorch as tt
        from tracetorch import snn

        net = tt.Sequential(nn.Linear(8, 16), snn.LI(16), nn.Linear(16, 2))
        y = net.forward_sequence(torch.randn(20, 4, 8))   # [T=20, B=4, 2]
        assert y.shape == (20, 4, 2)
        ```
    """

    def forward_sequence(self, x: Tensor, time_dim: int = 0) -> Tensor:
        """Run a whole sequence through every module in turn.

        Args:
            x: Input with time along ``time_dim`` and a batch axis.
            time_dim: The axis of ``x`` that holds time.

        Returns:
            The outputs of every step, stacked along ``time_dim``.
        """
        t = check_time_dim(type(self).__name__, x, time_dim)
        h = x
        for module in self:
            if isinstance(module, (Layer, Model)):
                h = module.forward_sequence(h, time_dim=t)
            else:
                h = _time_folded(module, h, t)
        return h
