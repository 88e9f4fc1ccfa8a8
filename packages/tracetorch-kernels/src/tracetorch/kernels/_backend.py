"""Which path runs: the Triton kernels or the pure-PyTorch references.

Nothing in this module imports Triton. `triton_available` only asks the import
system whether a ``triton`` distribution could be imported; the kernels themselves
are loaded lazily by `load_fused`, the first time a kernel really runs.

The choice, for one call:

* ``use_kernels=True`` (or ``TRACETORCH_KERNELS=1``): always the kernels, also on
  CPU tensors (they then run through Triton's interpreter, slowly – for tests);
  an error if Triton cannot be imported.
* ``use_kernels=False`` (or ``TRACETORCH_KERNELS=0``): always the reference.
* ``use_kernels=None`` with ``TRACETORCH_KERNELS`` unset or ``auto``: the kernels
  when Triton is importable and every tensor is a CUDA tensor of dtype float32,
  bfloat16 or float16; the reference otherwise.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from types import ModuleType
from typing import Optional

import torch
from torch import Tensor

__all__ = [
    "ENV_VAR",
    "KERNEL_DTYPES",
    "kernels_mode",
    "triton_available",
    "use_kernels_for",
    "load_fused",
    "interpreting",
]

ENV_VAR = "TRACETORCH_KERNELS"
"""The environment variable that forces a path: ``0``/``off``, ``1``/``on`` or ``auto``."""

KERNEL_DTYPES = (torch.float32, torch.bfloat16, torch.float16)
"""The dtypes the kernels accept (states and maths are float32 inside)."""

_TRUE = {"1", "on", "true", "yes", "force"}
_FALSE = {"0", "off", "false", "no", "never"}


def _read_mode() -> str:
    raw = os.environ.get(ENV_VAR, "").strip().lower()
    if raw in ("", "auto"):
        return "auto"
    if raw in _TRUE:
        return "on"
    if raw in _FALSE:
        return "off"
    raise ValueError(f"{ENV_VAR}={raw!r} is not understood; use 0 (reference), 1 (kernels) or auto.")


try:
    _LAST_MODE = _read_mode()
except ValueError:  # reported on the first eager call
    _LAST_MODE = "auto"


def kernels_mode() -> str:
    """The mode asked for by ``TRACETORCH_KERNELS``: ``"on"``, ``"off"`` or ``"auto"``.

    Read from the environment on every eager call; while `torch.compile` traces, the
    value read by the last eager call (or at import) is used, so tracing neither reads
    the environment nor breaks the graph.

    Returns:
        ``"auto"`` when the variable is unset or empty.

    Raises:
        ValueError: for a value that is none of ``0/1/auto`` (or their spellings
            ``off/on``, ``false/true``, ``no/yes``).
    """
    global _LAST_MODE
    if torch.compiler.is_compiling():
        return _LAST_MODE
    mode = _read_mode()
    _LAST_MODE = mode
    return mode


def _find_triton() -> bool:
    if "triton" in sys.modules:
        return True
    try:
        return importlib.util.find_spec("triton") is not None
    except (ImportError, ValueError):
        return False


_TRITON = _find_triton()


def triton_available() -> bool:
    """Whether Triton can be imported, checked (once, at import) without importing it.

    Returns:
        True when a ``triton`` package is on the import path.
    """
    return _TRITON


def use_kernels_for(*tensors: Optional[Tensor], use_kernels: Optional[bool] = None) -> bool:
    """Decide whether a call on these tensors runs the Triton kernels.

    Args:
        *tensors: The tensors of the call (``None`` entries are ignored).
        use_kernels: ``True`` forces the kernels, ``False`` the reference, ``None``
            follows ``TRACETORCH_KERNELS`` and then the automatic rule (CUDA tensors
            of a supported dtype and an importable Triton).

    Returns:
        True to run the kernels.

    Raises:
        RuntimeError: if the kernels are forced but Triton is not installed.
        TypeError: if ``use_kernels`` is not a bool or None.
    """
    if use_kernels is not None and not isinstance(use_kernels, bool):
        raise TypeError(f"use_kernels must be True, False or None, got {use_kernels!r}.")
    mode = ("on" if use_kernels else "off") if use_kernels is not None else kernels_mode()
    if mode == "off":
        return False
    if mode == "on":
        if not triton_available():
            raise RuntimeError(
                "traceTorch kernels were forced (use_kernels=True or TRACETORCH_KERNELS=1) but Triton "
                "is not installed; install it (pip install tracetorch[kernels]) or unset the flag."
            )
        return True
    if not triton_available():
        return False
    for t in tensors:
        if t is None:
            continue
        if t.device.type != "cuda" or t.dtype not in KERNEL_DTYPES:
            return False
    return True


_LOADED: dict[str, ModuleType] = {}


def interpreting() -> bool:
    """Whether Triton runs kernels through its interpreter (``TRITON_INTERPRET=1``).

    Read from the environment without importing Triton. It must be set before Triton
    is first imported in the process (Triton's own helpers are built at import).
    """
    return os.environ.get("TRITON_INTERPRET", "0").strip() == "1"


def load_fused(op: str, device: torch.device) -> ModuleType:
    """Import the Triton module of an op (``tracetorch.kernels.ops.<op>.fused``).

    This is the only place where Triton gets imported (lazily, on the first kernel
    call). Kernels on CPU tensors need Triton's interpreter: ``TRITON_INTERPRET=1``
    set before Triton was first imported in the process.

    Args:
        op: The op's package name under ``tracetorch.kernels.ops``.
        device: The device of the call's tensors.

    Returns:
        The loaded module.

    Raises:
        RuntimeError: for CPU tensors when Triton is not in interpreter mode.
    """
    cpu = device.type != "cuda"
    if cpu and not interpreting():
        raise RuntimeError(_NEEDS_INTERPRETER.format(device.type))
    mod = _LOADED.get(op)
    if mod is None:
        mod = importlib.import_module(f"tracetorch.kernels.ops.{op}.fused")
        _LOADED[op] = mod
    if cpu:
        import triton.language as tl
        from triton.runtime.interpreter import InterpretedFunction

        if not isinstance(tl.zeros, InterpretedFunction):
            raise RuntimeError(_NEEDS_INTERPRETER.format(device.type))
    return mod


_NEEDS_INTERPRETER = (
    "tracetorch.kernels: the Triton kernels were asked to run on {} tensors, which needs Triton's "
    "interpreter: set TRITON_INTERPRET=1 before Triton is first imported in the process (or let the "
    "reference run: use_kernels=None/False, TRACETORCH_KERNELS=auto/0)."
)
