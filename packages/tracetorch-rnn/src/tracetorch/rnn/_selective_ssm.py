"""`SelectiveSSM`: a diagonal selective state space layer, one timestep per call."""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tracetorch._internal import check_int, linear_scan

from ._layer import Layer

__all__ = ["SelectiveSSM"]

_LN2 = math.log(2.0)


def _decay_to_scale(owner: str, decay: Any, size: int) -> Any:
    """``-ln(decay) / ln 2``: the ``scale`` for which ``exp(-softplus(0) * scale) == decay``."""
    if isinstance(decay, bool) or decay is None or isinstance(decay, str):
        raise TypeError(
            f"{owner}: `decay` must be a float or a tensor of floats in (0, 1), got {type(decay).__name__} ({decay!r})."
        )
    if isinstance(decay, (int, float)):
        if not 0.0 < decay < 1.0:
            raise ValueError(f"{owner}: `decay` must lie strictly between 0 and 1, got {decay}.")
        return -math.log(decay) / _LN2
    try:
        t = torch.as_tensor(decay)
    except (TypeError, ValueError, RuntimeError) as e:
        raise TypeError(f"{owner}: `decay` could not be read as a tensor ({e}).") from e
    if t.dtype == torch.bool or t.is_complex():
        raise TypeError(f"{owner}: `decay` must hold real numbers, got a tensor of dtype {t.dtype}.")
    t = t.detach().to(torch.float64)
    if not (t.ndim == 0 or (t.ndim == 1 and t.numel() == size)):
        raise ValueError(
            f"{owner}: a tensor `decay` must be 0-d or 1-d with hidden_features={size} elements, "
            f"got shape {tuple(t.shape)}."
        )
    bad = ~((t > 0) & (t < 1))
    if bool(bad.any()):
        raise ValueError(f"{owner}: `decay` must lie strictly between 0 and 1, got {t[bad].flatten()[:4].tolist()}.")
    return (-torch.log(t) / _LN2).to(torch.get_default_dtype())


class SelectiveSSM(Layer):
    r"""A diagonal selective state space layer (Mamba-style), one timestep per call.

    From the input ``x`` (``in_features`` along ``dim``) it computes three projections –
    ``a`` and ``b`` of width ``hidden_features`` and a gate ``g`` of width
    ``out_features`` – and updates a hidden state ``h`` (``hidden_features`` wide)
    with an input-dependent ("selective") decay:

    ```
    a, b, g  = A x + b_a,  B x + b_b,  G x + b_g        (biases start at 0)
    delta    = softplus(a)
    decay_t  = exp(-delta * scale)                      scale = exp(raw_scale) > 0
    h        = decay_t * h + (1 - decay_t) * b
    y        = skip(x) + silu(g) * C h
    ```

    ``C`` (``c_proj``) and ``skip`` have no bias; ``skip`` is the identity when
    ``in_features == out_features`` and a learned projection otherwise. ``scale`` is
    initialised to ``-ln(decay) / ln 2`` so that ``decay_t == decay`` when ``a == 0``
    (then ``delta = ln 2``): ``decay`` is the state's decay per step at zero drive.

    The recurrence is linear in ``h``, so `forward_sequence` computes all projections
    at once and the states with one linear scan over time (one fused multiply-add per
    step with its own backward, or a registered GPU kernel, instead of ``T`` layer calls).

    Args:
        in_features: Width of the input along ``dim``.
        out_features: Width of the output along ``dim``.
        hidden_features: Width of the hidden state ``h`` (the layer's ``num_neurons``).
        decay: Decay per step at ``a == 0``, in (0, 1): a float, or a tensor with one
            value per hidden feature.
        dim: The feature axis of one timestep's input.
        decay_rank: 1 for one ``scale`` per hidden feature, 0 for one for the layer.
        learn_decay: Whether ``scale`` is trained (a parameter) or fixed (a buffer).

    Raises:
        TypeError: if a width or ``dim`` is not an int, or ``decay`` is not a number or
            a tensor of numbers.
        ValueError: if a width is smaller than 1, ``decay`` is outside (0, 1), or its
            tensor has the wrong size.

    Example:
        ```python
        import torch
        from tracetorch import rnn

        layer = rnn.SelectiveSSM(64, 32, hidden_features=16, decay=0.95)
        y = layer(torch.randn(8, 64))                     # one step: [8, 32]
        ys = layer.forward_sequence(torch.randn(50, 8, 64))  # 50 more: [50, 8, 32]
        assert layer.h.shape == (8, 16)
        ```
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        hidden_features: int,
        decay: Any = 0.9,
        *,
        dim: int = -1,
        decay_rank: int = 1,
        learn_decay: bool = True,
    ) -> None:
        owner = type(self).__name__
        check_int(owner, "hidden_features", hidden_features, minimum=1)
        super().__init__(in_features, out_features, dim, state_features=hidden_features)
        self.hidden_features: int = hidden_features
        if isinstance(decay_rank, bool) or decay_rank not in (0, 1):
            raise ValueError(
                f"{owner}: `decay_rank` must be 0 (one decay for the layer) or 1 (one per hidden "
                f"feature), got {decay_rank!r}."
            )
        if not isinstance(learn_decay, bool):
            raise TypeError(f"{owner}: `learn_decay` must be a bool, got {type(learn_decay).__name__}.")
        scale = _decay_to_scale(owner, decay, hidden_features)
        self.a_proj = nn.Linear(in_features, hidden_features)
        self.b_proj = nn.Linear(in_features, hidden_features)
        self.g_proj = nn.Linear(in_features, out_features)
        self.c_proj = nn.Linear(hidden_features, out_features, bias=False)
        self.skip: nn.Module = (
            nn.Identity() if in_features == out_features else nn.Linear(in_features, out_features, bias=False)
        )
        with torch.no_grad():
            for proj in (self.a_proj, self.b_proj, self.g_proj):
                proj.bias.zero_()
        self._register_parameter(
            "scale",
            scale,
            rank=decay_rank,
            learnable=learn_decay,
            inverse_function=torch.log,
            activation_function=torch.exp,
        )
        self._initialize_state("h")

    @property
    def decay(self) -> Tensor:
        """The decay per step at ``a == 0``: ``exp(-ln 2 * scale)`` (rank 0 or per hidden feature)."""
        return torch.exp(-_LN2 * self._param_value("scale"))

    def _gates(self, xw: Tensor) -> tuple[Tensor, Tensor]:
        """``decay_t`` and ``(1 - decay_t) * b`` for inputs with features last."""
        # -(delta * scale) computed as delta * (-scale): bit-identical, one pass fewer
        decay_t = torch.exp(F.softplus(self.a_proj(xw)) * -self._param_value("scale"))
        return decay_t, (1 - decay_t) * self.b_proj(xw)

    def _readout(self, xw: Tensor, h: Tensor) -> Tensor:
        return self.skip(xw) + F.silu(self.g_proj(xw)) * self.c_proj(h)

    def forward(self, x: Tensor) -> Tensor:
        """Advance one timestep.

        Args:
            x: One timestep with ``in_features`` along ``dim``, e.g. ``[B, in_features]``.

        Returns:
            ``y``: shaped like ``x`` with ``out_features`` along ``dim``.
        """
        self._ensure_states(x)
        xw = self._to_working_dim(x)
        decay_t, u = self._gates(xw)
        d = self.__dict__
        h = decay_t * self._to_working_dim(d["h"]) + u
        d["h"] = self._from_working_dim(h)
        return self._from_working_dim(self._readout(xw, h))

    def forward_sequence(self, x: Tensor, time_dim: int = 0) -> Tensor:
        """Run a whole sequence: batched projections and one linear scan over time.

        Starts from the current state and leaves it as stepping would; equal to
        stepping up to floating-point rounding.

        Args:
            x: Input with time along ``time_dim``, e.g. ``[T, B, in_features]``; ``dim``
                refers to one timestep's tensor.
            time_dim: The axis of ``x`` that holds time.

        Returns:
            The outputs of every step, stacked along ``time_dim``.
        """
        xw, t, _ = self._sequence_to_working(x, time_dim)
        decay_t, u = self._gates(xw)
        d = self.__dict__
        h0 = self._to_working_dim(d["h"])
        hs = linear_scan(decay_t, u, h0)  # a registered kernel where one accepts the call
        d["h"] = self._from_working_dim(hs[-1])
        return self._sequence_from_working(self._readout(xw, hs), t)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"hidden_features={self.hidden_features}, dim={self.dim}"
        )
