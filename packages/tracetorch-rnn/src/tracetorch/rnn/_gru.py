"""`GRU`: a gated recurrent unit layer, one timestep per call."""

from __future__ import annotations

from typing import Any, Callable, ClassVar, Optional, Union

import torch
from torch import nn

from ._cell import TorchRecurrentLayer

__all__ = ["GRU"]

_gru_cell = torch._VF.gru_cell
_gru_sequence = torch._VF.gru


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
        batch_first: Whether `forward_sequence` expects ``[B, T, ...]`` by default
            instead of ``[T, B, ...]`` (as ``torch.nn.GRU``'s option; stepping is
            unaffected).
        device: Device of the parameters.
        dtype: Floating dtype of the parameters.

    Raises:
        TypeError: if a width or ``dim`` is not an int, or ``bias`` or ``batch_first``
            not a bool.
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
    _TORCH_MODULE: ClassVar[type[Union[nn.RNN, nn.LSTM, nn.GRU]]] = nn.GRU
    _TORCH_CELL: ClassVar[type[nn.RNNCellBase]] = nn.GRUCell

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        bias: bool = True,
        dim: int = -1,
        batch_first: bool = False,
        device: Optional[Union[torch.device, str]] = None,
        dtype: Optional[torch.dtype] = None,
    ) -> None:
        super().__init__(
            in_features, out_features, bias=bias, dim=dim, batch_first=batch_first, device=device, dtype=dtype
        )

    def _cell_op(self) -> Callable[..., Any]:
        return _gru_cell

    def _sequence_op(self) -> Callable[..., Any]:
        return _gru_sequence
