"""NIR files: the optional ``nir`` dependency, and reading / writing graphs safely.

``nir`` is imported only when one of these functions is called, so importing
`tracetorch.snn` never imports it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Union

from tracetorch._internal import atomic_write_path

__all__ = ["read_nir", "write_nir", "require_nir", "NIR_EXTRA_HINT"]

PathLike = Union[str, "os.PathLike[str]"]

NIR_EXTRA_HINT = 'pip install "tracetorch-snn[nir]"'
"""How to install the optional NIR dependencies."""

_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def require_nir(what: str) -> Any:
    """Import and return the ``nir`` package, or raise an ImportError naming the extra.

    Args:
        what: The function that needs it (for the message), e.g. ``"export_nir"``.

    Returns:
        The ``nir`` module.

    Raises:
        ImportError: if ``nir`` is not installed.
    """
    try:
        import nir
    except ImportError as e:
        raise ImportError(
            f"tracetorch.snn.{what} needs the optional NIR dependencies (the `nir` package), "
            f"which are not installed: {NIR_EXTRA_HINT}"
        ) from e
    return nir


def _major(version: str) -> int:
    head = version.strip().split(".")[0]
    if not head.isdigit():
        raise ValueError(version)
    return int(head)


def read_nir(path: PathLike) -> Any:
    """Read a NIR graph from an HDF5 file written by ``nir.write`` (or `write_nir`).

    The file is checked before it is parsed: it must exist, be an HDF5 file, hold a
    NIR version of the same major version as the installed ``nir`` and a readable
    graph. Anything else is a ``ValueError`` that names the file and what was wrong.

    Args:
        path: The file.

    Returns:
        The ``nir.NIRGraph``.

    Raises:
        ImportError: without the ``nir`` extra.
        FileNotFoundError: if the file does not exist.
        ValueError: for a file that is not HDF5, is truncated or corrupt, has no or an
            unknown NIR version, or holds a graph ``nir`` cannot read.
    """
    nir = require_nir("read_nir")
    import h5py

    p = Path(os.fspath(path))
    if not p.is_file():
        raise FileNotFoundError(f"read_nir: no such NIR file: {str(p)!r}.")
    with open(p, "rb") as f:
        head = f.read(len(_HDF5_SIGNATURE))
    if head != _HDF5_SIGNATURE:
        raise ValueError(
            f"read_nir: {str(p)!r} is not a NIR file: it is not HDF5 (the first bytes are {head[:8]!r}). "
            "Write NIR files with tt.snn.write_nir or nir.write."
        )
    try:
        with h5py.File(p, "r") as f:
            if "version" not in f:
                raise ValueError(f"read_nir: {str(p)!r} is an HDF5 file without a NIR `version` entry: not a NIR file.")
            raw = f["version"][()]  # pyright: ignore[reportIndexIssue]
            version = raw.decode("utf8") if isinstance(raw, bytes) else str(raw)
            if "node" not in f:
                raise ValueError(f"read_nir: {str(p)!r} (NIR {version}) holds no graph (`node` group).")
    except ValueError:
        raise
    except Exception as e:  # h5py raises OSError / KeyError / RuntimeError for damaged files
        raise ValueError(
            f"read_nir: {str(p)!r} could not be read as HDF5 (truncated or corrupt?): {type(e).__name__}: {e}"
        ) from e
    installed = str(getattr(nir, "version", getattr(nir, "__version__", "1")))
    try:
        file_major = _major(version)
    except ValueError:
        raise ValueError(
            f"read_nir: {str(p)!r} has an unknown NIR version {version!r} (expected a version like {installed!r})."
        ) from None
    if file_major != _major(installed):
        raise ValueError(
            f"read_nir: {str(p)!r} was written by NIR {version}, whose major version differs from the "
            f"installed nir {installed}; this reader supports NIR {_major(installed)}.x files. Install a "
            "matching nir version, or re-export the model."
        )
    try:
        return nir.read(str(p))
    except Exception as e:
        raise ValueError(
            f"read_nir: {str(p)!r} (NIR {version}) holds a graph that could not be read: {type(e).__name__}: {e}"
        ) from e


def write_nir(path: PathLike, graph: Any) -> None:
    """Write a NIR graph to an HDF5 file, atomically.

    The graph is written to a temporary file in the same folder, flushed to disk and
    renamed over ``path`` (``os.replace``), so a crash never leaves a half-written file
    and an existing file is either kept or fully replaced.

    Args:
        path: The file to write (conventionally ``*.nir``).
        graph: A ``nir.NIRGraph`` (e.g. from `export_nir`).

    Raises:
        ImportError: without the ``nir`` extra.
        TypeError: if ``graph`` is not a ``nir.NIRGraph``.
        FileNotFoundError: if the folder does not exist.
    """
    nir = require_nir("write_nir")
    if not isinstance(graph, nir.NIRGraph):
        raise TypeError(f"write_nir: expected a nir.NIRGraph, got {type(graph).__name__}.")
    p = Path(os.fspath(path))
    folder = p.parent if str(p.parent) else Path(".")
    if not folder.is_dir():
        raise FileNotFoundError(f"write_nir: the folder {str(folder)!r} does not exist.")
    atomic_write_path(p, lambda tmp: nir.write(tmp, graph), "NIR file")
