"""The machinery shared by the 32 leaky-integrator layers (a thin module wrapper).

The maths lives in `tracetorch.snn.functional`; this module only registers the
parameters and states a `LeakyConfig` asks for, validates the input, reads the
activated parameters, calls the pure step (or sequence) function and rebinds the
states.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable, Mapping, Optional, Sequence, Union

import torch
from torch import Tensor, nn
from tracetorch._internal import FINITE_FLAGS as _FINITE
from tracetorch._internal import MONITOR_SINK_ATTR as _MONITOR_SINK
from tracetorch._internal import check_time_dim, emit, emit_sequence, wants
from tracetorch.functional import resolve_quant_fn, resolve_spike_fn

from ._layer import Layer
from .functional._config import EXTRA_PARAMS, LeakyConfig, ParamInfo
from .functional._sequence import leaky_sequence
from .functional._step import _step, make_fire

__all__ = ["LeakyLayer", "SpikeFnArg", "QuantFnArg", "ParamArg"]

SpikeFnArg = Union[str, Callable[[Tensor], Tensor], None]
"""A spike function: ``None`` (``sigmoid(4x)``), a name from ``tt.functional.SPIKE_FUNCTIONS`` or a callable."""
QuantFnArg = Union[str, Callable[[Tensor], Tensor], None]
"""A quantisation function: ``None`` (``"bernoulli"``), ``"round"``, ``"bernoulli"``, ``"probabilistic"`` or a callable."""
ParamArg = Union[float, Tensor, Sequence[float], Any]
"""A parameter value: a float, a 0-d tensor, or a 1-d tensor (or list / numpy array) of ``num_neurons`` values."""


_ABOVE_ONE = 1.0 + 2.0**-23
"""The open upper bound that admits a decay of exactly 1: the float32 number after 1."""


_BELOW_ZERO = -1e-45
"""The open lower bound that admits a decay of exactly 0: the float32 number before 0."""


def _is_membrane_decay(info: ParamInfo) -> bool:
    return info.name in ("beta", "pos_beta", "neg_beta")


def _is_recurrent_decay(info: ParamInfo) -> bool:
    return info.name in ("gamma", "pos_gamma", "neg_gamma")


def _reaches_zero(value: ParamArg) -> bool:
    """Whether a decay value holds an entry of exactly 0 (a trace that is the previous output)."""
    if isinstance(value, bool) or isinstance(value, str) or value is None:
        return False
    if isinstance(value, Tensor) and value.device.type == "meta":
        return False
    try:
        t = torch.as_tensor(value, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError):
        return False
    return bool((t == 0.0).any())


def _is_default(value: ParamArg, rank: int, learnable: bool, info: ParamInfo) -> bool:
    """Whether a parameter's keyword arguments are all at their signature defaults."""
    if info.kind == "matrix":
        return value is None and learnable is True
    return type(value) is float and value == info.default and rank == 1 and learnable is True


def _reaches_one(value: ParamArg) -> bool:
    """Whether a decay value holds an entry of exactly 1 (integrate-and-fire)."""
    if isinstance(value, bool) or isinstance(value, str) or value is None:
        return False
    if isinstance(value, Tensor) and value.device.type == "meta":
        return False  # no values to look at: the parameter checks say what is wrong
    try:
        t = torch.as_tensor(value, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError):
        return False
    return bool((t == 1.0).any())


def _closed_sigmoid_inverse(t: Tensor) -> Tensor:
    """The logit, with 1 mapped to the largest finite logit (a fixed decay of 1 is never
    read through the sigmoid; this raw form only serves to load it into a learnable one)."""
    eps = torch.finfo(t.dtype).eps
    c = t.clamp(eps, 1.0 - eps)
    return torch.log(c) - torch.log1p(-c)


class LeakyLayer(Layer):
    """Base of the 32 leaky-integrator layers; each subclass fixes a `LeakyConfig`.

    Not meant to be instantiated directly: use `LI`, `LIB`, `DSRLITS`, ... The
    subclass's ``__init__`` passes its values, ranks and learn flags, in the order of
    ``config.param_names``, to `_setup`.

    Attributes:
        config: The configuration (class attribute).
    """

    config: LeakyConfig

    # ------------------------------------------------------------------ setup
    def _setup(
        self,
        values: Sequence[ParamArg],
        ranks: Sequence[int],
        learn: Sequence[bool],
        spike_fn: SpikeFnArg = None,
        quant_fn: QuantFnArg = None,
        extra_params: Optional[Mapping[str, tuple[ParamArg, int, bool]]] = None,
        **options: Any,
    ) -> None:
        owner = type(self).__name__
        cfg = self.config
        if options:
            try:
                cfg = dataclasses.replace(cfg, **options)
            except (TypeError, ValueError) as e:
                raise type(e)(f"{owner}: {str(e).replace('LeakyConfig: ', '')}") from None
        # every parameter's (value, rank, learn) by name: the class's own, then those of the options
        given = {info.name: spec for info, spec in zip(self.config.params, zip(values, ranks, learn))}
        given.update(extra_params or {})
        known = {info.name: info for info in self.config.params + EXTRA_PARAMS}
        used = set(cfg.param_names)
        for name, (value, rank, learnable) in given.items():
            if name not in used and not _is_default(value, rank, learnable, known[name]):
                if name.endswith("rec_weight"):
                    why = "all_to_all=True replaces it by `rec_matrix` and `rec_bias`"
                elif name.startswith("adapt_"):
                    why = "it is used only with adaptive=True"
                else:  # rec_matrix, rec_bias
                    why = "it is used only with all_to_all=True (recurrent layers)"
                raise ValueError(f"{owner}: `{name}` (or its rank / learn flag) was given, but {why}.")
        if cfg.all_to_all and self.dim != -1:
            raise ValueError(
                f"{owner}: all_to_all=True needs the neurons on the last axis (dim=-1), got dim={self.dim}; "
                "move the neuron axis last (x.movedim(dim, -1)) before this layer."
            )
        pspecs = []
        for info in cfg.params:
            value, rank, learnable = given[info.name]
            if not isinstance(learnable, bool):
                raise TypeError(f"{owner}: `learn_{info.name}` must be a bool, got {type(learnable).__name__}.")
            if info.kind != "matrix" and (isinstance(value, str) or value is None):
                raise TypeError(
                    f"{owner}: `{info.name}` must be a float or a tensor, got {type(value).__name__} ({value!r})."
                )
            if info.kind == "decay" and cfg.spiking and _is_membrane_decay(info) and _reaches_one(value):
                self._register_no_leak(info.name, value, rank, learnable)
                act: Optional[Callable[[Tensor], Tensor]] = torch.sigmoid
            elif info.kind == "decay" and _is_recurrent_decay(info) and _reaches_zero(value):
                self._register_no_trace(info.name, value, rank, learnable)
                act = torch.sigmoid
            elif info.kind == "matrix":
                if value is None:
                    n = self.num_neurons
                    value = torch.empty(n, n, dtype=torch.get_default_dtype())
                    nn.init.kaiming_uniform_(value, a=math.sqrt(5))  # nn.Linear(n, n).weight's initialisation
                self._register_parameter(info.name, value, 1, learnable)
                act = None
            elif info.kind == "decay":
                self._register_decay(info.name, value, rank, learnable)
                act = torch.sigmoid
            elif info.kind == "threshold":
                self._register_threshold(info.name, value, rank, learnable)
                act = nn.functional.softplus
            else:
                self._register_parameter(info.name, value, rank, learnable)
                act = None
            pspecs.append((info.name, f"raw_{info.name}", act))
        for name in cfg.states:
            self._initialize_state(name)
        d = self.__dict__
        if cfg != self.config:
            d["config"] = cfg  # this instance's options; the class keeps the classic configuration
        d["_pspecs"] = tuple(pspecs)
        d["_snames"] = cfg.states
        d["_spike_fn"] = None
        d["_quant_fn"] = None
        d["_fire"] = None
        if cfg.spiking:
            self._set_fire(spike_fn, quant_fn)
        elif spike_fn is not None or quant_fn is not None:
            raise TypeError(f"{owner}: LI and EMA layers never spike and take no spike_fn / quant_fn.")

    def _register_no_leak(self, name: str, value: ParamArg, rank: int, learnable: bool) -> None:
        """A fixed membrane decay that reaches 1 (integrate-and-fire): held as given, in (0, 1]."""
        owner = type(self).__name__
        if learnable:
            raise ValueError(
                f"{owner}: `{name}` = 1 means no leak (integrate-and-fire), which a learnable decay "
                f"(kept in (0, 1) by a sigmoid) cannot hold; pass learn_{name}=False for an "
                "integrate-and-fire neuron, or a value below 1."
            )
        what = "a decay in (0, 1] (1 only when fixed: integrate-and-fire)"
        self._check_range(name, value, 0.0, _ABOVE_ONE, what=what)
        self._register_parameter(
            name, value, rank, False, _closed_sigmoid_inverse, torch.sigmoid, _bounds=(0.0, _ABOVE_ONE, what)
        )

    def _register_no_trace(self, name: str, value: ParamArg, rank: int, learnable: bool) -> None:
        """A fixed recurrent decay that reaches 0: the trace is the previous output; held as given, in [0, 1)."""
        owner = type(self).__name__
        if learnable:
            raise ValueError(
                f"{owner}: `{name}` = 0 makes the recurrent trace the previous output, which a learnable "
                f"decay (kept in (0, 1) by a sigmoid) cannot hold; pass learn_{name}=False, or a value above 0."
            )
        what = "a decay in [0, 1) (0 only when fixed: the trace is the previous output)"
        self._check_range(name, value, _BELOW_ZERO, 1.0, what=what)
        self._register_parameter(
            name, value, rank, False, _closed_sigmoid_inverse, torch.sigmoid, _bounds=(_BELOW_ZERO, 1.0, what)
        )

    def _parameter_tensor(self, name: str, value: ParamArg, rank: int) -> Tensor:
        """`tracetorch.Layer._parameter_tensor`, and the ``[N, N]`` all-to-all ``rec_matrix``."""
        if name != "rec_matrix":
            return super()._parameter_tensor(name, value, rank)
        owner = type(self).__name__
        n = self.num_neurons
        dtype = torch.get_default_dtype()
        if isinstance(value, bool) or isinstance(value, str):
            raise TypeError(f"{owner}: `rec_matrix` must be a float or an [N, N] tensor, got {value!r}.")
        if isinstance(value, (int, float)):
            t = torch.full((n, n), float(value), dtype=dtype)
        else:
            if isinstance(value, Tensor) and value.device.type == "meta":
                raise ValueError(f"{owner}: `rec_matrix` is a tensor on the 'meta' device, which holds no values.")
            try:
                t = value.detach().clone() if isinstance(value, Tensor) else torch.as_tensor(value)
            except (TypeError, ValueError, RuntimeError) as e:
                raise TypeError(f"{owner}: `rec_matrix` could not be read as a tensor ({e}).") from e
            if t.dtype == torch.bool or t.is_complex():
                raise TypeError(f"{owner}: `rec_matrix` must hold real numbers, got a tensor of dtype {t.dtype}.")
            if tuple(t.shape) != (n, n):
                raise ValueError(
                    f"{owner}: `rec_matrix` must be a float or a tensor of shape [num_neurons, num_neurons] = "
                    f"[{n}, {n}]; got shape {tuple(t.shape)}."
                )
            t = t.to(dtype)
        if not bool(torch.isfinite(t).all()):
            raise ValueError(f"{owner}: `rec_matrix` must be finite.")
        device = self._home_device()
        return t.to(device) if device is not None else t.cpu()

    def _set_fire(self, spike_fn: SpikeFnArg, quant_fn: QuantFnArg) -> None:
        owner = type(self).__name__
        try:
            spike = resolve_spike_fn(spike_fn)
            quant = resolve_quant_fn(quant_fn)
        except (TypeError, ValueError) as e:
            raise type(e)(f"{owner}: {e}") from None
        d = self.__dict__
        d["_spike_fn"] = spike
        d["_quant_fn"] = quant
        d["_fire"] = make_fire(spike, quant)

    @property
    def spike_fn(self) -> Optional[Callable[[Tensor], Tensor]]:
        """The spike function (membrane minus threshold to firing probability); ``None`` for LI/EMA."""
        return self.__dict__["_spike_fn"]

    @spike_fn.setter
    def spike_fn(self, value: SpikeFnArg) -> None:
        if not self.config.spiking:
            raise TypeError(f"{type(self).__name__}: LI and EMA layers have no spike_fn.")
        self._set_fire(value, self.__dict__["_quant_fn"])

    @property
    def quant_fn(self) -> Optional[Callable[[Tensor], Tensor]]:
        """The quantisation function (firing probability to spike); ``None`` for LI/EMA."""
        return self.__dict__["_quant_fn"]

    @quant_fn.setter
    def quant_fn(self, value: QuantFnArg) -> None:
        if not self.config.spiking:
            raise TypeError(f"{type(self).__name__}: LI and EMA layers have no quant_fn.")
        self._set_fire(self.__dict__["_spike_fn"], value)

    # ------------------------------------------------------------------ params
    def _params(self, x: Tensor) -> dict[str, Tensor]:
        """The activated parameters by name, shaped to broadcast against ``x`` (one timestep)."""
        # compiled value, fixed value, or the activation of the raw one, computed once
        # between zero_states()/detach_states() calls (Layer._param_value caches it)
        vals = {name: self._param_value(name) for name, _, _ in self.__dict__["_pspecs"]}
        dim = self.dim
        if dim != -1:
            trailing = -dim - 1 if dim < 0 else x.ndim - dim - 1
            if trailing:
                tail = (1,) * trailing
                vals = {n: v.view(v.shape + tail) if v.ndim else v for n, v in vals.items()}
        return vals

    # ------------------------------------------------------------------ step
    def forward(self, x: Tensor) -> Tensor:
        """Advance one timestep.

        Args:
            x: One timestep's input, with ``num_neurons`` features along ``dim``.

        Returns:
            The output of this step (spikes for B/T/TS, the membrane for LI/EMA).

        Raises:
            TypeError: if ``x`` is not a floating-point tensor.
            ValueError: for a wrong width along ``dim``, an out-of-range ``dim``, or
                states that no longer fit ``x`` (call ``zero_states()`` first).
        """
        d = self.__dict__
        names = d["_snames"]
        if isinstance(x, Tensor) and x.is_floating_point() and not _FINITE.check_finite:
            shape = x.shape
            for n in names:
                s = d[n]
                if s is None or s.shape != shape:
                    self._ensure_states(x)
                    break
        else:
            self._ensure_states(x)
        out, new, extras = _step(self.config, x, {n: d[n] for n in names}, self._params(x), d["_fire"])
        d.update(new)
        if _MONITOR_SINK in d:  # a tt.Monitor records this layer: hand it the membranes before the reset
            for n in self.config.layout.pre:
                emit(self, n, extras[n])
        return out

    # ------------------------------------------------------------------ sequence
    def forward_sequence(self, x: Tensor, time_dim: int = 0) -> Tensor:
        """Run a whole sequence; equal to stepping through it (outputs and final states).

        LI/EMA layers use a linear scan; B/T/TS layers with a built-in spike and
        quantisation function use one autograd function over the whole sequence with
        a hand-written, memory-lean BPTT backward; other (custom callable) spike or
        quantisation functions fall back to a loop over `forward`. Random draws of
        ``"bernoulli"``/``"probabilistic"`` quantisation are made in the same order
        as stepping this layer alone, so under the same seed they are equal; in a
        multi-layer `tracetorch.Sequential` the draws differ from stepping the whole
        model (same distribution, other order).

        Args:
            x: Input with time along ``time_dim``; each timestep ``x.select(time_dim, t)``
                is what `forward` would take.
            time_dim: The axis of ``x`` that holds time.

        Returns:
            The outputs of every step stacked along ``time_dim``.
        """
        t = check_time_dim(type(self).__name__, x, time_dim)
        xt = x.movedim(t, 0) if t != 0 else x
        first = xt[0]
        self._ensure_states(first)
        d = self.__dict__
        lay = self.config.layout
        states = tuple([d[n] for n in lay.states])
        params = lay.pack(lay.params, self._params(first))
        out, final = leaky_sequence(
            self.config, xt, states, params, d["_fire"], d["_spike_fn"], d["_quant_fn"], dim=self.dim
        )
        d.update(zip(lay.states, final))
        if _MONITOR_SINK in d and not self.config.dual and not self.config.spiking:
            # a single LI/EMA membrane is the output at every step (before and after "reset")
            for n in ("mem", "mem_pre"):
                if wants(self, n):
                    emit_sequence(self, n, out)
        return out.movedim(0, t) if t != 0 else out

    @property
    def emitted_names(self) -> tuple[str, ...]:
        """Values besides the output and the states that a `tracetorch.Monitor` can record
        when stepping: the membrane(s) before the reset (``mem_pre``, or ``pos_mem_pre`` and
        ``neg_mem_pre`` for dual layers)."""
        return self.config.layout.pre

    @property
    def emitted_sequence_names(self) -> tuple[str, ...]:
        """Per-step values a `tracetorch.Monitor` can record in sequence mode besides the
        output: the membrane of single-pathway LI/EMA layers (their output); none otherwise."""
        return ("mem", "mem_pre") if not (self.config.dual or self.config.spiking) else ()

    def extra_repr(self) -> str:
        s = f"num_neurons={self.num_neurons}, dim={self.dim}"
        if self.config.spiking:
            d = self.__dict__
            quant = getattr(d["_quant_fn"], "__name__", d["_quant_fn"])
            if d["_fire"] is d["_spike_fn"]:  # a 0/1 spike: the quantiser is skipped, say so
                quant = f"{quant} (skipped: deterministic spike)"
            s += f", spike_fn={d['_spike_fn']!r}, quant_fn={quant!r}"
            s += "".join(f", {n}={v!r}" for n, v in self.config.options)
        return s
