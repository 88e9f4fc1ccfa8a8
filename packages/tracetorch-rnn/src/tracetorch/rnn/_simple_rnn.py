"""`SimpleRNN`: the Elman recurrent layer, one timestep per call."""

from __future__ import annotations

from typing import Any, Callable, ClassVar, Optional, Union

import torch
from torch import nn

from ._cell import TorchRecurrentLayer

__all__ = ["SimpleRNN"]

_NONLINEARITIES = ("tanh", "relu")
_tanh_cell = torch._VF.rnn_tanh_cell
_relu_cell = torch._VF.rnn_relu_cell
_tanh_sequence = torch._VF.rnn_tanh
_relu_sequence = torch._VF.rnn_relu


class SimpleRNN(TorchRecurrentLayer):
    r"""Elman RNN, one timestep per call; equal to ``torch.nn.RNN`` stepped once.

    With input ``x`` and hidden state ``h`` (features along ``dim``):

    ```
    h = act(W_ih x + b_ih + W_hh h + b_hh)      act = tanh (default) or relu
    ```

    and the output is the new ``h``. The parameters have the names, layout and
    initialisation of ``torch.nn.RNNCell``, so ``layer.load_state_dict(cell.state_dict())``
    works; PyTorch's fused kernels do the work (``torch._VF.rnn_tanh_cell`` /
    ``rnn_relu_cell`` per step, ``torch._VF.rnn_tanh`` / ``rnn_relu`` – cuDNN on GPU –
    for `forward_sequence`).

    State: ``h``, ``out_features`` wide along ``dim``, created as zeros on the first call.

    Args:
        in_features: Width of the input along ``dim``.
        out_features: Width of the hidden state (and of the output).
        bias: Whether to use the biases ``bias_ih`` and ``bias_hh``.
        nonlinearity: ``"tanh"`` or ``"relu"``.
        dim: The feature axis of one timestep's input.
        batch_first: Whether `forward_sequence` expects ``[B, T, ...]`` by default
            instead of ``[T, B, ...]`` (as ``torch.nn.RNN``'s option; stepping is
            unaffected).
        device: Device of the parameters.
        dtype: Floating dtype of the parameters.

    Raises:
        TypeError: if a width or ``dim`` is not an int, ``bias`` or ``batch_first`` not a bool or
            ``nonlinearity`` not a string.
        ValueError: if a width is smaller than 1 or ``nonlinearity`` is unknown.

    Example:
        ```python
        import torch
        from tracetorch import rnn

        layer = rnn.SimpleRNN(8, 16, nonlinearity="relu")
        y = layer.forward_sequence(torch.randn(10, 4, 8))   # [10, 4, 16]
        assert y.shape == (10, 4, 16)
        ```
    """

    _GATES: ClassVar[int] = 1
    _TORCH_MODULE: ClassVar[type[Union[nn.RNN, nn.LSTM, nn.GRU]]] = nn.RNN
    _TORCH_CELL: ClassVar[type[nn.RNNCellBase]] = nn.RNNCell

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        bias: bool = True,
        nonlinearity: str = "tanh",
        dim: int = -1,
        batch_first: bool = False,
        device: Optional[Union[torch.device, str]] = None,
        dtype: Optional[torch.dtype] = None,
    ) -> None:
        owner = type(self).__name__
        if not isinstance(nonlinearity, str):
            raise TypeError(
                f"{owner}: `nonlinearity` must be a string, got {type(nonlinearity).__name__} ({nonlinearity!r})."
            )
        if nonlinearity not in _NONLINEARITIES:
            raise ValueError(f"{owner}: `nonlinearity` must be 'tanh' or 'relu', got {nonlinearity!r}.")
        super().__init__(
            in_features, out_features, bias=bias, dim=dim, batch_first=batch_first, device=device, dtype=dtype
        )
        self.nonlinearity: str = nonlinearity

    def _torch_kwargs(self) -> dict[str, Any]:
        return {"nonlinearity": self.nonlinearity}

    @classmethod
    def _kwargs_from_torch(cls, module: nn.Module) -> dict[str, Any]:
        return {"nonlinearity": module.nonlinearity}

    def _cell_op(self) -> Callable[..., Any]:
        return _tanh_cell if self.nonlinearity == "tanh" else _relu_cell

    def _sequence_op(self) -> Callable[..., Any]:
        return _tanh_sequence if self.nonlinearity == "tanh" else _relu_sequence

    def extra_repr(self) -> str:
        extra = "" if self.nonlinearity == "tanh" else f", nonlinearity={self.nonlinearity!r}"
        return super().extra_repr() + extra
