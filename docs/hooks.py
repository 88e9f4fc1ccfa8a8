"""MkDocs hook: show mkdocstrings one ``tracetorch`` package made of all four ``src/`` trees.

``tracetorch`` is a single import package split over four distributions
(``packages/tracetorch-*/src/tracetorch``). Python merges them at import time
(``pkgutil.extend_path``), but griffe, which mkdocstrings uses to read the source,
stops at the first ``tracetorch/__init__.py`` it finds – so with the editable
installs of a development environment the reference would lack ``tracetorch.snn`` and
the others.

Before mkdocstrings starts, this hook builds a merged view – a folder
``tracetorch/`` of symbolic links to core's ``__init__.py`` and to every subpackage
of every distribution – in a fresh temporary directory (removed at exit; concurrent
builds don't share it), and puts it first on the
python handler's search ``paths``. The links point at the working tree, so
``mkdocs serve`` picks up docstring edits (the ``src/`` folders are watched).
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

from mkdocs.plugins import event_priority

ROOT = Path(__file__).resolve().parent.parent


def merged_tree(root: Path = ROOT) -> Path:
    """Create the merged ``tracetorch`` folder in a new temporary directory; return that."""
    base = Path(tempfile.mkdtemp(prefix="tracetorch-docs-src-"))
    atexit.register(shutil.rmtree, base, ignore_errors=True)
    pkg = base / "tracetorch"
    pkg.mkdir()
    for src in sorted((root / "packages").glob("tracetorch-*/src/tracetorch")):
        for entry in sorted(src.iterdir()):
            if entry.name == "__pycache__":
                continue
            target = pkg / entry.name
            if target.exists() or target.is_symlink():
                raise RuntimeError(f"{entry} and {os.readlink(target)} both provide tracetorch/{entry.name}")
            target.symlink_to(entry, target_is_directory=entry.is_dir())
    if not (pkg / "__init__.py").exists():
        raise RuntimeError("no tracetorch/__init__.py found under packages/tracetorch-core/src")
    return base


_BASE: Path | None = None


@event_priority(100)  # before mkdocstrings reads its handler options
def on_config(config, **kwargs):
    global _BASE
    if _BASE is None or not _BASE.exists():  # once per process (`serve` reloads call this again)
        _BASE = merged_tree()
    base = _BASE
    handler = config["plugins"]["mkdocstrings"].config["handlers"].setdefault("python", {})
    paths = list(handler.get("paths") or [])
    handler["paths"] = [str(base)] + [p for p in paths if p != str(base)]
    return config
