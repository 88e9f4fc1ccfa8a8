"""`GRU`: a gated recurrent unit layer, one timestep per call."""

from __future__ import annotations

from typing import ClassVar, Optional, Union

import torch
from torch import Tensor, nn

from ._cell import TorchRecurrentLayer

__all__ = ["GRU"]

_gru_cell = torch._VF.gru_cell


class GRU(TorchRecurrentLayer):
    r"""Gated recurrent unit, one timestep per call; equal to ``torch.nn.GRU`` stepped once.

    With input ``x`` and hidden state ``h`` (features along ``dim``):

    ```
    r = sigmoid(W_ir x + b_ir + W_hr h + b_hr)
    z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
    n = tanh(W_in x + b_in + r * (W_hn h + b_hn))
    h = (1 - z) * n + z * h
    ```

    and the output is the new ``h``. The parameters have the names, layout (gates
    stacked in the order ``r, z, n``) and initialisation of ``torch.nn.GRUCell``, so
    ``layer.load_state_dict(cell.state_dict())`` works; PyTorch's fused kernels do the
    work (``torch._VF.gru_cell`` per step, ``torch._VF.gru`` – cuDNN on GPU – for
    `forward_sequence`).

    State: ``h``, ``out_features`` wide along ``dim``, created as zeros on the first call.

    Args:
        in_features: Width of the input along ``dim``.
        out_features: Width of the hidden state (and of the output).
        bias: Whether to use the biases ``bias_ih`` and ``bias_hh``.
        dim: The feature axis of one timestep's input.
        device: Device of the parameters.
        dtype: Floating dtype of the parameters.

    Raises:
        TypeError: if a width or ``dim`` is not an int, or ``bias`` not a bool.
        ValueError: if a width is smaller than 1.

    Example:
        ```python
        import torch
        from tracetorch import rnn

        layer = rnn.GRU(3, 6, dim=-3)              # a per-pixel GRU
        y = layer(torch.randn(2, 3, 5, 5))         # [2, 6, 5, 5]
        assert y.shape == (2, 6, 5, 5)
        ```
    """

    _GATES: ClassVar[int] = 3
    _TORCH_MODULE: ClassVar[type[nn.Module]] = nn.GRU
    _TORCH_CELL: ClassVar[type[nn.Module]] = nn.GRUCell

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        bias: bool = True,
        dim: int = -1,
        device: Optional[Union[torch.device, str]] = None,
        dtype: Optional[torch.dtype] = None,
    ) -> None:
        super().__init__(in_features, out_features, bias=bias, dim=dim, device=device, dtype=dtype)
        self._initialize_state("h")

    def forward(self, x: Tensor) -> Tensor:
        """Advance one timestep.

        Args:
            x: One timestep with ``in_features`` along ``dim``, e.g. ``[B, in_features]``.

        Returns:
            The new hidden state ``h``: shaped like ``x`` with ``out_features`` along ``dim``.
        """
        self._ensure_states(x)
        d, p = self.__dict__, self._parameters
        h = _gru_cell(
            self._flatten_step(x),
            self._flatten_step(d["h"]),
            p["weight_ih"],
            p["weight_hh"],
            p["bias_ih"],
            p["bias_hh"],
        )
        d["h"] = h = self._unflatten_step(h, x)
        return h

    def forward_sequence(self, x: Tensor, time_dim: int = 0) -> Tensor:
        """Run a whole sequence through PyTorch's fused GRU (cuDNN on GPU).

        Uses this layer's own parameters (gradients reach them), starts from the
        current state and leaves it as stepping would.

        On CUDA, cuDNN follows ``torch.backends.cudnn.allow_tf32`` (on by default), as the
        ``torch.nn`` RNN modules do; turn it off to get stepping's numbers up to fp32
        rounding.

        Args:
            x: Input with time along ``time_dim``, e.g. ``[T, B, in_features]``; ``dim``
                refers to one timestep's tensor.
            time_dim: The axis of ``x`` that holds time.

        Returns:
            The hidden state of every step, stacked along ``time_dim``.
        """
        xw, t, first = self._sequence_to_working(x, time_dim)
        steps = xw.shape[0]
        out, h = self._run_fused(
            torch._VF.gru, xw.reshape(steps, -1, self.in_features), self._sequence_state("h")
        )
        self.h = self._unflatten_step(h[0], first)
        return self._sequence_from_working(out.reshape(xw.shape[:-1] + (self.out_features,)), t)
