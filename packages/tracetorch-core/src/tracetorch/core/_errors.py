"""Small helpers that build the library's error messages in one consistent style."""

from __future__ import annotations

from typing import Any


def owner_name(obj: Any) -> str:
    """Return the class name used to prefix an error raised on behalf of ``obj``."""
    return type(obj).__name__


def check_int(owner: str, name: str, value: Any, *, minimum: int | None = None) -> int:
    """Validate that ``value`` is a real ``int`` (not a ``bool``), optionally ``>= minimum``.

    Raises:
        TypeError: when ``value`` is not an int.
        ValueError: when ``value`` is below ``minimum``.
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{owner}: `{name}` must be an int, got {type(value).__name__} ({value!r}).")
    if minimum is not None and value < minimum:
        raise ValueError(f"{owner}: `{name}` must be >= {minimum}, got {value}.")
    return value
