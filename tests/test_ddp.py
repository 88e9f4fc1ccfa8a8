"""DistributedDataParallel: 2 CPU processes (gloo) give the single-process gradients.

States are plain attributes, not buffers, so DDP neither broadcasts nor averages them:
each process keeps the states of its own slice of the batch.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import torch

WORKER = Path(__file__).with_name("ddp_worker.py")


def test_two_process_ddp_gradients_equal_single_process_gradients(tmp_path):
    spec = importlib.util.spec_from_file_location("ddp_worker", WORKER)
    worker = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(worker)
    worker.run(0, 0, str(tmp_path))  # single-process reference, in this process
    subprocess.run([sys.executable, str(WORKER), str(tmp_path), "2"], check=True, timeout=300)
    single = torch.load(tmp_path / "rank0_of0.pt", weights_only=True)
    ranks = [torch.load(tmp_path / f"rank{r}_of2.pt", weights_only=True) for r in (0, 1)]
    assert single["grads"].keys() == ranks[0]["grads"].keys()
    for name, g in single["grads"].items():
        assert g.abs().sum() > 0, f"{name} got no gradient"
        for r in ranks:  # DDP averages the per-process gradients of the half-batch means
            assert torch.allclose(r["grads"][name], g, atol=1e-6, rtol=1e-5), name
    for key, state in single["states"].items():
        # each process kept the states of its own half of the batch, unsynchronised
        halves = torch.cat([ranks[0]["states"][key], ranks[1]["states"][key]])
        assert torch.allclose(halves, state, atol=1e-6), key
        assert not torch.equal(ranks[0]["states"][key], ranks[1]["states"][key])
