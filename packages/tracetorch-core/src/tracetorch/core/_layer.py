"""`Layer`: the base class of every traceTorch layer.

A layer processes one timestep per call and owns its hidden states. States are plain
attributes (never buffers: they are not part of ``state_dict`` and are not synchronised
by DDP), created lazily on the first call with the input's shape (neurons along
``dim``), dtype and device, and rebound – never modified in place – on every step.
"""

from __future__ import annotations

import copy
import functools
import math
import weakref
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Optional, Sequence, cast

import torch
from torch import Tensor, nn

from ..functional._decay import identity, sigmoid_inverse, softplus_inverse
from ._errors import check_int
from ._finite import FLAGS as _FLAGS
from ._sequence import loop_over_time

__all__ = ["Layer"]

ParamValue = Any  # float | int | Tensor | list | numpy array


@dataclass(frozen=True)
class _ParamSpec:
    raw_name: str
    rank: int
    learnable: bool
    inverse: Callable[[Tensor], Tensor]
    activation: Callable[[Tensor], Tensor]
    # (low, high, what): the open interval a value must lie in, checked when a value is loaded
    bounds: Optional[tuple[float, float, str]] = None


# Attribute names every Layer keeps for its own bookkeeping.
_LAYER_INTERNALS = frozenset(
    {"num_neurons", "dim", "_state_sizes", "_param_specs", "_compiled", "_input_width", "_param_cache"}
)

_functorch_active: Callable[[], bool] = getattr(torch._C, "_are_functorch_transforms_active", lambda: False)


class _Activated:
    """One cached activated parameter: ``value = activation(raw)`` and what it was computed under.

    ``live`` turns false when a backward pass reaches ``value`` (see `_expire_on_backward`):
    that backward frees ``value``'s autograd node unless the graph is retained, and a
    later step must not build on a freed node.
    """

    __slots__ = ("raw", "storage", "key", "value", "live", "__weakref__")

    def __init__(self, raw: Tensor, storage: Any, key: tuple[Any, ...], value: Tensor) -> None:
        self.raw = raw
        self.storage = storage  # held so that its address (in ``key``) cannot be reused
        self.key = key
        self.value = value
        self.live = True


def _expire_on_backward(entry: _Activated) -> Callable[[Tensor], None]:
    """A gradient hook that retires ``entry`` (holds it weakly: no reference cycle)."""
    ref = weakref.ref(entry)

    def hook(grad: Tensor) -> None:
        e = ref()
        if e is not None:
            e.live = False

    return hook


def _autocast_anywhere() -> bool:
    """Whether autocast is on for any device type (public fallback: CPU and CUDA)."""
    return torch.is_autocast_enabled("cpu") or torch.is_autocast_enabled("cuda")


_any_autocast: Callable[[], bool] = getattr(torch._C, "_is_any_autocast_enabled", _autocast_anywhere)


def _cache_key(raw: Tensor) -> tuple[Any, ...]:
    """Everything besides ``raw``'s identity that decides ``activation(raw)``.

    Kept short (it is computed at every step): only values with an autograd graph are
    cached, so grad mode and ``requires_grad`` are on for every entry; ``.to()`` and
    ``load_state_dict`` also drop the cache outright.
    """
    return (
        raw._version,  # in-place changes under autograd (optimizer steps, copy_, fill_)
        raw.data_ptr(),  # `.data = ...` swaps the storage without bumping the version
        raw.shape,
        raw.dtype,
        raw.get_device(),
    )


class Layer(nn.Module):
    """Base class of all traceTorch layers: one input, one output, one timestep per call.

    Subclasses declare their hidden states with `_initialize_state`, their
    parameters with `_register_parameter` (or `_register_decay` /
    `_register_threshold`), and call `_ensure_states` at the start of ``forward``.
    Everything else – lazy creation, shape checks, zeroing, detaching, saving,
    loading, device and dtype moves, compile/decompile – is handled here and by
    `tracetorch.Model`.

    Args:
        num_neurons: Number of neurons: the size of the states along ``dim``.
        dim: The axis of a single timestep's input that holds the neurons: ``-1``
            for ``[..., N]`` (MLPs), ``-3`` for ``[..., C, H, W]`` (convolutions).

    Raises:
        TypeError: if ``num_neurons`` or ``dim`` is not an int.
        ValueError: if ``num_neurons < 1``.

    Example:
        ```python
        import torch
        import tracetorch as tt

        class Leaky(tt.Layer):
            def __init__(self, n, beta=0.9, dim=-1):
                super().__init__(n, dim)
                self._register_decay("beta", beta, rank=1, learnable=True)
                self._initialize_state("mem")

            def forward(self, x):
                self._ensure_states(x)
                beta = self._view_param(self.beta, x)
                self.mem = beta * self.mem + x
                return self.mem

        layer = Leaky(4)
        out = layer(torch.ones(2, 4))
        assert out.shape == (2, 4)
        ```
    """

    def __init__(self, num_neurons: int, dim: int = -1) -> None:
        owner = type(self).__name__
        check_int(owner, "num_neurons", num_neurons, minimum=1)
        check_int(owner, "dim", dim)
        super().__init__()
        self.num_neurons: int = num_neurons
        self.dim: int = dim
        self._state_sizes: dict[str, int] = {}
        self._param_specs: dict[str, _ParamSpec] = {}
        self._compiled: dict[str, tuple[Tensor, bool, Tensor]] = {}
        self._input_width: Optional[int] = num_neurons
        self.__dict__["_param_cache"] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # Every layer's forward_sequence accepts lengths= (variable-length batches),
        # whatever its own implementation: the generic, exact path of `_lengths`.
        fs = getattr(cls, "forward_sequence", None)
        if fs is not None and not getattr(fs, "_tt_takes_lengths", False):
            cls.forward_sequence = _with_lengths(fs)  # type: ignore[method-assign]

    # ------------------------------------------------------------------ guards
    def _replicate_for_data_parallel(self) -> Layer:
        raise RuntimeError(
            f"{type(self).__name__}: nn.DataParallel is not supported by traceTorch layers. It rebuilds "
            "the model's replicas on every forward call, so the hidden states the replicas write never "
            "reach your model (they would stay None, and outputs would differ from one device). Use "
            "DistributedDataParallel (torch.nn.parallel.DistributedDataParallel, one process per GPU) "
            "instead: each process then owns its states. See the Production page of the docs."
        )

    def __deepcopy__(self, memo: dict[int, Any]) -> Layer:
        # Live states usually carry an autograd graph (right after a training step),
        # which torch cannot deepcopy: the copy gets detached copies of the states.
        cls = type(self)
        new = cls.__new__(cls)
        memo[id(self)] = new
        d = dict(self.__dict__)
        d["_param_cache"] = {}  # may hold a tensor with an autograd graph; recomputed on use
        for name in self._state_sizes:
            s = d.get(name)
            if isinstance(s, Tensor) and s.grad_fn is not None:
                d[name] = s.detach()
        for key, value in d.items():
            new.__dict__[key] = copy.deepcopy(value, memo)
        return new

    def __getstate__(self) -> dict[str, Any]:
        # pickling (torch.save of a whole model): the cache is never saved (it may hold a
        # tensor with an autograd graph); it is rebuilt on the next step
        state = super().__getstate__()
        state.pop("_param_cache", None)
        return state

    # ------------------------------------------------------------------ parameters
    def __getattr__(self, name: str) -> Any:
        specs = self.__dict__.get("_param_specs")
        if specs is not None and name in specs:
            buffers = self.__dict__["_buffers"]
            compiled = buffers.get(name)
            if compiled is not None:
                return compiled
            spec = specs[name]
            raw = self.__dict__["_parameters"].get(spec.raw_name)
            if raw is None:
                raw = buffers.get(spec.raw_name)
            if raw is not None:
                return spec.activation(raw)
        return super().__getattr__(name)

    def _param_value(self, name: str) -> Tensor:
        """The activated value of a registered parameter (same as ``self.<name>``).

        Args:
            name: The parameter's name, e.g. ``"beta"``.

        Returns:
            The parameter after its activation (or its compiled buffer).
        """
        buffers = self._buffers
        compiled = buffers.get(name)
        if compiled is not None:
            return compiled
        spec = self._param_specs[name]
        raw = self._parameters.get(spec.raw_name)
        if raw is None:
            raw = cast(Tensor, buffers[spec.raw_name])  # registered with a tensor; never None
        act = spec.activation
        if act is identity:
            return raw
        return self._cached_activation(name, act, raw)

    def _cached_activation(self, name: str, act: Callable[[Tensor], Tensor], raw: Tensor) -> Tensor:
        """``act(raw)``, computed once between `zero_states` / `detach_states` calls.

        A step of a layer reads its activated parameters (``sigmoid(raw_beta)``, ...)
        every timestep. When that value carries an autograd graph (grad mode on and
        ``raw`` requires grad), one value and one graph node serve every step while
        nothing that decides the value has changed: the raw tensor's identity, version
        counter, storage, shape, dtype and device. It is recomputed after
        `zero_states`, `detach_states`, ``.to()``, ``load_state_dict``,
        `TTcompile`/`TTdecompile`, and after a backward pass has gone through it (which
        frees its autograd node). Without a graph (``no_grad``, inference, a fixed
        ``raw``) it is computed every time, as it is while ``torch.compile`` traces,
        under autocast, and inside ``torch.func`` transforms. In-place changes made
        through ``raw.data`` bypass the version counter (as they bypass autograd's own
        checks): they are seen at the next `zero_states` / `detach_states`.
        """
        if (
            not (raw.requires_grad and torch.is_grad_enabled())
            or torch.compiler.is_compiling()
            or _functorch_active()
            or _any_autocast()
        ):
            return act(raw)  # no graph to save (activating is cheap), or a mode the cache stays out of
        d = self.__dict__
        cache: Optional[dict[str, _Activated]] = d.get("_param_cache")
        if cache is None:
            cache = d["_param_cache"] = {}
        key = _cache_key(raw)
        entry = cache.get(name)
        if entry is not None and entry.live and entry.raw is raw and entry.key == key:
            return entry.value
        value = act(raw)
        entry = _Activated(raw, raw.untyped_storage(), key, value)
        cache[name] = entry
        if value.requires_grad:
            value.register_hook(_expire_on_backward(entry))
        return value

    def _drop_param_cache(self) -> None:
        """Forget every cached activated parameter (recomputed at the next step)."""
        self.__dict__["_param_cache"] = {}

    def _parameter_tensor(self, name: str, value: ParamValue, rank: int) -> Tensor:
        owner = type(self).__name__
        if isinstance(rank, bool) or not isinstance(rank, int) or rank not in (0, 1):
            raise ValueError(
                f"{owner}: `{name}_rank` must be 0 (one value for the layer) or 1 (one value per neuron), got {rank!r}."
            )
        dtype = torch.get_default_dtype()
        if isinstance(value, bool):
            raise TypeError(f"{owner}: `{name}` must be a float or a tensor, got a bool ({value}).")
        if isinstance(value, (int, float)):
            shape: tuple[int, ...] = (self.num_neurons,) if rank == 1 else ()
            t = torch.full(shape, float(value), dtype=dtype)
        elif isinstance(value, Tensor) or isinstance(value, (list, tuple)) or hasattr(value, "__array__"):
            if isinstance(value, Tensor):
                if value.device.type == "meta":
                    raise ValueError(
                        f"{owner}: `{name}` is a tensor on the 'meta' device, which holds no values; "
                        "pass a tensor with values (on any device: it is copied to the layer's device)."
                    )
                t = value.detach().clone()
            else:
                try:
                    t = torch.as_tensor(value)
                except (TypeError, ValueError, RuntimeError) as e:
                    raise TypeError(f"{owner}: `{name}` could not be read as a tensor ({e}).") from e
            if t.dtype == torch.bool or t.is_complex():
                raise TypeError(f"{owner}: `{name}` must hold real numbers, got a tensor of dtype {t.dtype}.")
            t = t.to(dtype)  # parameters live in the default dtype; use .double() etc. to change
            if t.ndim == 0:
                pass
            elif t.ndim == 1 and t.numel() == self.num_neurons:
                pass
            else:
                raise ValueError(
                    f"{owner}: `{name}` must be a float, a 0-d tensor, or a 1-d tensor with "
                    f"num_neurons={self.num_neurons} elements; got shape {tuple(t.shape)}."
                )
        else:
            raise TypeError(
                f"{owner}: `{name}` must be a float, a tensor, a list or a numpy array; got {type(value).__name__}."
            )
        if not bool(torch.isfinite(t).all()):
            raise ValueError(f"{owner}: `{name}` must be finite, got {t.tolist()}.")
        device = self._home_device()
        return t.to(device) if device is not None else t.cpu()

    def _home_device(self) -> Optional[torch.device]:
        for t in self._parameters.values():
            if t is not None:
                return t.device
        for t in self._buffers.values():
            if t is not None:
                return t.device
        return None

    def _register_parameter(
        self,
        name: str,
        value: ParamValue,
        rank: int = 1,
        learnable: bool = True,
        inverse_function: Callable[[Tensor], Tensor] = identity,
        activation_function: Callable[[Tensor], Tensor] = identity,
        *,
        _bounds: Optional[tuple[float, float, str]] = None,
    ) -> None:
        """Register a (possibly constrained) parameter of the layer.

        A learnable parameter is stored as the ``nn.Parameter`` ``raw_<name>`` =
        ``inverse_function(value)``, and ``self.<name>`` returns
        ``activation_function(raw_<name>)`` (for this instance only), so the optimiser
        works on an unconstrained number. A fixed one (``learnable=False``) is stored
        as the buffer ``<name>`` holding the value itself: it is never passed through
        the inverse and the activation, so it acts with exactly the value given (in the
        default dtype). Either way it is in ``state_dict`` and moves with ``.to()``.
        A ``state_dict`` that holds ``raw_<name>`` for a fixed parameter (as saved by
        traceTorch 0.20, or by the same layer with the parameter learnable) loads: the
        value becomes ``activation_function(raw_<name>)``, the value that checkpoint
        acted with. Likewise ``<name>`` loads into a learnable parameter through
        ``inverse_function``.

        Args:
            name: The parameter's public name (a Python identifier).
            value: A float (broadcast to the rank), a 0-d tensor (rank 0) or a 1-d
                tensor with ``num_neurons`` elements (rank 1). Lists and numpy arrays
                are accepted like tensors.
            rank: 0 for one value for the whole layer, 1 for one value per neuron.
                Applies to float values; a tensor's shape decides its own rank.
            learnable: Whether the optimiser may train it.
            inverse_function: Maps a value to its raw (unconstrained) form.
            activation_function: Maps the raw form back to the value.
            _bounds: Internal: ``(low, high, what)``, the open interval a loaded
                value must lie in (set by `_register_decay` / `_register_threshold`).

        Raises:
            TypeError: for a value of the wrong type (a string, a bool, ...).
            ValueError: for a wrong shape, a rank other than 0/1, non-finite values,
                a value outside the range of the activation, or a name that is
                already taken.
        """
        owner = type(self).__name__
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"{owner}: parameter name must be an identifier, got {name!r}.")
        if name in self._param_specs or name in self._state_sizes or hasattr(type(self), name):
            raise ValueError(f"{owner}: the name {name!r} is already used on this layer.")
        if not isinstance(learnable, bool):
            raise TypeError(f"{owner}: `learn_{name}` must be a bool, got {type(learnable).__name__}.")
        t = self._parameter_tensor(name, value, rank)
        with torch.no_grad():
            raw = inverse_function(t).detach().clone()
        if not bool(torch.isfinite(raw).all()):
            raise ValueError(f"{owner}: `{name}` maps to a non-finite raw value; check its range.")
        raw_name = f"raw_{name}"
        if learnable:
            self.register_parameter(raw_name, nn.Parameter(raw))
        else:
            # The value itself, in the slot a compiled value uses: every reader of
            # ``<name>`` (``self.<name>``, `_param_value`, the layers' own parameter
            # readers) takes it as it is, with no activation.
            self.register_buffer(name, t.detach().clone())
        self._param_specs[name] = _ParamSpec(
            raw_name=raw_name,
            rank=int(t.ndim),
            learnable=learnable,
            inverse=inverse_function,
            activation=activation_function,
            bounds=_bounds,
        )

    def _check_range(self, name: str, value: ParamValue, low: float, high: float, *, what: str) -> None:
        if isinstance(value, str) or value is None:
            raise TypeError(
                f"{type(self).__name__}: `{name}` must be a float or a tensor, got {type(value).__name__} ({value!r})."
            )
        t = self._parameter_tensor(name, value, 0)
        bad = ~((t > low) & (t < high))
        if bool(bad.any()):
            shown = t[bad].flatten()[:4].tolist()
            raise ValueError(f"{type(self).__name__}: `{name}` must be {what}; got {shown if t.ndim else t.item()}.")

    def _register_decay(self, name: str, value: ParamValue, rank: int = 1, learnable: bool = True) -> None:
        """Register a decay in (0, 1).

        Learnable: stored as ``raw_<name>`` = logit and read through a sigmoid. Fixed:
        stored as the buffer ``<name>`` holding exactly the value given.

        Args:
            name: Public name, e.g. ``"beta"``.
            value: Decay(s) strictly inside (0, 1); float or tensor as in
                `_register_parameter`.
            rank: 0 or 1.
            learnable: Whether it is trained.

        Raises:
            ValueError: if any value is outside (0, 1).
        """
        what = "a decay strictly between 0 and 1"
        self._check_range(name, value, 0.0, 1.0, what=what)
        self._register_parameter(name, value, rank, learnable, sigmoid_inverse, torch.sigmoid, _bounds=(0.0, 1.0, what))

    def _register_threshold(self, name: str, value: ParamValue, rank: int = 1, learnable: bool = True) -> None:
        """Register a strictly positive value.

        Learnable: stored as ``raw_<name>`` = softplus⁻¹ and read through softplus.
        Fixed: stored as the buffer ``<name>`` holding exactly the value given.

        Args:
            name: Public name, e.g. ``"threshold"``.
            value: Value(s) > 0; float or tensor as in `_register_parameter`.
            rank: 0 or 1.
            learnable: Whether it is trained.

        Raises:
            ValueError: if any value is <= 0.
        """
        what = "strictly greater than 0"
        self._check_range(name, value, 0.0, math.inf, what=what)
        self._register_parameter(
            name, value, rank, learnable, softplus_inverse, nn.functional.softplus, _bounds=(0.0, math.inf, what)
        )

    def _load_from_state_dict(  # type: ignore[override]
        self,
        state_dict: dict[str, Any],
        prefix: str,
        local_metadata: dict[str, Any],
        strict: bool,
        missing_keys: list[str],
        unexpected_keys: list[str],
        error_msgs: list[str],
    ) -> None:
        # Convert between the two stored forms of a registered parameter, and refuse a
        # value outside its range (it would never have come out of the activation): then
        # nothing of this layer is loaded and torch raises with the message.
        # ``state_dict`` is torch's own shallow copy, so rebinding its keys is local.
        owner = type(self).__name__
        self._drop_param_cache()
        refused = False
        for name, spec in self._param_specs.items():
            value_key = prefix + name
            raw_key = prefix + spec.raw_name
            if name in self._buffers:  # fixed, or compiled: the value itself is held
                if raw_key in state_dict and value_key not in state_dict:
                    raw = state_dict.pop(raw_key)
                    if isinstance(raw, Tensor):
                        with torch.no_grad():
                            state_dict[value_key] = spec.activation(raw.detach())
                    else:
                        state_dict[raw_key] = raw  # not a tensor: let torch report it
                value = state_dict.get(value_key)
                if spec.bounds is not None and isinstance(value, Tensor) and value.is_floating_point():
                    low, high, what = spec.bounds
                    bad = ~((value > low) & (value < high))
                    if bool(bad.any()):
                        shown = value[bad].flatten()[:4].tolist()
                        error_msgs.append(
                            f"{owner}: `{value_key}` must be {what}; got {shown}. Nothing was loaded into this layer."
                        )
                        refused = True
            elif spec.raw_name in self._parameters:  # learnable: the raw form is held
                if value_key in state_dict and raw_key not in state_dict:
                    value = state_dict.pop(value_key)
                    if isinstance(value, Tensor):
                        with torch.no_grad():
                            state_dict[raw_key] = spec.inverse(value.detach())
                    else:
                        state_dict[value_key] = value
        if refused:
            return
        super()._load_from_state_dict(
            state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
        )

    @property
    def parameter_names(self) -> tuple[str, ...]:
        """Names of the parameters registered with `_register_parameter`, in order."""
        return tuple(self._param_specs)

    def parameter_rank(self, name: str) -> int:
        """Rank (0 or 1) of a registered parameter.

        Args:
            name: A name from `parameter_names`.

        Returns:
            0 for a single value, 1 for one value per neuron.
        """
        return self._param_specs[name].rank

    # ------------------------------------------------------------------ states
    def _initialize_state(self, name: str, size: Optional[int] = None) -> None:
        """Declare a hidden state; it starts as ``None`` and is created lazily.

        Args:
            name: Attribute name of the state, e.g. ``"mem"``.
            size: Size of the state along ``dim``; defaults to ``num_neurons``.

        Raises:
            ValueError: if the name is taken or the size is not a positive int.
        """
        owner = type(self).__name__
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"{owner}: state name must be an identifier, got {name!r}.")
        if name in self._state_sizes or name in self._param_specs or name in self._parameters or name in self._buffers:
            raise ValueError(f"{owner}: the name {name!r} is already used on this layer.")
        size = self.num_neurons if size is None else check_int(owner, "size", size, minimum=1)
        self._state_sizes[name] = size
        self.__dict__[name] = None

    @property
    def state_names(self) -> tuple[str, ...]:
        """Names of the declared hidden states, in declaration order."""
        return tuple(self._state_sizes)

    def states(self) -> dict[str, Optional[Tensor]]:
        """The current hidden states (``None`` where not created yet).

        Returns:
            A new dict from state name to tensor or ``None``; the tensors are the live
            ones (not copies).
        """
        d = self.__dict__
        return {name: d[name] for name in self._state_sizes}

    def _check_input(self, x: Tensor) -> int:
        """Validate a single timestep's input; return ``dim`` resolved to be non-negative."""
        if not isinstance(x, Tensor):
            raise TypeError(f"{type(self).__name__}: input must be a torch.Tensor, got {type(x).__name__}.")
        if not x.is_floating_point():
            raise TypeError(
                f"{type(self).__name__}: input must be a floating-point tensor, got dtype {x.dtype}; "
                "convert it first, e.g. x.float()."
            )
        nd = x.ndim
        d = self.dim
        if d < -nd or d >= nd:
            raise ValueError(
                f"{type(self).__name__}: dim={d} is out of range for an input of shape "
                f"{tuple(x.shape)} ({nd} axes; valid: {-nd}..{nd - 1}). Pass dim= the axis that "
                "holds the neurons, e.g. dim=-1 for [B, N] or dim=-3 for [B, C, H, W]."
            )
        d = d + nd if d < 0 else d
        if _FLAGS.check_finite and not bool(torch.isfinite(x).all()):
            raise ValueError(
                f"{type(self).__name__}: the input contains NaN or inf (tt.check_finite is on). "
                "Find where it came from upstream; the layer's states were not changed."
            )
        width = self._input_width
        if width is not None and x.shape[d] != width:
            raise ValueError(
                f"{type(self).__name__}: expected {width} features along dim={self.dim}, got input "
                f"of shape {tuple(x.shape)} ({x.shape[d]} along that axis). Make the layer's width "
                "match the preceding layer, or set dim= to the axis that holds the features."
            )
        return d

    def _ensure_states(self, x: Tensor) -> None:
        """Validate ``x`` and create every ``None`` state to fit it.

        A state is created as zeros shaped like ``x`` except along ``dim``, where it has
        its declared size, with ``x``'s dtype and device. An existing state whose shape no
        longer fits ``x`` is an error (nothing is changed).

        Args:
            x: One timestep's input.

        Raises:
            TypeError: if ``x`` is not a floating-point tensor.
            ValueError: for an out-of-range ``dim``, a wrong width along ``dim``, or
                existing states whose shape does not fit ``x`` (e.g. a new batch size
                without `zero_states`).
        """
        d = self._check_input(x)
        shape = x.shape
        state_dict = self.__dict__
        missing = None
        for name, size in self._state_sizes.items():
            s = state_dict[name]
            if size == shape[d]:
                expected = shape
            else:
                expected = shape[:d] + (size,) + shape[d + 1 :]
            if s is None:
                if missing is None:
                    missing = []
                missing.append((name, expected))
            elif s.shape != expected:
                raise ValueError(
                    f"{type(self).__name__}: state `{name}` has shape {tuple(s.shape)} but this input "
                    f"needs {tuple(expected)}. The batch (or spatial) size changed since the states "
                    "were created: call zero_states() (or model.zero_states()) before a new sequence."
                )
        if missing is not None:
            for name, expected in missing:
                state_dict[name] = torch.zeros(expected, dtype=x.dtype, device=x.device)

    def zero_states(self, mask: Optional[Tensor] = None) -> None:
        """Reset this layer's states.

        Args:
            mask: ``None`` to set every state back to ``None`` (recreated lazily on the
                next call). Or a 1-D boolean tensor over the batch (axis 0): the states
                of the batch entries where it is true become zeros; the others keep
                their values.

        Raises:
            TypeError: if ``mask`` is not a boolean tensor.
            ValueError: if ``mask`` is not 1-D, its length is not the batch size, or
                the layer's ``dim`` is the batch axis.
        """
        if mask is None:
            for name in self._state_sizes:
                self.__dict__[name] = None
            self.__dict__["_param_cache"] = {}
            return
        updates = self._masked_zero(mask)
        self.__dict__.update(updates)
        self.__dict__["_param_cache"] = {}

    def _masked_zero(self, mask: Tensor) -> dict[str, Tensor]:
        owner = type(self).__name__
        if not isinstance(mask, Tensor) or mask.dtype != torch.bool:
            raise TypeError(
                f"{owner}: zero_states(mask=...) needs a boolean tensor over the batch, got "
                f"{type(mask).__name__ if not isinstance(mask, Tensor) else mask.dtype}."
            )
        if mask.ndim != 1:
            raise ValueError(f"{owner}: the reset mask must be 1-D over the batch, got shape {tuple(mask.shape)}.")
        updates: dict[str, Tensor] = {}
        for name in self._state_sizes:
            s = self.__dict__[name]
            if s is None:
                continue
            d = self.dim + s.ndim if self.dim < 0 else self.dim
            if d == 0 or s.ndim < 2:
                raise ValueError(
                    f"{owner}: a masked reset needs a batch axis 0 separate from dim={self.dim}; "
                    f"state `{name}` has shape {tuple(s.shape)}."
                )
            if mask.shape[0] != s.shape[0]:
                raise ValueError(
                    f"{owner}: the reset mask has {mask.shape[0]} entries but state `{name}` has "
                    f"batch size {s.shape[0]}."
                )
            keep = mask.to(s.device).view((-1,) + (1,) * (s.ndim - 1))
            updates[name] = s.masked_fill(keep, 0)
        return updates

    def detach_states(self) -> None:
        """Detach every existing state from the autograd graph (truncated BPTT, online learning)."""
        d = self.__dict__
        for name in self._state_sizes:
            s = d[name]
            if s is not None:
                d[name] = s.detach()
        d["_param_cache"] = {}

    def _apply(self, fn: Callable[[Tensor], Tensor], recurse: bool = True) -> Layer:  # type: ignore[override]
        super()._apply(fn, recurse)
        d = self.__dict__
        d["_param_cache"] = {}
        for name in self._state_sizes:
            s = d[name]
            if s is not None:
                d[name] = fn(s)
        return self

    # ------------------------------------------------------------------ dim helpers
    def _to_working_dim(self, t: Tensor) -> Tensor:
        """Move the neuron axis ``dim`` to the last axis (a view; no copy)."""
        if self.dim == -1 or self.dim == t.ndim - 1:
            return t
        return t.movedim(self.dim, -1)

    def _from_working_dim(self, t: Tensor) -> Tensor:
        """Move the last axis back to ``dim`` (inverse of `_to_working_dim`)."""
        if self.dim == -1 or self.dim == t.ndim - 1:
            return t
        return t.movedim(-1, self.dim)

    def _view_param(self, p: Tensor, x: Tensor) -> Tensor:
        """Reshape a rank-1 parameter ``[N]`` to broadcast against ``x`` along ``dim``.

        Rank-0 parameters and ``dim == -1`` need no reshaping and are returned as they are.

        Args:
            p: A parameter value of shape ``[]`` or ``[N]``.
            x: A tensor in the input layout (neurons along ``dim``).

        Returns:
            ``p`` viewed as ``[N, 1, ..., 1]`` with as many trailing ones as ``x`` has
            axes after ``dim``.
        """
        if p.ndim == 0:
            return p
        d = self.dim
        trailing = -d - 1 if d < 0 else x.ndim - d - 1
        if trailing == 0:
            return p
        return p.view(p.shape + (1,) * trailing)

    # ------------------------------------------------------------------ compile
    def TTcompile(self) -> None:
        """Freeze constrained parameters into their activated values for inference.

        Each learnable ``raw_<name>`` with a non-identity activation is replaced by a
        buffer ``<name>`` holding ``activation(raw_<name>)``, so steps skip the
        activation. Fixed parameters already hold their value as the buffer ``<name>``
        and are left as they are. A compiled layer is for inference. Compiling twice is
        a no-op.
        """
        self._drop_param_cache()
        for name, spec in self._param_specs.items():
            if spec.activation is identity or name in self._compiled or not spec.learnable:
                continue  # nothing to do; a fixed parameter already holds its value
            raw = self._parameters.pop(spec.raw_name, None)
            was_param = raw is not None
            if raw is None:
                raw = cast(Tensor, self._buffers.pop(spec.raw_name))  # registered with a tensor
                self._non_persistent_buffers_set.discard(spec.raw_name)
            with torch.no_grad():
                value = spec.activation(raw.detach()).clone()
            self._buffers[name] = value  # (register_buffer would consult __getattr__)
            self._compiled[name] = (raw, was_param, value.clone())

    def TTdecompile(self) -> None:
        """Undo `TTcompile`: put back the very same ``raw_<name>`` objects.

        If a compiled value was changed (e.g. by ``load_state_dict``), the raw value is
        recomputed from it through the inverse function. Learnability and ``.grad`` are
        kept. Decompiling an uncompiled layer is a no-op.
        """
        self._drop_param_cache()
        for name in list(self._compiled):
            raw, was_param, snapshot = self._compiled.pop(name)
            spec = self._param_specs[name]
            value = cast(Tensor, self._buffers.pop(name))  # set by TTcompile; never None
            self._non_persistent_buffers_set.discard(name)
            with torch.no_grad():
                unchanged = value.shape == snapshot.shape and torch.equal(
                    value, snapshot.to(device=value.device, dtype=value.dtype)
                )
                if unchanged:
                    raw.data = raw.data.to(device=value.device, dtype=value.dtype)
                else:
                    raw.data = spec.inverse(value.detach().clone())
            if was_param:
                self.register_parameter(spec.raw_name, raw)  # type: ignore[arg-type]
            else:
                self.register_buffer(spec.raw_name, raw)

    def TTuncompile(self) -> None:
        """Alias of `TTdecompile`."""
        self.TTdecompile()

    @property
    def is_compiled(self) -> bool:
        """True while `TTcompile` is in effect."""
        return bool(self._compiled)

    def forward_sequence(self, x: Tensor, time_dim: int = 0) -> Tensor:
        """Run a whole sequence: the outputs of every step stacked along ``time_dim``.

        Continues from the current states and leaves them exactly as stepping through
        the sequence would, so sequences and single steps can be mixed. ``dim`` still
        refers to one timestep's tensor. This base version loops over time; layers
        override it with faster paths that give the same numbers.

        Args:
            x: Input with time along ``time_dim``, e.g. ``[T, B, N]``.
            time_dim: The axis of ``x`` that holds time.

        Returns:
            The outputs, with time along ``time_dim``.
        """
        return loop_over_time(self, x, time_dim)

    def extra_repr(self) -> str:
        return f"num_neurons={self.num_neurons}, dim={self.dim}"


def _with_lengths(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a ``forward_sequence`` so that it also takes ``lengths=`` (see `_lengths`)."""

    @functools.wraps(fn)
    def forward_sequence(self: Layer, *args: Any, lengths: Any = None, **kwargs: Any) -> Any:
        if lengths is None:
            return fn(self, *args, **kwargs)
        from ._lengths import run_with_lengths

        x = args[0] if args else kwargs.pop("x")
        rest = args[1:]
        time_dim = rest[0] if rest else kwargs.get("time_dim", 0)
        return run_with_lengths(self, x, lengths, time_dim, lambda xg: fn(self, xg, *rest, **kwargs))

    forward_sequence._tt_takes_lengths = True  # type: ignore[attr-defined]
    return forward_sequence


def iter_state_items(layer: Layer) -> Iterator[tuple[str, Optional[Tensor]]]:
    """Yield ``(name, state)`` for a layer's declared states (internal helper)."""
    d = layer.__dict__
    for name in layer._state_sizes:
        yield name, d[name]


def state_size(layer: Layer, name: str) -> int:
    """The declared size of a state along the layer's ``dim`` (internal helper)."""
    return layer._state_sizes[name]


def set_state(layer: Layer, name: str, value: Optional[Tensor]) -> None:
    """Rebind a declared state without checks (internal helper for the model walk)."""
    layer.__dict__[name] = value


def layer_internal_names() -> Sequence[str]:
    """Attribute names a `Layer` uses for bookkeeping (skipped by the model walk)."""
    return tuple(_LAYER_INTERNALS)
