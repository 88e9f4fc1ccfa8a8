"""The hand-written sequence backward with the neuron options (issues 13 and 18).

`spiking_sequence` (one autograd function, a hand-written BPTT) against
`leaky_sequence_reference` (autograd through the step loop), for all 24 spiking
configurations with every handled neuron option alone and combined: outputs and final
states bit-identical, every gradient (input, initial states, every learnable parameter
of rank 0 or 1) within 1e-5 relative, for the deterministic spike functions and the
built-in surrogates, over shapes and neuron axes (hypothesis). Also: the sequence entry
point takes this path only for the listed options, keeps one tensor per step where the
module docstring says so, and the layers' ``forward_sequence`` equals stepping.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Optional

import pytest
import torch
import tracetorch as tt
from tracetorch import snn
from tracetorch.snn.functional import (
    LAYER_NAMES,
    LeakyConfig,
    _bptt,
    leaky_sequence,
    leaky_sequence_reference,
    make_fire,
    spiking_sequence,
)

SPIKING_NAMES = [n for n in LAYER_NAMES if LeakyConfig.from_name(n).spiking]
N = 3

SINGLE_OPTIONS: list[dict[str, Any]] = [
    dict(reset="value", reset_value=-0.4),
    dict(reset="value"),
    dict(reset="none"),
    dict(reset_timing="next"),
    dict(detach_reset=True),
    dict(decay_input=True),
    dict(rest=0.35),
    dict(syn_input="add"),
]

COMBINED_OPTIONS: list[dict[str, Any]] = [
    dict(reset="value", detach_reset=True),  # SpikingJelly IF / LIF hard reset
    dict(reset_timing="next", detach_reset=True),  # snnTorch's default
    dict(reset="value", reset_value=0.3, reset_timing="next"),
    dict(reset="value", reset_value=-0.2, reset_timing="next", detach_reset=True, decay_input=True, rest=0.1),
    dict(reset="none", decay_input=True, rest=-0.3, syn_input="add"),
    dict(reset_timing="next", decay_input=True, rest=0.2, syn_input="add"),
    dict(reset="value", reset_value=0.5, decay_input=True, detach_reset=True, syn_input="add"),
    dict(reset="none", reset_timing="next", detach_reset=True),
]


def _config(name: str, options: dict[str, Any]) -> Optional[LeakyConfig]:
    """The configuration, or None where an option does not apply (``syn_input`` without a synapse)."""
    base = LeakyConfig.from_name(name)
    if "syn_input" in options and not base.synaptic:
        options = {k: v for k, v in options.items() if k != "syn_input"}
        if not options:
            return None
    return dataclasses.replace(base, **options)


def _param_value(name: str, shape: tuple[int, ...], gen: torch.Generator, dtype: torch.dtype) -> torch.Tensor:
    u = torch.rand(shape, generator=gen, dtype=dtype)
    base = name.removeprefix("pos_").removeprefix("neg_")
    if base in ("alpha", "beta", "gamma", "adapt_decay"):
        return 0.05 + 0.9 * u
    if base == "threshold":
        return 0.3 + 1.2 * u
    if base == "adapt_strength":
        return 0.2 + 0.8 * u
    if base == "scale":
        return 0.5 + u
    return torch.randn(shape, generator=gen, dtype=dtype) * 0.7  # rec_weight, rec_bias


def _inputs(
    cfg: LeakyConfig,
    shape: tuple[int, ...],
    dim: int,
    steps: int,
    seed: int,
    dtype: torch.dtype = torch.float64,
    ranks: Optional[dict[str, int]] = None,
    fixed: frozenset[str] = frozenset(),
    integrate_and_fire: bool = False,
    x_offset: float = 0.2,
) -> tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor], list[torch.Tensor]]:
    """``(x, states, params, leaves)``; parameters shaped as a layer views them along ``dim``
    (``rec_matrix`` ``[N, N]``); some neurons start refractory, the adaptation traces
    start positive."""
    gen = torch.Generator().manual_seed(seed)
    x = (torch.randn((steps,) + shape, generator=gen, dtype=dtype) * 1.5 + x_offset).requires_grad_()
    trailing = -dim - 1 if dim < 0 else len(shape) - dim - 1
    params = []
    for p in cfg.param_names:
        rank = (ranks or {}).get(p, 1)
        if p == "rec_matrix":
            v = torch.randn((N, N), generator=gen, dtype=dtype) * 0.6
        else:
            v = _param_value(p, (N,) if rank == 1 else (), gen, dtype)
        if integrate_and_fire and p.endswith("beta"):
            v = torch.ones_like(v)
        if rank == 1 and p != "rec_matrix":
            v = v.view((N,) + (1,) * trailing)
        params.append(v.requires_grad_(p not in fixed and not (integrate_and_fire and p.endswith("beta"))))
    states = []
    for n in cfg.states:
        if n == "prev_spike":
            v = (torch.rand(shape, generator=gen, dtype=dtype) < 0.5).to(dtype)
        elif n == "prev_pos_spike":
            v = (torch.rand(shape, generator=gen, dtype=dtype) < 0.4).to(dtype)
        elif n == "prev_neg_spike":
            v = -(torch.rand(shape, generator=gen, dtype=dtype) < 0.3).to(dtype)
        elif n == "refrac":  # some neurons start refractory (counters 0 .. refractory)
            v = torch.randint(0, cfg.refractory + 1, shape, generator=gen).to(dtype)
        elif n == "adapt":
            v = torch.rand(shape, generator=gen, dtype=dtype) * 0.6
        else:
            v = torch.randn(shape, generator=gen, dtype=dtype) * 0.5
        states.append(v.requires_grad_())
    leaves = [x] + states + [p for p in params if p.requires_grad]
    return x, states, params, leaves


def _check(
    cfg: LeakyConfig,
    spike_fn: Any,
    quant_fn: Any,
    x: torch.Tensor,
    states: list[torch.Tensor],
    params: list[torch.Tensor],
    leaves: list[torch.Tensor],
    seed: int = 0,
    rtol: float = 1e-5,
) -> None:
    """Outputs and final states bit-identical, every gradient within ``rtol``."""
    fire = make_fire(spike_fn, quant_fn)
    torch.manual_seed(seed)  # the same draws for stochastic quantisation
    y_ref, fin_ref = leaky_sequence_reference(cfg, x, tuple(states), tuple(params), fire)
    torch.manual_seed(seed)
    y, fin = spiking_sequence(cfg, x, tuple(states), tuple(params), spike_fn, quant_fn, fire)
    assert type(y.grad_fn).__name__ == "_SpikingBPTTBackward"
    assert torch.equal(y, y_ref)
    for n, a, b in zip(cfg.states, fin, fin_ref):
        assert torch.equal(a, b), f"final state {n}"
        # a detached pending spike is not differentiable, as in stepping
        assert a.requires_grad == b.requires_grad, f"final state {n}"
    gen = torch.Generator().manual_seed(seed + 1)
    gy = torch.randn(y.shape, generator=gen, dtype=y.dtype)
    gs = [torch.randn(f.shape, generator=gen, dtype=f.dtype) for f in fin]
    loss = (y * gy).sum() + sum((f * g).sum() for f, g in zip(fin, gs) if f.requires_grad)
    loss_ref = (y_ref * gy).sum() + sum((f * g).sum() for f, g in zip(fin_ref, gs) if f.requires_grad)
    got = torch.autograd.grad(loss, leaves, allow_unused=True)
    want = torch.autograd.grad(loss_ref, leaves, allow_unused=True)
    names = ["x"] + list(cfg.states) + [n for n, p in zip(cfg.param_names, params) if p.requires_grad]
    for n, leaf, a, b in zip(names, leaves, got, want):
        a = torch.zeros_like(leaf) if a is None else a
        b = torch.zeros_like(leaf) if b is None else b
        assert a.shape == leaf.shape, n
        scale = b.abs().max().item() if b.numel() else 0.0
        torch.testing.assert_close(a, b, rtol=rtol, atol=rtol * max(scale, 1e-3), msg=f"grad {n} of {cfg}")


@pytest.mark.parametrize("name", SPIKING_NAMES)
@pytest.mark.parametrize("options", SINGLE_OPTIONS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()))
def test_each_option_alone_equals_the_reference_loop(name, options):
    cfg = _config(name, options)
    if cfg is None:
        pytest.skip("syn_input applies to synaptic layers only")
    x, states, params, leaves = _inputs(cfg, (2, N), -1, 7, seed=3)
    _check(cfg, tt.functional.heaviside_atan(), tt.functional.quant_round, x, states, params, leaves)


@pytest.mark.parametrize("name", SPIKING_NAMES)
@pytest.mark.parametrize("options", COMBINED_OPTIONS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()))
def test_combined_options_equal_the_reference_loop(name, options):
    cfg = _config(name, options)
    assert cfg is not None
    x, states, params, leaves = _inputs(cfg, (2, N), -1, 7, seed=5)
    _check(cfg, tt.functional.heaviside_fast_sigmoid(), tt.functional.quant_round, x, states, params, leaves)


@pytest.mark.parametrize("name", SPIKING_NAMES)
def test_integrate_and_fire_with_hard_reset_and_fixed_parameters(name):
    # SpikingJelly's IF: beta = 1 (a buffer, no gradient), reset to a value, detached reset
    cfg = _config(name, dict(reset="value", detach_reset=True))
    assert cfg is not None
    fixed = frozenset(p for p in cfg.param_names if "threshold" in p)
    ranks = {p: i % 2 for i, p in enumerate(cfg.param_names)}
    x, states, params, leaves = _inputs(cfg, (2, N), -1, 9, seed=8, ranks=ranks, fixed=fixed, integrate_and_fire=True)
    _check(cfg, tt.functional.heaviside_atan(), tt.functional.quant_round, x, states, params, leaves)


SPIKES = ["sigmoid", "heaviside_fast_sigmoid", "heaviside_atan", "heaviside_triangle", "heaviside_straight_through"]


@pytest.mark.parametrize("spike", SPIKES)
@pytest.mark.parametrize("quant", ["round", "bernoulli", "probabilistic"])
@pytest.mark.parametrize("name", ["LIB", "DSRLIB", "SRLITS"])
def test_every_builtin_spike_and_quantisation_function(name, quant, spike):
    spike_fn = getattr(tt.functional, spike)()
    quant_fn = getattr(tt.functional, f"quant_{quant}")
    for i, options in enumerate(COMBINED_OPTIONS[1:4]):
        cfg = _config(name, options)
        assert cfg is not None
        x, states, params, leaves = _inputs(cfg, (2, N), -1, 6, seed=11 + i)
        _check(cfg, spike_fn, quant_fn, x, states, params, leaves, seed=i)


# The hypothesis sweep over configurations, every option, shapes, dims, ranks and fixed
# parameters is in test_bptt_breadth.py (its options include all of these).


def _saved_per_step(y: torch.Tensor, cfg: LeakyConfig, steps: int) -> float:
    fixed = 2 + len(cfg.states) + len(cfg.params)  # x, outputs, initial states, parameters
    return (len(y.grad_fn.saved_tensors) - fixed) / steps


@pytest.mark.parametrize(
    "name,options,spike,per_step",
    [
        ("LIB", dict(reset="value", detach_reset=True), "heaviside_atan", 1),
        ("LIB", dict(reset_timing="next", detach_reset=True), "heaviside_atan", 1),
        ("SLIB", dict(decay_input=True), "heaviside_atan", 2),  # mem_pre and the synaptic trace
        ("LIT", dict(reset="value"), "heaviside_atan", 1),  # Heaviside spikes are recomputed
        ("LITS", dict(reset="value"), "sigmoid", 3),  # mem_pre and the two (non-0/1) spikes
        ("DLIB", dict(rest=0.1), "heaviside_atan", 2),  # the two membranes
        ("LIB", dict(), "heaviside_atan", 2),  # the classic update keeps its two
    ],
)
def test_tensors_kept_per_step(name, options, spike, per_step):
    cfg = dataclasses.replace(LeakyConfig.from_name(name), **options)
    x, states, params, _ = _inputs(cfg, (2, N), -1, 10, seed=0, dtype=torch.float32)
    spike_fn = getattr(tt.functional, spike)()
    q = tt.functional.quant_round
    y, _ = spiking_sequence(cfg, x, tuple(states), tuple(params), spike_fn, q, make_fire(spike_fn, q))
    assert _saved_per_step(y, cfg, 10) == per_step


def test_sequence_entry_point_runs_only_the_listed_options_through_the_bptt(monkeypatch):
    layer = snn.LIB(N, spike_fn="heaviside_atan", quant_fn="round", reset="value", detach_reset=True, rest=0.1)
    x = torch.randn(5, 2, N, requires_grad=True)
    assert type(layer.forward_sequence(x).grad_fn).__name__ == "_SpikingBPTTBackward"
    cfg = layer.config
    assert _bptt.handles(cfg) and not _bptt.handles(LeakyConfig.from_name("LI"))
    assert not _bptt.handles_option("adaptive_threshold", True)
    assert not _bptt.handles_option("reset", "zero")
    # an option the list does not name runs the reference loop, and the BPTT refuses it
    monkeypatch.delitem(_bptt.HANDLED_OPTIONS, "rest")
    layer.zero_states()
    y = layer.forward_sequence(x)
    assert type(y.grad_fn).__name__ == "StackBackward0"
    states = tuple(torch.zeros(2, N) for _ in cfg.states)
    params = (torch.tensor(0.9), torch.tensor(1.0))
    with pytest.raises(ValueError, match="rest=0.1"):
        spiking_sequence(cfg, x, states, params, layer.spike_fn, layer.quant_fn, layer.spike_fn)
    ref, _ = leaky_sequence(cfg, x, states, params, None, layer.spike_fn, layer.quant_fn)
    assert type(ref.grad_fn).__name__ == "StackBackward0"


def _layer(name: str, options: dict[str, Any], seed: int = 0) -> snn.LeakyLayer:
    torch.manual_seed(seed)
    layer = getattr(snn, name)(N, spike_fn="heaviside_atan", quant_fn="round", **options)
    with torch.no_grad():
        for p in layer.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return layer


@pytest.mark.parametrize(
    "name,options",
    [
        ("LIB", dict(beta=1.0, learn_beta=False, reset="value", detach_reset=True)),
        ("LIB", dict(reset_timing="next", detach_reset=True)),
        ("SLIB", dict(decay_input=True)),
        ("DSRLITS", dict(reset="value", reset_value=0.2, reset_timing="next", decay_input=True, rest=-0.1)),
        ("SRLIT", dict(syn_input="add", reset="none", detach_reset=True)),
    ],
)
def test_layer_forward_sequence_with_options_equals_stepping_in_float32(name, options):
    a, b = _layer(name, options), _layer(name, options)
    torch.manual_seed(1)
    warm = torch.randn(3, 2, N) * 1.5
    for w in warm:  # start from states that carry a graph
        a(w)
        b(w)
    x = (torch.randn(40, 2, N) * 1.5).requires_grad_()
    ya = a.forward_sequence(x)
    yb = torch.stack([b(x[t]) for t in range(40)])
    assert torch.equal(ya, yb)
    for n in a.config.states:
        assert torch.equal(a.__dict__[n], b.__dict__[n]), n
    w = torch.randn_like(ya)
    la = (ya * w).sum() + sum((a.__dict__[n] * (i + 1)).sum() for i, n in enumerate(a.config.layout.membranes))
    lb = (yb * w).sum() + sum((b.__dict__[n] * (i + 1)).sum() for i, n in enumerate(b.config.layout.membranes))
    pa = dict(a.named_parameters())
    pb = dict(b.named_parameters())
    ga = torch.autograd.grad(la, [x, *pa.values()])
    gb = torch.autograd.grad(lb, [x, *(pb[k] for k in pa)])
    for k, u, v in zip(["input", *pa], ga, gb):
        torch.testing.assert_close(u, v, rtol=1e-5, atol=1e-5, msg=f"grad {k}")


def test_bptt_with_options_gradcheck_float64():
    torch.manual_seed(0)
    fn = tt.functional.sigmoid(2.0)  # smooth forward: gradcheck applies
    q = tt.functional.quant_round
    for name, options in [
        ("SRLIB", dict(reset="value", reset_value=0.3, decay_input=True, rest=0.2, syn_input="add")),
        ("DSRLITS", dict(reset_timing="next", reset="value", reset_value=-0.4)),
        ("DLIT", dict(reset_timing="next", decay_input=True)),
    ]:
        cfg = dataclasses.replace(LeakyConfig.from_name(name), **options)
        x = torch.randn(4, 2, N, dtype=torch.float64, requires_grad=True)
        states = tuple(torch.randn(2, N, dtype=torch.float64, requires_grad=True) for _ in cfg.states)
        params = tuple((torch.rand(N, dtype=torch.float64) * 0.8 + 0.1).requires_grad_() for _ in cfg.params)

        n_states = len(states)

        def run(x, *rest, cfg=cfg, n_states=n_states):
            y, fin = spiking_sequence(cfg, x, tuple(rest[:n_states]), tuple(rest[n_states:]), fn, q, fn)
            return (y,) + tuple(fin)

        assert torch.autograd.gradcheck(run, (x, *states, *params), atol=1e-6)
