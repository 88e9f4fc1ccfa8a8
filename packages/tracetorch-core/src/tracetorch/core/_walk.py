"""Finding every traceTorch layer inside an arbitrary model."""

from __future__ import annotations

import types
from typing import Any, NamedTuple

import torch
from torch import nn

from ._layer import Layer, layer_internal_names

_SKIP_ATTRS = frozenset(nn.Module().__dict__) | frozenset(layer_internal_names())
_ATOMS = (str, bytes, int, float, complex, bool, type(None), torch.Tensor, torch.dtype, torch.device)
_OPAQUE = (
    type,
    types.FunctionType,
    types.BuiltinFunctionType,
    types.MethodType,
    types.ModuleType,
    torch.optim.Optimizer,
)


class FoundLayer(NamedTuple):
    """A layer found by the walk: its dotted path, the layer, and whether PyTorch sees it."""

    path: str
    layer: Layer
    visible: bool


def _join(prefix: str, name: Any) -> str:
    return f"{prefix}.{name}" if prefix else str(name)


def find_layers(root: nn.Module) -> list[FoundLayer]:
    """All `Layer` objects reachable from ``root``, each once, in a stable order.

    Registered submodules come first (in registration order), then plain attributes,
    list/tuple items and dict values, recursively. Sets are skipped (no order). Each
    object is visited once, so shared layers and reference cycles are safe; a shared
    layer keeps its first path. ``visible`` is False for layers that ``root.modules()``
    does not reach (PyTorch's ``.parameters()``, ``.to()`` and optimizers miss them).
    """
    registered = {id(m) for m in root.modules()}
    seen: set[int] = set()
    found: list[FoundLayer] = []

    def visit(obj: Any, path: str) -> None:
        if isinstance(obj, _ATOMS) or isinstance(obj, _OPAQUE):
            return
        oid = id(obj)
        if oid in seen:
            return
        seen.add(oid)
        if isinstance(obj, nn.Module):
            if isinstance(obj, Layer) and obj is not root:
                found.append(FoundLayer(path, obj, oid in registered))
            for name, child in obj._modules.items():
                if child is not None:
                    visit(child, _join(path, name))
            for name, value in obj.__dict__.items():
                if name in _SKIP_ATTRS or isinstance(value, _ATOMS):
                    continue
                visit(value, _join(path, name))
        elif isinstance(obj, (list, tuple)):
            for i, item in enumerate(obj):
                visit(item, _join(path, i))
        elif isinstance(obj, dict):
            for key, item in obj.items():
                visit(item, _join(path, key))
        elif isinstance(obj, (set, frozenset)):
            return
        elif type(obj).__module__.split(".")[0] in ("torch", "numpy", "builtins"):
            return
        else:
            attrs = getattr(obj, "__dict__", None)
            if isinstance(attrs, dict):
                for name, value in attrs.items():
                    visit(value, _join(path, name))

    visit(root, "")
    if isinstance(root, Layer):
        found.insert(0, FoundLayer("", root, True))
    return found
