"""The hand-written sequence backward with ``refractory``, ``adaptive`` and ``all_to_all`` (issue 13).

`spiking_sequence` (one autograd function, a hand-written BPTT) against
`leaky_sequence_reference` (autograd through the step loop): outputs and final states
bit-identical, every gradient (input, every initial state, every parameter of rank 0
or 1, the ``[N, N]`` ``rec_matrix`` and ``rec_bias``) within 1e-5 relative, for each of
the three options alone on every spiking configuration it applies to, combined with
each other and with the options handled before, for deterministic spike functions and
the built-in surrogates, over shapes (hypothesis). Also: the sequence entry point takes
the hand-written path for them, and would not if the list of handled options lacked one.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Optional

import pytest
import test_bptt_options
import torch
import tracetorch as tt
from hypothesis import given, settings
from hypothesis import strategies as st
from test_bptt_options import SPIKES, SPIKING_NAMES, _check
from tracetorch import snn
from tracetorch.snn.functional import LeakyConfig, _bptt, leaky_sequence, spiking_sequence

N = 3
_inputs = functools.partial(test_bptt_options._inputs, x_offset=0.3)
"""`test_bptt_options._inputs`, with inputs centred at 0.3."""
RECURRENT_SPIKING = [n for n in SPIKING_NAMES if LeakyConfig.from_name(n).recurrent]

NEW_OPTIONS: list[dict[str, Any]] = [
    dict(refractory=1),
    dict(refractory=3),
    dict(adaptive=True),
    dict(all_to_all=True),
]

WITH_OTHERS: list[dict[str, Any]] = [
    dict(refractory=2, adaptive=True),
    dict(refractory=2, all_to_all=True),
    dict(adaptive=True, all_to_all=True),
    dict(refractory=1, adaptive=True, all_to_all=True),
    dict(refractory=2, reset="value", reset_value=-0.3, detach_reset=True),
    dict(refractory=2, reset_timing="next", decay_input=True, rest=0.2),
    dict(refractory=1, reset_timing="next", reset="value", reset_value=0.2, syn_input="add"),
    dict(refractory=2, reset="none", detach_reset=True, rest=-0.2),
    dict(adaptive=True, reset="value", reset_value=0.1, detach_reset=True, decay_input=True),
    dict(adaptive=True, reset_timing="next", reset="value", rest=0.3, syn_input="add"),
    dict(adaptive=True, reset="none", reset_timing="next", detach_reset=True),
    dict(adaptive=True, detach_reset=True, rest=-0.1),
    dict(all_to_all=True, decay_input=True, rest=0.25, syn_input="add"),
    dict(all_to_all=True, reset_timing="next", detach_reset=True),
    dict(all_to_all=True, reset="value", reset_value=-0.5, refractory=1, adaptive=True, decay_input=True),
]


def _config(name: str, options: dict[str, Any]) -> Optional[LeakyConfig]:
    """The configuration, or None where an option does not apply (all_to_all without R)."""
    base = LeakyConfig.from_name(name)
    if options.get("all_to_all") and not base.recurrent:
        return None
    if "syn_input" in options and not base.synaptic:
        options = {k: v for k, v in options.items() if k != "syn_input"}
    return dataclasses.replace(base, **options)


def _run(cfg: LeakyConfig, spike: str, quant: str, seed: int, steps: int = 8, **kw: Any) -> None:
    x, states, params, leaves = _inputs(cfg, (2, N), -1, steps, seed, **kw)
    spike_fn = getattr(tt.functional, spike)()
    _check(cfg, spike_fn, getattr(tt.functional, f"quant_{quant}"), x, states, params, leaves, seed=seed)


def _ids(o: dict[str, Any]) -> str:
    return ",".join(f"{k}={v}" for k, v in o.items())


@pytest.mark.parametrize("name", SPIKING_NAMES)
@pytest.mark.parametrize("options", NEW_OPTIONS, ids=_ids)
def test_each_new_option_alone_equals_the_reference_loop(name, options):
    cfg = _config(name, options)
    if cfg is None:
        pytest.skip("all_to_all applies to recurrent layers only")
    assert _bptt.handles(cfg)
    _run(cfg, "heaviside_atan", "round", seed=3)
    _run(cfg, "sigmoid", "round", seed=4)


@pytest.mark.parametrize("name", SPIKING_NAMES)
@pytest.mark.parametrize("options", WITH_OTHERS, ids=_ids)
def test_new_options_combined_equal_the_reference_loop(name, options):
    cfg = _config(name, options)
    if cfg is None:
        pytest.skip("all_to_all applies to recurrent layers only")
    assert _bptt.handles(cfg)
    _run(cfg, "heaviside_fast_sigmoid", "round", seed=5, steps=9)


@pytest.mark.parametrize("spike", SPIKES)
@pytest.mark.parametrize("quant", ["round", "bernoulli", "probabilistic"])
@pytest.mark.parametrize("name", ["LIB", "DSRLIB", "SRLITS", "DRLIT"])
def test_every_builtin_spike_and_quantisation_function(name, quant, spike):
    for i, options in enumerate(WITH_OTHERS[:4]):
        cfg = _config(name, options)
        if cfg is None:  # all_to_all on a non-recurrent layer
            continue
        _run(cfg, spike, quant, seed=11 + i, steps=6)


@pytest.mark.parametrize("name", ["LIB", "DSLIT", "RLIB", "DSRLITS"])
def test_fixed_and_scalar_parameters(name):
    options: dict[str, Any] = dict(refractory=2, adaptive=True, reset="value")
    if LeakyConfig.from_name(name).recurrent:
        options["all_to_all"] = True
    cfg = _config(name, options)
    assert cfg is not None
    ranks = {p: i % 2 for i, p in enumerate(cfg.param_names)}
    fixed = frozenset(p for i, p in enumerate(cfg.param_names) if i % 3 == 1)
    _run(cfg, "heaviside_atan", "round", seed=21, ranks=ranks, fixed=fixed)


@st.composite
def _cases(draw: Any) -> dict[str, Any]:
    name = draw(st.sampled_from(SPIKING_NAMES))
    base = LeakyConfig.from_name(name)
    reset = draw(st.sampled_from(["subtract", "value", "none"]))
    adaptive = draw(st.booleans())
    timing = "same" if adaptive and reset == "subtract" else draw(st.sampled_from(["same", "next"]))
    options: dict[str, Any] = dict(
        reset=reset,
        reset_timing=timing,
        detach_reset=draw(st.booleans()),
        decay_input=draw(st.booleans()),
        rest=draw(st.sampled_from([0.0, -0.25, 0.6])),
        adaptive=adaptive,
        refractory=draw(st.integers(0, 3)),
    )
    if reset == "value":
        options["reset_value"] = draw(st.sampled_from([0.0, -0.5, 0.4]))
    if base.synaptic:
        options["syn_input"] = draw(st.sampled_from(["ema", "add"]))
    all_to_all = base.recurrent and draw(st.booleans())
    options["all_to_all"] = all_to_all
    ndim = draw(st.integers(1, 4))
    dim = -1 if all_to_all else draw(st.integers(-ndim, ndim - 1))  # all_to_all: the last axis
    shape = [draw(st.integers(1, 3)) for _ in range(ndim)]
    shape[dim] = N
    cfg = dataclasses.replace(base, **options)
    return dict(
        cfg=cfg,
        shape=tuple(shape),
        dim=dim,
        steps=draw(st.integers(1, 8)),
        ranks={p: draw(st.integers(0, 1)) for p in cfg.param_names},
        fixed=frozenset(p for p in cfg.param_names if draw(st.booleans()) and draw(st.booleans())),
        spike=draw(st.sampled_from(SPIKES)),
        quant=draw(st.sampled_from(["round", "bernoulli", "probabilistic"])),
        seed=draw(st.integers(0, 10_000)),
    )


@settings(max_examples=60, deadline=None)
@given(case=_cases())
def test_any_options_shape_and_dim_equal_the_reference_loop(case):
    cfg = case["cfg"]
    x, states, params, leaves = _inputs(
        cfg, case["shape"], case["dim"], case["steps"], case["seed"], ranks=case["ranks"], fixed=case["fixed"]
    )
    spike_fn = getattr(tt.functional, case["spike"])()
    quant_fn = getattr(tt.functional, f"quant_{case['quant']}")
    _check(cfg, spike_fn, quant_fn, x, states, params, leaves, seed=case["seed"])


def test_refractory_neurons_really_are_silenced_and_held():
    # the comparisons above would pass vacuously if no neuron were ever refractory
    cfg = dataclasses.replace(LeakyConfig.from_name("LIB"), refractory=3)
    x, states, params, _ = _inputs(cfg, (2, N), -1, 12, seed=1)
    fn = tt.functional.heaviside_atan()
    y, (mem, refrac) = spiking_sequence(cfg, x, tuple(states), tuple(params), fn, tt.functional.quant_round, fn)
    assert y.sum() > 0
    spiked = y[:-3].bool()
    for k in (1, 2, 3):  # no spike in the 3 steps after one
        assert not (spiked & y[k:][: spiked.shape[0]].bool()).any()


@pytest.mark.parametrize(
    "options",
    [dict(refractory=2), dict(adaptive=True), dict(all_to_all=True)],
    ids=_ids,
)
def test_the_gate_sends_an_option_the_list_lacks_to_the_reference_loop(monkeypatch, options):
    name = next(iter(options))
    layer = snn.RLIB(N, spike_fn="heaviside_atan", quant_fn="round", **options)
    x = torch.randn(5, 2, N, requires_grad=True)
    assert name in _bptt.HANDLED_OPTIONS
    assert type(layer.forward_sequence(x).grad_fn).__name__ == "_SpikingBPTTBackward"
    cfg = layer.config
    monkeypatch.delitem(_bptt.HANDLED_OPTIONS, name)
    assert not _bptt.handles(cfg)
    layer.zero_states()
    assert type(layer.forward_sequence(x).grad_fn).__name__ == "StackBackward0"
    fn, q = tt.functional.heaviside_atan(), tt.functional.quant_round
    x, states, params, _ = _inputs(cfg, (2, N), -1, 5, seed=0)
    with pytest.raises(ValueError, match=name):
        spiking_sequence(cfg, x, tuple(states), tuple(params), fn, q, fn)
    ref, _ = leaky_sequence(cfg, x, tuple(states), tuple(params), None, fn, q)
    assert type(ref.grad_fn).__name__ == "StackBackward0"


@pytest.mark.parametrize(
    "name,options",
    [
        ("LIB", dict(refractory=2, reset="value", detach_reset=True)),
        ("SLIT", dict(adaptive=True, reset="value")),
        ("RLIB", dict(all_to_all=True, adaptive=True, refractory=1)),
        ("DSRLITS", dict(all_to_all=True, reset_timing="next", reset="value", decay_input=True)),
    ],
)
def test_layer_forward_sequence_with_new_options_equals_stepping_in_float32(name, options):
    layers = []
    for _ in range(2):
        torch.manual_seed(0)
        layer = getattr(snn, name)(N, spike_fn="heaviside_atan", quant_fn="round", **options)
        with torch.no_grad():
            for p in layer.parameters():
                p.add_(0.1 * torch.randn_like(p))
        layers.append(layer)
    a, b = layers
    torch.manual_seed(1)
    x = (torch.randn(30, 2, N) * 1.5).requires_grad_()
    ya = a.forward_sequence(x)
    assert type(ya.grad_fn).__name__ == "_SpikingBPTTBackward"
    yb = torch.stack([b(x[t]) for t in range(30)])
    assert torch.equal(ya, yb)
    for n in a.config.states:
        assert torch.equal(a.__dict__[n], b.__dict__[n]), n
    w = torch.randn_like(ya)
    pa, pb = dict(a.named_parameters()), dict(b.named_parameters())
    ga = torch.autograd.grad((ya * w).sum(), [x, *pa.values()])
    gb = torch.autograd.grad((yb * w).sum(), [x, *(pb[k] for k in pa)])
    for k, u, v in zip(["input", *pa], ga, gb):
        torch.testing.assert_close(u, v, rtol=1e-5, atol=1e-5, msg=f"grad {k}")


@pytest.mark.parametrize(
    "name,options,per_step",
    [
        ("LIB", dict(adaptive=True), 2),  # mem_pre and the adaptation trace
        ("LIB", dict(refractory=2), 2),  # mem_pre and the refractory counter
        ("LIT", dict(adaptive=True, refractory=1, reset="value"), 3),  # Heaviside spikes recomputed
        ("RLIB", dict(all_to_all=True), 2),  # mem_pre and the recurrent trace (no matrix product)
        ("DRLIB", dict(all_to_all=True, adaptive=True), 5),  # two membranes, two traces, adapt
    ],
)
def test_tensors_kept_per_step(name, options, per_step):
    cfg = dataclasses.replace(LeakyConfig.from_name(name), **options)
    x, states, params, _ = _inputs(cfg, (2, N), -1, 10, seed=0, dtype=torch.float32)
    fn, q = tt.functional.heaviside_atan(), tt.functional.quant_round
    y, _ = spiking_sequence(cfg, x, tuple(states), tuple(params), fn, q, fn)
    fixed = 2 + len(cfg.states) + len(cfg.params)  # x, outputs, initial states, parameters
    assert (len(y.grad_fn.saved_tensors) - fixed) / 10 == per_step


def test_bptt_with_new_options_gradcheck_float64():
    torch.manual_seed(0)
    fn = tt.functional.sigmoid(2.0)  # smooth forward: gradcheck applies
    q = tt.functional.quant_round
    for name, options in [
        ("RLIB", dict(adaptive=True, all_to_all=True, reset="value", reset_value=0.3, decay_input=True)),
        ("DSRLITS", dict(adaptive=True, all_to_all=True)),
    ]:
        cfg = dataclasses.replace(LeakyConfig.from_name(name), **options)
        x, states, params, _ = _inputs(cfg, (2, N), -1, 4, seed=2)
        n_states = len(states)

        def run(x, *rest, cfg=cfg, n_states=n_states):
            y, fin = spiking_sequence(cfg, x, tuple(rest[:n_states]), tuple(rest[n_states:]), fn, q, fn)
            return (y,) + tuple(fin)

        assert torch.autograd.gradcheck(run, (x, *states, *params), atol=1e-6)
