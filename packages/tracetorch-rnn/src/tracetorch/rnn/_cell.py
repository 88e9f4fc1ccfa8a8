"""Shared machinery of the layers that mirror ``torch.nn.RNN``/``LSTM``/``GRU``."""

from __future__ import annotations

import math
import warnings
from typing import Any, Callable, ClassVar, Optional, TypeVar, Union

import torch
from torch import Tensor, nn

from tracetorch._internal import check_int

from ._layer import Layer

__all__ = ["TorchRecurrentLayer"]

_T = TypeVar("_T", bound="TorchRecurrentLayer")

_CUDNN_WEIGHT_WARNING = r"RNN module weights are not part of single contiguous chunk of memory"


def _check_bias(owner: str, bias: Any) -> bool:
    if not isinstance(bias, bool):
        raise TypeError(f"{owner}: `bias` must be a bool, got {type(bias).__name__} ({bias!r}).")
    return bias


class TorchRecurrentLayer(Layer):
    """Base of `SimpleRNN`, `LSTM` and `GRU`: parameters laid out like ``torch.nn.*Cell``.

    Holds ``weight_ih`` ``[gates * out_features, in_features]``, ``weight_hh``
    ``[gates * out_features, out_features]`` and, with ``bias=True``, ``bias_ih`` and
    ``bias_hh`` ``[gates * out_features]``, initialised like PyTorch (uniform in
    ``±1/sqrt(out_features)``, in that order, so the same seed gives the same weights
    as the torch cell). Provides `from_torch`/`to_torch` and the fused sequence path.
    Not public: use one of the concrete layers.
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
        dim: int = -1,
        device: Optional[Union[torch.device, str]] = None,
        dtype: Optional[torch.dtype] = None,
    ) -> None:
        owner = type(self).__name__
        super().__init__(in_features, out_features, dim)
        self.bias: bool = _check_bias(owner, bias)
        rows = self._GATES * out_features
        factory = {"device": device, "dtype": dtype}
        self.weight_ih = nn.Parameter(torch.empty(rows, in_features, **factory))
        self.weight_hh = nn.Parameter(torch.empty(rows, out_features, **factory))
        if bias:
            self.bias_ih: Optional[nn.Parameter] = nn.Parameter(torch.empty(rows, **factory))
            self.bias_hh: Optional[nn.Parameter] = nn.Parameter(torch.empty(rows, **factory))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Re-initialise every weight and bias uniformly in ``[-1/sqrt(out_features), 1/sqrt(out_features)]``.

        This is PyTorch's initialisation of ``nn.RNN``/``nn.LSTM``/``nn.GRU`` and their
        cells, applied in the same order.
        """
        stdv = 1.0 / math.sqrt(self.out_features)
        for weight in self.parameters():
            nn.init.uniform_(weight, -stdv, stdv)

    def _flat_weights(self) -> list[Tensor]:
        if self.bias_ih is None or self.bias_hh is None:
            return [self.weight_ih, self.weight_hh]
        return [self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh]

    # ------------------------------------------------------------------ torch interop
    def _torch_kwargs(self) -> dict[str, Any]:
        """Extra constructor arguments of the torch module (e.g. ``nonlinearity``)."""
        return {}

    @classmethod
    def _kwargs_from_torch(cls, module: nn.Module) -> dict[str, Any]:
        """Extra constructor arguments of this layer read from a torch module."""
        return {}

    @classmethod
    def from_torch(cls: type[_T], module: nn.Module, dim: int = -1) -> _T:
        """Build a layer with a copy of a torch module's weights (bit-exact).

        Args:
            module: The matching ``torch.nn`` module: a single-layer, unidirectional
                ``nn.RNN``/``nn.LSTM``/``nn.GRU`` (``nn.LSTM`` without ``proj_size``), or
                the cell ``nn.RNNCell``/``nn.LSTMCell``/``nn.GRUCell``. ``batch_first``
                does not matter: the layer steps one timestep at a time.
            dim: The feature axis of the new layer.

        Returns:
            A new layer on the module's device and dtype whose parameters are copies
            of the module's (same ``requires_grad``).

        Raises:
            TypeError: if ``module`` is not one of the matching torch modules.
            ValueError: for several layers, a bidirectional module or ``proj_size > 0``.
        """
        name = cls.__name__
        seq, cell = cls._TORCH_MODULE, cls._TORCH_CELL
        if not isinstance(module, (seq, cell)):
            raise TypeError(
                f"{name}.from_torch: expected a torch.nn.{seq.__name__} or torch.nn.{cell.__name__}, got "
                f"{type(module).__name__}. Use the matching traceTorch layer's from_torch for other modules."
            )
        check_int(name, "dim", dim)
        if isinstance(module, nn.RNNBase):
            if module.num_layers != 1:
                raise ValueError(
                    f"{name}.from_torch: expected a single-layer module, got num_layers={module.num_layers}. "
                    f"Stack one {name} per layer instead (from_torch on a single-layer module for each)."
                )
            if module.bidirectional:
                raise ValueError(
                    f"{name}.from_torch: bidirectional modules cannot run one timestep at a time, got "
                    "bidirectional=True. Use a unidirectional module."
                )
            if getattr(module, "proj_size", 0):
                raise ValueError(
                    f"{name}.from_torch: proj_size={module.proj_size} is not supported, expected 0. "
                    "Use an LSTM without projection (or add an nn.Linear after the layer)."
                )
            suffix = "_l0"
        else:
            suffix = ""
        in_features = module.input_size
        out_features = module.hidden_size
        bias = bool(module.bias)
        layer = cls(
            in_features,
            out_features,
            bias=bias,
            dim=dim,
            device="meta",
            **cls._kwargs_from_torch(module),
        )
        for pname in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            src = getattr(module, pname + suffix, None)
            if src is None:
                continue
            setattr(layer, pname, nn.Parameter(src.detach().clone(), requires_grad=src.requires_grad))
        return layer

    def to_torch(self, *, batch_first: bool = False) -> nn.Module:
        """Return the equivalent ``torch.nn`` sequence module with a copy of the weights.

        The weights are copied bit-exactly into a new single-layer, unidirectional
        module on the layer's device and dtype (cuDNN on GPU). Its ``forward(x, hx)``
        over a sequence gives what stepping this layer gives.

        Args:
            batch_first: Passed on to the torch module.

        Returns:
            A new ``nn.RNN`` / ``nn.LSTM`` / ``nn.GRU``.
        """
        w = self.weight_ih
        module = self._TORCH_MODULE(
            self.in_features,
            self.out_features,
            num_layers=1,
            bias=self.bias,
            batch_first=batch_first,
            device="meta",
            dtype=w.dtype,
            **self._torch_kwargs(),
        )
        module = module.to_empty(device=w.device)
        with torch.no_grad():
            for pname, p in zip(("weight_ih", "weight_hh", "bias_ih", "bias_hh"), self._flat_weights()):
                target = getattr(module, pname + "_l0")
                target.copy_(p)
                target.requires_grad_(p.requires_grad)
        if w.is_cuda:
            module.flatten_parameters()
        return module

    # ------------------------------------------------------------------ sequence helper
    def _run_fused(self, fn: Callable[..., Any], x3: Tensor, hx: Any) -> Any:
        """Call a fused ``torch._VF`` sequence op with this layer's own parameters."""
        args = (x3, hx, self._flat_weights(), self.bias, 1, 0.0, self.training, False, False)
        if x3.is_cuda and not torch.compiler.is_compiling():
            # cuDNN wants one contiguous weight buffer; ours are separate Parameters (so that
            # they behave like the cell's). It compacts them per call and warns; that is expected.
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=_CUDNN_WEIGHT_WARNING)
                return fn(*args)
        return fn(*args)

    def _sequence_state(self, name: str) -> Tensor:
        """A state flattened to ``[1, N, out_features]`` (the ``hx`` layout of the fused ops)."""
        return self._flatten_step(self.__dict__[name]).unsqueeze(0)

    def extra_repr(self) -> str:
        extra = "" if self.bias else ", bias=False"
        return super().extra_repr() + extra
