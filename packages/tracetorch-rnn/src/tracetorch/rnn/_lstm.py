"""`LSTM`: a long short-term memory layer, one timestep per call."""

from __future__ import annotations

from typing import ClassVar, Optional, Union

import torch
from torch import Tensor, nn

from ._cell import TorchRecurrentLayer

__all__ = ["LSTM"]

_lstm_cell = torch._VF.lstm_cell


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
        device: Device of the parameters.
        dtype: Floating dtype of the parameters.

    Raises:
        TypeError: if a width or ``dim`` is not an int, or ``bias`` not a bool.
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
    _TORCH_MODULE: ClassVar[type[nn.Module]] = nn.LSTM
    _TORCH_CELL: ClassVar[type[nn.Module]] = nn.LSTMCell

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
        self._initialize_state("c")

    def forward(self, x: Tensor) -> Tensor:
        """Advance one timestep.

        Args:
            x: One timestep with ``in_features`` along ``dim``, e.g. ``[B, in_features]``.

        Returns:
            The new hidden state ``h``: shaped like ``x`` with ``out_features`` along ``dim``.
        """
        self._ensure_states(x)
        d, p = self.__dict__, self._parameters
        h, c = _lstm_cell(
            self._flatten_step(x),
            (self._flatten_step(d["h"]), self._flatten_step(d["c"])),
            p["weight_ih"],
            p["weight_hh"],
            p["bias_ih"],
            p["bias_hh"],
        )
        d["h"] = h = self._unflatten_step(h, x)
        d["c"] = self._unflatten_step(c, x)
        return h

    def forward_sequence(self, x: Tensor, time_dim: int = 0) -> Tensor:
        """Run a whole sequence through PyTorch's fused LSTM (cuDNN on GPU).

        Uses this layer's own parameters (gradients reach them), starts from the
        current states and leaves them as stepping would.

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
        out, h, c = self._run_fused(
            torch._VF.lstm,
            xw.reshape(steps, -1, self.in_features),
            (self._sequence_state("h"), self._sequence_state("c")),
        )
        self.h = self._unflatten_step(h[0], first)
        self.c = self._unflatten_step(c[0], first)
        return self._sequence_from_working(out.reshape(xw.shape[:-1] + (self.out_features,)), t)
