"""`Monitor`: record layers' outputs and states at every step, in stepping and in sequence mode."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any, Callable, Optional, Sequence, Union

import torch
from torch import Tensor, nn

from ..core._layer import Layer
from ..core._walk import find_layers
from ..metrics._metrics import (
    CONNECTION_TYPES,
    SynapticOps,
    activation_sparsity,
    firing_rates,
    spike_counts,
    synaptic_operations,
)
from ._emit import SINK_ATTR

__all__ = ["Monitor", "LayerSelector"]

LayerSelector = Union[str, type, Callable[[str, Layer], bool]]
"""Chooses layers: a dotted path (as in ``model.save_states()``), a layer class, or ``predicate(path, layer)``."""


class _Sink:
    """Per-layer list of the entries recording it (no ``__dict__``: the model walk skips it)."""

    __slots__ = ("entries",)

    def __init__(self) -> None:
        self.entries: list[_Entry] = []

    def emit(self, layer: Any, name: str, value: Tensor, sequence: bool) -> None:
        for e in self.entries:
            e.on_emit(name, value, sequence)

    def wants(self, layer: Any, name: str) -> bool:
        return any(name in e.names for e in self.entries)


class _Entry:
    """What one monitor records of one layer."""

    def __init__(self, monitor: Monitor, path: str, layer: Layer, names: tuple[str, ...]) -> None:
        self.monitor = monitor
        self.path = path
        self.layer = layer
        self.names = names
        states = set(layer.state_names)
        self.state_names = tuple(n for n in names if n in states)
        self.emitted = tuple(n for n in names if n != "output" and n not in states)
        self.data: dict[str, list[Tensor]] = {n: [] for n in names}
        self.in_sequence = 0
        self.stepped = False

    def store(self, name: str, value: Tensor, sequence: bool) -> None:
        m = self.monitor
        v = value.detach() if m.detach else value
        if m.cpu and v.device.type != "cpu":
            v = v.to("cpu")
        self.data[name].append(v if sequence else v.unsqueeze(0))

    def on_emit(self, name: str, value: Tensor, sequence: bool) -> None:
        if name in self.emitted or (sequence and name in self.state_names):
            self.store(name, value, sequence)

    def after_step(self, output: Any) -> None:
        if self.in_sequence:
            self.stepped = True
        if "output" in self.data:
            out = output[0] if isinstance(output, tuple) else output
            if isinstance(out, Tensor):
                self.store("output", out, False)
        d = self.layer.__dict__
        for n in self.state_names:
            v = d[n]
            if v is not None:
                self.store(n, v, False)


def _select(model: nn.Module, layers: Union[None, LayerSelector, Sequence[LayerSelector]]) -> list[tuple[str, Layer]]:
    found = [(f.path, f.layer) for f in find_layers(model)]
    if not found:
        raise ValueError(f"tt.Monitor: {type(model).__name__} contains no traceTorch layer to record.")
    if layers is None:
        return found
    selectors = [layers] if isinstance(layers, (str, type)) or callable(layers) else list(layers)
    if not selectors:
        raise ValueError("tt.Monitor: `layers` is empty; pass None to record every traceTorch layer.")
    chosen: dict[int, tuple[str, Layer]] = {}
    paths = {p: layer for p, layer in found}
    for sel in selectors:
        if isinstance(sel, str):
            if sel not in paths:
                raise ValueError(
                    f"tt.Monitor: no traceTorch layer at path {sel!r}. The layers of this model are at: "
                    f"{[p for p, _ in found]}."
                )
            hits = [(sel, paths[sel])]
        elif isinstance(sel, type):
            hits = [(p, layer) for p, layer in found if isinstance(layer, sel)]
            if not hits:
                raise ValueError(f"tt.Monitor: the model has no layer of type {sel.__name__}.")
        elif callable(sel):
            hits = [(p, layer) for p, layer in found if sel(p, layer)]
        else:
            raise TypeError(
                f"tt.Monitor: a layer selector must be a path (str), a layer class or a predicate(path, layer), got "
                f"{type(sel).__name__}."
            )
        for p, layer in hits:
            chosen.setdefault(id(layer), (p, layer))
    if not chosen:
        raise ValueError("tt.Monitor: the given selectors chose no layer.")
    order = {id(layer): i for i, (_, layer) in enumerate(found)}
    return sorted(chosen.values(), key=lambda pl: order[id(pl[1])])


def _valid_names(layer: Layer) -> tuple[str, ...]:
    return ("output",) + tuple(layer.state_names) + tuple(getattr(layer, "emitted_names", ()))


class Monitor:
    """Record the outputs and named states of chosen layers at every step.

    Creating a monitor chooses the layers and checks the names; it changes nothing on
    the model. Inside ``with monitor:`` forward hooks (and a thin wrapper of
    ``forward_sequence``) sit on the chosen layers and every step of every one of them
    is recorded, in stepping (``model(x_t)``) and in sequence mode
    (``forward_sequence``), as time-major tensors ``[T, ...]``; leaving the block takes
    them off again, so a monitor that is not recording costs nothing at all. Recording
    only reads tensors: outputs, states and gradients are the same with and without it
    (checked bit for bit by the tests).

    What can be recorded for a layer: ``"output"``, any of its ``state_names`` (read
    after each step) and any of the ``emitted_names`` its class declares (values that
    exist only inside a step, such as the membrane before the reset, handed over with
    ``tracetorch._internal.emit``). In sequence mode a fused ``forward_sequence`` leaves
    only the final states on the layer, so per-step states need the layer to hand them
    over (``emit_sequence``), declared in its class attribute
    ``emitted_sequence_names``; asking for any other state of such a layer in sequence
    mode is an error before the layer runs. Layers whose ``forward_sequence`` steps
    through time (the `tracetorch.Layer` default) record everything in both modes.

    Args:
        model: The model (any ``nn.Module``; layers are found as by `tracetorch.Model`).
        layers: Which layers: ``None`` for every traceTorch layer, or a dotted path
            (``"net.1"``, as in ``model.save_states()``), a layer class, a predicate
            ``(path, layer) -> bool``, or a list of these (their union).
        states: Names to record besides the output: a list applied to every chosen layer,
            or a dict from path to a list.
        output: Record the outputs.
        detach: Store detached tensors (no autograd graph kept alive); leave it off to
            backpropagate through the recordings (e.g. a firing-rate regulariser).
        cpu: Move every recorded tensor to the CPU as it is recorded.
        count_synops: Also count the synaptic operations of every ``nn.Linear`` and
            ``nn.Conv1d/2d/3d`` in the model while recording (see `synaptic_operations`).

    Raises:
        TypeError: for a bad selector or argument.
        ValueError: for a path that names no layer, a selector that chooses none, or a
            state name a chosen layer does not have (the message lists the names it has).

    Example:
        ```python
        import torch
        import tracetorch as tt
        from tracetorch import snn

        net = tt.Sequential(torch.nn.Linear(4, 8), snn.LIB(8), torch.nn.Linear(8, 2), snn.LI(2))
        mon = tt.Monitor(net, layers=snn.LIB, states=["mem"])
        with mon:
            for t in range(10):
                net(torch.rand(3, 4))
        spikes = mon.output("1")          # [10, 3, 8]
        mem = mon.get("1", "mem")         # [10, 3, 8]
        rates = mon.firing_rates()        # {"1": per-neuron rates [8]}
        mon.remove()
        ```
    """

    def __init__(
        self,
        model: nn.Module,
        layers: Union[None, LayerSelector, Sequence[LayerSelector]] = None,
        states: Union[Sequence[str], Mapping[str, Sequence[str]]] = (),
        *,
        output: bool = True,
        detach: bool = False,
        cpu: bool = False,
        count_synops: bool = False,
    ) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(f"tt.Monitor: model must be an nn.Module, got {type(model).__name__}.")
        for flag, name in ((output, "output"), (detach, "detach"), (cpu, "cpu"), (count_synops, "count_synops")):
            if not isinstance(flag, bool):
                raise TypeError(f"tt.Monitor: `{name}` must be a bool, got {type(flag).__name__}.")
        chosen = _select(model, layers)
        if isinstance(states, str):
            raise TypeError(f"tt.Monitor: `states` must be a list of names (or a dict), got the string {states!r}.")
        if isinstance(states, Mapping):
            paths = {p for p, _ in chosen}
            for key in states:
                if key not in paths:
                    raise ValueError(
                        f"tt.Monitor: `states` names path {key!r}, which is not a chosen layer; chosen: {sorted(paths)}."
                    )
            per_layer = {p: tuple(states.get(p, ())) for p, _ in chosen}
        else:
            names = tuple(states)
            per_layer = {p: names for p, _ in chosen}
        entries = []
        for p, layer in chosen:
            wanted = per_layer[p]
            valid = _valid_names(layer)
            for n in wanted:
                if not isinstance(n, str):
                    raise TypeError(f"tt.Monitor: state names must be strings, got {n!r}.")
                if n not in valid or n == "output":
                    raise ValueError(
                        f"tt.Monitor: layer {type(layer).__name__} at {p!r} has no state {n!r}. It has: "
                        f"{list(valid[1:])} (and its output, recorded with output=True)."
                    )
            names = (("output",) if output else ()) + tuple(dict.fromkeys(wanted))
            if not names:
                raise ValueError("tt.Monitor: nothing to record (output=False and no states).")
            entries.append(_Entry(self, p, layer, names))
        self.detach = detach
        self.cpu = cpu
        self._entries: dict[str, _Entry] = {e.path: e for e in entries}
        self._recording = False
        self._handles: list[Any] = []
        self._synops: dict[str, SynapticOps] = {}
        self._attached = True
        self._connections: list[tuple[str, nn.Module]] = (
            [(name, m) for name, m in model.named_modules() if isinstance(m, CONNECTION_TYPES)] if count_synops else []
        )

    # ------------------------------------------------------------------ hooks
    def _make_hook(self, e: _Entry) -> Callable[..., None]:
        def hook(module: nn.Module, args: Any, out: Any) -> None:
            e.after_step(out)

        return hook

    def _make_synops_hook(self, name: str) -> Callable[..., None]:
        def hook(module: nn.Module, args: Any) -> None:
            if args and isinstance(args[0], Tensor):
                ops = synaptic_operations(module, args[0])
                prev = self._synops.get(name)
                self._synops[name] = ops if prev is None else prev + ops

        return hook

    def _wrap_sequence(self, e: _Entry) -> None:
        layer = e.layer
        d = layer.__dict__
        original = d.get("forward_sequence")  # None, or another recording monitor's wrapper
        bound = original if original is not None else layer.forward_sequence
        # the base Layer.forward_sequence steps through `forward` (hooks see every step);
        # subclasses get it wrapped for lengths=, hence the unwrap
        steps_itself = inspect.unwrap(type(layer).forward_sequence) is inspect.unwrap(Layer.forward_sequence)
        need = tuple(n for n in e.names if n != "output")
        provided = set(getattr(layer, "emitted_sequence_names", ()))
        missing = () if steps_itself else tuple(n for n in need if n not in provided)

        monitor = self

        def forward_sequence(x: Tensor, time_dim: int = 0) -> Any:
            if not monitor._recording:  # only when monitors on one layer stopped out of order
                return bound(x, time_dim)
            if missing:
                raise RuntimeError(
                    f"tt.Monitor: {type(layer).__name__} at {e.path!r} runs forward_sequence in one fused pass and "
                    f"does not hand over the per-step values of {list(missing)}, so they cannot be recorded in "
                    "sequence mode (the layer did not run). Record only its output, or step through time "
                    "(call the model once per step) while recording them."
                )
            e.in_sequence += 1
            e.stepped = False
            try:
                out = bound(x, time_dim)
            finally:
                e.in_sequence -= 1
            if not e.stepped and "output" in e.data:
                o = out[0] if isinstance(out, tuple) else out
                if isinstance(o, Tensor):
                    t = time_dim % o.ndim
                    e.store("output", o.movedim(t, 0) if t else o, True)
            return out

        e.original_sequence = original  # type: ignore[attr-defined]
        e.wrapper = forward_sequence  # type: ignore[attr-defined]
        d["forward_sequence"] = forward_sequence

    @staticmethod
    def _unwrap_sequence(e: _Entry) -> None:
        d = e.layer.__dict__
        if d.get("forward_sequence") is getattr(e, "wrapper", None):  # another monitor's wrapper stays
            if e.original_sequence is None:  # type: ignore[attr-defined]
                del d["forward_sequence"]
            else:
                d["forward_sequence"] = e.original_sequence  # type: ignore[attr-defined]

    # ------------------------------------------------------------------ recording
    @property
    def recording(self) -> bool:
        """True inside ``with monitor:``."""
        return self._recording

    @property
    def paths(self) -> tuple[str, ...]:
        """The dotted paths of the recorded layers, in model order."""
        return tuple(self._entries)

    def __enter__(self) -> Monitor:
        """Clear earlier recordings and start recording."""
        self.start(clear=True)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def start(self, clear: bool = True) -> None:
        """Start recording (what ``with monitor:`` does on entry).

        Args:
            clear: Drop earlier recordings first; ``False`` appends to them.

        Raises:
            RuntimeError: if the monitor was removed or is already recording.
        """
        if not self._attached:
            raise RuntimeError("tt.Monitor: this monitor was removed; create a new one.")
        if self._recording:
            raise RuntimeError("tt.Monitor: already recording (a monitor cannot be entered twice at once).")
        if clear:
            self.clear()
        for e in self._entries.values():
            self._handles.append(e.layer.register_forward_hook(self._make_hook(e)))
            self._wrap_sequence(e)
        for name, module in self._connections:
            self._handles.append(module.register_forward_pre_hook(self._make_synops_hook(name)))
        for e in self._entries.values():
            if e.emitted or e.state_names:
                d = e.layer.__dict__
                sink = d.get(SINK_ATTR)
                if sink is None:
                    sink = d[SINK_ATTR] = _Sink()
                sink.entries.append(e)
        self._recording = True

    def stop(self) -> None:
        """Stop recording; the recordings stay until `clear` or the next ``with``."""
        if not self._recording:
            return
        self._recording = False
        for e in self._entries.values():
            d = e.layer.__dict__
            sink = d.get(SINK_ATTR)
            if sink is not None and e in sink.entries:
                sink.entries.remove(e)
                if not sink.entries:
                    del d[SINK_ATTR]
        for h in self._handles:
            h.remove()
        self._handles.clear()
        for e in self._entries.values():
            self._unwrap_sequence(e)

    def clear(self) -> None:
        """Drop every recording and synaptic-operation count."""
        for e in self._entries.values():
            for v in e.data.values():
                v.clear()
        self._synops.clear()

    def remove(self) -> None:
        """Stop recording and let go of the model for good. Recordings stay readable."""
        self.stop()
        self._attached = False

    # ------------------------------------------------------------------ reading
    def _entry(self, path: str) -> _Entry:
        if path not in self._entries:
            raise KeyError(f"tt.Monitor: {path!r} is not a recorded layer; recorded: {list(self._entries)}.")
        return self._entries[path]

    def get(self, path: str, name: str = "output") -> Tensor:
        """The recording of ``name`` of the layer at ``path``: every step, time first.

        Args:
            path: A path from `paths`.
            name: ``"output"`` or a recorded state name.

        Returns:
            ``[T, ...]``, with ``T`` the number of steps recorded since the last clear.

        Raises:
            KeyError: for a path or name that is not recorded.
            ValueError: if nothing was recorded, or the steps' shapes differ (e.g. the
                batch size changed without `clear`).
        """
        e = self._entry(path)
        if name not in e.data:
            raise KeyError(f"tt.Monitor: {name!r} is not recorded for {path!r}; recorded: {list(e.data)}.")
        chunks = e.data[name]
        if not chunks:
            raise ValueError(
                f"tt.Monitor: nothing recorded yet for {path!r} / {name!r}; run the model inside `with monitor:`."
            )
        if len(chunks) == 1:
            return chunks[0]
        shapes = {tuple(c.shape[1:]) for c in chunks}
        if len(shapes) > 1:
            raise ValueError(
                f"tt.Monitor: the recorded steps of {path!r} / {name!r} have different shapes {sorted(shapes)}; "
                "clear the monitor (or enter it again) when the batch size changes."
            )
        return torch.cat(chunks, 0)

    def output(self, path: str) -> Tensor:
        """Shortcut for ``get(path, "output")``."""
        return self.get(path, "output")

    def __getitem__(self, path: str) -> Tensor:
        return self.get(path, "output")

    def recordings(self, name: str = "output") -> dict[str, Tensor]:
        """``{path: get(path, name)}`` for every layer that recorded ``name`` and has steps.

        Args:
            name: ``"output"`` or a state name.

        Returns:
            A dict in model order.
        """
        return {p: self.get(p, name) for p, e in self._entries.items() if name in e.data and e.data[name]}

    def num_steps(self, path: Optional[str] = None) -> int:
        """Number of steps recorded (of the first recorded layer, or of ``path``)."""
        e = self._entry(path) if path is not None else next(iter(self._entries.values()))
        first = next(iter(e.data.values()))
        return sum(c.shape[0] for c in first)

    # ------------------------------------------------------------------ statistics
    def spike_counts(self) -> dict[str, Tensor]:
        """Per recorded layer, the spikes of every neuron of every sample ``[B, ...]`` (see `tracetorch.metrics.spike_counts`)."""
        return {p: spike_counts(v) for p, v in self.recordings("output").items()}

    def firing_rates(self, per_neuron: bool = True) -> dict[str, Tensor]:
        """Per recorded layer, firing rates in spikes per step (see `tracetorch.metrics.firing_rates`).

        Args:
            per_neuron: One rate per neuron, or the layer's mean rate.
        """
        return {p: firing_rates(v, per_neuron=per_neuron) for p, v in self.recordings("output").items()}

    def activation_sparsity(self) -> float:
        """NeuroBench's activation sparsity over every recorded layer's outputs (see `tracetorch.metrics.activation_sparsity`)."""
        return activation_sparsity(self.recordings("output").values())

    def synaptic_operations(self, num_samples: Optional[int] = None) -> dict[str, Any]:
        """Synaptic operations counted while recording (needs ``count_synops=True``).

        Args:
            num_samples: Divide by this many samples (NeuroBench reports per sample:
                pass the number of samples run while recording); ``None`` for totals.

        Returns:
            ``{"effective_acs", "effective_macs", "dense"}`` summed over every
            connection, and ``"per_connection"``: ``{module path: SynapticOps}`` (totals).

        Raises:
            ValueError: for ``num_samples < 1``.
        """
        total = SynapticOps(0, 0, 0)
        for ops in self._synops.values():
            total = total + ops
        if num_samples is not None:
            if isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples < 1:
                raise ValueError(
                    f"tt.Monitor.synaptic_operations: num_samples must be an int >= 1, got {num_samples!r}."
                )
            div: float = float(num_samples)
        else:
            div = 1.0
        result: dict[str, Any] = {k: (v / div if num_samples is not None else v) for k, v in total._asdict().items()}
        result["per_connection"] = dict(self._synops)
        return result

    def __repr__(self) -> str:
        state = "recording" if self._recording else ("attached" if self._attached else "removed")
        return f"Monitor({state}, layers={list(self._entries)})"
