"""`Model`: an ``nn.Module`` that manages the hidden states of every layer inside it."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Callable, Optional, Union

import torch
from torch import Tensor, nn

from ._io import RNG_PREFIX, PathLike, capture_rng, check_rng, read_states, restore_rng, write_states
from ._layer import Layer, iter_state_items, set_state, state_size
from ._walk import FoundLayer, find_layers

__all__ = ["Model"]


def _layer_home(layer: Layer) -> tuple[Optional[torch.device], Optional[torch.dtype]]:
    """Device and floating dtype a layer's states should live on."""
    device = None
    dtype = None
    for t in list(layer.parameters()) + list(layer.buffers()):
        if device is None:
            device = t.device
        if dtype is None and t.is_floating_point():
            dtype = t.dtype
        if device is not None and dtype is not None:
            break
    if device is None or dtype is None:
        for _, s in iter_state_items(layer):
            if s is not None:
                device = device or s.device
                dtype = dtype or s.dtype
                break
    return device, dtype


class Model(nn.Module):
    """An ``nn.Module`` that manages the hidden states of all traceTorch layers inside it.

    Subclass it instead of ``nn.Module``. The layers may sit anywhere: registered
    submodules, ``nn.Sequential``/``nn.ModuleList``/``nn.ModuleDict``, or plain Python
    lists, tuples, dicts and object attributes, nested to any depth. Each layer is
    visited once (shared layers and reference cycles are safe).

    A layer found only in a plain container is invisible to PyTorch (its parameters
    are not in ``model.parameters()``); the model warns once per such path and still
    manages its states and moves it with ``model.to(...)``.

    Example:
        ```python
        import torch
        from torch import nn
        import tracetorch as tt
        from tracetorch import snn

        class Net(tt.Model):
            def __init__(self):
                super().__init__()
                self.net = nn.Sequential(nn.Linear(8, 16), snn.LIB(16), nn.Linear(16, 2))

            def forward(self, x):
                return self.net(x)

        model = Net()
        for t in range(5):
            out = model(torch.randn(4, 8))
        states = model.save_states()      # {"net.1.mem": tensor of shape [4, 16]}
        model.zero_states()               # every state back to None
        model.load_states(states)         # exactly as before
        ```
    """

    def _tt_found(self) -> list[FoundLayer]:
        found = find_layers(self)
        warned: set[str] = self.__dict__.setdefault("_tt_warned_paths", set())
        for f in found:
            if not f.visible and f.path not in warned:
                warned.add(f.path)
                warnings.warn(
                    f"{type(self).__name__}: layer {type(f.layer).__name__} at '{f.path}' is kept in a plain "
                    "Python container, so PyTorch cannot see it: its parameters are missing from "
                    "model.parameters() (and so from optimizers and state_dict). Keep it in nn.ModuleList "
                    "or nn.ModuleDict instead. traceTorch still manages its states and moves it with the model.",
                    UserWarning,
                    stacklevel=3,
                )
        return found

    def named_layers(self) -> list[tuple[str, Layer]]:
        """Every traceTorch layer in the model with its dotted path, each once.

        Returns:
            A list of ``(path, layer)`` in walk order (registered submodules first).
        """
        return [(f.path, f.layer) for f in self._tt_found()]

    def zero_states(self, mask: Optional[Tensor] = None) -> None:
        """Reset the states of every layer.

        Args:
            mask: ``None`` to set every state back to ``None``. Or a 1-D boolean tensor
                over the batch (axis 0): only the batch entries where it is true are set
                to zero; the others keep their values (variable-length sequences).

        Raises:
            TypeError, ValueError: for a bad mask; then no state is changed.
        """
        found = self._tt_found()
        if mask is None:
            for f in found:
                f.layer.zero_states()
            return
        updates = [(f.layer, f.layer._masked_zero(mask)) for f in found]
        for layer, upd in updates:
            layer.__dict__.update(upd)
            layer._drop_param_cache()

    def detach_states(self) -> None:
        """Detach every existing state from the autograd graph (truncated BPTT, online learning)."""
        for f in self._tt_found():
            f.layer.detach_states()

    def save_states(self, path: Optional[PathLike] = None, rng: bool = False) -> dict[str, Tensor]:
        """Snapshot the states that exist, optionally writing them to a file.

        Keys are dotted paths like ``state_dict`` keys (``net.1.mem``,
        ``blocks.0.syn``, ``heads.left.mem``); states that are ``None`` are left out.

        Args:
            path: ``None`` to only return the snapshot, or a file path ending in
                ``.pt`` or ``.safetensors``, written atomically (temporary file, fsync,
                rename: a crash never leaves a half-written file behind).
            rng: Also store torch's random number generator states (the CPU one under
                the key ``__rng__.cpu`` and, when CUDA is initialised, one per device
                under ``__rng__.cuda.<i>``), which `load_states` restores. Layers with
                random spikes (``quant_fn="bernoulli"``, the default, or
                ``"probabilistic"``) need it to resume bit for bit as an uninterrupted
                run would; deterministic layers do not.

        Returns:
            The snapshot: detached clones of the states.

        Raises:
            ValueError: for an unknown file extension.
        """
        states: dict[str, Tensor] = {}
        for f in self._tt_found():
            for name, s in iter_state_items(f.layer):
                if s is not None:
                    states[f"{f.path}.{name}" if f.path else name] = s.detach().clone()
        if not isinstance(rng, bool):
            raise TypeError(f"{type(self).__name__}.save_states: rng must be a bool, got {type(rng).__name__}.")
        if rng:
            states.update(capture_rng())
        if path is not None:
            write_states(path, states)
        return states

    def load_states(self, states_or_path: Union[Mapping[str, Tensor], PathLike], strict: bool = True) -> None:
        """Load a snapshot made by `save_states`; validated fully before anything changes.

        Every key and shape is checked first; if anything is wrong, a ``ValueError``
        lists every problem and no state is changed. The batch size may differ from
        the current one. Tensors go to each layer's device and floating dtype.

        Args:
            states_or_path: A mapping from dotted state paths to tensors, or a path to
                a ``.pt`` / ``.safetensors`` file (``.pt`` is read with
                ``weights_only=True``: a states file can never run code).
            strict: If true, unexpected keys are an error and declared states absent
                from the snapshot become ``None`` (they did not exist when it was
                taken). If false, unexpected keys are ignored and absent states are
                left as they are. Random number generator states stored by
                ``save_states(rng=True)`` (keys starting with ``__rng__.``) are always
                restored, after every check has passed.

        Raises:
            TypeError: if the snapshot is not a mapping of tensors.
            ValueError: for unexpected keys (strict), wrong sizes along a layer's
                ``dim``, inconsistent shapes within a layer, non-floating tensors, or a
                bad file.
            FileNotFoundError: for a missing file.
        """
        if isinstance(states_or_path, Mapping):
            states = dict(states_or_path)
            source = "the given states"
        elif isinstance(states_or_path, (str, bytes)) or hasattr(states_or_path, "__fspath__"):
            states = read_states(states_or_path)  # type: ignore[arg-type]
            source = f"states file {str(states_or_path)!r}"
        else:
            raise TypeError(
                f"{type(self).__name__}.load_states: expected a dict of tensors or a file path, got "
                f"{type(states_or_path).__name__}."
            )
        if not isinstance(strict, bool):
            raise TypeError(f"{type(self).__name__}.load_states: strict must be a bool.")
        rng_states = {k: states.pop(k) for k in list(states) if k.startswith(RNG_PREFIX)}
        found = self._tt_found()
        declared: dict[str, tuple[Layer, str]] = {}
        for f in found:
            for name, _ in iter_state_items(f.layer):
                declared[f"{f.path}.{name}" if f.path else name] = (f.layer, name)

        problems: list[str] = []
        unexpected = [k for k in states if k not in declared]
        if strict and unexpected:
            problems.append(f"unexpected keys (not states of this model): {unexpected}")
        per_layer_shape: dict[int, tuple[str, tuple[int, ...]]] = {}
        for key, value in states.items():
            if key not in declared:
                continue
            layer, name = declared[key]
            if not isinstance(value, Tensor):
                problems.append(f"{key}: expected a tensor, got {type(value).__name__}")
                continue
            if not value.is_floating_point():
                problems.append(f"{key}: expected a floating-point tensor, got dtype {value.dtype}")
                continue
            d = layer.dim
            if d < -value.ndim or d >= value.ndim:
                problems.append(
                    f"{key}: shape {tuple(value.shape)} has no axis dim={d} for layer {type(layer).__name__}"
                )
                continue
            size = state_size(layer, name)
            if value.shape[d] != size:
                problems.append(
                    f"{key}: {type(layer).__name__} expects size {size} along dim={d}, the snapshot has "
                    f"shape {tuple(value.shape)} (saved from a model of another width?)"
                )
                continue
            rest = list(value.shape)
            del rest[d]
            prev = per_layer_shape.setdefault(id(layer), (key, tuple(rest)))
            if prev[1] != tuple(rest):
                problems.append(
                    f"{key}: shape {tuple(value.shape)} does not match {prev[0]} of the same layer "
                    "outside dim (a mixed snapshot?)"
                )
        problems.extend(check_rng(rng_states))
        if problems:
            missing = [k for k in declared if k not in states]
            detail = "\n  - ".join(problems)
            hint = f"\n  (states of this model absent from the snapshot: {missing})" if missing else ""
            raise ValueError(
                f"{type(self).__name__}.load_states: nothing was loaded from {source}:\n  - {detail}{hint}"
            )
        for key, (layer, name) in declared.items():
            if key in states:
                device, dtype = _layer_home(layer)
                value = states[key].detach()
                value = value.to(
                    device=device if device is not None else value.device,
                    dtype=dtype if dtype is not None else value.dtype,
                    copy=True,
                )
                set_state(layer, name, value)
            elif strict:
                set_state(layer, name, None)
        restore_rng(rng_states)

    def TTcompile(self) -> None:
        """Compile every layer for inference (see `tracetorch.Layer.TTcompile`). Idempotent."""
        for f in self._tt_found():
            f.layer.TTcompile()

    def TTdecompile(self) -> None:
        """Decompile every layer (see `tracetorch.Layer.TTdecompile`). A no-op when not compiled."""
        for f in self._tt_found():
            f.layer.TTdecompile()

    def TTuncompile(self) -> None:
        """Alias of `TTdecompile`."""
        self.TTdecompile()

    def _apply(self, fn: Callable[[Tensor], Tensor], recurse: bool = True) -> Model:  # type: ignore[override]
        super()._apply(fn, recurse)
        if recurse:
            for f in find_layers(self):
                if not f.visible:
                    f.layer._apply(fn, recurse)
        return self

    def forward_sequence(self, x: Tensor, time_dim: int = 0, *, lengths: Optional[Tensor] = None) -> Tensor:
        """Run a whole sequence by calling ``forward`` once per timestep.

        Outputs are stacked along ``time_dim``; the states are left as the steps left
        them. Override it (e.g. delegate to a `tracetorch.Sequential`) for speed.

        Args:
            x: Input with time along ``time_dim``.
            time_dim: The axis of ``x`` that holds time.
            lengths: Optional per-sample lengths (a 1-D integer tensor or list, each in
                ``1..T``; the batch is axis 0 of one timestep). Each sample then runs
                for its own number of steps: its states end at its last valid step, its
                outputs past it are zeros, and no gradient crosses between samples.
                `tracetorch.last_valid` picks each sample's last valid output.

        Returns:
            The per-step outputs stacked along ``time_dim``.
        """
        from ._sequence import loop_over_time

        if lengths is not None:
            from ._lengths import run_with_lengths

            return run_with_lengths(self, x, lengths, time_dim, lambda xg: loop_over_time(self, xg, time_dim))
        # an error at any step leaves every state as it was before the call
        saved = [(f.layer, name, st) for f in self._tt_found() for name, st in iter_state_items(f.layer)]
        try:
            return loop_over_time(self, x, time_dim)
        except BaseException:
            for layer, name, st in saved:
                set_state(layer, name, st)
            raise

    def _replicate_for_data_parallel(self) -> Model:
        raise RuntimeError(
            f"{type(self).__name__}: nn.DataParallel is not supported by traceTorch models. It rebuilds "
            "the replicas on every forward call, so the hidden states the replicas write never reach "
            "your model (they would stay None, and outputs would differ from one device). Use "
            "DistributedDataParallel (torch.nn.parallel.DistributedDataParallel, one process per GPU) "
            "instead: each process then owns its states. See the Production page of the docs."
        )
