"""Variable-length batches through the Triton kernels (interpreter on CPU).

`forward_sequence(x, lengths=...)` must equal running each sample alone, whichever
path runs the layer. Here the kernels are forced (``TRACETORCH_KERNELS=1``) under
Triton's interpreter in a subprocess (the interpreter must be on before Triton is
imported), and a counter around the registered kernel proves it ran.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

WORKER = textwrap.dedent(
    """
    import json, sys
    import torch
    import tracetorch as tt
    from tracetorch import snn
    from tracetorch._internal import kernels_for
    from tracetorch.core import _kernels

    calls = {"n": 0}
    x0 = torch.zeros(1)
    kernel = kernels_for("leaky_sequence", x0)
    def counted(*args, **kwargs):
        out = kernel(*args, **kwargs)
        calls["n"] += out is not None
        return out
    _kernels._REGISTRY["leaky_sequence"] = counted

    result = {}
    for name in sys.argv[1:]:
        torch.manual_seed(0)
        kw = {} if name.endswith("LI") else {"spike_fn": "heaviside_atan"}
        layer = getattr(snn, name)(4, **kw)
        x = (1.5 * torch.randn(6, 3, 4)).requires_grad_(True)
        lengths = torch.tensor([6, 2, 4])
        before = calls["n"]
        layer.zero_states()
        y = layer.forward_sequence(x, lengths=lengths)
        (y * torch.linspace(-1, 1, y.numel()).view_as(y)).sum().backward()
        g_batch = x.grad.clone()
        finals = {k: v.detach().clone() for k, v in layer.states().items()}
        err = 0.0
        for b, n in enumerate(lengths.tolist()):
            layer.zero_states()
            xb = x.detach()[:n, b : b + 1].clone().requires_grad_(True)
            yb = layer.forward_sequence(xb)
            w = torch.linspace(-1, 1, y.numel()).view_as(y)[:n, b : b + 1]
            (yb * w).sum().backward()
            err = max(err, float((y[:n, b : b + 1] - yb).abs().max()))
            err = max(err, float(y[n:, b].abs().max()) if n < y.shape[0] else 0.0)
            err = max(err, float((g_batch[:n, b : b + 1] - xb.grad).abs().max()))
            err = max(err, float(g_batch[n:, b].abs().max()) if n < y.shape[0] else 0.0)
            for k, v in layer.states().items():
                err = max(err, float((finals[k][b : b + 1] - v).abs().max()))
        result[name] = {"max_err": err, "kernel_calls": calls["n"] - before}
    print(json.dumps(result))
    """
)


@pytest.mark.slow
def test_lengths_through_the_kernels_equal_each_sample_alone():
    pytest.importorskip("triton")
    env = dict(os.environ, TRITON_INTERPRET="1", TRACETORCH_KERNELS="1")
    names = ["LIB", "SRLIB", "SLI"]
    proc = subprocess.run([sys.executable, "-c", WORKER, *names], env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    for name in names:
        assert result[name]["kernel_calls"] >= 4, result  # the kernel ran the batch and the samples
        assert result[name]["max_err"] <= 1e-6, result


DETERMINISTIC_WORKER = textwrap.dedent(
    """
    import json
    import torch
    import tracetorch as tt
    from tracetorch import snn
    from tracetorch.kernels.ops.leaky import supports

    layer = snn.SLIB(4)  # default: sigmoid spike + Bernoulli draws
    cfg, sf, qf = layer.config, layer.spike_fn, layer.quant_fn
    out = {"free": supports(cfg, sf, qf)}
    x = torch.rand(5, 3, 4) * 2
    with tt.deterministic():
        out["deterministic"] = supports(cfg, sf, qf)
        runs = []
        for seed in (1, 2):
            torch.manual_seed(seed)
            layer.zero_states()
            runs.append(layer.forward_sequence(x))
    rounded = snn.SLIB(4, quant_fn="round")
    rounded.load_state_dict(layer.state_dict())
    out["same_across_seeds"] = bool(torch.equal(runs[0], runs[1]))
    out["equals_round"] = bool(torch.equal(runs[0], rounded.forward_sequence(x)))
    print(json.dumps(out))
    """
)


def test_the_kernels_leave_deterministic_mode_to_the_rounding_reference():
    pytest.importorskip("triton")
    env = dict(os.environ, TRITON_INTERPRET="1", TRACETORCH_KERNELS="1")
    proc = subprocess.run(
        [sys.executable, "-c", DETERMINISTIC_WORKER], env=env, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result == {"free": True, "deterministic": False, "same_across_seeds": True, "equals_round": True}
