"""The examples run (smoke mode) and the quickstart keeps its promise (slow test).

Every example is run in its ``--smoke`` mode by ONE subprocess of ``sys.executable``
(importing torch costs seconds, so a small driver runs each example's
``__main__`` in turn and reports exit status, output and files as JSON); each example
is then checked by its own test. The MNIST examples never touch the network in
smoke mode (synthetic stand-in). The slow test runs the README's command itself.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import time
import urllib.error
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"

pytest.importorskip("sklearn", reason="the examples dependency group is not installed")
pytest.importorskip("tqdm", reason="the examples dependency group is not installed")
pytest.importorskip("matplotlib", reason="the examples dependency group is not installed")

# name -> (script, extra arguments, files expected in the output folder)
RUNS: dict[str, tuple[str, list[str], list[str]]] = {
    "quickstart": (
        "quickstart.py",
        ["--smoke", "--no-progress"],
        ["quickstart_training.png", "quickstart_raster.png", "quickstart_digits.png", "quickstart_parameters.png"],
    ),
    "quickstart_again": ("quickstart.py", ["--smoke", "--no-progress"], []),
    "mnist_rate": (
        "mnist/rate_coded.py",
        ["--smoke", "--no-progress", "--no-download"],
        ["mnist_rate_training.png", "mnist_rate_raster.png", "mnist_rate_parameters.png"],
    ),
    "mnist_sequential": (
        "mnist/sequential.py",
        ["--smoke", "--no-progress", "--no-download"],
        ["mnist_sequential_training.png", "mnist_sequential_raster.png", "mnist_sequential_parameters.png"],
    ),
    "mnist_no_data": ("mnist/rate_coded.py", ["--no-progress", "--no-download", "--data", "{tmp}/empty"], []),
    "sequence_ssm": ("sequence_digits.py", ["--smoke", "--no-progress"], ["sequence_digits_ssm.png"]),
    "sequence_lstm": (
        "sequence_digits.py",
        ["--smoke", "--no-progress", "--layer", "lstm"],
        ["sequence_digits_lstm.png"],
    ),
    "streaming": (
        "streaming_states.py",
        ["--smoke"],
        ["streaming_states.safetensors", "streaming_weights.pt", "streaming_states.png"],
    ),
}

DRIVER = textwrap.dedent(
    """
    import contextlib, io, json, os, runpy, sys, time, traceback
    runs = json.loads(sys.argv[1])
    results = {}
    for name, (script, args) in runs.items():
        out, err = io.StringIO(), io.StringIO()
        argv, path = sys.argv[:], sys.path[:]
        sys.argv = [script] + args
        sys.path.insert(0, os.path.dirname(script))
        code, tb = 0, ""
        start = time.perf_counter()
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                runpy.run_path(script, run_name="__main__")
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
            if not isinstance(e.code, (int, type(None))):
                err.write(str(e.code))
        except BaseException:
            code, tb = 1, traceback.format_exc()
        finally:
            sys.argv, sys.path[:] = argv, path
        results[name] = {"code": code, "traceback": tb, "stdout": out.getvalue(), "stderr": err.getvalue(),
                         "seconds": time.perf_counter() - start}
    print(json.dumps(results))
    """
)


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ, MPLBACKEND="agg", **extra)
    # Let the examples' interpreter cache compiled modules (torch is large): without
    # it every run recompiles torch's Python sources, which costs seconds each time.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("examples")
    runs = {}
    for name, (script, args, _) in RUNS.items():
        args = [a.replace("{tmp}", str(tmp)) for a in args] + ["--out", str(tmp / name)]
        runs[name] = (str(EXAMPLES / script), args)
    env = _env(OMP_NUM_THREADS="1")  # tiny models: one thread is fastest
    proc = subprocess.run(
        [sys.executable, "-c", DRIVER, json.dumps(runs)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-5000:]
    results = json.loads(proc.stdout.strip().splitlines()[-1])
    print({name: round(r["seconds"], 1) for name, r in results.items()})  # shown with -s
    return tmp, results


@pytest.mark.parametrize("name", [n for n in RUNS if n != "mnist_no_data"])
def test_example_runs_in_smoke_mode(smoke, name):
    tmp, results = smoke
    r = results[name]
    assert r["code"] == 0, f"{name} failed:\n{r['traceback']}\n{r['stderr'][-3000:]}"
    assert r["traceback"] == ""
    for f in RUNS[name][2]:
        path = tmp / name / f
        assert path.is_file() and path.stat().st_size > 0, f"{name} did not write {f}"


def test_quickstart_smoke_prints_accuracy(smoke):
    _, results = smoke
    out = results["quickstart"]["stdout"]
    assert re.search(r"^epoch 1: loss \d+\.\d+, held-out accuracy \d+\.\d%$", out, re.M), out
    assert "held-out accuracy" in out.splitlines()[-1]


def test_quickstart_is_deterministic_under_its_seed(smoke):
    _, results = smoke

    def numbers(name: str) -> list[str]:
        return [re.sub(r" after \d+ s;.*", "", line) for line in results[name]["stdout"].splitlines()]

    assert numbers("quickstart") == numbers("quickstart_again")
    assert results["quickstart_again"]["code"] == 0


def test_streaming_example_resumes_exactly(smoke):
    _, results = smoke
    out = results["streaming"]["stdout"]
    assert "resumed stream equals the uninterrupted one: True (max difference 0.0e+00)" in out, out
    assert "net.1.mem" in out and "net.2.h" in out


def test_sequence_example_checks_sequence_mode(smoke):
    _, results = smoke
    for name in ("sequence_ssm", "sequence_lstm"):
        assert "stepping and forward_sequence agree" in results[name]["stdout"]


def test_mnist_without_data_is_a_clear_message_and_exit_2(smoke):
    _, results = smoke
    r = results["mnist_no_data"]
    assert r["code"] == 2, r
    assert r["traceback"] == "" and "Traceback" not in r["stderr"]
    assert r["stderr"].startswith("error: MNIST file train-images-idx3-ubyte(.gz) not found"), r["stderr"]


# ---------------------------------------------------------------------------- MNIST files
@pytest.fixture()
def mnist_data(monkeypatch):
    monkeypatch.syspath_prepend(str(EXAMPLES / "mnist"))
    import mnist_data as module

    # small files with real IDX headers instead of 60000 images
    monkeypatch.setattr(
        module,
        "FILES",
        {
            "train_images": ("train-images-idx3-ubyte", 5),
            "train_labels": ("train-labels-idx1-ubyte", 5),
            "test_images": ("t10k-images-idx3-ubyte", 3),
            "test_labels": ("t10k-labels-idx1-ubyte", 3),
        },
    )
    return module


def _write_idx(path: Path, magic: int, shape: tuple[int, ...], payload: bytes, gz: bool) -> None:
    import gzip
    import struct

    data = struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in shape) + payload
    if gz:
        path.with_name(path.name + ".gz").write_bytes(gzip.compress(data))
    else:
        path.write_bytes(data)


def test_mnist_idx_files_are_read_gzipped_or_not(tmp_path, mnist_data):
    import numpy as np

    train_pixels = np.arange(5 * 784, dtype=np.uint64) % 256
    _write_idx(tmp_path / "train-images-idx3-ubyte", 0x803, (5, 28, 28), bytes(train_pixels.astype(np.uint8)), True)
    _write_idx(tmp_path / "train-labels-idx1-ubyte", 0x801, (5,), bytes([3, 1, 4, 1, 5]), False)
    _write_idx(tmp_path / "t10k-images-idx3-ubyte", 0x803, (3, 28, 28), bytes(3 * 784), False)
    _write_idx(tmp_path / "t10k-labels-idx1-ubyte", 0x801, (3,), bytes([9, 2, 6]), True)
    x_train, y_train, x_test, y_test = mnist_data.load_mnist(tmp_path, download=False)
    assert x_train.shape == (5, 1, 28, 28) and x_test.shape == (3, 1, 28, 28)
    assert y_train.tolist() == [3, 1, 4, 1, 5] and y_test.tolist() == [9, 2, 6]
    assert x_train.flatten()[:3].tolist() == pytest.approx([0.0, 1 / 255, 2 / 255])
    assert float(x_train.max()) == 1.0 and float(x_test.max()) == 0.0


def test_mnist_corrupt_file_and_failed_download_are_clear_errors(tmp_path, mnist_data, monkeypatch):
    (tmp_path / "train-images-idx3-ubyte").write_bytes(b"<html>not mnist</html>")
    with pytest.raises(mnist_data.MnistUnavailable, match="not the MNIST file"):
        mnist_data.load_mnist(tmp_path, download=False)

    def offline(url, timeout=None):
        raise urllib.error.URLError("network is unreachable")

    monkeypatch.setattr(mnist_data.urllib.request, "urlopen", offline)
    empty = tmp_path / "empty"
    with pytest.raises(mnist_data.MnistUnavailable, match=r"(?s)could not download.*unreachable.*--smoke"):
        mnist_data.load_mnist(empty)
    assert not list(empty.glob("*.part"))


# ---------------------------------------------------------------------------- the README promise
@pytest.mark.slow
def test_quickstart_reaches_90_percent_in_under_two_minutes_on_two_threads(tmp_path):
    """The README's command, as a user runs it (CI's machine has two cores); CI runs this too."""
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "examples/quickstart.py", "--no-progress", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env=_env(),
    )
    wall = time.perf_counter() - start
    assert proc.returncode == 0, proc.stderr[-5000:]
    accuracies = [float(a) / 100 for a in re.findall(r"held-out accuracy (\d+\.\d)%", proc.stdout)]
    assert len(accuracies) >= 9, proc.stdout  # one line per epoch and the summary
    assert accuracies[-1] >= 0.90, proc.stdout
    assert wall < 120, f"quickstart took {wall:.0f} s:\n{proc.stdout}"
    for f in ("quickstart_training.png", "quickstart_raster.png", "quickstart_digits.png"):
        assert (tmp_path / f).stat().st_size > 0
