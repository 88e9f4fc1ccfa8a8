"""The Fashion-MNIST CSNN example (examples/fashion_mnist.py): smoke run, checkpoint/resume, data and neuron errors."""

from __future__ import annotations

import inspect
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]

pytest.importorskip("tqdm", reason="the examples dependency group is not installed")
pytest.importorskip("matplotlib", reason="the examples dependency group is not installed")

sys.path.insert(0, str(ROOT / "examples"))
import fashion_mnist as fm
from tracetorch import snn

HAS_RESET = "reset" in inspect.signature(snn.LIB).parameters

# All runs share one interpreter (imports once); each returns its exit code, output and history.
DRIVER = textwrap.dedent(
    """
    import contextlib, io, json, sys
    sys.path.insert(0, "examples")
    import fashion_mnist as fm
    results = {}
    for name, argv in json.loads(sys.argv[1]):
        out, err, code, hist = io.StringIO(), io.StringIO(), 0, None
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                hist = fm.main(argv)
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (1 if e.code else 0)
            if not isinstance(e.code, int) and e.code:
                err.write(str(e.code))
        results[name] = {"code": code, "stdout": out.getvalue(), "stderr": err.getvalue(), "history": hist}
    print(json.dumps(results))
    """
)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fm")
    common = ["--smoke", "--neuron", "lif", "--no-progress", "--seed", "3"]
    argv = [
        ("full", common + ["--out", str(tmp / "full")]),
        # the same run, interrupted after 5 of its 8 batches (mid second epoch) and resumed
        ("first_part", common + ["--out", str(tmp / "split"), "--max-batches", "5"]),
        ("resumed", common + ["--out", str(tmp / "split2"), "--resume", str(tmp / "split" / "checkpoint_latest.pt")]),
        (
            "wrong_resume",
            common + ["--out", str(tmp / "w"), "--T", "3", "--resume", str(tmp / "split" / "checkpoint_latest.pt")],
        ),
        (
            "no_data",
            [
                "--neuron",
                "lif",
                "--no-progress",
                "--no-download",
                "--data",
                str(tmp / "missing"),
                "--out",
                str(tmp / "x"),
            ],
        ),
        ("if_neuron", ["--smoke", "--no-progress", "--out", str(tmp / "if")]),
    ]
    env = dict(os.environ, MPLBACKEND="agg", OMP_NUM_THREADS="1")
    proc = subprocess.run(
        [sys.executable, "-c", DRIVER, json.dumps(argv)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-5000:]
    return tmp, json.loads(proc.stdout.strip().splitlines()[-1])


def test_smoke_run_trains_two_epochs_reports_and_writes_outputs(runs):
    tmp, results = runs
    r = results["full"]
    assert r["code"] == 0, r["stderr"][-3000:]
    lines = re.findall(
        r"^epoch (\d)/2: train loss (\d\.\d+), train accuracy (\d+\.\d+)%, test loss (\d\.\d+), "
        r"test accuracy (\d+\.\d+)% \(best \d+\.\d+%\); (\d+) training images/s, (\d+) test images/s",
        r["stdout"],
        re.MULTILINE,
    )
    assert [int(m[0]) for m in lines] == [1, 2], r["stdout"]
    h = r["history"]
    assert h["epoch"] == [1, 2]
    assert all(0.0 <= a <= 1.0 for a in h["test_accuracy"] + h["train_accuracy"])
    assert all(s > 0 for s in h["train_images_per_s"])
    # cosine schedule over 2 epochs, stepped once per epoch: lr 0.1 then 0.05
    assert h["lr"] == pytest.approx([0.1, 0.05])
    for f in (
        "checkpoint_latest.pt",
        "checkpoint_best.pt",
        "history.json",
        "fashion_mnist_training.png",
        "fashion_mnist_spikes.png",
    ):
        assert (tmp / "full" / f).stat().st_size > 0, f
    assert json.loads((tmp / "full" / "history.json").read_text())["history"] == h
    assert not list((tmp / "full").glob("*.part")), "a temporary checkpoint file was left behind"


def test_interrupted_and_resumed_run_matches_the_uninterrupted_one(runs):
    tmp, results = runs
    first, resumed, full = results["first_part"], results["resumed"], results["full"]
    assert first["code"] == 0 and resumed["code"] == 0, first["stderr"][-2000:] + resumed["stderr"][-2000:]
    assert "stopped after --max-batches at epoch 2, batch 1 of 4" in first["stdout"]
    assert "resumed from" in resumed["stdout"] and "epoch 2, batch 1 of 4" in resumed["stdout"]
    # the epoch-1 line is printed once by the first part, epoch 2 by the resumed part; numbers identical
    timing = ("train_images_per_s", "test_images_per_s")
    assert {k: v for k, v in resumed["history"].items() if k not in timing} == {
        k: v for k, v in full["history"].items() if k not in timing
    }
    a = torch.load(tmp / "full" / "checkpoint_latest.pt", weights_only=True)
    b = torch.load(tmp / "split2" / "checkpoint_latest.pt", weights_only=True)
    assert a["model"].keys() == b["model"].keys()
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
    assert a["tracker"] == b["tracker"]
    assert torch.equal(a["rng"]["torch"], b["rng"]["torch"])
    assert a["epoch"] == b["epoch"] == 2 and a["batch"] == b["batch"] == 0


def test_resuming_with_other_options_is_a_clear_error(runs):
    _, results = runs
    r = results["wrong_resume"]
    assert r["code"] == 1
    assert "the checkpoint was made with --T 4 (now 3)" in r["stderr"], r["stderr"]
    assert "Traceback" not in r["stderr"]


def test_missing_data_without_network_is_a_clear_message_and_exit_2(runs):
    _, results = runs
    r = results["no_data"]
    assert r["code"] == 2, r
    assert r["stderr"].startswith("error: Fashion-MNIST files not found in "), r["stderr"]
    assert "apt-get install dataset-fashion-mnist" in r["stderr"] and "--data FOLDER" in r["stderr"]
    assert "Traceback" not in r["stderr"]


def test_download_failure_names_the_fix_quickly(tmp_path, monkeypatch):
    import time
    import urllib.error
    import urllib.request

    import fashion_mnist_data as fmd

    def no_network(url, timeout=None):
        raise urllib.error.URLError("Temporary failure in name resolution")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    start = time.perf_counter()
    with pytest.raises(fmd.FashionMnistUnavailable, match="could not be downloaded") as e:
        fmd.load_fashion_mnist(tmp_path / "empty", download=True)
    assert time.perf_counter() - start < 2.0
    assert "apt-get install dataset-fashion-mnist" in str(e.value)
    assert not list((tmp_path / "empty").glob("*")), "a partial download was left behind"


def test_idx_files_in_a_data_folder_are_read_and_bad_ones_rejected(tmp_path):
    import gzip

    import fashion_mnist_data as fmd

    images = {"train-images-idx3-ubyte": 60000, "t10k-images-idx3-ubyte": 10000}
    for stem, n in fmd.FILES.values():
        if stem in images:
            body = (torch.arange(n * 784) % 251).to(torch.uint8).numpy().tobytes()
            data = (0x803).to_bytes(4, "big") + n.to_bytes(4, "big") + (28).to_bytes(4, "big") * 2 + body
        else:
            body = (torch.arange(n) % 10).to(torch.uint8).numpy().tobytes()
            data = (0x801).to_bytes(4, "big") + n.to_bytes(4, "big") + body
        (tmp_path / f"{stem}.gz").write_bytes(gzip.compress(data, compresslevel=1))
    x, y, xt, yt, folder = fmd.load_fashion_mnist(tmp_path, download=False)
    assert folder == tmp_path
    assert x.shape == (60000, 1, 28, 28) and xt.shape == (10000, 1, 28, 28) and x.dtype == torch.float32
    assert (
        float(x.min()) == 0.0
        and float(x.max()) == pytest.approx(250 / 255)
        and float(x[0, 0, 0, 1]) == pytest.approx(1 / 255)
    )
    assert y[:12].tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1] and yt.shape == (10000,)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(b"\x00\x00\x08\x01" + b"\x00" * 20))
    with pytest.raises(fmd.FashionMnistUnavailable, match="is not the Fashion-MNIST file it should be"):
        fmd.load_fashion_mnist(tmp_path, download=False)


def test_if_neuron_runs_or_says_it_is_not_available(runs):
    _, results = runs
    r = results["if_neuron"]
    if HAS_RESET:
        assert r["code"] == 0, r["stderr"][-3000:]
        assert r["history"]["epoch"] == [1, 2]
    else:
        assert r["code"] == 2
        assert r["stderr"].startswith("error: --neuron if needs the integrate-and-fire neuron with hard reset"), r[
            "stderr"
        ]
        assert "Use --neuron lif" in r["stderr"] and "Traceback" not in r["stderr"]


def test_csnn_has_spikingjellys_layers_and_runs_a_sequence():
    net = fm.make_csnn(8, "lif")
    kinds = [type(m).__name__ for m in net]
    assert kinds == [
        "Conv2d",
        "BatchNorm2d",
        "LIB",
        "MaxPool2d",
        "Conv2d",
        "BatchNorm2d",
        "LIB",
        "MaxPool2d",
        "Flatten",
        "Linear",
        "LIB",
        "Linear",
        "LIB",
    ]
    assert all(getattr(m, "bias", None) is None for m in net if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)))
    assert net[9].in_features == 8 * 49 and net[9].out_features == 8 * 16
    x = torch.rand(3, 1, 28, 28) * 4
    fr = fm.firing_rates(net, x, 4)
    assert fr.shape == (3, 10)
    # firing rates over T=4 steps are multiples of 1/4, and stepping gives the same numbers in eval mode
    assert torch.equal(fr * 4, (fr * 4).round())
    net.eval()
    seq = fm.firing_rates(net, x, 4)
    net.zero_states()
    stepped = torch.stack([net(x) for _ in range(4)]).mean(0)
    assert torch.allclose(seq, stepped, atol=1e-6)


def test_bad_neuron_name_is_a_value_error():
    with pytest.raises(ValueError, match="neuron must be 'if' or 'lif'"):
        fm.make_neuron("lIf", 4, -1)
