"""Training in sequence mode must not leak memory.

Each family (spiking B/T/TS with S and R traces, a plain spiking layer, LI/EMA scans,
an LSTM) is trained with ``forward_sequence`` for many iterations in a fresh
subprocess, so that other tests cannot perturb its resident memory. After a warm-up,
resident memory (``/proc/self/statm``) is read at three points fifteen iterations
apart, with no ``gc.collect()`` anywhere: a leak grows in both windows (the old
BPTT, whose per-step tensors formed a reference cycle with the returned state, grew
by 50-100 MB per window at these sizes), while allocator noise is a one-off jump in one
window at most.

The Triton kernels under the interpreter are not included: one training iteration
of even a small layer takes over a second there, too slow for enough iterations to
see a leak.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs Linux /proc")

FAMILIES = ["SRLIB", "SRLIT", "SRLITS", "LIB", "SLI", "LIEMA", "LSTM"]
WINDOW = 15
LIMIT_MB = 4.0  # growth allowed per window (a leak here is 10-100 MB per window)

WORKER = textwrap.dedent(
    """
    import json, os, sys
    import torch
    torch.set_num_threads(1)
    import tracetorch as tt
    from tracetorch import rnn, snn

    PAGE = os.sysconf("SC_PAGE_SIZE")

    def rss_mb():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * PAGE / 2**20

    T, B, N = 16, 32, 192
    BUILD = {
        "SRLIB": lambda: snn.SRLIB(N),
        "SRLIT": lambda: snn.SRLIT(N),
        "SRLITS": lambda: snn.SRLITS(N),
        "LIB": lambda: snn.LIB(N),
        "SLI": lambda: snn.SLI(N),
        "LIEMA": lambda: snn.LIEMA(N),
        "LSTM": lambda: rnn.LSTM(N, N),
    }
    window = int(sys.argv[1])
    result = {}
    for name in sys.argv[2:]:
        torch.manual_seed(0)
        model = tt.Sequential(BUILD[name]())
        opt = torch.optim.SGD(model.parameters(), lr=1e-3)
        x = torch.rand(T, B, N)

        def train_step():
            model.zero_states()
            loss = model.forward_sequence(x).pow(2).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

        for _ in range(6):
            train_step()
        marks = [rss_mb()]
        for _ in range(2):
            for _ in range(window):
                train_step()
            marks.append(rss_mb())
        result[name] = [marks[1] - marks[0], marks[2] - marks[1]]
    print(json.dumps(result))
    """
)


@pytest.fixture(scope="module")
def growth() -> dict[str, list[float]]:
    env = dict(os.environ, TRACETORCH_KERNELS="0", OMP_NUM_THREADS="1")
    proc = subprocess.run(
        [sys.executable, "-c", WORKER, str(WINDOW), *FAMILIES],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("family", FAMILIES)
def test_sequence_training_does_not_grow_resident_memory(growth, family):
    first, second = growth[family]
    assert min(first, second) < LIMIT_MB, (
        f"{family}: resident memory grew by {first:.1f} MB and then {second:.1f} MB over two windows of "
        f"{WINDOW} training iterations in sequence mode (limit {LIMIT_MB} MB per window): a leak."
    )
