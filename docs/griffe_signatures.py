"""Griffe extension: signature boxes for the classes whose ``__init__`` is torch's.

``tt.Model`` and ``tt.Sequential`` define no ``__init__`` of their own: they take
``nn.Module``'s and ``nn.Sequential``'s arguments. mkdocstrings reads only the
``tracetorch`` sources (not torch's), so without this it would show these two classes
with no signature at all. This adds the inherited constructor signature – and only
that – to the documentation objects; the code is untouched.
"""

from __future__ import annotations

from typing import Any

import griffe

# class path -> the parameters of the constructor it inherits from torch (after self).
INHERITED_INIT: dict[str, list[tuple[str, griffe.ParameterKind, str | None]]] = {
    "tracetorch.core._model.Model": [],
    "tracetorch.core._sequential.Sequential": [
        ("modules", griffe.ParameterKind.var_positional, "nn.Module"),
    ],
}


class InheritedInitSignatures(griffe.Extension):
    """Give ``Model`` and ``Sequential`` the constructor they inherit from torch."""

    def on_class_members(self, *, cls: griffe.Class, **kwargs: Any) -> None:
        params = INHERITED_INIT.get(cls.path)
        if params is None or "__init__" in cls.members:
            return
        init = griffe.Function(
            "__init__",
            lineno=cls.lineno,
            endlineno=cls.lineno,
            parameters=griffe.Parameters(
                griffe.Parameter("self", kind=griffe.ParameterKind.positional_or_keyword),
                *(griffe.Parameter(name, kind=kind, annotation=ann) for name, kind, ann in params),
            ),
            returns="None",
            parent=cls,
        )
        cls.set_member("__init__", init)
