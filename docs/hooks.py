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
import importlib.util
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.plugins import event_priority
from mkdocs.structure.files import File

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


# The parts of MathJax's ``es5`` build the site needs: the TeX-to-SVG bundle (SVG output
# draws the glyphs itself, so no web fonts have to load before equations show), the TeX
# extensions it may autoload, and the context menu.
MATHJAX_PARTS = ("tex-svg.js", "input/tex/extensions", "ui")
MATHJAX_DEST = "javascripts/mathjax"


def mathjax_dir() -> Path:
    """The ``es5`` folder of the installed MathJax 3 (from ``django-static-mathjax``)."""
    spec = importlib.util.find_spec("mathjax")
    if spec is None or not spec.submodule_search_locations:
        raise PluginError(
            "MathJax is not installed: the docs need the `django-static-mathjax` package of the "
            "`docs` dependency group (`uv sync --group docs`)."
        )
    es5 = Path(list(spec.submodule_search_locations)[0]) / "static" / "mathjax" / "es5"
    if not (es5 / "tex-svg.js").is_file():
        raise PluginError(f"{es5} has no tex-svg.js: reinstall `django-static-mathjax`.")
    return es5


def on_files(files, config, **kwargs):
    es5 = mathjax_dir()
    for part in MATHJAX_PARTS:
        src = es5 / part
        paths = [src] if src.is_file() else sorted(p for p in src.rglob("*") if p.is_file())
        for path in paths:
            uri = f"{MATHJAX_DEST}/{path.relative_to(es5).as_posix()}"
            files.append(File.generated(config, uri, abs_src_path=str(path)))
    return files


def results_date(root: Path = ROOT) -> str:
    """Date (YYYY-MM-DD) of the last commit that changed benchmarks/RESULTS.md."""
    try:
        r = subprocess.run(
            ["git", "log", "-1", "--format=%cs", "--", "benchmarks/RESULTS.md"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown (no git)"
    return r.stdout.strip() or "unknown (not committed)"


def on_page_markdown(markdown, page, config, files, **kwargs):
    if "{{ results_date }}" in markdown:
        markdown = markdown.replace("{{ results_date }}", results_date())
    return markdown
