"""The tutorial-5 port (examples/tutorial5_fashion_mlp.py) runs end to end in smoke mode."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytest.importorskip("tqdm", reason="the examples dependency group is not installed")
pytest.importorskip("matplotlib", reason="the examples dependency group is not installed")

DRIVER = textwrap.dedent(
    """
    import contextlib, io, json, sys
    sys.path.insert(0, "examples")
    import tutorial5_fashion_mlp as t5
    results = {}
    for name, argv in json.loads(sys.argv[1]).items():
        out, err, code = io.StringIO(), io.StringIO(), 0
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                t5.main(argv)
        except SystemExit as e:
            code = e.code
        results[name] = {"code": code, "stdout": out.getvalue(), "stderr": err.getvalue()}
    print(json.dumps(results))
    """
)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("t5")
    argv = {
        "smoke": ["--smoke", "--no-progress", "--out", str(tmp / "smoke")],
        "no_data": ["--no-progress", "--data", str(tmp / "missing"), "--out", str(tmp / "x")],
    }
    env = dict(os.environ, MPLBACKEND="agg", OMP_NUM_THREADS="1")
    proc = subprocess.run(
        [sys.executable, "-c", DRIVER, json.dumps(argv)], cwd=ROOT, capture_output=True, text=True, timeout=600, env=env
    )
    assert proc.returncode == 0, proc.stderr[-5000:]
    return tmp, json.loads(proc.stdout.strip().splitlines()[-1])


def test_tutorial5_smoke_trains_reports_and_plots(runs):
    tmp, results = runs
    r = results["smoke"]
    assert r["code"] == 0, r["stderr"][-3000:]
    out = r["stdout"]
    assert re.search(r"^epoch 1: loss \d+\.\d+, test accuracy \d+\.\d+%$", out, re.M), out
    rates = re.search(r"firing rates \(spikes per step\): hidden (\d\.\d+), output (\d\.\d+)", out)
    assert rates and 0.0 <= float(rates[1]) <= 1.0, out
    m = re.search(
        r"activation sparsity (\d\.\d+); synaptic operations per image: (\d+) accumulates of (\d+) dense", out
    )
    assert m and 0.0 <= float(m[1]) <= 1.0 and 0 < int(m[2]) <= int(m[3]), out
    for f in ("tutorial5_training.png", "tutorial5_raster.png", "tutorial5_output_raster.png", "tutorial5_rates.png"):
        assert (tmp / "smoke" / f).stat().st_size > 0, f


def test_tutorial5_without_data_is_a_clear_message_and_exit_2(runs):
    _, results = runs
    r = results["no_data"]
    assert r["code"] == 2
    assert r["stderr"].startswith("error: Fashion-MNIST: MNIST file train-images-idx3-ubyte(.gz) not found"), r[
        "stderr"
    ]
    assert "apt-get install dataset-fashion-mnist" in r["stderr"]
