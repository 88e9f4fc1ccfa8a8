"""Sequence-mode training frees its memory by reference counting alone (no garbage cycle).

The BPTT memory leak of 0.20 was a reference cycle: a per-step tensor kept as a plain
attribute of the autograd context was also the tensor returned as the final state, so
``output -> grad_fn -> ctx -> output`` survived until a full garbage collection. With
the collector switched off, a cycle-free implementation frees every output, state and
saved tensor as soon as the last reference goes: this test holds weak references to
them and checks they are dead right after ``zero_states()``, for every family and for
the Triton kernels (through the interpreter on CPU, tiny sizes, in a subprocess so the
interpreter is switched on before Triton is imported).
"""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import textwrap
import weakref

import pytest
import torch
from tracetorch import rnn, snn

FAMILIES = {
    "LIB": lambda n: snn.LIB(n, spike_fn="heaviside_atan"),
    "SRLIB": lambda n: snn.SRLIB(n, spike_fn="heaviside_atan", rec_weight=0.3),
    "DSRLITS": lambda n: snn.DSRLITS(n, spike_fn="heaviside_atan"),
    "SRLIT_stochastic": lambda n: snn.SRLIT(n),
    "SLI": lambda n: snn.SLI(n),
    "DLIEMA": lambda n: snn.DLIEMA(n),
    "LSTM": lambda n: rnn.LSTM(n, n),
    "GRU": lambda n: rnn.GRU(n, n),
    "SelectiveSSM": lambda n: rnn.SelectiveSSM(n, n, 3),
}


def _dead_after_training_step(layer: torch.nn.Module, x: torch.Tensor) -> list[str]:
    """Names of the tensors of one forward+backward that outlive their last reference."""
    was = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        layer.zero_states()
        y = layer.forward_sequence(x)
        y.square().sum().backward()
        refs = {"output": weakref.ref(y)}
        refs.update({f"state {k}": weakref.ref(v) for k, v in layer.states().items() if v is not None})
        del y
        layer.zero_states()
        return [name for name, r in refs.items() if r() is not None]
    finally:
        if was:
            gc.enable()


@pytest.mark.parametrize("family", list(FAMILIES))
def test_sequence_training_leaves_no_reference_cycle(family):
    torch.manual_seed(0)
    layer = FAMILIES[family](6)
    x = (1.5 * torch.randn(5, 3, 6)).requires_grad_(True)
    assert _dead_after_training_step(layer, x) == []


def test_the_check_sees_a_cycle_when_there_is_one():
    # a custom autograd function that keeps its output as a plain ctx attribute: the 0.20 bug
    class Leaky(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            y = x * 2
            ctx.kept = y
            return y

        @staticmethod
        def backward(ctx, g):
            return g * 2

    class Layer(torch.nn.Module):
        def zero_states(self):
            pass

        def states(self):
            return {}

        def forward_sequence(self, x):
            return Leaky.apply(x)

    assert _dead_after_training_step(Layer(), torch.randn(3, requires_grad=True)) == ["output"]


KERNEL_WORKER = textwrap.dedent(
    """
    import gc, json, sys, weakref
    import torch
    from tracetorch import snn

    out = {}
    for name in sys.argv[1:]:
        torch.manual_seed(0)
        layer = getattr(snn, name)(4, spike_fn="heaviside_atan") if name[-2:] != "LI" else getattr(snn, name)(4)
        x = (1.5 * torch.randn(3, 2, 4)).requires_grad_(True)
        gc.collect(); gc.disable()
        y = layer.forward_sequence(x)
        y.square().sum().backward()
        refs = {"output": weakref.ref(y)}
        refs.update({k: weakref.ref(v) for k, v in layer.states().items()})
        del y
        layer.zero_states()
        out[name] = [k for k, r in refs.items() if r() is not None]
        gc.enable()
    from tracetorch._internal import kernels_for
    out["kernel registered"] = kernels_for("leaky_sequence", x) is not None
    print(json.dumps(out))
    """
)


@pytest.mark.slow
def test_kernel_sequence_training_leaves_no_reference_cycle():
    pytest.importorskip("triton")
    env = dict(os.environ, TRITON_INTERPRET="1", TRACETORCH_KERNELS="1")
    names = ["LIB", "DSRLITS", "SLI"]
    proc = subprocess.run(
        [sys.executable, "-c", KERNEL_WORKER, *names], env=env, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    import json

    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result.pop("kernel registered") is True
    assert result == {n: [] for n in names}
