"""An opt-in check that every layer input is finite (no NaN or inf)."""

from __future__ import annotations

from .._switch import Switch


class _Flags:
    check_finite: bool = False


FLAGS = _Flags()


class check_finite(Switch):
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

    _flags = FLAGS
    _flag = "check_finite"


def is_checking_finite() -> bool:
    """Whether `check_finite` is currently on."""
    return FLAGS.check_finite
