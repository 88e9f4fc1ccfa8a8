"""The documentation's figures exist, are current, and are shown in both colour schemes.

``docs/make_figures.py`` computes every figure from real layers (and the benchmark
figure from ``benchmarks/RESULTS.md``) and records a SHA-256 of the drawn numbers in
``docs/assets/figures.json``. These tests recompute the numbers: a layer whose
behaviour changed, or a benchmark file that was updated, without the figures being
redrawn fails here. PNG bytes are never compared (they differ between matplotlib
versions).
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
ASSETS = ROOT / "docs" / "assets"


@pytest.fixture(scope="module")
def make_figures():
    spec = importlib.util.spec_from_file_location("_tracetorch_make_figures", ROOT / "docs" / "make_figures.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up there
    try:
        spec.loader.exec_module(mod)
        yield mod
    finally:
        sys.modules.pop(spec.name, None)


def test_every_figure_is_present_and_current(make_figures):
    problems = make_figures.check()
    assert not problems, "figures missing or stale; run `uv run python docs/make_figures.py`:\n" + "\n".join(problems)


def test_the_figures_cover_every_family_variant_and_surrogate(make_figures):
    names = {f.name for f in make_figures.FIGURES}
    for family in ("li", "lib", "lit", "lits"):  # LI and LIEMA share one figure
        assert f"neuron-{family}" in names
    assert {"variant-s", "variant-r", "variant-d", "surrogates"} <= names
    import tracetorch as tt

    data = make_figures.data_surrogates()
    for name in tt.functional.SPIKE_FUNCTIONS:
        assert f"{name}:grad" in data, f"the surrogate figure lacks {name}"


def test_a_changed_layer_makes_its_figure_stale(make_figures, monkeypatch, tmp_path):
    stored = json.loads((ASSETS / "figures.json").read_text())
    (tmp_path / "figures.json").write_text(json.dumps(stored))
    for entry in stored.values():
        for filename in entry["files"]:
            (tmp_path / filename).write_bytes(b"png")
    figures = list(make_figures.FIGURES)
    k = next(i for i, f in enumerate(figures) if f.name == "neuron-lib")
    original = figures[k].compute

    def shifted():
        data = original()
        data["mem"] = data["mem"] + 1e-3  # what a changed decay or reset would do
        return data

    figures[k] = make_figures.Figure(figures[k].name, shifted, figures[k].draw, figures[k].alt)
    monkeypatch.setattr(make_figures, "FIGURES", tuple(figures))
    assert make_figures.check(tmp_path) == ["neuron-lib: stale (the layers now produce different numbers)"]
    (tmp_path / "neuron-lit-dark.png").unlink()
    assert any("neuron-lit-dark.png is missing" in p for p in make_figures.check(tmp_path))


def test_data_hash_ignores_last_bit_noise_but_not_changes(make_figures):
    a = {"x": np.linspace(0, 1, 50)}
    assert make_figures.data_hash(a) == make_figures.data_hash({"x": a["x"] + 1e-12})
    assert make_figures.data_hash(a) != make_figures.data_hash({"x": a["x"] + 1e-4})
    assert make_figures.data_hash(a) != make_figures.data_hash({"y": a["x"]})


def test_every_figure_is_shown_on_a_page_in_both_schemes(make_figures):
    pages = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "docs").rglob("*.md"))
    for fig in make_figures.FIGURES:
        for theme in make_figures.THEMES:
            pattern = rf"assets/{re.escape(fig.name)}-{theme}\.png#only-{theme}\)"
            assert re.search(pattern, pages), f"{fig.name}-{theme}.png is not shown with #only-{theme} on any page"


def test_figures_draw_in_both_schemes(make_figures, tmp_path):
    pytest.importorskip("matplotlib")
    fig = next(f for f in make_figures.FIGURES if f.name == "neuron-lit")
    paths = make_figures.render(fig, fig.compute(), tmp_path)
    assert [p.name for p in paths] == ["neuron-lit-light.png", "neuron-lit-dark.png"]
    assert all(p.stat().st_size > 10_000 for p in paths)
    assert paths[0].read_bytes() != paths[1].read_bytes(), "the dark variant is drawn in other colours"


def test_the_benchmark_figure_reads_the_results_file(make_figures):
    us = make_figures.data_perf()["us_per_step"]
    rows = make_figures.results_table("### snn per-step (`benchmarks/snn_step.py`)")
    lib = next(
        r
        for r in rows
        if r["layer"] == "LIB"
        and r["B×N"] == "64x1024"
        and r["pass"] == "fwd+bwd"
        and r["implementation"] == "tt.snn.LIB"
    )
    assert us[3, 2] == float(lib["median µs / step"])
