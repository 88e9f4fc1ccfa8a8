"""The shared base of the layers that mirror ``torch.nn.RNN``/``LSTM``/``GRU``.

`TorchRecurrentLayer` plays the part of PyTorch's ``nn.RNNBase``: it owns the
parameters, their initialisation, the one-step ``forward``, the fused
``forward_sequence`` and the conversions from and to ``torch.nn`` modules. A concrete
layer only names its states and picks its two PyTorch ops (one step, whole sequence).
"""

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
_PARAMETER_NAMES = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")


def _check_bool(owner: str, name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{owner}: `{name}` must be a bool, got {type(value).__name__} ({value!r}).")
    return value


class TorchRecurrentLayer(Layer):
    """Base of `SimpleRNN`, `LSTM` and `GRU`: parameters laid out like ``torch.nn.*Cell``.

    Holds ``weight_ih`` ``[gates * out_features, in_features]``, ``weight_hh``
    ``[gates * out_features, out_features]`` and, with ``bias=True``, ``bias_ih`` and
    ``bias_hh`` ``[gates * out_features]``, initialised like PyTorch (uniform in
    ``±1/sqrt(out_features)``, in that order, so the same seed gives the same weights
    as the torch cell). Provides the one-step ``forward``, the fused
    ``forward_sequence`` and `from_torch`/`to_torch`.

    A subclass sets ``_GATES``, ``_TORCH_MODULE``, ``_TORCH_CELL`` and ``_STATE_NAMES``
    (the first state is the output) and returns its PyTorch ops from `_cell_op` and
    `_sequence_op`; with one state these take and return a tensor for it, with several
    a tuple, as PyTorch's ops do. Not public: use one of the concrete layers.
    """

    _GATES: ClassVar[int] = 1
    _TORCH_MODULE: ClassVar[type[Union[nn.RNN, nn.LSTM, nn.GRU]]] = nn.RNN
    _TORCH_CELL: ClassVar[type[nn.RNNCellBase]] = nn.RNNCell
    _STATE_NAMES: ClassVar[tuple[str, ...]] = ("h",)

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
        owner = type(self).__name__
        super().__init__(in_features, out_features, dim)
        self.bias: bool = _check_bool(owner, "bias", bias)
        self.batch_first: bool = _check_bool(owner, "batch_first", batch_first)
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
        for name in self._STATE_NAMES:
            self._initialize_state(name)

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

    # ------------------------------------------------------------------ the two ops
    def _cell_op(self) -> Callable[..., Any]:
        """PyTorch's one-step op: ``op(x, hx, weight_ih, weight_hh, bias_ih, bias_hh)``."""
        raise NotImplementedError

    def _sequence_op(self) -> Callable[..., Any]:
        """PyTorch's fused sequence op: ``op(x, hx, weights, has_biases, ...) -> (out, *states)``."""
        raise NotImplementedError

    # ------------------------------------------------------------------ running
    def forward(self, x: Tensor) -> Tensor:
        """Advance one timestep.

        Args:
            x: One timestep with ``in_features`` along ``dim``, e.g. ``[B, in_features]``.

        Returns:
            The new hidden state ``h``: shaped like ``x`` with ``out_features`` along ``dim``.
        """
        self._ensure_states(x)
        d, p = self.__dict__, self._parameters
        names, flat = self._STATE_NAMES, self._flatten_step
        op = self._cell_op()
        if len(names) == 1:  # the op takes and returns the one state as a tensor
            (name,) = names
            h = op(flat(x), flat(d[name]), p["weight_ih"], p["weight_hh"], p["bias_ih"], p["bias_hh"])
            d[name] = h = self._unflatten_step(h, x)
            return h
        new = op(flat(x), [flat(d[n]) for n in names], p["weight_ih"], p["weight_hh"], p["bias_ih"], p["bias_hh"])
        for name, state in zip(names, new):
            d[name] = self._unflatten_step(state, x)
        return d[names[0]]

    def forward_sequence(self, x: Tensor, time_dim: Optional[int] = None) -> Tensor:
        """Run a whole sequence through PyTorch's fused op for this layer (cuDNN on GPU).

        Uses this layer's own parameters (gradients reach them), starts from the
        current states and leaves them as stepping would.

        On CUDA, cuDNN follows ``torch.backends.cudnn.allow_tf32`` (on by default), as the
        ``torch.nn`` RNN modules do; turn it off to get stepping's numbers up to fp32
        rounding.

        Args:
            x: Input with time along ``time_dim``, e.g. ``[T, B, in_features]``; ``dim``
                refers to one timestep's tensor.
            time_dim: The axis of ``x`` that holds time. By default ``0``, or ``1`` for a
                layer built with ``batch_first=True`` (as ``from_torch`` does for a
                batch-first torch module), i.e. ``[B, T, in_features]``.

        Returns:
            The hidden state ``h`` of every step, stacked along ``time_dim``.
        """
        if time_dim is None:
            time_dim = 1 if self.batch_first else 0
        xw, t, first = self._sequence_to_working(x, time_dim)
        names = self._STATE_NAMES
        seq = self._sequence_state
        hx = seq(names[0]) if len(names) == 1 else tuple(seq(n) for n in names)
        out, *states = self._run_fused(self._sequence_op(), xw.reshape(xw.shape[0], -1, self.in_features), hx)
        d = self.__dict__
        for name, state in zip(names, states):
            d[name] = self._unflatten_step(state[0], first)
        return self._sequence_from_working(out.reshape(xw.shape[:-1] + (self.out_features,)), t)

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

        Every option of the module is either carried over or refused:

        - ``bias``, ``nonlinearity`` (``nn.RNN``), device, dtype and each weight's
          ``requires_grad`` are copied.
        - ``batch_first`` is copied: a layer from a batch-first module has
          ``batch_first=True``, so its ``forward_sequence`` reads ``[B, T, ...]`` by
          default, like the module (stepping is the same either way).
        - ``dropout`` has no effect on a single-layer module (PyTorch applies it only
          between layers), so it is accepted and dropped.
        - ``num_layers > 1``, ``bidirectional=True`` and (``nn.LSTM``) ``proj_size > 0``
          are refused with a ``ValueError``.

        Args:
            module: The matching ``torch.nn`` module: a single-layer, unidirectional
                ``nn.RNN``/``nn.LSTM``/``nn.GRU`` (``nn.LSTM`` without ``proj_size``), or
                the cell ``nn.RNNCell``/``nn.LSTMCell``/``nn.GRUCell``.
            dim: The feature axis of the new layer.

        Returns:
            A new layer on the module's device and dtype whose parameters are copies
            of the module's (same ``requires_grad``).

        Raises:
            TypeError: if ``module`` is not one of the matching torch modules, or ``dim``
                not an int.
            ValueError: for several layers, a bidirectional module, ``proj_size > 0``,
                or weights on different devices or of different dtypes.
        """
        name = cls.__name__
        seq, cell = cls._TORCH_MODULE, cls._TORCH_CELL
        if not isinstance(module, (seq, cell)):
            raise TypeError(
                f"{name}.from_torch: expected a torch.nn.{seq.__name__} or torch.nn.{cell.__name__}, got "
                f"{type(module).__name__}. Use the matching traceTorch layer's from_torch for other modules."
            )
        check_int(name, "dim", dim)
        batch_first = False
        if isinstance(module, nn.RNNBase):
            if module.num_layers != 1:
                raise ValueError(
                    f"{name}.from_torch: expected a single-layer module, got num_layers={module.num_layers}. "
                    f"Stack one {name} per layer instead: for layer k, build {name}(in_features, hidden_size) "
                    "and load the module's weight_ih_l{k}, weight_hh_l{k}, bias_ih_l{k}, bias_hh_l{k} into "
                    "its weight_ih, weight_hh, bias_ih, bias_hh (add the module's dropout between layers)."
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
            batch_first = bool(module.batch_first)
            suffix = "_l0"
        else:
            suffix = ""
        sources = {p: getattr(module, p + suffix, None) for p in _PARAMETER_NAMES}
        tensors = [src for src in sources.values() if src is not None]
        if len({(src.device, src.dtype) for src in tensors}) > 1:
            found = ", ".join(
                f"{p}{suffix}: {src.dtype} on {src.device}" for p, src in sources.items() if src is not None
            )
            raise ValueError(
                f"{name}.from_torch: the module's weights differ in device or dtype ({found}). "
                "Move the whole module with module.to(device, dtype) first."
            )
        layer = cls(
            module.input_size,
            module.hidden_size,
            bias=bool(module.bias),
            dim=dim,
            batch_first=batch_first,
            device="meta",
            **cls._kwargs_from_torch(module),
        )
        for pname, src in sources.items():
            if src is not None:
                setattr(layer, pname, nn.Parameter(src.detach().clone(), requires_grad=src.requires_grad))
        return layer

    def to_torch(self, *, batch_first: Optional[bool] = None) -> nn.RNNBase:
        """Return the equivalent ``torch.nn`` sequence module with a copy of the weights.

        The weights are copied bit-exactly into a new single-layer, unidirectional
        module on the layer's device and dtype (cuDNN on GPU). Its ``forward(x, hx)``
        over a sequence gives what stepping this layer gives. The module takes its
        features along the last axis, whatever this layer's ``dim``.

        Args:
            batch_first: Passed on to the torch module; by default the layer's own
                ``batch_first`` (so ``from_torch(m).to_torch()`` keeps ``m``'s layout).

        Returns:
            A new ``nn.RNN`` / ``nn.LSTM`` / ``nn.GRU``.

        Raises:
            TypeError: if ``batch_first`` is neither ``None`` nor a bool.
        """
        if batch_first is None:
            batch_first = self.batch_first
        _check_bool(f"{type(self).__name__}.to_torch", "batch_first", batch_first)
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
            for pname, p in zip(_PARAMETER_NAMES, self._flat_weights()):
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
        if self.batch_first:
            extra += ", batch_first=True"
        return super().extra_repr() + extra
