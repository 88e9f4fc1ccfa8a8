"""Named slots (`LeakyConfig.layout`) and the kernel registry as seen from the snn package."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from typing import Any, Optional

import pytest
import torch
import tracetorch.functional as TF
from tracetorch import _internal, snn
from tracetorch.snn.functional import LAYER_NAMES, LeakyConfig, leaky_step, make_fire
from tracetorch.snn.functional._step import _step


@pytest.mark.parametrize("name", LAYER_NAMES)
def test_layout_names_every_slot_the_step_produces(name: str) -> None:
    """The step returns exactly the states of the layout and the extras it names, and
    every tensor the sequence backward keeps is a state or an extra."""
    cfg = LeakyConfig.from_name(name)
    lay = cfg.layout
    assert lay.states == cfg.states and lay.params == cfg.param_names
    assert set(lay.membranes) <= set(lay.states) and set(lay.traces) <= set(lay.states)
    assert "prev_output" not in lay.traces and not set(lay.membranes) & set(lay.traces)
    x = torch.randn(2, 3)
    S = {n: torch.randn(2, 3) for n in lay.states}
    P = {n: torch.rand(3) for n in lay.params}
    out, new, extras = _step(cfg, x, S, P, make_fire(TF.heaviside_atan(), TF.quant_round) if cfg.spiking else None)
    assert set(new) == set(lay.states)
    assert tuple(extras) == lay.extras or set(extras) == set(lay.extras)
    assert set(lay.saved) <= set(lay.states) | set(lay.extras)
    assert set(lay.pre) | set(lay.spikes) <= set(lay.extras)
    if cfg.recurrent:
        assert new["prev_output"] is out
    # the tuple API orders by the layout
    out2, st = leaky_step(
        cfg,
        x,
        lay.pack(lay.states, S),
        lay.pack(lay.params, P),
        make_fire(TF.heaviside_atan(), TF.quant_round) if cfg.spiking else None,
    )
    torch.testing.assert_close(out2, out, rtol=0, atol=0)
    for n, v in zip(lay.states, st):
        torch.testing.assert_close(v, new[n], rtol=0, atol=0)


def test_layout_pack_orders_by_the_given_names() -> None:
    lay = LeakyConfig.from_name("DSRLITS").layout
    vals = {n: i for i, n in enumerate(reversed(lay.states))}
    assert lay.pack(lay.states, vals) == tuple(vals[n] for n in lay.states)
    with pytest.raises(KeyError):
        lay.pack(lay.states, {})


def test_deterministic_spike_skips_quantisation_in_one_rule() -> None:
    heav = TF.heaviside_atan()
    assert make_fire(heav, TF.quant_round) is heav
    assert make_fire(heav, TF.quant_bernoulli) is heav
    assert _internal.skips_quantisation(heav, TF.quant_round)
    # probabilistic doubles the gradient, sigmoid is a probability: both keep the quantiser
    for spike, quant in ((heav, TF.quant_probabilistic), (TF.sigmoid(), TF.quant_round)):
        assert not _internal.skips_quantisation(spike, quant)
        fire = make_fire(spike, quant)
        assert fire is not spike
        v = torch.tensor([-0.3, 0.2, 0.9])
        torch.manual_seed(0)
        a = fire(v)
        torch.manual_seed(0)
        torch.testing.assert_close(a, quant(spike(v)), rtol=0, atol=0)
    layer = snn.LIB(3, spike_fn="heaviside_atan", quant_fn="round")
    assert layer.__dict__["_fire"] is layer.spike_fn


class _FakeEntryPoint:
    """An entry point whose object registers a recording leaky kernel."""

    def __init__(self, calls: list, decline: bool) -> None:
        self.calls = calls
        self.decline = decline

    def load(self) -> Any:
        def register(register_kernels: Any) -> None:
            def leaky(
                cfg: Any, x: torch.Tensor, states: tuple, params: tuple, spike_fn: Any, quant_fn: Any, dim: int
            ) -> Optional[Any]:
                self.calls.append((cfg.name, x.dtype, tuple(s.dtype for s in states), dim))
                if self.decline:
                    return None
                return x * 0 + 7.0, tuple(s * 0 for s in states)

            register_kernels(leaky_sequence=leaky)

        return register


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """A clean kernel registry, restored afterwards (the next use loads the real entry points again)."""
    monkeypatch.setenv("TRACETORCH_KERNELS", "1")
    _internal.reset_kernels()
    yield _internal
    _internal.reset_kernels()


def test_without_kernels_installed_sequences_run_the_pytorch_path(registry: Any) -> None:
    """No entry point at all (``pip install tracetorch-snn`` alone): the layers'
    sequence mode runs the PyTorch path and equals stepping."""
    registry.load_kernels(entry_points=[])
    assert registry.kernels_for("leaky_sequence", torch.zeros(1)) is None
    torch.manual_seed(0)
    a = snn.DSRLITS(4, spike_fn="heaviside_atan", quant_fn="round", pos_rec_weight=0.3)
    b = snn.DSRLITS(4, spike_fn="heaviside_atan", quant_fn="round", pos_rec_weight=0.3)
    x = torch.randn(6, 2, 4) * 2
    ya = a.forward_sequence(x)
    assert type(ya.grad_fn).__name__ == "_SpikingBPTTBackward"
    yb = torch.stack([b(x[t]) for t in range(6)])
    torch.testing.assert_close(ya, yb, rtol=0, atol=0)


def test_a_registered_kernel_runs_with_promoted_dtypes_and_may_decline(registry: Any) -> None:
    calls: list = []
    registry.load_kernels(entry_points=[_FakeEntryPoint(calls, decline=False)])
    layer = snn.LIB(4, dim=-1)  # fp32 parameters
    x = torch.randn(5, 2, 4, dtype=torch.bfloat16)
    y = layer.forward_sequence(x)
    # promoted exactly as stepping promotes: bf16 input + fp32 parameters -> fp32
    assert calls == [("LIB", torch.float32, (torch.float32,), -1)]
    assert y.dtype == torch.float32 and bool((y == 7.0).all())
    assert bool((layer.mem == 0).all())

    calls.clear()
    _internal.reset_kernels()
    registry.load_kernels(entry_points=[_FakeEntryPoint(calls, decline=True)])
    a, b = snn.SLIEMA(4, dim=-2), snn.SLIEMA(4, dim=-2)
    x = torch.randn(5, 4, 3)
    ya = a.forward_sequence(x)
    assert calls == [("SLIEMA", torch.float32, (torch.float32, torch.float32), -2)]
    yb = torch.stack([b(x[t]) for t in range(5)])
    torch.testing.assert_close(ya, yb)


def test_cpu_sequences_never_load_the_kernels_distribution() -> None:
    """Under the automatic rule, CPU calls do not even look for kernels: neither
    ``tracetorch.kernels`` nor Triton gets imported (fresh interpreter)."""
    code = textwrap.dedent(
        """
        import os, sys
        os.environ.pop("TRACETORCH_KERNELS", None)
        import torch
        from tracetorch import snn
        layer = snn.DSLIB(3)
        layer.forward_sequence(torch.randn(4, 2, 3, requires_grad=True)).sum().backward()
        snn.LI(3).forward_sequence(torch.randn(4, 3))
        assert "tracetorch.kernels" not in sys.modules, "kernels loaded on CPU"
        assert "triton" not in sys.modules, "triton imported on CPU"
        print("ok")
        """
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    assert res.stdout.strip().endswith("ok")


def test_core_snn_and_rnn_sources_never_import_the_kernels() -> None:
    import pathlib

    import tracetorch

    roots = [pathlib.Path(p) for p in tracetorch.__path__]
    offenders = []
    for root in roots:
        for f in root.rglob("*.py"):
            if "kernels" in f.relative_to(root).parts[:1]:
                continue
            text = f.read_text()
            if (
                "import tracetorch.kernels" in text
                or "from tracetorch.kernels" in text
                or "from tracetorch import kernels" in text
            ):
                offenders.append(str(f))
    assert offenders == []


@pytest.mark.parametrize("a_shape", ["per_step", "time_one", "per_neuron", "scalar"])
def test_linear_scan_has_one_contract(a_shape: str) -> None:
    """One contract for every factor shape: a time axis (``[T, *S]`` or ``[1, *S]``)
    or a factor that broadcasts against one step; ``h0`` defaults to zeros. Equal to
    the plain loop, with gradients checked in float64."""
    from tracetorch.snn.functional import linear_scan

    torch.manual_seed(3)
    T, B, N = 7, 2, 3
    shapes = {"per_step": (T, B, N), "time_one": (1, B, N), "per_neuron": (N,), "scalar": ()}
    a = torch.rand(shapes[a_shape], dtype=torch.float64, requires_grad=True)
    u = torch.randn(T, B, N, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(B, N, dtype=torch.float64, requires_grad=True)
    timed = a.ndim == u.ndim
    for init in (h0, None):
        h = torch.zeros(B, N, dtype=torch.float64) if init is None else init
        ref = []
        for t in range(T):
            at = (a[t] if a.shape[0] == T else a[0]) if timed else a
            h = at * h + u[t]
            ref.append(h)
        torch.testing.assert_close(linear_scan(a, u, init), torch.stack(ref))
    assert torch.autograd.gradcheck(linear_scan, (a, u, h0))
    assert torch.autograd.gradcheck(lambda a_, u_: linear_scan(a_, u_), (a, u))


@pytest.mark.parametrize("kind", list(_internal.SPIKE_KINDS))
@pytest.mark.parametrize("param", [0.7, 2.0, 3.3])
def test_surrogate_derivative_is_written_once(kind: str, param: float) -> None:
    """`SpikeFunction.derivative` is the gradient stepping uses (bit for bit, with and
    without grad mode) and the derivative of `surrogate` (up to rounding)."""
    spike = TF.SpikeFunction(kind, param)
    x = (torch.randn(4000) * 3).requires_grad_()
    spike(x).backward(torch.ones_like(x))
    with torch.no_grad():
        fast = spike.derivative(x.detach())
    slow = spike.derivative(x.detach())
    if kind != "sigmoid":  # sigmoid's stepping gradient is autograd through torch.sigmoid
        assert torch.equal(x.grad, fast)
    assert torch.equal(fast, slow)
    xs = x.detach().clone().requires_grad_()
    spike.surrogate(xs).sum().backward()
    torch.testing.assert_close(fast, xs.grad, rtol=1e-5, atol=1e-6)
