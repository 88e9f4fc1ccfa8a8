"""`Sequential`: a drop-in ``nn.Sequential`` that also runs whole sequences fast."""

from __future__ import annotations

from collections import Counter
from typing import Any, Optional

from torch import Tensor, nn

from ._layer import Layer, iter_state_items, set_state
from ._model import Model
from ._sequence import check_time_dim, loop_over_time
from ._walk import find_layers

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
            f"Sequential.forward_sequence: {type(module).__name__} returned {type(out).__name__}, expected a tensor."
        )
    if out.ndim < 1 or out.shape[0] != folded.shape[0]:
        raise ValueError(
            f"Sequential.forward_sequence: {type(module).__name__} is run once on all timesteps with time "
            f"folded into the batch ({steps} steps x batch {xt.shape[1]} = {folded.shape[0]}), but it "
            f"returned shape {tuple(out.shape)}: it does not keep the batch axis, so it is not a "
            "per-timestep map. Step the model instead (loop over time), or wrap the module in a tt.Model "
            "whose forward_sequence loops over time."
        )
    out = out.reshape((steps, xt.shape[1]) + tuple(out.shape[1:]))
    return out.movedim(0, t)


# torch's stubs declare _modules differently in nn.Sequential and nn.Module (not our override)
class Sequential(nn.Sequential, Model):  # pyright: ignore[reportIncompatibleVariableOverride]
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

    Modules that contain traceTorch layers without being one are never folded: a
    plain ``nn.Sequential`` is entered and its modules are handled by the same rules
    (recursively); any other module holding a traceTorch layer (a custom block) is
    stepped: its ``forward`` is called once per timestep. If a traceTorch layer
    appears more than once in the container (the same object at two positions), the
    whole container is stepped over time, which is what stepping it does.

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

    def forward_sequence(self, x: Tensor, time_dim: int = 0, *, lengths: Optional[Any] = None) -> Tensor:
        """Run a whole sequence through every module in turn.

        Args:
            x: Input with time along ``time_dim`` and a batch axis.
            time_dim: The axis of ``x`` that holds time.
            lengths: Optional per-sample lengths (a 1-D integer tensor or list, each in
                ``1..T``; the batch is axis 0 of one timestep, so axis 1 of ``x`` for
                ``time_dim=0``). Each sample then runs for its own number of steps: its
                states end at its last valid step, its outputs past it are zeros, and
                no gradient crosses between samples. `tracetorch.last_valid` picks each
                sample's last valid output.

        Returns:
            The outputs of every step, stacked along ``time_dim``.

        Raises:
            ValueError, TypeError: for a bad input or lengths, or a module that fails
                on the sequence; every state is then left as it was before the call.
        """
        t = check_time_dim(type(self).__name__, x, time_dim)
        if lengths is not None:
            from ._lengths import run_with_lengths

            return run_with_lengths(self, x, lengths, t, lambda xg: self.forward_sequence(xg, time_dim=t))
        # an error in any module leaves every state as it was (they are only rebound)
        saved = [(f.layer, name, st) for f in find_layers(self) for name, st in iter_state_items(f.layer)]
        try:
            if _has_shared_layer(self):
                return loop_over_time(self, x, t)
            return _run_modules(self, x, t)
        except BaseException:
            for layer, name, st in saved:
                set_state(layer, name, st)
            raise


def _holds_layer(module: nn.Module) -> bool:
    return any(isinstance(m, Layer) for m in module.modules()) or bool(find_layers(module))


def _has_shared_layer(root: nn.Module) -> bool:
    """Whether some traceTorch layer is reachable at two places (the same object used twice)."""
    counts = Counter(id(m) for _, m in root.named_modules(remove_duplicate=False) if isinstance(m, Layer))
    return any(c > 1 for c in counts.values())


def _run_modules(container: nn.Sequential, x: Tensor, t: int) -> Tensor:
    h = x
    for module in container:
        if isinstance(module, (Layer, Model)):
            h = module.forward_sequence(h, time_dim=t)
        elif type(module) is nn.Sequential and _holds_layer(module):
            h = _run_modules(module, h, t)
        elif _holds_layer(module):
            # a custom block holding traceTorch layers: its forward is one timestep
            h = loop_over_time(module, h, t)
        else:
            h = _time_folded(module, h, t)
    return h
