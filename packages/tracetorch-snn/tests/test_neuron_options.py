"""The neuron options of the spiking layers: reset modes, reset timing, detached reset,
EMA input, a rest potential, the synaptic input form and integrate-and-fire.

The defaults are today's behaviour (the golden check proves it bit for bit); here: each
option does what its equation says, sequence mode equals stepping (outputs, states,
every gradient), bad values are clear errors that build nothing, the kernels are never
asked for a configuration with options, ``torch.compile`` traces a stepping loop with
no graph break, and the extra states save and load. Exactness against the peers
themselves is in ``test_peers.py``.
"""

from __future__ import annotations

import dataclasses
import io
from typing import Any

import pytest
import torch
import tracetorch as tt
from snn_testlib import RecordingEntryPoint
from tracetorch import _internal, snn
from tracetorch.snn.functional import LeakyConfig, leaky_step

SPIKING_NAMES = [n for n in snn.functional.LAYER_NAMES if LeakyConfig.from_name(n).spiking]

OPTION_SETS = [
    dict(reset="value", reset_value=0.25),
    dict(reset="none"),
    dict(reset_timing="next"),
    dict(reset="value", reset_timing="next", detach_reset=True),
    dict(detach_reset=True, decay_input=True, rest=-0.3),
]


def _layer(name: str, seed: int = 0, **options: Any) -> snn.LeakyLayer:
    cls = getattr(snn, name)
    if "syn_input" not in options and cls.config.synaptic:
        options = {**options, "syn_input": "add"}
    torch.manual_seed(seed)
    layer = cls(5, spike_fn="heaviside_atan", quant_fn="round", **options)
    # non-default parameter values, so that every gradient is non-trivial
    with torch.no_grad():
        for p in layer.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return layer


def test_config_options_are_empty_for_the_classic_configurations_and_listed_otherwise():
    for name in snn.functional.LAYER_NAMES:
        assert LeakyConfig.from_name(name).options == ()
    cfg = dataclasses.replace(LeakyConfig.from_name("SLIB"), reset="value", reset_value=-1.0, syn_input="add")
    assert cfg.options == (("reset", "value"), ("reset_value", -1.0), ("syn_input", "add"))
    assert cfg != LeakyConfig.from_name("SLIB") and hash(cfg) != hash(LeakyConfig.from_name("SLIB"))
    assert cfg == dataclasses.replace(LeakyConfig.from_name("SLIB"), reset="value", reset_value=-1, syn_input="add")
    layer = snn.SLIB(3, reset="value", reset_value=-1.0, syn_input="add")
    assert layer.config == cfg and snn.SLIB.config.options == ()
    assert "reset='value'" in repr(layer)
    assert snn.LIB(3).config is snn.LIB.config


def test_next_step_timing_adds_the_pending_spikes_as_states():
    assert snn.LIB(3, reset_timing="next").config.states == ("mem", "prev_spike")
    assert snn.DSRLIT(3, reset_timing="next").config.states[-2:] == ("prev_pos_spike", "prev_neg_spike")
    assert snn.LIB(3, reset_timing="next", reset="none").config.states == ("mem",)


def test_each_option_follows_its_equation_on_one_step():
    x = torch.tensor([[0.7, 1.6, -0.2]])
    mem0 = torch.tensor([[0.5, 0.5, 0.5]])
    beta, th = 0.75, 1.0
    kw = dict(
        beta=beta, threshold=th, learn_beta=False, learn_threshold=False, spike_fn="heaviside_atan", quant_fn="round"
    )

    def one(**options):
        layer = snn.LIB(3, **kw, **options)
        layer.mem = mem0.clone()
        s = layer(x)
        return s.detach(), layer.mem.detach()

    pre = beta * mem0 + x
    s = (pre >= th).float()
    assert s.tolist() == [[1.0, 1.0, 0.0]]
    torch.testing.assert_close(one(), (s, pre - s * th))
    torch.testing.assert_close(one(reset="value", reset_value=-0.5), (s, torch.where(s > 0, -0.5, pre)))
    torch.testing.assert_close(one(reset="none"), (s, pre))
    torch.testing.assert_close(
        one(decay_input=True)[1], beta * mem0 + (1 - beta) * x - ((beta * mem0 + (1 - beta) * x) >= th).float() * th
    )
    pre_rest = beta * mem0 + x + (1 - beta) * 0.4
    torch.testing.assert_close(one(rest=0.4), ((pre_rest >= th).float(), pre_rest - (pre_rest >= th).float() * th))
    # next step: the membrane keeps its un-reset value; the reset lands on the next step, undecayed
    layer = snn.LIB(3, **kw, reset_timing="next")
    layer.mem = mem0.clone()
    s1 = layer(x).detach()
    torch.testing.assert_close(layer.mem.detach(), pre)
    layer(x)
    torch.testing.assert_close(layer.mem.detach(), beta * pre + x - s1 * th)


def test_integrate_and_fire_has_no_leak():
    layer = snn.LIB(
        2,
        beta=1.0,
        learn_beta=False,
        threshold=10.0,
        learn_threshold=False,
        quant_fn="round",
        spike_fn="heaviside_atan",
    )
    for _ in range(7):
        layer(torch.tensor([0.5, 1.0]))
    assert layer.mem.tolist() == [3.5, 7.0]
    assert "beta" in dict(layer.named_buffers()) and layer.beta.tolist() == [1.0, 1.0]
    d = snn.DSLIT(2, pos_beta=1.0, neg_beta=torch.tensor([1.0, 0.5]), learn_pos_beta=False, learn_neg_beta=False)
    assert d.neg_beta.tolist() == [1.0, 0.5]


@pytest.mark.parametrize(
    "kw,err,match",
    [
        (dict(beta=1.0), ValueError, "learn_beta=False"),
        (dict(beta=1.5, learn_beta=False), ValueError, "beta"),
        (dict(reset="zero"), ValueError, "'subtract', 'value', 'none'"),
        (dict(reset_timing="later"), ValueError, "'same', 'next'"),
        (dict(reset="value", reset_value=float("inf")), ValueError, "finite"),
        (dict(reset="value", reset_value="0"), TypeError, "float"),
        (dict(reset_value=0.5), ValueError, "reset='value'"),
        (dict(rest=float("nan")), ValueError, "finite"),
        (dict(detach_reset=1), TypeError, "bool"),
        (dict(decay_input="yes"), TypeError, "bool"),
        (dict(syn_input="add"), TypeError, "syn_input"),
    ],
)
def test_bad_option_values_are_clear_errors(kw, err, match):
    with pytest.raises(err, match=match):
        snn.LIB(3, **kw)


def test_bad_syn_input_and_options_on_integrators_are_clear_errors():
    with pytest.raises(ValueError, match="'ema', 'add'"):
        snn.SLIB(3, syn_input="sum")
    with pytest.raises(ValueError, match="spiking"):
        LeakyConfig(False, False, False, "LI", reset="none")
    with pytest.raises(ValueError, match="synaptic"):
        LeakyConfig(False, False, False, "B", syn_input="add")


@pytest.mark.parametrize("name", SPIKING_NAMES)
@pytest.mark.parametrize("options", OPTION_SETS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()))
def test_sequence_equals_stepping_with_options(name, options):
    a, b = _layer(name, **options), _layer(name, **options)
    torch.manual_seed(1)
    x = (torch.randn(9, 2, 5) * 1.5).requires_grad_()
    ya = a.forward_sequence(x)
    yb = torch.stack([b(x[t]) for t in range(9)])
    torch.testing.assert_close(ya, yb, rtol=0, atol=1e-6)
    for n in a.config.states:
        torch.testing.assert_close(a.__dict__[n], b.__dict__[n], rtol=0, atol=1e-6)
    w = torch.randn_like(ya)
    final = sum((a.__dict__[n] * (i + 1)).sum() for i, n in enumerate(a.config.layout.membranes))
    ga = torch.autograd.grad((ya * w).sum() + final, [x, *a.parameters()])
    final_b = sum((b.__dict__[n] * (i + 1)).sum() for i, n in enumerate(b.config.layout.membranes))
    gb = torch.autograd.grad((yb * w).sum() + final_b, [x, *b.parameters()])
    for u, v in zip(ga, gb):
        torch.testing.assert_close(u, v, rtol=1e-5, atol=1e-5)


def test_detach_reset_changes_gradients_and_not_values():
    x = (torch.randn(12, 2, 5) * 1.5).requires_grad_()
    a, b = _layer("LIB"), _layer("LIB", detach_reset=True)
    ya, yb = a.forward_sequence(x), b.forward_sequence(x)
    assert torch.equal(ya, yb)
    ga = torch.autograd.grad(ya.sum(), x)[0]
    gb = torch.autograd.grad(yb.sum(), x)[0]
    assert not torch.allclose(ga, gb)


def test_the_kernels_are_asked_for_a_configuration_with_options_and_may_decline(monkeypatch):
    """The kernels implement neuron options (a whitelist in tracetorch-kernels); a
    kernel that declines (None) leaves the PyTorch path running."""
    monkeypatch.setenv("TRACETORCH_KERNELS", "1")
    _internal.reset_kernels()
    try:
        calls: list = []
        _internal.load_kernels(entry_points=[RecordingEntryPoint(calls)])
        x = torch.randn(4, 2, 3)
        snn.LIB(3).forward_sequence(x)
        assert calls == ["LIB"]  # the classic configuration is offered
        calls.clear()
        layer = snn.LIB(3, reset="none")
        layer.forward_sequence(x)  # asked, declined by the recording kernel: the PyTorch path ran
        cfg = layer.config
        leaky_step(
            cfg,
            x[0],
            (torch.zeros(2, 3),),
            (torch.tensor(0.9), torch.tensor(1.0)),
            spike_fn=layer.spike_fn,
            quant_fn=layer.quant_fn,
        )
        assert calls == ["LIB", "LIB"]
    finally:
        _internal.reset_kernels()


@pytest.mark.slow
def test_a_stepping_loop_with_options_compiles_with_no_graph_break():
    model = tt.Sequential(
        snn.LIB(
            4,
            spike_fn="heaviside_atan",
            quant_fn="round",
            reset="value",
            reset_timing="next",
            detach_reset=True,
            decay_input=True,
            rest=0.1,
            beta=1.0,
            learn_beta=False,
        ),
        torch.nn.Linear(4, 4),
        snn.DSLIT(4, spike_fn="heaviside_atan", quant_fn="round", syn_input="add", reset="value", reset_value=0.2),
    )

    def run(xs):
        model.zero_states()
        return model(xs[0]) + model(xs[1]) + model(xs[2])

    explanation = torch._dynamo.explain(run)(torch.randn(3, 2, 4))
    assert explanation.graph_break_count == 0, explanation.break_reasons
    compiled = torch.compile(run, backend="aot_eager", fullgraph=True)
    xs = torch.randn(3, 2, 4)
    torch.testing.assert_close(compiled(xs), run(xs))


def test_states_with_options_save_load_and_ttcompile():
    def make() -> tt.Sequential:
        torch.manual_seed(0)
        return tt.Sequential(snn.LIB(4, spike_fn="heaviside_atan", quant_fn="round", reset_timing="next"))

    a = make()
    x = torch.randn(6, 2, 4) * 2
    for t in range(3):
        a(x[t])
    buf = io.BytesIO()
    saved = a.save_states()
    assert any(k.endswith("prev_spike") for k in saved)
    torch.save(saved, buf)
    b = make()
    buf.seek(0)
    b.load_states(torch.load(buf, weights_only=True))
    rest_a = torch.stack([a(x[t]) for t in range(3, 6)])
    rest_b = torch.stack([b(x[t]) for t in range(3, 6)])
    assert torch.equal(rest_a, rest_b)
    c = make()
    c.TTcompile()
    c.zero_states()
    a.zero_states()
    assert torch.equal(torch.stack([c(x[t]) for t in range(6)]), torch.stack([a(x[t]) for t in range(6)]))
