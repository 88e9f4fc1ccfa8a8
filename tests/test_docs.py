"""The documentation site builds strictly, its API reference is complete, and it renders.

The site is built once per test session with ``mkdocs build --strict`` from the running
environment (the ``docs`` group is installed by default; otherwise ``scripts/docs.py``
syncs an isolated one), with ``docs/hooks.py`` merging the four ``src/`` trees. The reference check lists every public
module of the installed ``tracetorch`` (walking the package, skipping ``_private``
names) and every name in each module's ``__all__``, and requires each to have an anchor
in the built reference pages: mkdocstrings can otherwise render an empty page silently.

The rendering checks read the built HTML: no TeX delimiters left outside the spans
MathJax typesets (pymdownx.arithmatex wraps every formula it recognised in an element
of class ``arithmatex``; TeX anywhere else is shown raw), every signature line fits
the column, every internal link and anchor resolves, MathJax is served from the site,
and pages have an edit button.
"""

from __future__ import annotations

import html
import importlib.util
import json
import posixpath
import re
import subprocess
import sys
import textwrap
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


def _docs_script():
    spec = importlib.util.spec_from_file_location("_tracetorch_docs_script", ROOT / "scripts" / "docs.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="session")
def docs_env(tmp_path_factory) -> Path:
    """A Python with MkDocs: this one (the docs group is a default group), else an
    isolated environment synced from uv.lock."""
    script = _docs_script()
    if script.has_docs_tools():
        return Path(sys.executable)
    if script.find_uv() is None:
        pytest.skip("neither MkDocs nor uv is available")
    return script.make_docs_env(tmp_path_factory.mktemp("docs-env") / "venv")


@pytest.fixture(scope="session")
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


@pytest.fixture(scope="session")
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
    layers = [f"{d}{s}{r}LI{k}" for k in ("", "EMA") for d in ("", "D") for s in ("", "S") for r in ("",)] + [
        f"{d}{s}{r}LI{k}" for k in ("B", "T", "TS") for d in ("", "D") for s in ("", "S") for r in ("", "R")
    ]
    assert len(set(layers)) == 32
    ids = _reference_ids(site)
    assert not [n for n in layers if f"tracetorch.snn.{n}" not in ids]
    table = (site / "layers" / "snn" / "index.html").read_text(encoding="utf-8")
    assert not [n for n in layers if f"<code>{n}</code>" not in table], "the layer table lists all 32 layers"


# --------------------------------------------------------------------------- rendering

# TeX that MathJax would have typeset, had arithmatex recognised it.
RAW_TEX = re.compile(r"\$\$|\\\(|\\\)|\\\[|\\\]|\\begin\{|\\(?:mathrm|frac|alpha|beta|gamma|theta|qquad|leftarrow)\b")
# Signature and guide code lines: what fits the content column at 1280 px.
MAX_CODE_COLUMNS = 80


class _TextOutsideMath(HTMLParser):
    """Collects the visible text of a page's article, minus math, code and scripts."""

    SKIP_TAGS = {"script", "style", "code", "pre", "kbd", "textarea"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, bool]] = []  # (tag, skipped)
        self.in_article = 0
        self.chunks: list[str] = []

    def _skipped(self) -> bool:
        return any(skip for _, skip in self.stack)

    def handle_starttag(self, tag, attrs):
        if tag in ("br", "img", "hr", "input", "meta", "link", "source", "wbr"):
            return
        classes = (dict(attrs).get("class") or "").split()
        skip = tag in self.SKIP_TAGS or "arithmatex" in classes
        if tag == "article":
            self.in_article += 1
        self.stack.append((tag, skip))

    def handle_endtag(self, tag):
        for k in range(len(self.stack) - 1, -1, -1):
            if self.stack[k][0] == tag:
                del self.stack[k:]
                break
        if tag == "article":
            self.in_article -= 1

    def handle_data(self, data):
        if self.in_article and not self._skipped():
            self.chunks.append(data)


def raw_tex(page_html: str) -> list[str]:
    """TeX snippets shown as text (outside MathJax's spans) in a page's article."""
    parser = _TextOutsideMath()
    parser.feed(page_html)
    text = " ".join(parser.chunks)
    return [text[max(m.start() - 30, 0) : m.end() + 30].strip() for m in RAW_TEX.finditer(text)]


def test_raw_tex_finder_flags_unrendered_math_only():
    typeset = '<article><p>A <span class="arithmatex">\\(x_t\\)</span> and</p><div class="arithmatex">\\[\n\\begin{aligned}a\\end{aligned}\n\\]</div><code>\\(y\\)</code></article>'
    assert raw_tex(typeset) == []
    in_list = "<article><ul><li><strong>B</strong>: $$ s_t = q\\big(f(\\mathrm{mem}_t)\\big) $$</li></ul></article>"
    assert raw_tex(in_list), "a $$ block that markdown left as text is found"
    assert raw_tex("<article><p>where \\(x\\) is</p></article>")


def _pages(site: Path) -> list[Path]:
    return sorted(p for p in site.rglob("*.html") if "javascripts" not in p.parts and p.name != "404.html")


def test_no_raw_tex_in_any_page(site):
    found = {}
    for page in _pages(site):
        snippets = raw_tex(page.read_text(encoding="utf-8"))
        if snippets:
            found[str(page.relative_to(site))] = snippets[:3]
    assert not found, f"TeX shown raw (not typeset by MathJax) on these pages: {found}"


def test_math_is_typeset_where_the_equations_are(site):
    page = (site / "layers" / "snn" / "index.html").read_text(encoding="utf-8")
    assert page.count('<div class="arithmatex">') >= 8, "the update's display equations are MathJax blocks"


def _signature_lines(page_html: str) -> list[str]:
    lines = []
    for block in re.findall(r'<div class="doc-signature[^"]*">(.*?)</code></pre>', page_html, flags=re.S):
        text = html.unescape(re.sub(r"<[^>]+>", "", block))
        lines += text.splitlines()
    return lines


def test_signatures_fit_the_column(site):
    pages = sorted((site / "reference").rglob("*.html"))
    lines = [(str(p.relative_to(site)), ln) for p in pages for ln in _signature_lines(p.read_text(encoding="utf-8"))]
    assert len(lines) > 200, "mkdocstrings renders separate, multi-line signatures (ruff is installed)"
    too_long = [(page, len(ln), ln) for page, ln in lines if len(ln) > MAX_CODE_COLUMNS]
    assert not too_long, f"signature lines over {MAX_CODE_COLUMNS} characters: {too_long[:5]}"


def test_model_and_sequential_have_signature_boxes(site):
    page = (site / "reference" / "core" / "index.html").read_text(encoding="utf-8")
    for name, expected in (("Model", "Model()"), ("Sequential", "Sequential(*modules: nn.Module)")):
        start = page.index(f'id="tracetorch.core.{name}"')
        nxt = page.find('class="doc doc-heading"', page.index("</h", start))
        signature = _signature_lines(page[start : nxt if nxt > 0 else len(page)])
        assert expected in " ".join(s.strip() for s in signature), f"{name} has no signature box"


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.urls: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(a["id"])
        if tag == "a" and a.get("name"):
            self.ids.add(a["name"])
        for key in ("href", "src"):
            if a.get(key) and not (tag == "link" and a.get("rel") in ("canonical", "alternate")):
                self.urls.append(a[key])


def broken_links(site: Path) -> list[str]:
    """Internal links (href/src) of every page that point at no file or no anchor."""
    parsed: dict[Path, _Links] = {}

    def parse(path: Path) -> _Links:
        if path not in parsed:
            p = _Links()
            p.feed(path.read_text(encoding="utf-8"))
            parsed[path] = p
        return parsed[path]

    broken = []
    for page in _pages(site):
        base = posixpath.dirname(page.relative_to(site).as_posix())
        for url in parse(page).urls:
            parts = urlsplit(url)
            if parts.scheme or parts.netloc or url.startswith(("mailto:", "javascript:", "data:")):
                continue
            path = unquote(parts.path)
            if path:
                rel = posixpath.normpath(posixpath.join(base, path))
                target = site / rel
                if target.is_dir() or path.endswith("/"):
                    target = target / "index.html"
            else:
                target = page
            if not target.is_file():
                broken.append(f"{page.relative_to(site)}: {url} (no such file)")
            elif parts.fragment and target.suffix == ".html" and unquote(parts.fragment) not in parse(target).ids:
                broken.append(f"{page.relative_to(site)}: {url} (no such anchor)")
    return broken


def test_link_checker_finds_missing_files_and_anchors(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "index.html").write_text(
        '<h2 id="x">x</h2><a href="../b/">b</a><a href="#y">y</a><img src="../p.png#only-dark">'
    )
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "index.html").write_text(
        '<a href="../a/#x">ok</a><a href="../a/#nope">bad</a><a href="https://e.org/#z">ext</a>'
    )
    (tmp_path / "p.png").write_bytes(b"")
    assert sorted(broken_links(tmp_path)) == [
        "a/index.html: #y (no such anchor)",
        "b/index.html: ../a/#nope (no such anchor)",
    ]


def test_no_broken_internal_links_or_anchors(site):
    broken = broken_links(site)
    assert not broken, "broken internal links:\n" + "\n".join(broken[:20])


def test_mathjax_is_served_from_the_site(site):
    mj = site / "javascripts" / "mathjax"
    assert (mj / "tex-svg.js").stat().st_size > 500_000
    assert (mj / "input" / "tex" / "extensions" / "ams.js").is_file(), "the TeX extensions it may autoload too"
    for page in _pages(site):
        scripts = re.findall(r'<script[^>]+src="([^"]+)"', page.read_text(encoding="utf-8"))
        external = [s for s in scripts if urlsplit(s).scheme or s.startswith("//")]
        assert not external, f"{page.relative_to(site)} loads scripts from elsewhere: {external}"
        if "arithmatex" in page.read_text(encoding="utf-8"):
            assert any(s.endswith("javascripts/mathjax/tex-svg.js") for s in scripts), page


def test_pages_have_an_edit_button(site):
    page = (site / "layers" / "snn" / "index.html").read_text(encoding="utf-8")
    assert re.search(r'href="[^"]*/edit/main/docs/layers/snn\.md"', page), "the edit button links to the source"


def test_figures_show_in_light_and_dark(site):
    page = (site / "layers" / "snn" / "index.html").read_text(encoding="utf-8")
    for name in ("neuron-lib", "neuron-lit", "neuron-lits", "neuron-li", "variant-s", "variant-r", "variant-d"):
        assert f"{name}-light.png#only-light" in page and f"{name}-dark.png#only-dark" in page, name
    home = (site / "index.html").read_text(encoding="utf-8")
    assert "lib-membrane-spikes-dark.png#only-dark" in home, "the home figure has a dark-mode variant"
