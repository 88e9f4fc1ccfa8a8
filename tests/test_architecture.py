"""ARCHITECTURE.md stays true, and the dependency rule it states holds in the sources."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "ARCHITECTURE.md"
PACKAGES = ROOT / "packages"

# distribution -> the top-level names under ``tracetorch`` it owns (its own src tree)
DISTS = {
    d.name.removeprefix("tracetorch-"): d / "src" / "tracetorch"
    for d in sorted(PACKAGES.iterdir())
    if (d / "src" / "tracetorch").is_dir()
}


def _owner(module: str) -> str:
    """The distribution that holds ``tracetorch.<...>`` (core holds all but three subpackages)."""
    parts = module.split(".")
    if len(parts) > 1 and parts[1] in ("snn", "rnn", "kernels"):
        return parts[1]
    return "core"


def _imports(path: Path, package: str) -> list[str]:
    """Every module a source file imports, absolute (``from . import x`` resolved)."""
    tree = ast.parse(path.read_text(), str(path))
    out: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.extend(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            out.append(mod)
            out.extend(f"{mod}.{a.name}" for a in node.names if a.name != "*")
    return out


def _sources():
    for dist, src in DISTS.items():
        for f in sorted(src.rglob("*.py")):
            rel = f.relative_to(src.parent).with_suffix("")
            parts = list(rel.parts)
            package = ".".join(parts if parts[-1] == "__init__" else parts[:-1])
            package = package.removesuffix(".__init__")
            yield dist, f, package


def test_every_distribution_is_found():
    assert {"core", "snn", "rnn", "kernels"} <= set(DISTS)


def test_dependencies_point_one_way_and_no_private_module_of_another_distribution_is_imported():
    allowed = {
        "core": {"core"},
        "snn": {"core", "snn"},
        "rnn": {"core", "rnn"},
        "kernels": {"core", "snn", "rnn", "kernels"},
    }
    problems = []
    for dist, f, package in _sources():
        for mod in _imports(f, package):
            if mod != "tracetorch" and not mod.startswith("tracetorch."):
                continue
            target = _owner(mod)
            where = f.relative_to(ROOT)
            if target not in allowed.get(dist, {dist}):
                problems.append(f"{where}: {dist} imports {mod} ({target})")
            if target != dist and mod != "tracetorch._internal" and not mod.startswith("tracetorch._internal."):
                private = [p for p in mod.split(".")[1:] if p.startswith("_") and not p.startswith("__")]
                if private:
                    problems.append(f"{where}: imports the private {mod} of tracetorch-{target}")
    assert problems == []


def test_the_checker_sees_a_violation():
    """The scan above would catch both kinds of offence (guards against a vacuous pass)."""
    snippet = "from tracetorch.kernels import dispatch\nfrom tracetorch.core._layer import Layer\nfrom . import _x\n"
    tree = ast.parse(snippet)
    mods = [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module]
    assert _owner(mods[0]) == "kernels" and _owner(mods[1]) == "core"
    assert _owner("tracetorch.snn.functional._step") == "snn"
    assert _owner("tracetorch._internal") == "core"


def _doc() -> str:
    return DOC.read_text()


def test_architecture_md_exists_and_states_the_dependency_rule():
    text = _doc()
    assert "core <- snn" in text and "kernels <- {snn, rnn}" in text
    assert "tracetorch.kernels" in text and "_internal" in text


def test_every_path_named_in_architecture_md_exists():
    paths = sorted(set(re.findall(r"`(packages/[^`\s]+?\.(?:py|toml))`", _doc())))
    assert len(paths) >= 15
    missing = [p for p in paths if not (ROOT / p).is_file()]
    assert missing == []


def _resolve(dotted: str) -> bool:
    """Whether ``tracetorch.a.b.name[.attr]`` names something that exists."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for p in parts[cut:]:
                obj = getattr(obj, p)
        except AttributeError:
            return False
        return True
    return False


def test_every_module_function_named_in_architecture_md_exists():
    pytest.importorskip("tracetorch.kernels")
    names = sorted(set(re.findall(r"`(tracetorch\.[A-Za-z_][\w.]*[A-Za-z_0-9])(?:\(\))?`", _doc())))
    assert len(names) >= 25
    missing = [n for n in names if not _resolve(n)]
    assert missing == []
