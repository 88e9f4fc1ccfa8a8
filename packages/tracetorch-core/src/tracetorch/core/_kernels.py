"""A registry of optional fused kernels, filled through a package entry point.

Core, snn and rnn never import a kernels distribution. A distribution that provides
kernels (``tracetorch-kernels``) declares an entry point in the group
`ENTRY_POINT_GROUP`; its object is called once with `register_kernels` and registers
one callable per op name (``"leaky_sequence"``, ``"leaky_step"``, ``"linear_scan"``).
An op asks `kernels_for` for its kernel and falls back to its pure-PyTorch path when
there is none, or when the kernel declines (returns ``None``).

The entry points are loaded lazily: not at import, and not for calls on CPU tensors
alone (unless ``TRACETORCH_KERNELS`` asks for a path explicitly), so a CPU program
never imports the kernels distribution, let alone Triton.
"""

from __future__ import annotations

import os
from importlib import metadata
from typing import Any, Callable, Optional

ENTRY_POINT_GROUP = "tracetorch.kernels"
"""The entry-point group a kernels distribution registers itself under."""

KERNELS_ENV_VAR = "TRACETORCH_KERNELS"
"""Set to anything but ``auto`` to load the kernels also for CPU calls (their own
switch: ``1`` forces them through Triton's interpreter, ``0`` the references)."""

_REGISTRY: dict[str, Callable[..., Any]] = {}
_LOADED: list[bool] = []  # empty until the entry points were loaded (a plain cache: traceable)


def register_kernels(**ops: Callable[..., Any]) -> None:
    """Register kernels by op name (called by a kernels distribution's entry point).

    Each callable takes the arguments of the op it stands for and returns its result,
    or ``None`` to decline (unsupported device, dtype or configuration), in which case
    the op runs its pure-PyTorch path.

    Args:
        **ops: ``op_name=callable``; a later registration of the same name replaces it.

    Raises:
        TypeError: if a value is not callable.
    """
    for name, fn in ops.items():
        if not callable(fn):
            raise TypeError(f"register_kernels: the kernel for {name!r} must be callable, got {type(fn).__name__}.")
    _REGISTRY.update(ops)


def _wanted(tensors: tuple[Any, ...]) -> bool:
    if os.environ.get(KERNELS_ENV_VAR, "").strip().lower() not in ("", "auto"):
        return True
    return any(getattr(getattr(t, "device", None), "type", None) == "cuda" for t in tensors)


def load_kernels(entry_points: Optional[Any] = None) -> None:
    """Load every registered kernels distribution now (normally done on first use).

    Args:
        entry_points: The entry points to load; by default those of
            `ENTRY_POINT_GROUP` installed in the environment (tests pass their own).
    """
    eps = metadata.entry_points(group=ENTRY_POINT_GROUP) if entry_points is None else entry_points
    for ep in eps:
        ep.load()(register_kernels)
    _LOADED[:] = [True]


def reset_kernels() -> None:
    """Forget every registered kernel; the entry points load again on the next use."""
    _REGISTRY.clear()
    _LOADED.clear()


def kernels_for(op: str, *tensors: Any) -> Optional[Callable[..., Any]]:
    """The registered kernel of an op, or ``None``.

    The first call that involves a CUDA tensor (or any call while
    ``TRACETORCH_KERNELS`` is set) loads the entry points of `ENTRY_POINT_GROUP`;
    before that, and when no kernels distribution is installed, this returns ``None``.

    Args:
        op: The op's name, e.g. ``"leaky_sequence"``.
        *tensors: The call's tensors (to decide whether loading is worth it).

    Returns:
        The kernel callable, or ``None``.
    """
    if not _LOADED:
        if not _wanted(tensors):
            return None
        load_kernels()
    return _REGISTRY.get(op)
