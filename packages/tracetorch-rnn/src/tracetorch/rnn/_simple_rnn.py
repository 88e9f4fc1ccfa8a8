"""`SimpleRNN`: the Elman recurrent layer, one timestep per call."""

from __future__ import annotations

from typing import Any, ClassVar, Optional, Union

import torch
from torch import Tensor, nn

from ._cell import TorchRecurrentLayer

__all__ = ["SimpleRNN"]

_NONLINEARITIES = ("tanh", "relu")
_tanh_cell = torch._VF.rnn_tanh_cell
_relu_cell = torch._VF.rnn_relu_cell


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
        device: Device of the parameters.
        dtype: Floating dtype of the parameters.

    Raises:
        TypeError: if a width or ``dim`` is not an int, ``bias`` not a bool or
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
    _TORCH_MODULE: ClassVar[type[nn.Module]] = nn.RNN
    _TORCH_CELL: ClassVar[type[nn.Module]] = nn.RNNCell

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        bias: bool = True,
        nonlinearity: str = "tanh",
        dim: int = -1,
        device: Optional[Union[torch.device, str]] = None,
        dtype: Optional[torch.dtype] = None,
    ) -> None:
        owner = type(self).__name__
        if not isinstance(nonlinearity, str):
            raise TypeError(
                f"{owner}: `nonlinearity` must be a string, got "
                f"{type(nonlinearity).__name__} ({nonlinearity!r})."
            )
        if nonlinearity not in _NONLINEARITIES:
            raise ValueError(
                f"{owner}: `nonlinearity` must be 'tanh' or 'relu', got {nonlinearity!r}."
            )
        super().__init__(in_features, out_features, bias=bias, dim=dim, device=device, dtype=dtype)
        self.nonlinearity: str = nonlinearity
        self._initialize_state("h")

    def _torch_kwargs(self) -> dict[str, Any]:
        return {"nonlinearity": self.nonlinearity}

    @classmethod
    def _kwargs_from_torch(cls, module: nn.Module) -> dict[str, Any]:
        return {"nonlinearity": module.nonlinearity}

    def forward(self, x: Tensor) -> Tensor:
        """Advance one timestep.

        Args:
            x: One timestep with ``in_features`` along ``dim``, e.g. ``[B, in_features]``.

        Returns:
            The new hidden state ``h``: shaped like ``x`` with ``out_features`` along ``dim``.
        """
        self._ensure_states(x)
        d, p = self.__dict__, self._parameters
        cell = _tanh_cell if d["nonlinearity"] == "tanh" else _relu_cell
        h = cell(
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
        """Run a whole sequence through PyTorch's fused RNN (cuDNN on GPU).

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
        fn = torch._VF.rnn_tanh if self.nonlinearity == "tanh" else torch._VF.rnn_relu
        out, h = self._run_fused(fn, xw.reshape(steps, -1, self.in_features), self._sequence_state("h"))
        self.h = self._unflatten_step(h[0], first)
        return self._sequence_from_working(out.reshape(xw.shape[:-1] + (self.out_features,)), t)

    def extra_repr(self) -> str:
        extra = "" if self.nonlinearity == "tanh" else f", nonlinearity={self.nonlinearity!r}"
        return super().extra_repr() + extra
