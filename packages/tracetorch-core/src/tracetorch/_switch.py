"""`Switch`: a global on/off mode that works as a call or as a context manager."""

from __future__ import annotations

from types import TracebackType
from typing import Any, Optional

__all__ = ["Switch"]


class Switch:
    """Base of traceTorch's global modes (`tracetorch.check_finite`, `tracetorch.deterministic`).

    Calling a subclass sets its flag until changed; used in a ``with`` block it also
    restores the previous value on exit. A subclass names the object and attribute
    that hold its flag in ``_flags`` and ``_flag``.

    Args:
        enabled: The new value of the flag.

    Raises:
        TypeError: if ``enabled`` is not a bool (nothing changes).
    """

    _flags: Any
    _flag: str

    def __init__(self, enabled: bool = True) -> None:
        if not isinstance(enabled, bool):
            raise TypeError(f"{type(self).__name__}: enabled must be a bool, got {type(enabled).__name__}.")
        self._previous = getattr(self._flags, self._flag)
        setattr(self._flags, self._flag, enabled)

    def __enter__(self) -> Switch:
        return self

    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        setattr(self._flags, self._flag, self._previous)
