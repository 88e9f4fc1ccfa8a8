"""`LSTM`: a long short-term memory layer, one timestep per call."""

from __future__ import annotations

from typing import Any, Callable, ClassVar, Optional, Union

import torch
from torch import nn

from ._cell import TorchRecurrentLayer

__all__ = ["LSTM"]

_lstm_cell = torch._VF.lstm_cell
_lstm_sequence = torch._VF.lstm


class LSTM(TorchRecurrentLayer):
    r"""Long short-term memory, one timestep per call; equal to ``torch.nn.LSTM`` stepped once.

    With input ``x``, hidden state ``h`` and cell state ``c`` (features along ``dim``):

    ```
    i = sigmoid(W_ii x + b_ii + W_hi h + b_hi)
    f = sigmoid(W_if x + b_if + W_hf h + b_hf)
    g = tanh(W_ig x + b_ig + W_hg h + b_hg)
    o = sigmoid(W_io x + b_io + W_ho h + b_ho)
    c = f * c + i * g
    h = o * tanh(c)
    ```

    and the output is the new ``h``. The parameters have the names, layout (gates
    stacked in the order ``i, f, g, o``) and initialisation of ``torch.nn.LSTMCell``,
    so ``layer.load_state_dict(cell.state_dict())`` works, and the fused kernels of
    PyTorch do the work (``torch._VF.lstm_cell`` per step; ``torch._VF.lstm`` – cuDNN
    on GPU – for `forward_sequence`).

    States: ``h`` and ``c``, each ``out_features`` wide along ``dim``, created as zeros on
    the first call. With ``dim=-3`` and a ``[B, C, H, W]`` input every pixel is its own
    sequence (a per-pixel LSTM).

    Args:
        in_features: Width of the input along ``dim``.
        out_features: Width of the hidden and cell states (and of the output).
        bias: Whether to use the biases ``bias_ih`` and ``bias_hh``.
        dim: The feature axis of one timestep's input.
        batch_first: Whether `forward_sequence` expects ``[B, T, ...]`` by default
            instead of ``[T, B, ...]`` (as ``torch.nn.LSTM``'s option; stepping is
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

        layer = rnn.LSTM(8, 16)
        for t in range(5):
            h = layer(torch.randn(4, 8))     # [4, 16]
        assert layer.c.shape == (4, 16)
        ```
    """

    _GATES: ClassVar[int] = 4
    _TORCH_MODULE: ClassVar[type[Union[nn.RNN, nn.LSTM, nn.GRU]]] = nn.LSTM
    _TORCH_CELL: ClassVar[type[nn.RNNCellBase]] = nn.LSTMCell
    _STATE_NAMES: ClassVar[tuple[str, ...]] = ("h", "c")

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
        return _lstm_cell

    def _sequence_op(self) -> Callable[..., Any]:
        return _lstm_sequence
