"""Adaptive threshold (ALIF/LSNN), refractory period and all-to-all recurrence.

Each option does what its documented equation says (checked on hand-built steps),
sequence mode equals stepping (outputs, states, every gradient), bad values are clear
errors that build nothing, the kernels are never asked, ``torch.compile`` traces a
stepping loop with no graph break, and the new states and the ``[N, N]`` matrix save,
load and compile. Exactness against snnTorch and Norse is in ``test_peers.py``.
"""

from __future__ import annotations

import dataclasses
import io
import math
from typing import Any

import pytest
import torch
import tracetorch as tt
from snn_testlib import RecordingEntryPoint
from tracetorch import _internal, snn
from tracetorch.snn.functional import LeakyConfig, leaky_step

SPIKING_NAMES = [n for n in snn.functional.LAYER_NAMES if LeakyConfig.from_name(n).spiking]
RECURRENT_NAMES = [n for n in SPIKING_NAMES if LeakyConfig.from_name(n).recurrent]
FIXED = dict(spike_fn="heaviside_atan", quant_fn="round")


def _fixed(cls: type, n: int, **kw: Any) -> snn.LeakyLayer:
    """Every parameter fixed (the all-to-all matrix and bias in place of ``rec_weight``)."""
    a2a = bool(kw.get("all_to_all"))
    names = [p for p in cls.config.param_names if not (a2a and p.endswith("rec_weight"))]
    names += ["rec_matrix", "rec_bias"] if a2a else []
    names += ["adapt_decay", "adapt_strength"] if kw.get("adaptive") else []
    learn = {f"learn_{p}": False for p in names}
    return cls(n, **learn, **FIXED, **kw)


# ----------------------------------------------------------------------------- configuration
def test_the_new_options_are_listed_and_add_their_named_slots():
    base = LeakyConfig.from_name("SRLIB")
    cfg = dataclasses.replace(base, adaptive=True, refractory=3, all_to_all=True)
    assert cfg.options == (("adaptive", True), ("refractory", 3), ("all_to_all", True))
    assert cfg.layout.params == (
        "alpha",
        "beta",
        "gamma",
        "threshold",
        "rec_matrix",
        "rec_bias",
        "adapt_decay",
        "adapt_strength",
    )
    assert cfg.layout.states == ("mem", "syn", "rec", "prev_output", "adapt", "refrac")
    assert base.layout.params == ("alpha", "beta", "gamma", "threshold", "rec_weight")
    assert base.layout.states == ("mem", "syn", "rec", "prev_output")
    dual = dataclasses.replace(LeakyConfig.from_name("DRLIT"), all_to_all=True)
    assert "pos_rec_weight" not in dual.param_names and dual.param_names[-2:] == ("rec_matrix", "rec_bias")
    for name in snn.functional.LAYER_NAMES:  # the classic configurations are untouched
        cfg = LeakyConfig.from_name(name)
        assert cfg.options == () and "adapt" not in cfg.states and "refrac" not in cfg.states


def test_parameters_and_states_exist_only_when_the_option_is_on():
    plain = snn.RLIB(4)
    assert set(plain.parameter_names) == {"beta", "gamma", "threshold", "rec_weight"}
    layer = snn.RLIB(4, adaptive=True, refractory=2, all_to_all=True)
    assert set(layer.parameter_names) == {
        "beta",
        "gamma",
        "threshold",
        "rec_matrix",
        "rec_bias",
        "adapt_decay",
        "adapt_strength",
    }
    assert layer.state_names == ("mem", "rec", "prev_output", "adapt", "refrac")
    assert layer.rec_matrix.shape == (4, 4) and layer.parameter_rank("rec_matrix") == 2
    assert "adaptive=True" in repr(layer) and "refractory=2" in repr(layer)
    torch.testing.assert_close(layer.adapt_decay, torch.full((4,), 0.95))
    torch.testing.assert_close(layer.adapt_strength, torch.full((4,), 1.0))


# ----------------------------------------------------------------------------- adaptive threshold
def test_adaptive_threshold_follows_its_recursion_on_one_step():
    x = torch.tensor([[0.7, 0.7, -0.2]])
    mem0 = torch.full((1, 3), 0.5)
    adapt0 = torch.tensor([[0.0, 1.0, 0.2]])
    beta, th, rho, strength = 0.75, 1.0, 0.5, 0.4
    layer = _fixed(snn.LIB, 3, beta=beta, threshold=th, adaptive=True, adapt_decay=rho, adapt_strength=strength)
    layer.mem, layer.adapt = mem0.clone(), adapt0.clone()
    s = layer(x)
    pre = beta * mem0 + x  # [1.075, 1.075, 0.175]
    th_eff = th + strength * adapt0  # [1.0, 1.4, 1.08]: the second neuron is held back by its adaptation
    assert s.tolist() == [[1.0, 0.0, 0.0]]
    torch.testing.assert_close(layer.mem, pre - s * th_eff)
    torch.testing.assert_close(layer.adapt, rho * adapt0 + (1 - rho) * s)


def test_adaptive_ternary_spikes_of_either_polarity_raise_both_thresholds():
    layer = _fixed(
        snn.LIT, 2, beta=0.5, pos_threshold=1.0, neg_threshold=1.0, adaptive=True, adapt_decay=0.5, adapt_strength=1.0
    )
    layer.mem = torch.zeros(1, 2)
    layer.adapt = torch.tensor([[0.0, 0.5]])
    out = layer(torch.tensor([[-1.2, -1.2]]))
    # thresholds: 1.0 for neuron 0, 1.5 for neuron 1 (a membrane of -1.2 fires only at 0)
    assert out.tolist() == [[-1.0, 0.0]]
    torch.testing.assert_close(layer.mem, torch.tensor([[-0.2, -1.2]]))
    torch.testing.assert_close(layer.adapt, torch.tensor([[0.5, 0.25]]))  # |s| drives the trace


def test_adaptive_dual_layers_adapt_the_threshold_of_the_summed_membrane():
    layer = _fixed(
        snn.DLIB, 1, pos_beta=0.5, neg_beta=0.5, threshold=1.0, adaptive=True, adapt_decay=0.5, adapt_strength=2.0
    )
    layer.pos_mem, layer.neg_mem = torch.zeros(1, 1), torch.zeros(1, 1)
    layer.adapt = torch.tensor([[0.25]])
    s = layer(torch.tensor([[1.6]]))
    assert s.item() == 1.0  # 1.6 >= 1 + 2*0.25
    torch.testing.assert_close(layer.pos_mem, torch.tensor([[1.6 - 1.5 / 2]]))
    torch.testing.assert_close(layer.neg_mem, torch.tensor([[-1.5 / 2]]))
    torch.testing.assert_close(layer.adapt, torch.tensor([[0.625]]))


def test_adaptive_lib_is_the_lsnn_alif_neuron_written_out():
    # Bellec et al. 2018, one ALIF neuron per entry, written plainly:
    # v = beta*v + x; B = b0 + beta_a*a; z = H(v - B); v -= z*B; a = rho*a + (1 - rho)*z
    beta, b0, beta_a, rho = 0.9, 0.6, 1.8, 0.97
    g = torch.Generator().manual_seed(5)
    x = torch.rand(150, 3, 4, generator=g) * 0.5
    v, a, zs, vs = torch.zeros(3, 4), torch.zeros(3, 4), [], []
    rho_t = torch.tensor(rho)  # in float32, as the layer holds it (1 - rho rounds differently in float64)
    for xt in x:
        v = beta * v + xt
        b = b0 + beta_a * a
        z = (v - b >= 0).float()
        v = v - z * b
        a = rho_t * a + (1 - rho_t) * z
        zs.append(z)
        vs.append(v)
    layer = _fixed(snn.LIB, 4, beta=beta, threshold=b0, adaptive=True, adapt_decay=rho, adapt_strength=beta_a)
    with torch.no_grad():
        out = [(layer(xt), layer.mem) for xt in x]
    spikes = torch.stack([o for o, _ in out])
    assert spikes.sum() > 50 and torch.equal(spikes, torch.stack(zs))
    torch.testing.assert_close(torch.stack([m for _, m in out]), torch.stack(vs), rtol=0, atol=1e-6)


def test_adaptation_lowers_the_firing_rate_under_constant_input():
    x = torch.full((300, 1, 3), 0.35)
    plain = _fixed(snn.LIB, 3, beta=0.9, threshold=1.0)
    adaptive = _fixed(snn.LIB, 3, beta=0.9, threshold=1.0, adaptive=True, adapt_decay=0.98, adapt_strength=2.0)
    with torch.no_grad():
        s_plain = torch.stack([plain(xt) for xt in x])
        s_adapt = torch.stack([adaptive(xt) for xt in x])
    first = int(s_plain[:, 0, 0].nonzero()[0])
    assert torch.equal(s_plain[: first + 1], s_adapt[: first + 1])  # no adaptation before the first spike
    assert s_adapt[200:].sum() > 0
    assert s_adapt[200:].sum() < s_plain[200:].sum()
    # spike-frequency adaptation: intervals grow, so the late rate is below the early one
    assert s_adapt[250:].sum() < s_adapt[:50].sum()


# ----------------------------------------------------------------------------- refractory period
def test_refractory_neuron_holds_its_reset_membrane_and_cannot_fire():
    layer = _fixed(snn.LIB, 1, beta=1.0, threshold=1.0, reset="value", refractory=2)
    plain = _fixed(snn.LIB, 1, beta=1.0, threshold=1.0, reset="value")
    x = torch.full((10, 1, 1), 0.6)
    with torch.no_grad():
        spikes, mems, counts = [], [], []
        for xt in x:
            spikes.append(layer(xt).item())
            mems.append(round(layer.mem.item(), 6))
            counts.append(layer.refrac.item())
        plain_spikes = [plain(xt).item() for xt in x]
    assert spikes == [0, 1, 0, 0, 0, 1, 0, 0, 0, 1]
    assert mems == [0.6, 0, 0, 0, 0.6, 0, 0, 0, 0.6, 0]
    assert counts == [0, 2, 1, 0, 0, 2, 1, 0, 0, 2]
    assert plain_spikes == [0, 1, 0, 1, 0, 1, 0, 1, 0, 1]


def test_refractory_synapse_goes_on_and_the_held_membrane_passes_no_input_gradient():
    x = torch.full((6, 1, 1), 0.8, requires_grad=True)
    layer = _fixed(snn.SLIB, 1, alpha=0.5, beta=0.5, threshold=1.0, syn_input="add", refractory=3)
    plain = _fixed(snn.SLIB, 1, alpha=0.5, beta=0.5, threshold=1.0, syn_input="add")
    spikes, syns, plain_syns, mems = [], [], [], []
    for xt in x:
        spikes.append(layer(xt).item())
        plain(xt)
        syns.append(layer.syn)
        plain_syns.append(plain.syn)
        mems.append(layer.mem)
    assert torch.equal(torch.stack(syns), torch.stack(plain_syns))  # the synapse ignores the refractory period
    # step 1: syn = 1.2, mem = 0.4 + 1.2 = 1.6 fires, 1.6 - 1 = 0.6; steps 2-4 held at 0.6
    assert spikes[:5] == [0.0, 1.0, 0.0, 0.0, 0.0]
    assert len({m.item() for m in mems[1:5]}) == 1
    torch.testing.assert_close(mems[4].detach(), torch.tensor([[0.6]]))
    # the held membrane does not depend on the inputs of its refractory steps
    g = torch.autograd.grad(mems[4].sum(), x)[0].flatten()
    assert bool((g[2:5] == 0).all()) and bool((g[:2] != 0).all())


def test_refractory_with_next_step_timing_holds_the_membrane_after_the_pending_reset():
    # the pending (next-step) reset lands, then the neuron is held there
    layer = _fixed(snn.LIB, 1, beta=0.5, threshold=1.0, reset="value", reset_timing="next", refractory=1)
    with torch.no_grad():
        s1 = layer(torch.tensor([[1.5]]))
        assert s1.item() == 1.0 and layer.mem.item() == 1.5  # the state keeps the un-reset value
        s2 = layer(torch.tensor([[3.0]]))
        assert s2.item() == 0.0 and layer.mem.item() == 0.0  # reset to 0 and held; the input is lost
        s3 = layer(torch.tensor([[0.25]]))
        assert s3.item() == 0.0 and layer.mem.item() == 0.25


# ----------------------------------------------------------------------------- all-to-all recurrence
@pytest.mark.parametrize("bias_rank", [0, 1])
def test_all_to_all_membrane_input_is_the_matrix_times_the_trace_plus_bias(bias_rank):
    g = torch.Generator().manual_seed(0)
    w, b = torch.randn(3, 3, generator=g), torch.randn(3, generator=g)
    b = b if bias_rank else b[0]
    layer = _fixed(snn.RLIB, 3, beta=0.5, gamma=0.25, threshold=50.0, all_to_all=True, rec_matrix=w, rec_bias=b)
    rec0, out0, mem0 = torch.randn(2, 3, generator=g), torch.ones(2, 3), torch.randn(2, 3, generator=g)
    layer.rec, layer.prev_output, layer.mem = rec0.clone(), out0.clone(), mem0.clone()
    x = torch.randn(2, 3, generator=g)
    layer(x)
    rec = 0.25 * rec0 + 0.75 * out0
    torch.testing.assert_close(layer.rec, rec)
    torch.testing.assert_close(layer.mem, 0.5 * mem0 + x + rec @ w.T + b)  # no spike at threshold 50


def test_all_to_all_dual_layers_split_the_recurrent_input_by_sign():
    w = torch.tensor([[1.0, -2.0], [0.5, 0.25]])
    b = torch.tensor([0.1, -0.3])
    layer = _fixed(
        snn.DRLIB,
        2,
        pos_beta=0.5,
        neg_beta=0.5,
        pos_gamma=0.0,
        neg_gamma=0.0,
        threshold=9.0,
        all_to_all=True,
        rec_matrix=w,
        rec_bias=b,
    )
    z = torch.zeros(1, 2)
    layer.pos_mem, layer.neg_mem, layer.pos_rec, layer.neg_rec = z, z, z, z
    layer.prev_output = torch.tensor([[1.0, 1.0]])
    x = torch.tensor([[0.4, -0.6]])
    layer(x)
    v = torch.tensor([[1.0, 1.0]]) @ w.T + b  # [-0.9, 0.45]
    torch.testing.assert_close(layer.pos_mem, x.clamp(min=0) + v.clamp(min=0))
    torch.testing.assert_close(layer.neg_mem, x.clamp(max=0) + v.clamp(max=0))


def test_all_to_all_matrix_defaults_to_the_nn_linear_initialisation():
    torch.manual_seed(7)
    expected = torch.nn.Linear(6, 6).weight.detach()
    torch.manual_seed(7)
    layer = snn.RLIB(6, all_to_all=True)
    assert torch.equal(layer.rec_matrix.detach(), expected)
    assert float(expected.abs().max()) <= 1 / math.sqrt(6)
    assert torch.equal(layer.rec_bias.detach(), torch.zeros(6))
    assert "raw_rec_matrix" in dict(layer.named_parameters())
    fixed = snn.RLIB(6, all_to_all=True, rec_matrix=0.5, learn_rec_matrix=False)
    assert torch.equal(fixed.rec_matrix, torch.full((6, 6), 0.5)) and "rec_matrix" in dict(fixed.named_buffers())


def test_a_fixed_zero_recurrent_decay_makes_the_trace_the_previous_output():
    layer = snn.RLIB(3, gamma=0.0, learn_gamma=False, all_to_all=True)
    assert layer.gamma.tolist() == [0.0, 0.0, 0.0]
    layer.rec = torch.full((1, 3), 7.0)
    layer.prev_output = torch.tensor([[1.0, 0.0, 1.0]])
    layer.mem = torch.zeros(1, 3)
    with torch.no_grad():
        layer(torch.zeros(1, 3))
    assert layer.rec.tolist() == [[1.0, 0.0, 1.0]]


# ----------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    "cls,kw,err,match",
    [
        (snn.LIB, dict(refractory=-1), ValueError, ">= 0"),
        (snn.LIB, dict(refractory=2.0), TypeError, "int"),
        (snn.LIB, dict(refractory=True), TypeError, "int"),
        (snn.LIB, dict(adaptive=1), TypeError, "bool"),
        (snn.RLIB, dict(all_to_all="yes"), TypeError, "bool"),
        (snn.LIB, dict(adaptive=True, reset_timing="next"), ValueError, "reset_timing='same'"),
        (snn.LIB, dict(adapt_decay=0.5), ValueError, "adaptive=True"),
        (snn.LIB, dict(learn_adapt_strength=False), ValueError, "adaptive=True"),
        (snn.LIB, dict(adaptive=True, adapt_decay=1.5), ValueError, "adapt_decay"),
        (snn.LIB, dict(adaptive=True, adapt_strength=0.0), ValueError, "adapt_strength"),
        (snn.RLIB, dict(rec_bias=0.5), ValueError, "all_to_all=True"),
        (snn.RLIB, dict(rec_matrix=torch.zeros(3, 3)), ValueError, "all_to_all=True"),
        (snn.RLIB, dict(all_to_all=True, rec_weight=0.5), ValueError, "rec_matrix"),
        (snn.RLIB, dict(all_to_all=True, rec_matrix=torch.zeros(3)), ValueError, r"\[3, 3\]"),
        (snn.RLIB, dict(all_to_all=True, rec_matrix="eye"), TypeError, "rec_matrix"),
        (snn.RLIB, dict(all_to_all=True, rec_matrix=torch.full((3, 3), math.nan)), ValueError, "finite"),
        (snn.RLIB, dict(all_to_all=True, dim=-3), ValueError, "dim=-1"),
        (snn.RLIB, dict(gamma=0.0), ValueError, "learn_gamma=False"),
        (snn.RLIB, dict(gamma=-0.1, learn_gamma=False), ValueError, "gamma"),
    ],
)
def test_bad_values_are_clear_errors(cls, kw, err, match):
    with pytest.raises(err, match=match):
        cls(3, **kw)


def test_options_on_layers_they_do_not_apply_to_are_clear_errors():
    with pytest.raises(ValueError, match="spiking"):
        LeakyConfig(False, False, False, "LI", adaptive=True)
    with pytest.raises(ValueError, match="spiking"):
        LeakyConfig(False, False, False, "EMA", refractory=2)
    with pytest.raises(ValueError, match="recurrent"):
        LeakyConfig(False, False, False, "B", all_to_all=True)
    with pytest.raises(TypeError, match="adaptive"):
        snn.LI(3, adaptive=True)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="all_to_all"):
        snn.LIB(3, all_to_all=True)  # type: ignore[call-arg]


# ----------------------------------------------------------------------------- sequence, kernels, compile, states
OPTION_SETS = [
    dict(adaptive=True),
    dict(refractory=2),
    dict(adaptive=True, refractory=1, reset="value", reset_timing="next", detach_reset=True),
    dict(refractory=3, reset_timing="next", detach_reset=True),
]
RECURRENT_SETS = [
    dict(all_to_all=True),
    dict(all_to_all=True, adaptive=True, refractory=1, reset="value", reset_timing="next", detach_reset=True),
]


def _layer(name: str, **options: Any) -> snn.LeakyLayer:
    cls = getattr(snn, name)
    torch.manual_seed(0)
    layer = cls(5, **FIXED, **options)
    with torch.no_grad():  # non-default values, so that every gradient is non-trivial
        for p in layer.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return layer


def _cases() -> list[tuple[str, dict]]:
    cases = [(n, o) for n in SPIKING_NAMES for o in OPTION_SETS]
    return cases + [(n, o) for n in RECURRENT_NAMES for o in RECURRENT_SETS]


@pytest.mark.parametrize(
    "name,options", _cases(), ids=lambda v: v if isinstance(v, str) else ",".join(f"{k}={x}" for k, x in v.items())
)
def test_sequence_equals_stepping_with_the_new_options(name, options):
    a, b = _layer(name, **options), _layer(name, **options)
    torch.manual_seed(1)
    x = (torch.randn(12, 2, 5) * 1.5).requires_grad_()
    ya = a.forward_sequence(x)
    yb = torch.stack([b(x[t]) for t in range(12)])
    assert ya.ne(0).any() and ya.eq(0).any()
    torch.testing.assert_close(ya, yb, rtol=0, atol=1e-6)
    for n in a.config.states:
        torch.testing.assert_close(a.__dict__[n], b.__dict__[n], rtol=0, atol=1e-6)
    w = torch.randn_like(ya)
    extra = [n for n in a.config.layout.membranes + ("adapt",) if n in a.config.states]
    final_a = sum((a.__dict__[n] * (i + 1)).sum() for i, n in enumerate(extra))
    final_b = sum((b.__dict__[n] * (i + 1)).sum() for i, n in enumerate(extra))
    ga = torch.autograd.grad((ya * w).sum() + final_a, [x, *a.parameters()])
    gb = torch.autograd.grad((yb * w).sum() + final_b, [x, *b.parameters()])
    assert ga[0].abs().sum() > 0
    for u, v in zip(ga, gb):
        torch.testing.assert_close(u, v, rtol=1e-5, atol=1e-5)


def test_a_kernel_that_declines_the_new_options_leaves_the_pytorch_numbers(monkeypatch):
    x = torch.randn(4, 2, 3)
    layers = []
    for kw in ({"adaptive": True}, {"refractory": 2}, {"all_to_all": True}):
        torch.manual_seed(0)
        layers.append(snn.RLIB(3, **FIXED, **kw) if "all_to_all" in kw else snn.LIB(3, **FIXED, **kw))
    expected = [layer.forward_sequence(x) for layer in layers]
    for layer in layers:
        layer.zero_states()
    monkeypatch.setenv("TRACETORCH_KERNELS", "1")
    _internal.reset_kernels()
    try:
        calls: list = []
        _internal.load_kernels(entry_points=[RecordingEntryPoint(calls)])
        for layer, want in zip(layers, expected):
            assert torch.equal(layer.forward_sequence(x), want)
            states = tuple(torch.zeros(2, 3) for _ in layer.config.states)
            params = tuple(layer._params(x[0]).values())
            leaky_step(layer.config, x[0], states, params, spike_fn=layer.spike_fn, quant_fn=layer.quant_fn)
        # the registry asked (whether the kernels take them is the kernels' tests' business)
        assert calls == ["LIB", "LIB", "LIB", "LIB", "RLIB", "RLIB"]
    finally:
        _internal.reset_kernels()


@pytest.mark.slow
def test_a_stepping_loop_with_the_new_options_compiles_with_no_graph_break():
    model = tt.Sequential(
        snn.LIB(4, **FIXED, adaptive=True, refractory=2),
        torch.nn.Linear(4, 4),
        snn.DSRLIT(4, **FIXED, all_to_all=True, adaptive=True, refractory=1, reset="value"),
    )

    def run(xs):
        model.zero_states()
        return model(xs[0]) + model(xs[1]) + model(xs[2])

    explanation = torch._dynamo.explain(run)(torch.randn(3, 2, 4))
    assert explanation.graph_break_count == 0, explanation.break_reasons
    compiled = torch.compile(run, backend="aot_eager", fullgraph=True)
    xs = torch.randn(3, 2, 4) * 2
    torch.testing.assert_close(compiled(xs), run(xs))


def _model() -> tt.Sequential:
    torch.manual_seed(0)
    return tt.Sequential(
        snn.SRLIB(4, **FIXED, all_to_all=True, adaptive=True, refractory=2),
        torch.nn.Linear(4, 4),
        snn.DLIT(4, **FIXED, adaptive=True, refractory=1),
    )


def test_the_new_states_zero_detach_save_load_and_the_model_ttcompiles():
    a = _model()
    x = torch.randn(8, 2, 4) * 2
    for t in range(4):
        a(x[t])
    states = a.save_states()
    assert any(k.endswith("adapt") for k in states) and any(k.endswith("refrac") for k in states)
    buf = io.BytesIO()
    torch.save(states, buf)
    b = _model()
    buf.seek(0)
    b.load_states(torch.load(buf, weights_only=True))
    assert torch.equal(torch.stack([a(x[t]) for t in range(4, 8)]), torch.stack([b(x[t]) for t in range(4, 8)]))
    a.detach_states()
    assert all(
        s is None or s.grad_fn is None
        for layer in a.modules()
        if isinstance(layer, tt.Layer)
        for s in layer.states().values()
    )
    a.zero_states()
    assert all(s is None for layer in a.modules() if isinstance(layer, tt.Layer) for s in layer.states().values())
    c = _model()
    c.TTcompile()
    with torch.no_grad():
        assert torch.equal(torch.stack([c(x[t]) for t in range(8)]), torch.stack([a(x[t]) for t in range(8)]))


def test_the_matrix_and_adaptation_parameters_save_and_load():
    torch.manual_seed(3)
    a = snn.RLIB(4, **FIXED, all_to_all=True, adaptive=True)
    with torch.no_grad():
        a.raw_rec_bias.add_(0.3)
    torch.manual_seed(4)
    b = snn.RLIB(4, **FIXED, all_to_all=True, adaptive=True)
    assert not torch.equal(a.rec_matrix, b.rec_matrix)
    buf = io.BytesIO()
    torch.save(a.state_dict(), buf)
    buf.seek(0)
    b.load_state_dict(torch.load(buf, weights_only=True))
    for n in ("rec_matrix", "rec_bias", "adapt_decay", "adapt_strength"):
        assert torch.equal(getattr(a, n), getattr(b, n)), n
    fixed = snn.RLIB(4, **FIXED, all_to_all=True, learn_rec_matrix=False)
    fixed.load_state_dict(a.state_dict(), strict=False)  # a learnable raw_rec_matrix loads into the fixed one
    assert torch.equal(fixed.rec_matrix, a.rec_matrix)
    with pytest.raises(RuntimeError, match="rec_matrix"):
        snn.RLIB(5, all_to_all=True).load_state_dict(a.state_dict())


@pytest.mark.parametrize("name", ["LIB", "DSLIT", "SRLITS"])
def test_adaptation_and_refractory_period_act_per_neuron_along_any_dim(name):
    # the new states and rank-1 parameters follow the neuron axis, as every other one
    cls = getattr(snn, name)
    kw = dict(FIXED, adaptive=True, refractory=2, adapt_decay=torch.linspace(0.5, 0.9, 4), adapt_strength=0.7)
    torch.manual_seed(0)
    conv = cls(4, dim=-3, **kw)
    torch.manual_seed(0)
    last = cls(4, dim=-1, **kw)
    x = torch.randn(10, 2, 4, 3, 3) * 2
    y_conv = conv.forward_sequence(x)
    y_last = last.forward_sequence(x.movedim(-3, -1))
    assert y_conv.ne(0).any()
    torch.testing.assert_close(y_conv.movedim(-3, -1), y_last, rtol=0, atol=1e-6)
    torch.testing.assert_close(conv.adapt.movedim(-3, -1), last.adapt, rtol=0, atol=1e-6)
    assert torch.equal(conv.refrac.movedim(-3, -1), last.refrac)
