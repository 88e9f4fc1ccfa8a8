"""`tracetorch.rnn.Layer`: the base of the recurrent layers in `tracetorch.rnn`."""

from __future__ import annotations

from typing import Optional

import torch
import tracetorch as tt
from torch import Tensor
from tracetorch._internal import check_int, check_time_dim

__all__ = ["Layer"]


def _autocast_on(x: Tensor) -> bool:
    """Whether autocast is enabled for ``x``'s device type (mixed dtypes are then fine)."""
    try:
        return bool(torch.is_autocast_enabled(x.device.type))
    except TypeError:  # torch < 2.4 takes no device type
        return bool(torch.is_autocast_enabled()) if x.device.type == "cuda" else bool(torch.is_autocast_cpu_enabled())


class Layer(tt.Layer):
    """Base class of the `tracetorch.rnn` layers: ``in_features`` in, ``out_features`` out.

    A `tracetorch.Layer` whose input width along ``dim`` (``in_features``) may differ
    from its output width (``out_features``) and from the width of its hidden states
    (``num_neurons``, by default ``out_features``). It adds helpers to flatten one
    timestep (or a whole sequence) into the ``[batch, features]`` (or
    ``[time, batch, features]``) layout that fused PyTorch kernels expect, and back.

    States are kept in the input's layout: for an input of shape ``[B, C, H, W]`` and
    ``dim=-3``, a state of width ``S`` has shape ``[B, S, H, W]``, i.e. every pixel is
    an independent sequence (a per-pixel recurrent layer).

    Args:
        in_features: Width of the input along ``dim``.
        out_features: Width of the output along ``dim``.
        dim: The axis of one timestep's input that holds the features: ``-1`` for
            ``[..., F]``, ``-3`` for ``[..., C, H, W]``.
        state_features: Width of the hidden states along ``dim`` (the layer's
            ``num_neurons``, also the size of per-neuron parameters); defaults to
            ``out_features``.

    Raises:
        TypeError: if a width or ``dim`` is not an int.
        ValueError: if a width is smaller than 1.

    Example:
        ```python
        import torch
        from tracetorch import rnn

        class Accumulate(rnn.Layer):
            '''h = h + x @ W.T: a running sum of projected inputs.'''

            def __init__(self, in_features, out_features, *, dim=-1):
                super().__init__(in_features, out_features, dim)
                self.weight = torch.nn.Parameter(torch.randn(out_features, in_features))
                self._initialize_state("h")

            def forward(self, x):
                self._ensure_states(x)
                h = self._to_working_dim(self.h) + self._to_working_dim(x) @ self.weight.T
                self.h = self._from_working_dim(h)
                return self.h

        layer = Accumulate(3, 5)
        y = layer(torch.ones(2, 3))
        assert y.shape == (2, 5)
        ```
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        dim: int = -1,
        *,
        state_features: Optional[int] = None,
    ) -> None:
        owner = type(self).__name__
        check_int(owner, "in_features", in_features, minimum=1)
        check_int(owner, "out_features", out_features, minimum=1)
        if state_features is None:
            state_features = out_features
        check_int(owner, "state_features", state_features, minimum=1)
        super().__init__(state_features, dim)
        self.in_features: int = in_features
        self.out_features: int = out_features
        self._input_width = in_features

    def _ensure_states(self, x: Tensor) -> None:
        """Check the input's dtype against the weights, then create missing states.

        The recurrent layers multiply inputs by weight matrices, which PyTorch refuses
        for mixed dtypes (outside autocast). Checked here, before any state is
        created, so a wrong dtype is a clear error that leaves the layer unchanged.

        Raises:
            TypeError: if ``x`` is a floating-point tensor whose dtype differs from the
                layer's floating-point parameters while autocast is off.
        """
        if isinstance(x, Tensor) and x.is_floating_point():
            for p in self.parameters(recurse=False):
                if p.is_floating_point() and p.dtype != x.dtype and not _autocast_on(x):
                    raise TypeError(
                        f"{type(self).__name__}: the input is {x.dtype} but the layer's parameters are "
                        f"{p.dtype}. Convert one to the other (e.g. `layer.to({x.dtype})` or "
                        f"`x.to({p.dtype})`), or run under torch.autocast."
                    )
                break
        super()._ensure_states(x)

    # ------------------------------------------------------------------ layout helpers
    def _step_dim(self, ndim: int) -> int:
        """``dim`` resolved to be non-negative for a timestep tensor with ``ndim`` axes."""
        return self.dim + ndim if self.dim < 0 else self.dim

    def _flatten_step(self, t: Tensor) -> Tensor:
        """One timestep in the input layout -> ``[N, F]`` with every other axis folded into ``N``.

        Args:
            t: A tensor with its features along ``dim``.

        Returns:
            A 2-D tensor (a view when the layout allows it, e.g. ``[B, F]`` with ``dim=-1``).
        """
        if t.ndim == 2 and self._step_dim(2) == 1:
            return t
        t = self._to_working_dim(t)
        return t.reshape(-1, t.shape[-1])

    def _unflatten_step(self, t: Tensor, like: Tensor) -> Tensor:
        """Inverse of `_flatten_step`: ``[N, F]`` -> the layout of ``like`` with ``F`` along ``dim``.

        Args:
            t: A 2-D tensor ``[N, F]``.
            like: A tensor in the input layout that ``t`` was flattened from (any width).

        Returns:
            ``t`` reshaped to ``like``'s shape with ``F`` features along ``dim`` (a view).
        """
        if like.ndim == 2 and self._step_dim(2) == 1:
            return t
        d = self._step_dim(like.ndim)
        shape = like.shape[:d] + like.shape[d + 1 :] + (t.shape[-1],)
        return self._from_working_dim(t.reshape(shape))

    def _sequence_to_working(self, x: Tensor, time_dim: int) -> tuple[Tensor, int, Tensor]:
        """Validate a sequence, create missing states, and bring it to ``[T, ..., F]``.

        Time is moved to axis 0 and the feature axis (``dim`` of one timestep) last;
        the other axes keep their order.

        Args:
            x: The sequence, with time along ``time_dim``.
            time_dim: The axis of ``x`` that holds time.

        Returns:
            ``(xw, t, first)``: the input as ``[T, ..., F]`` (a view), ``time_dim``
            resolved to be non-negative, and the first timestep in the input layout.

        Raises:
            TypeError, ValueError: as `tracetorch.Layer._ensure_states`, and for a bad
                ``time_dim`` or an empty sequence.
        """
        t = check_time_dim(type(self).__name__, x, time_dim)
        xs = x.movedim(t, 0)
        first = xs[0]
        self._ensure_states(first)
        d = self._step_dim(first.ndim)
        return xs.movedim(d + 1, -1), t, first

    def _sequence_from_working(self, y: Tensor, t: int) -> Tensor:
        """Inverse of `_sequence_to_working` for an output ``[T, ..., F]``.

        Args:
            y: Output with time first and features last.
            t: The resolved ``time_dim`` of the input sequence.

        Returns:
            ``y`` with the features back at ``dim`` and time back at ``time_dim`` (a view).
        """
        d = self._step_dim(y.ndim - 1)
        return y.movedim(-1, d + 1).movedim(0, t)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, dim={self.dim}"
