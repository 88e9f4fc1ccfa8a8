"""Without CUDA tensors, nothing imports Triton (a fresh interpreter checks it).

The subprocess is started in the background when the tests are collected (see
``conftest.py``); this file sorts last so that the check overlaps the other tests.
"""

from __future__ import annotations

import subprocess


def test_cpu_never_imports_triton(triton_free_run: subprocess.Popen[str]) -> None:
    """On CPU tensors (the automatic rule) the reference runs and Triton is never
    imported: the package, the dispatch functions and the snn/rnn layers' sequence
    paths. One fresh interpreter for all checks, started in the background when the
    tests are collected (see ``conftest.py``) so that it overlaps the other tests."""
    out, err = triton_free_run.communicate(timeout=300)
    assert triton_free_run.returncode == 0, err[-3000:]
    assert out.strip().endswith("ok")
