"""An opt-in check that every layer input is finite (no NaN or inf)."""

from __future__ import annotations

from types import TracebackType
from typing import Optional


class _Flags:
    check_finite: bool = False


FLAGS = _Flags()


class check_finite:
    """Make every traceTorch layer reject inputs that contain NaN or inf.

    By default a NaN or inf input is not checked (checking costs a device sync per
    step): like any PyTorch op, it propagates into the outputs and the hidden states,
    and stays there until `tracetorch.Model.zero_states` clears them. Turn the check
    on while debugging: a non-finite input then raises a ``ValueError`` that names the
    layer, and the states are left unchanged.

    Use it as a call (sets the mode until changed) or as a context manager (restores
    the previous mode on exit).

    Args:
        enabled: Whether to check.

    Example:
        ```python
        import torch
        import tracetorch as tt

        with tt.check_finite():
            pass  # every layer call in here rejects NaN/inf inputs
        tt.check_finite(False)  # the default
        ```
    """

    def __init__(self, enabled: bool = True) -> None:
        if not isinstance(enabled, bool):
            raise TypeError(f"check_finite: enabled must be a bool, got {type(enabled).__name__}.")
        self._previous = FLAGS.check_finite
        FLAGS.check_finite = enabled

    def __enter__(self) -> check_finite:
        return self

    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        FLAGS.check_finite = self._previous


def is_checking_finite() -> bool:
    """Whether `check_finite` is currently on."""
    return FLAGS.check_finite
