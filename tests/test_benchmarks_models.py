"""Smoke tests of ``benchmarks/models.py`` (tiny sizes, few steps).

The benchmark trains snnTorch tutorial 5's MLP and SpikingJelly's Fashion-MNIST CSNN
side by side; here it runs at toy size, checks that its agreement check passes (and
fails loudly when the spikes do not fire), that the memory subprocess reports a
number, that the ``--neuron if`` switch answers clearly, and that the results section
is spliced between its markers. The peers are skipped when not installed.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks"

pytest.importorskip("snntorch", reason="the bench dependency group is not installed")
pytest.importorskip("spikingjelly", reason="the bench dependency group is not installed")

TINY = [
    "--n-data",
    "32",
    "--batch",
    "8",
    "--hidden",
    "64",
    "--channels",
    "4",
    "--rounds",
    "1",
    "--inner",
    "1",
    "--no-write",
    "--no-memory",
]


@pytest.fixture(scope="module")
def models():
    sys.path.insert(0, str(BENCH))
    threads = torch.get_num_threads()
    try:
        spec = importlib.util.spec_from_file_location("bench_models", BENCH / "models.py")
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        yield mod
    finally:
        torch.set_num_threads(threads)  # the benchmark pins 2 threads at import
        sys.path.remove(str(BENCH))


def test_both_models_agree_and_are_timed_in_all_four_implementations(models, capsys):
    assert models.main(TINY) == 0
    out = capsys.readouterr().out
    for model in ("MLP 784-64-10", "CSNN c=4"):
        assert model in out
    for impl in models.IMPLS:
        assert f"  {impl} " in out  # one timing line per implementation
    assert out.count("Faster traceTorch mode") == 2
    # the required comparisons ran and passed (a failure raises SystemExit)
    assert "tt-step vs snntorch (float32)" in out
    assert "tt-seq vs sj-multistep (float64 BN train)" in out
    assert "MISMATCH" not in out


def test_agreement_check_fails_loudly_when_nothing_fires(models):
    spec = models.Spec("mlp", neuron="lif", batch=4, steps=3, hidden=16, channels=4, gain=0.0)
    init = models.initial_weights(spec, 0)
    x, y, _ = models.load_data(8)
    xb, yb = models.make_batch(spec, x, y, 0, 0)
    with pytest.raises(SystemExit, match=r"not all within \[5%, 50%\]"):
        models.check_agreement(spec, ["tt-step", "tt-seq"], init, xb, yb, lambda s: None)


def test_all_implementations_start_from_the_same_weights(models):
    spec = models.Spec("csnn", neuron="lif", batch=4, steps=2, hidden=16, channels=4, gain=1.0)
    init = models.initial_weights(spec, 3)
    for impl in models.IMPLS:
        ws = models.weights(models.build(impl, spec, init))
        assert len(ws) == len(init) == 8
        for w, v in zip(ws, init):
            assert torch.equal(w.detach(), v)


def test_neuron_if_is_clear_about_availability(models, capsys):
    import tracetorch as tt
    from tracetorch import snn

    has_if = hasattr(snn, "IF") or hasattr(snn, "IFB") or "reset" in __import__("inspect").signature(snn.LIB).parameters
    if has_if:
        pytest.skip("traceTorch has an integrate-and-fire neuron now; the unavailable path cannot be hit")
    assert models.main(["--neuron", "if", *TINY]) == 2
    err = capsys.readouterr().err
    assert "integrate-and-fire" in err and "--neuron lif" in err
    assert tt is not None


def test_memory_subprocess_reports_the_peak_the_steps_added(models):
    spec = models.Spec("mlp", neuron="lif", batch=8, steps=3, hidden=64, channels=4, gain=1.0)
    args = models.argparse.Namespace(seed=0, n_data=16, mem_steps=2)
    mem = models.measure_memory(spec, "tt-seq", args)
    assert mem["added_mib"] >= 0.0
    assert mem["peak_mib"] > mem["added_mib"]  # the peak includes the interpreter and torch


def test_results_section_is_replaced_between_markers_or_appended(models, tmp_path):
    path = tmp_path / "RESULTS.md"
    path.write_text(f"# R\n\n{models.BEGIN}\nold\n{models.END}\n\n<!-- other:begin -->\nkeep\n<!-- other:end -->\n")
    models.splice_results("new table", path)
    text = path.read_text()
    assert "old" not in text and "new table" in text and "keep" in text
    assert text.count(models.BEGIN) == 1 and text.count(models.END) == 1
    fresh = tmp_path / "FRESH.md"
    fresh.write_text("# R\n")
    models.splice_results("first", fresh)
    assert fresh.read_text().endswith(f"{models.BEGIN}\nfirst\n{models.END}\n")
