"""The documentation site builds strictly and its API reference is complete.

The site is built once per module with ``mkdocs build --strict`` from the running
environment (the ``docs`` group is installed by default; otherwise ``scripts/docs.py``
syncs an isolated one), with ``docs/hooks.py`` merging the four ``src/`` trees. The reference check lists every public
module of the installed ``tracetorch`` (walking the package, skipping ``_private``
names) and every name in each module's ``__all__``, and requires each to have an anchor
in the built reference pages: mkdocstrings can otherwise render an empty page silently.
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


def _docs_script():
    spec = importlib.util.spec_from_file_location("_tracetorch_docs_script", ROOT / "scripts" / "docs.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def docs_env(tmp_path_factory) -> Path:
    """A Python with MkDocs: this one (the docs group is a default group), else an
    isolated environment synced from uv.lock."""
    script = _docs_script()
    if script.has_docs_tools():
        return Path(sys.executable)
    if script.find_uv() is None:
        pytest.skip("neither MkDocs nor uv is available")
    return script.make_docs_env(tmp_path_factory.mktemp("docs-env") / "venv")


@pytest.fixture(scope="module")
def site(docs_env, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    script = _docs_script()
    r = subprocess.run(
        [str(docs_env), "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT,
        env=script.clean_env(),
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, f"mkdocs build --strict failed:\n{r.stdout}\n{r.stderr}"
    return out


# Run in the docs environment: public modules, their __all__, and for each name the
# dotted paths under which the same object is exported by a public module.
_INVENTORY = textwrap.dedent(
    r"""
    import importlib, inspect, json, pkgutil, warnings
    warnings.simplefilter("ignore")
    import tracetorch
    names = ["tracetorch"]
    errors = []
    for info in pkgutil.walk_packages(tracetorch.__path__, "tracetorch.", onerror=errors.append):
        if not any(part.startswith("_") for part in info.name.split(".")):
            names.append(info.name)
    mods = {n: importlib.import_module(n) for n in names}
    out = {}
    for n, m in mods.items():
        exported = {}
        for name in getattr(m, "__all__", []):
            obj = getattr(m, name)
            paths = [f"{n}.{name}"]
            if inspect.ismodule(obj):
                paths.append(obj.__name__)
            for other_name, other in mods.items():
                if other is not m and name in getattr(other, "__all__", []) and getattr(other, name, None) is obj:
                    paths.append(f"{other_name}.{name}")
            exported[name] = paths
        out[n] = {"has_all": hasattr(m, "__all__"), "names": exported}
    print("JSON" + json.dumps(out))
    """
)


@pytest.fixture(scope="module")
def inventory(docs_env) -> dict:
    r = subprocess.run([str(docs_env), "-c", _INVENTORY], capture_output=True, text=True, cwd="/")
    assert r.returncode == 0, r.stderr
    line = [ln for ln in r.stdout.splitlines() if ln.startswith("JSON")][-1]
    return json.loads(line[4:])


def _reference_ids(site: Path) -> dict[str, str]:
    ids: dict[str, str] = {}
    for page in sorted((site / "reference").rglob("*.html")):
        for anchor in re.findall(r'id="(tracetorch[^"]*)"', page.read_text(encoding="utf-8")):
            ids.setdefault(anchor, str(page.relative_to(site)))
    return ids


def test_strict_build_produces_every_page(site):
    nav_pages = re.findall(r":\s*([\w/\-]+)\.md\s*$", (ROOT / "mkdocs.yml").read_text(), flags=re.M)
    nav_pages += re.findall(r"^\s*-\s*([\w/\-]+)\.md\s*$", (ROOT / "mkdocs.yml").read_text(), flags=re.M)
    assert len(nav_pages) >= 20
    for page in nav_pages:
        html = site / ("index.html" if page == "index" else page.removesuffix("/index") + "/index.html")
        assert html.exists(), f"{page}.md was not built"
    assert (site / "index.html").read_text(encoding="utf-8").count("<img") >= 1, "the home page shows a figure"


def test_every_public_module_has_a_reference_page(site, inventory):
    ids = _reference_ids(site)
    missing = [m for m in inventory if m not in ids]
    assert not missing, (
        f"public modules without an API reference page: {missing}. Add docs/reference/<module>.md "
        "with `::: <module>` and list it under 'API reference' in mkdocs.yml."
    )


def test_reference_documents_every_name_in_all(site, inventory):
    ids = _reference_ids(site)
    missing = []
    for module, info in inventory.items():
        for name, paths in info["names"].items():
            if not any(p in ids for p in paths):
                missing.append(f"{module}.{name}")
    assert not missing, f"names in __all__ missing from the built API reference: {missing}"
    assert sum(len(i["names"]) for i in inventory.values()) >= 30


def test_snn_reference_lists_all_32_layers(site, inventory):
    if "tracetorch.snn" not in inventory or "LIB" not in inventory["tracetorch.snn"]["names"]:
        pytest.skip("tracetorch.snn layers not available yet")
    layers = [
        f"{d}{s}{r}LI{k}"
        for k in ("", "EMA")
        for d in ("", "D")
        for s in ("", "S")
        for r in ("",)
    ] + [f"{d}{s}{r}LI{k}" for k in ("B", "T", "TS") for d in ("", "D") for s in ("", "S") for r in ("", "R")]
    assert len(set(layers)) == 32
    ids = _reference_ids(site)
    assert not [n for n in layers if f"tracetorch.snn.{n}" not in ids]
    table = (site / "layers" / "snn" / "index.html").read_text(encoding="utf-8")
    assert not [n for n in layers if f"<code>{n}</code>" not in table], "the layer table lists all 32 layers"


def test_figure_script_runs(tmp_path, monkeypatch):
    """docs/make_figures.py (which drew the committed home-page figure) still works."""
    monkeypatch.setenv("MPLBACKEND", "Agg")
    pytest.importorskip("matplotlib")
    spec = importlib.util.spec_from_file_location("_tracetorch_make_figures", ROOT / "docs" / "make_figures.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    out = tmp_path / "figure.png"
    mod.membrane_and_spikes(out)
    assert out.stat().st_size > 10_000
    assert (ROOT / "docs" / "assets" / "lib-membrane-spikes.png").exists()
