#!/usr/bin/env python3
"""Build or serve the traceTorch documentation in one command.

    uv run scripts/docs.py serve      # http://127.0.0.1:8000/tracetorch/, live reload
    uv run scripts/docs.py build      # strict build into site/

(The same as ``uv run mkdocs serve`` / ``uv run mkdocs build --strict``: the ``docs``
dependency group is installed by default.) ``tracetorch`` is one import package split
over four ``src/`` folders; ``docs/hooks.py`` shows mkdocstrings the merged package,
so docstring edits appear on reload.

With ``--isolated`` the site is built from a separate environment synced from
``uv.lock`` in which every package is installed non-editable (what a user gets from the
wheels) plus the ``docs`` group; torch and the other wheels come hard-linked from uv's
cache, so this takes seconds, offline when the cache already holds everything. The
test suite uses that mode when the running environment lacks MkDocs.

Only the standard library is used; ``uv`` must be on PATH (or in ``$UV``) for
``--isolated`` or when MkDocs is not installed in the running interpreter.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("tracetorch", "tracetorch-core", "tracetorch-snn", "tracetorch-rnn", "tracetorch-kernels")


def find_uv() -> str | None:
    """The uv executable: ``$UV`` (set by ``uv run``), else the one on PATH."""
    uv = os.environ.get("UV")
    if uv and Path(uv).exists():
        return uv
    return shutil.which("uv")


def default_env_dir() -> Path:
    tag = hashlib.sha1(str(ROOT).encode()).hexdigest()[:10]
    return Path(tempfile.gettempdir()) / f"tracetorch-docs-venv-{tag}"


def clean_env(**extra: str) -> dict[str, str]:
    """The current environment minus the active venv, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT", "PYTHONPATH")}
    env.setdefault("NO_MKDOCS_2_WARNING", "1")
    env.update(extra)
    return env


def env_python(env_dir: Path) -> Path:
    if os.name == "nt":  # pragma: no cover
        return env_dir / "Scripts" / "python.exe"
    return env_dir / "bin" / "python"


def has_docs_tools() -> bool:
    """Whether the running interpreter has MkDocs, Material and mkdocstrings' python handler."""
    return all(importlib.util.find_spec(m) is not None for m in ("mkdocs", "material", "mkdocstrings_handlers.python"))


def make_docs_env(env_dir: Path | None = None, *, quiet: bool = True) -> Path:
    """Sync a non-editable environment with every package and the docs group.

    Tries offline first (everything usually sits in uv's cache after ``uv sync``),
    then online. Returns the environment's Python.
    """
    uv = find_uv()
    if uv is None:
        raise RuntimeError("uv was not found: install it (https://docs.astral.sh/uv/) or set $UV")
    env_dir = Path(env_dir) if env_dir is not None else default_env_dir()
    cmd = [
        uv,
        "sync",
        "--frozen",
        "--no-editable",
        "--all-packages",
        "--all-extras",
        "--no-default-groups",
        "--group",
        "docs",
    ]
    # uv caches builds of local packages by their pyproject.toml only: rebuild ours so
    # the environment always holds the current source.
    for name in PACKAGES:
        cmd += ["--reinstall-package", name]
    if quiet:
        cmd.append("--quiet")
    env = clean_env(UV_PROJECT_ENVIRONMENT=str(env_dir))
    for extra in (["--offline"], []):
        r = subprocess.run(cmd + extra, cwd=ROOT, env=env, capture_output=True, text=True)
        if r.returncode == 0:
            return env_python(env_dir)
    raise RuntimeError(f"`{' '.join(cmd)}` failed:\n{r.stdout}\n{r.stderr}")


def mkdocs_command(*, isolated: bool = False) -> list[str]:
    """The command prefix that runs MkDocs: this interpreter, ``uv run``, or an isolated env."""
    if isolated:
        return [str(make_docs_env()), "-m", "mkdocs"]
    if has_docs_tools():
        return [sys.executable, "-m", "mkdocs"]
    uv = find_uv()
    if uv is None:
        raise RuntimeError("MkDocs is not installed here and uv was not found: run `uv run scripts/docs.py`")
    return [uv, "run", "--group", "docs", "mkdocs"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["build", "serve"], nargs="?", default="build")
    parser.add_argument("--site-dir", default="site", help="output folder for `build` (default: site/)")
    parser.add_argument("--addr", default="127.0.0.1:8000", help="address for `serve`")
    parser.add_argument("--no-strict", action="store_true", help="let warnings pass")
    parser.add_argument("--isolated", action="store_true", help="use a separate non-editable environment")
    args = parser.parse_args(argv)

    if args.isolated:
        print("Syncing the isolated docs environment (non-editable packages + docs group) ...", flush=True)
    cmd = mkdocs_command(isolated=args.isolated)
    strict = [] if args.no_strict else ["--strict"]
    if args.command == "build":
        cmd += ["build", *strict, "--site-dir", args.site_dir]
    else:
        cmd += ["serve", *strict, "--dev-addr", args.addr]
    return subprocess.run(cmd, cwd=ROOT, env=clean_env()).returncode


if __name__ == "__main__":
    sys.exit(main())
