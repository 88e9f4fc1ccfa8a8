"""Shared set-up of the kernel tests.

Without a GPU the kernels are tested on CPU tensors through Triton's interpreter,
which must be switched on (``TRITON_INTERPRET=1``) before Triton is first imported;
this file does that at collection time, before any test runs. With a GPU (and no
``TRITON_INTERPRET`` in the environment) the same tests run the compiled kernels on
CUDA tensors instead. Helpers shared by the option tests live in ``kernel_testlib.py``.
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import textwrap
from typing import Any, Callable, Optional

import pytest
import torch

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))  # kernel_testlib

if "TRITON_INTERPRET" not in os.environ and "triton" not in sys.modules and not torch.cuda.is_available():
    os.environ["TRITON_INTERPRET"] = "1"


def _speed_up_interpreter() -> None:
    """Skip Triton's per-call re-patching of ``triton.language`` for traceTorch's own
    ``@triton.jit`` helpers called inside a kernel.

    The interpreter patches the language module once per kernel launch and then again
    on every nested helper call (``inspect.getmembers`` over the module: ~3 ms each),
    which dominates the test time of the spiking kernels. Inside a launch the module
    is already patched, so our helpers can run their rewritten source directly.
    Triton's own helpers (``tl.rand``, ...) keep the full path. Test-only.
    """
    try:
        from triton.runtime import interpreter as it
    except Exception:  # pragma: no cover
        return
    original = it.InterpretedFunction.__call__
    if getattr(original, "_tracetorch_fast", False):
        return

    def call(self: Any, *args: Any, **kwargs: Any) -> Any:
        if getattr(self.fn, "__module__", "").startswith("tracetorch.kernels."):
            return self.rewrite()(*args, **kwargs)
        return original(self, *args, **kwargs)

    call._tracetorch_fast = True  # type: ignore[attr-defined]
    it.InterpretedFunction.__call__ = call  # type: ignore[method-assign]


def _kernel_device() -> Optional[str]:
    """``"cpu"`` (interpreter), ``"cuda"`` (compiled) or None (kernels cannot run here)."""
    try:
        import triton  # noqa: F401
        import triton.language as tl
        from triton.runtime.interpreter import InterpretedFunction
    except Exception:  # pragma: no cover - triton missing or broken
        return None
    interpreted = isinstance(tl.zeros, InterpretedFunction)
    if interpreted:
        _speed_up_interpreter()
        return "cpu"
    if os.environ.get("TRITON_INTERPRET", "0") == "1":
        return None  # Triton was imported before the interpreter was switched on
    return "cuda" if torch.cuda.is_available() else None


@pytest.fixture(scope="session")
def device() -> str:
    """The device the kernel tests run on; skips when kernels cannot run at all."""
    dev = _kernel_device()
    if dev is None:
        pytest.skip("Triton kernels can run neither through the interpreter nor on a GPU in this process")
    return dev


@pytest.fixture(autouse=True)
def _one_thread() -> Any:
    """Tiny tensors: one intra-op thread avoids oversubscribing the (shared) CPUs."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture
def poison(monkeypatch: pytest.MonkeyPatch) -> Callable[[int], None]:
    """Fill every kernel output buffer with NaN and optionally force a block size."""
    from tracetorch.kernels.ops.leaky import fused as leaky_fused
    from tracetorch.kernels.ops.scan import fused as scan_fused

    def apply(block: int = 0) -> None:
        for mod in (leaky_fused, scan_fused):
            monkeypatch.setattr(mod, "POISON", True)
            monkeypatch.setattr(mod, "BLOCK_OVERRIDE", block)

    return apply


TRITON_FREE_CODE = textwrap.dedent(
    """
    import sys, torch
    import tracetorch as tt
    import tracetorch.kernels as K
    from tracetorch import snn, rnn
    from tracetorch.snn.functional import LeakyConfig
    import tracetorch.functional as TF
    assert "triton" not in sys.modules, "import"
    assert not K.use_kernels_for(torch.zeros(2))
    h = K.dispatch.linear_scan(torch.rand(3, 4), torch.randn(3, 4), torch.zeros(4))
    cfg = LeakyConfig.from_name("DSRLITS")
    x = torch.randn(3, 2, 4)
    st = tuple(torch.zeros(2, 4) for _ in cfg.states)
    ps = tuple(torch.full((4,), 0.5) for _ in cfg.params)
    K.dispatch.leaky_sequence(cfg, x, st, ps, TF.sigmoid(), TF.quant_bernoulli)
    K.dispatch._leaky_step(cfg, x[0], st, ps, TF.sigmoid(), TF.quant_bernoulli)
    snn.LIB(4).forward_sequence(torch.randn(5, 2, 4))
    snn.DSLI(4).forward_sequence(torch.randn(5, 2, 4))
    rnn.SelectiveSSM(4, 4, 3).forward_sequence(torch.randn(5, 2, 4))
    assert "triton" not in sys.modules, "run"
    # forcing the kernels on CPU without the interpreter is a clear error
    try:
        K.dispatch.linear_scan(torch.rand(3, 4), torch.randn(3, 4), use_kernels=True)
    except RuntimeError as e:
        assert "TRITON_INTERPRET=1" in str(e), e
    else:
        raise AssertionError("forced kernels on CPU without the interpreter did not fail")
    assert "triton" not in sys.modules, "failed forced call"
    print("ok")
    """
)

_BACKGROUND: dict[str, subprocess.Popen[str]] = {}


def _start_triton_free_run() -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("TRITON_INTERPRET", "TRACETORCH_KERNELS")}
    env["OMP_NUM_THREADS"] = "1"
    return subprocess.Popen(
        [sys.executable, "-c", TRITON_FREE_CODE], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Start the Triton-free subprocess check early, when its test is selected."""
    for item in items:
        if item.name == "test_cpu_never_imports_triton" and "tracetorch-kernels" in str(item.path):
            if "proc" not in _BACKGROUND:
                _BACKGROUND["proc"] = _start_triton_free_run()
            break


@pytest.fixture
def triton_free_run() -> subprocess.Popen[str]:
    """The background run of `TRITON_FREE_CODE` (started now if collection did not)."""
    proc = _BACKGROUND.pop("proc", None)
    return proc if proc is not None else _start_triton_free_run()
