"""Exactness against the peer libraries (snnTorch, SpikingJelly, Norse), each test run against the peer itself.

Part one: what the default layers express, with the documented parameter mapping
(``docs/concepts/peers.md``). Part two: the reference loops in ``peer_reference.py``
(the peers' equations written out) are proven equal to the peers. Part three: the
peers' default neurons reproduced by the layers' neuron options.
Every comparison is over 200 steps of random input: spikes identical, membranes within
1e-6, input gradients within 1e-5. Install the peers with ``uv sync --group peers``.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Callable

import pytest
import torch
from tracetorch import snn

_spec = importlib.util.spec_from_file_location("peer_reference", Path(__file__).with_name("peer_reference.py"))
ref = importlib.util.module_from_spec(_spec)  # type: ignore[arg-type]
sys.modules.setdefault("peer_reference", ref)
_spec.loader.exec_module(ref)  # type: ignore[union-attr]

T, B, N = 200, 3, 8
MEM_ATOL = 1e-6
GRAD_ATOL = 1e-5


def _x(seed: int, scale: float = 1.0, shift: float = 0.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return ((torch.rand(T, B, N, generator=g) + shift) * scale).requires_grad_()


def _weights(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed + 1000)
    return torch.randn(T, B, N, generator=g), torch.randn(T, B, N, generator=g)


def _run(fn: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]], x: torch.Tensor, seed: int):
    """Spikes, membranes and the input gradient of a fixed random readout of both."""
    if x.grad is not None:
        x.grad = None
    spikes, mems = fn(x)
    w1, w2 = _weights(seed)
    ((spikes * w1).sum() + (mems * w2).sum()).backward()
    return spikes.detach(), mems.detach(), x.grad.clone()


def _assert_same(a, b, *, grads: bool = True) -> None:
    sa, ma, ga = a
    sb, mb, gb = b
    assert sa.sum() > 50 and (sa == 0).sum() > 50, "the input must make the neurons fire sometimes, not always"
    assert torch.equal(sa, sb), f"spikes differ first at step {int((sa != sb).flatten(1).any(1).nonzero()[0])}"
    torch.testing.assert_close(ma, mb, rtol=0, atol=MEM_ATOL)
    if grads:
        assert ga.abs().sum() > 0
        torch.testing.assert_close(ga, gb, rtol=0, atol=GRAD_ATOL)


def _tt_steps(layer, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    spikes, mems = [], []
    for xt in x:
        spikes.append(layer(xt))
        mems.append(layer.mem)
    return torch.stack(spikes), torch.stack(mems)


# ---------------------------------------------------------------------------------- snnTorch
def _snntorch_leaky(**kw) -> Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    snntorch = pytest.importorskip("snntorch")

    def run(x: torch.Tensor):
        lif = snntorch.Leaky(**kw)
        mem = torch.zeros_like(x[0])
        spikes, mems = [], []
        for xt in x:
            s, mem = lif(xt, mem)
            spikes.append(s)
            mems.append(mem)
        return torch.stack(spikes), torch.stack(mems)

    return run


def _snntorch_synaptic(**kw) -> Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    snntorch = pytest.importorskip("snntorch")

    def run(x: torch.Tensor):
        lif = snntorch.Synaptic(**kw)
        spikes, mems = [], []
        for xt in x:
            s, _syn, mem = lif(xt)
            spikes.append(s)
            mems.append(mem)
        return torch.stack(spikes), torch.stack(mems)

    return run


def _no_ties(x: torch.Tensor, mems_pre_minus_th: torch.Tensor) -> None:
    # snnTorch fires at v > 0, traceTorch at v >= 0: equal unless v is exactly 0
    assert not bool((mems_pre_minus_th == 0).any())


@pytest.mark.parametrize("beta,threshold", [(0.75, 1.0), (0.9, 0.3)])
def test_snntorch_leaky_without_reset_delay_is_a_fixed_lib(beta, threshold):
    # Mapping: Leaky(beta, threshold, reset_mechanism="subtract", reset_delay=False) with its
    # default atan surrogate == LIB(beta, threshold, learn_*=False, spike_fn="heaviside_atan").
    # Exact while a membrane after its reset stays below the threshold (x < (2 - beta) * threshold);
    # above that snnTorch subtracts the previous step's reset once more (see peers.md).
    x = _x(0, scale=(2 - beta) * threshold * 0.99, shift=-0.1)
    peer = _run(_snntorch_leaky(beta=beta, threshold=threshold, reset_mechanism="subtract", reset_delay=False), x, 0)
    layer = snn.LIB(
        N, beta=beta, threshold=threshold, learn_beta=False, learn_threshold=False, spike_fn="heaviside_atan"
    )
    ours = _run(lambda x: _tt_steps(layer, x), x, 0)
    _assert_same(peer, ours)
    assert torch.equal(peer[1], ours[1])  # membranes bit for bit
    _no_ties(x, peer[1] + peer[0] * threshold - threshold)
    layer.zero_states()
    seq = _run(lambda x: (layer.forward_sequence(x), torch.zeros(())), x, 0)
    assert torch.equal(seq[0], peer[0])


def test_snntorch_synaptic_without_reset_delay_is_a_fixed_slib_on_scaled_input():
    # snnTorch: syn = alpha*syn + x; traceTorch SLIB: syn = alpha*syn + (1 - alpha)*x.
    # Mapping: feed SLIB x / (1 - alpha). With alpha = 0.5 the scaling is exact in binary
    # floating point, so the two agree bit for bit; for other alphas only to rounding.
    alpha, beta, threshold = 0.5, 0.8, 1.0
    x = _x(1, scale=1.0, shift=-0.45)
    peer = _run(_snntorch_synaptic(alpha=alpha, beta=beta, threshold=threshold, reset_delay=False), x, 1)
    layer = snn.SLIB(
        N,
        alpha=alpha,
        beta=beta,
        threshold=threshold,
        learn_alpha=False,
        learn_beta=False,
        learn_threshold=False,
        spike_fn="heaviside_atan",
    )
    ours = _run(lambda x: _tt_steps(layer, x / (1 - alpha)), x, 1)
    _assert_same(peer, ours)
    assert torch.equal(peer[1], ours[1])
    # the post-reset membranes stayed below the threshold, where the mapping holds
    assert bool((peer[1] < threshold).all())


def test_snntorch_synaptic_with_other_alphas_agrees_to_rounding_on_scaled_input():
    alpha, beta = 0.8, 0.9
    x = _x(2, scale=0.35, shift=-0.45)
    peer = _run(_snntorch_synaptic(alpha=alpha, beta=beta, reset_delay=False), x, 2)
    layer = snn.SLIB(
        N,
        alpha=alpha,
        beta=beta,
        threshold=1.0,
        learn_alpha=False,
        learn_beta=False,
        learn_threshold=False,
        spike_fn="heaviside_atan",
    )
    ours = _run(lambda x: _tt_steps(layer, x / (1 - alpha)), x, 2)
    _assert_same(peer, ours)


@pytest.mark.parametrize("reset_mechanism", ["subtract", "zero", "none"])
@pytest.mark.parametrize("reset_delay", [True, False])
def test_the_snntorch_leaky_reference_loop_is_snntorch_leaky(reset_mechanism, reset_delay):
    # includes inputs large enough that a membrane stays above threshold after its reset
    x = _x(3, scale=1.6, shift=-0.3)
    kw = dict(beta=0.85, threshold=1.0, reset_mechanism=reset_mechanism, reset_delay=reset_delay)
    peer = _run(_snntorch_leaky(**kw), x, 3)
    mine = _run(lambda x: ref.snntorch_leaky(x, **kw), x, 3)
    if reset_mechanism == "none":
        assert torch.equal(peer[0], mine[0]) and torch.equal(peer[1], mine[1])
        torch.testing.assert_close(peer[2], mine[2], rtol=0, atol=GRAD_ATOL)
    else:
        _assert_same(peer, mine)
        assert torch.equal(peer[1], mine[1])


@pytest.mark.parametrize("reset_mechanism", ["subtract", "zero"])
@pytest.mark.parametrize("reset_delay", [True, False])
def test_the_snntorch_synaptic_reference_loop_is_snntorch_synaptic(reset_mechanism, reset_delay):
    x = _x(4, scale=1.0, shift=-0.45)
    kw = dict(alpha=0.7, beta=0.85, threshold=1.0, reset_mechanism=reset_mechanism, reset_delay=reset_delay)
    peer = _run(_snntorch_synaptic(**kw), x, 4)
    mine = _run(lambda x: ref.snntorch_synaptic(x, **kw), x, 4)
    _assert_same(peer, mine)
    assert torch.equal(peer[1], mine[1])


def test_snntorch_default_leaky_is_not_lib_and_the_reference_loop_shows_where():
    # the default reset_delay=True applies the (detached, undecayed) reset one step late
    x = _x(5, scale=1.2)
    peer = _run(_snntorch_leaky(beta=0.9, threshold=1.0), x, 5)
    layer = snn.LIB(N, beta=0.9, threshold=1.0, learn_beta=False, learn_threshold=False, spike_fn="heaviside_atan")
    ours = _run(lambda x: _tt_steps(layer, x), x, 5)
    assert not torch.equal(peer[0], ours[0])
    mine = _run(lambda x: ref.snntorch_leaky(x, beta=0.9, threshold=1.0), x, 5)
    assert torch.equal(peer[0], mine[0]) and torch.equal(peer[1], mine[1])


# ------------------------------------------------------------------------------ SpikingJelly
def _sj_node(**kw) -> Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    pytest.importorskip("spikingjelly")
    from spikingjelly.activation_based import neuron, surrogate

    def run(x: torch.Tensor):
        tau = kw.get("tau")
        common = dict(
            v_threshold=kw.get("v_threshold", 1.0),
            v_reset=kw.get("v_reset", 0.0),
            detach_reset=kw.get("detach_reset", False),
            surrogate_function=surrogate.ATan(),
            step_mode="m",
            store_v_seq=True,
        )
        if tau is None:
            node = neuron.IFNode(**common)
        else:
            node = neuron.LIFNode(tau=tau, decay_input=kw.get("decay_input", True), **common)
        s = node(x)
        return s, node.v_seq

    return run


@pytest.mark.parametrize("tau", [2.0, 4.0])
def test_spikingjelly_soft_reset_lif_without_input_decay_is_a_fixed_lib(tau):
    # Mapping: LIFNode(tau, decay_input=False, v_reset=None, v_threshold=th) == LIB(beta = 1 - 1/tau).
    # SpikingJelly charges v - v/tau + x; LIB beta*v + x. For tau a power of two v/tau is
    # exact and both round once, so they agree bit for bit; both fire at v - th >= 0.
    x = _x(6, scale=1.0, shift=-0.3)
    peer = _run(_sj_node(tau=tau, decay_input=False, v_reset=None), x, 6)
    layer = snn.LIB(
        N, beta=1 - 1 / tau, threshold=1.0, learn_beta=False, learn_threshold=False, spike_fn="heaviside_atan"
    )
    ours = _run(lambda x: _tt_steps(layer, x), x, 6)
    _assert_same(peer, ours)
    assert torch.equal(peer[1], ours[1])


def test_spikingjelly_soft_reset_lif_with_other_taus_agrees_to_rounding():
    tau = 3.0
    x = _x(7, scale=1.0, shift=-0.3)
    peer = _run(_sj_node(tau=tau, decay_input=False, v_reset=None), x, 7)
    layer = snn.LIB(
        N, beta=1 - 1 / tau, threshold=1.0, learn_beta=False, learn_threshold=False, spike_fn="heaviside_atan"
    )
    ours = _run(lambda x: _tt_steps(layer, x), x, 7)
    _assert_same(peer, ours)


@pytest.mark.parametrize("tau,decay_input", [(None, True), (2.0, True), (3.0, True), (2.0, False), (3.0, False)])
@pytest.mark.parametrize("v_reset", [0.0, -0.2, None])
@pytest.mark.parametrize("detach_reset", [False, True])
def test_the_spikingjelly_reference_loop_is_spikingjelly(tau, decay_input, v_reset, detach_reset):
    # tau=None is IFNode (no decay, no decay_input)
    scale, shift = (0.8, -0.45) if tau is None else ((2.4, -0.2) if decay_input else (2.8, -0.45))
    x = _x(8, scale=scale, shift=shift)
    kw = dict(tau=tau, decay_input=decay_input, v_reset=v_reset, detach_reset=detach_reset)
    peer = _run(_sj_node(**kw), x, 8)
    mine = _run(lambda x: ref.spikingjelly_node(x, **kw), x, 8)
    _assert_same(peer, mine)


# ------------------------------------------------------------------------------------- Norse
def _norse(cell_name: str) -> Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    pytest.importorskip("norse")
    import norse.torch as norse

    def run(x: torch.Tensor):
        cell = getattr(norse, cell_name)()
        state = None
        spikes, mems = [], []
        for xt in x:
            z, state = cell(xt, state)
            spikes.append(z)
            mems.append(state.v)
        return torch.stack(spikes), torch.stack(mems)

    return run


@pytest.mark.parametrize(
    "cell,reference,scale", [("LIFBoxCell", "norse_lif_box", 30.0), ("LIFCell", "norse_lif", 12.0)]
)
def test_the_norse_reference_loops_are_norse(cell, reference, scale):
    x = _x(9, scale=scale, shift=-0.2)
    peer = _run(_norse(cell), x, 9)
    mine = _run(lambda x: getattr(ref, reference)(x), x, 9)
    _assert_same(peer, mine)


def test_norse_superspike_is_heaviside_fast_sigmoid_with_slope_one():
    pytest.importorskip("norse")
    import tracetorch as tt
    from norse.torch.functional.threshold import threshold

    g = torch.Generator().manual_seed(10)
    v = (torch.randn(1000, generator=g) * 3).requires_grad_()
    w = torch.randn(1000, generator=g)
    (threshold(v, "super", 100.0) * w).sum().backward()
    peer = v.grad.clone()
    v.grad = None
    ours = tt.functional.heaviside_fast_sigmoid(1.0)(v)
    (ours * w).sum().backward()
    assert torch.equal(ours.detach(), (v > 0).float())  # ties at exactly 0 aside
    torch.testing.assert_close(v.grad, peer, rtol=0, atol=1e-6)


def test_the_documented_spike_counts_of_snntorch_default_leaky_against_lib():
    # docs/concepts/peers.md quotes these numbers
    run_default = _snntorch_leaky(beta=0.9, threshold=1.0)
    run_same_step = _snntorch_leaky(beta=0.9, threshold=1.0, reset_delay=False)
    torch.manual_seed(3)
    x = torch.rand(200, 6)
    layer = snn.LIB(6, beta=0.9, threshold=1.0, learn_beta=False, learn_threshold=False, spike_fn="heaviside_atan")
    with torch.no_grad():
        default, _ = run_default(x)
        same_step, _ = run_same_step(x)
        ours = torch.stack([layer(xt) for xt in x])
    assert (int(default.sum()), int(ours.sum())) == (488, 538)
    assert int((default != ours).any(1).nonzero()[0]) == 3
    assert torch.equal(same_step, ours)
    delayed = snn.LIB(
        6,
        beta=0.9,
        threshold=1.0,
        learn_beta=False,
        learn_threshold=False,
        spike_fn="heaviside_atan",
        reset_timing="next",
        detach_reset=True,
    )
    with torch.no_grad():
        ours_delayed = torch.stack([delayed(xt) for xt in x])
    assert int(ours_delayed.sum()) == 488 and torch.equal(ours_delayed, default)


# ===================================================== part three: the neuron options against the peers
# Each peer neuron's defaults, reproduced by one traceTorch layer with the neuron options
# (the mappings of docs/concepts/peers.md), compared with the peer itself.


def _fixed(cls, **kw):
    learn = {f"learn_{n}": False for n in cls.config.param_names}
    return cls(N, **learn, **kw)


@pytest.mark.parametrize("beta,threshold,scale", [(0.9, 1.0, 1.2), (0.75, 0.5, 1.6)])
def test_snntorch_default_leaky_is_lib_with_next_step_detached_reset(beta, threshold, scale):
    # Leaky(beta, threshold) (reset_delay=True, subtract) == LIB(reset_timing="next", detach_reset=True)
    x = _x(11, scale=scale, shift=-0.3)
    peer = _run(_snntorch_leaky(beta=beta, threshold=threshold), x, 11)
    layer = _fixed(
        snn.LIB, beta=beta, threshold=threshold, spike_fn="heaviside_atan", reset_timing="next", detach_reset=True
    )
    ours = _run(lambda x: _tt_steps(layer, x), x, 11)
    _assert_same(peer, ours)
    assert torch.equal(peer[1], ours[1])  # membranes bit for bit
    # large inputs: a neuron fires on consecutive steps (the case the same-step LIB mapping misses)
    assert bool((peer[0][1:] * peer[0][:-1]).sum() > 0)


def test_snntorch_leaky_zero_reset_is_lib_with_next_step_value_reset():
    # Leaky(reset_mechanism="zero") == LIB(reset="value", reset_value=0, reset_timing="next", detach_reset=True)
    x = _x(12, scale=1.6, shift=-0.3)
    peer = _run(_snntorch_leaky(beta=0.85, threshold=1.0, reset_mechanism="zero"), x, 12)
    layer = _fixed(
        snn.LIB,
        beta=0.85,
        threshold=1.0,
        spike_fn="heaviside_atan",
        reset="value",
        reset_timing="next",
        detach_reset=True,
    )
    ours = _run(lambda x: _tt_steps(layer, x), x, 12)
    _assert_same(peer, ours)
    assert torch.equal(peer[1], ours[1])


def test_snntorch_leaky_without_reset_is_lib_with_no_reset():
    # Leaky(reset_mechanism="none") == LIB(reset="none")
    x = _x(14, scale=0.6, shift=-0.5)
    peer = _run(_snntorch_leaky(beta=0.85, threshold=0.3, reset_mechanism="none"), x, 14)
    layer = _fixed(snn.LIB, beta=0.85, threshold=0.3, spike_fn="heaviside_atan", reset="none")
    ours = _run(lambda x: _tt_steps(layer, x), x, 14)
    _assert_same(peer, ours)
    assert torch.equal(peer[1], ours[1])


def test_snntorch_default_synaptic_is_slib_with_added_input_and_next_step_detached_reset():
    # Synaptic(alpha, beta) == SLIB(syn_input="add", reset_timing="next", detach_reset=True)
    x = _x(13, scale=1.0, shift=-0.45)
    peer = _run(_snntorch_synaptic(alpha=0.7, beta=0.85, threshold=1.0), x, 13)
    layer = _fixed(
        snn.SLIB,
        alpha=0.7,
        beta=0.85,
        threshold=1.0,
        spike_fn="heaviside_atan",
        syn_input="add",
        reset_timing="next",
        detach_reset=True,
    )
    ours = _run(lambda x: _tt_steps(layer, x), x, 13)
    _assert_same(peer, ours)
    assert torch.equal(peer[1], ours[1])


def _sj_layer(tau, decay_input, v_reset, detach_reset):
    if tau is None:  # IFNode: no leak
        beta = 1.0
    else:
        beta = 1.0 - 1.0 / tau
    reset = {"reset": "subtract"} if v_reset is None else {"reset": "value", "reset_value": v_reset}
    return _fixed(
        snn.LIB,
        beta=beta,
        threshold=1.0,
        spike_fn="heaviside_atan",
        detach_reset=detach_reset,
        decay_input=bool(decay_input and tau is not None),
        rest=v_reset or 0.0,
        **reset,
    )


@pytest.mark.parametrize("tau,decay_input", [(None, True), (2.0, True), (3.0, True), (2.0, False), (3.0, False)])
@pytest.mark.parametrize("v_reset", [0.0, -0.2, None])
@pytest.mark.parametrize("detach_reset", [False, True])
def test_spikingjelly_if_and_lif_nodes_are_lib_with_the_options(tau, decay_input, v_reset, detach_reset):
    # IFNode == LIB(beta=1.0, learn_beta=False); LIFNode(tau) == LIB(beta=1-1/tau);
    # decay_input -> decay_input; hard reset (v_reset=r) -> reset="value", reset_value=r, rest=r;
    # soft reset (v_reset=None) -> reset="subtract"; detach_reset -> detach_reset.
    # SpikingJelly's membrane starts at v_reset: so does the layer's here.
    scale, shift = (0.8, -0.45) if tau is None else ((2.4, -0.2) if decay_input else (2.8, -0.45))
    x = _x(8, scale=scale, shift=shift)
    peer = _run(_sj_node(tau=tau, decay_input=decay_input, v_reset=v_reset, detach_reset=detach_reset), x, 8)
    layer = _sj_layer(tau, decay_input, v_reset, detach_reset)
    layer.mem = torch.full((B, N), v_reset or 0.0)
    ours = _run(lambda x: _tt_steps(layer, x), x, 8)
    _assert_same(peer, ours)
    if tau is None or tau == 2.0:
        assert torch.equal(peer[0], ours[0])


@pytest.mark.parametrize("cell,scale", [("LIFBoxCell", 30.0), ("LIFCell", 12.0)])
def test_norse_lif_box_and_lif_cells_are_lib_and_slib_with_the_options(cell, scale):
    # LIFBoxCell() == LIB(beta=1-dt*tau_mem_inv, decay_input=True, reset="value")
    # LIFCell() == SLIB(alpha=1-dt*tau_syn_inv, beta=1-dt*tau_mem_inv, syn_input="add",
    #              decay_input=True, reset="value"); Norse's superspike == heaviside_fast_sigmoid(1).
    import tracetorch as tt

    x = _x(9, scale=scale, shift=-0.2)
    peer = _run(_norse(cell), x, 9)
    common = dict(threshold=1.0, spike_fn=tt.functional.heaviside_fast_sigmoid(1.0), decay_input=True, reset="value")
    if cell == "LIFBoxCell":
        layer = _fixed(snn.LIB, beta=1 - 0.001 * 100.0, **common)
    else:
        layer = _fixed(snn.SLIB, alpha=1 - 0.001 * 200.0, beta=1 - 0.001 * 100.0, syn_input="add", **common)
    ours = _run(lambda x: _tt_steps(layer, x), x, 9)
    _assert_same(peer, ours)


def test_snntorch_synaptic_zero_reset_is_slib_with_a_one_step_refractory_period():
    # Synaptic(reset_mechanism="zero") zeroes the *new* membrane on the step after a spike
    # (m = n - n*r_t: that step's input is lost, the synaptic current kept): the pending
    # value reset plus a one-step refractory period, which holds the reset membrane.
    x = _x(15, scale=1.0, shift=-0.45)
    peer = _run(_snntorch_synaptic(alpha=0.7, beta=0.85, threshold=1.0, reset_mechanism="zero"), x, 15)
    layer = _fixed(
        snn.SLIB,
        alpha=0.7,
        beta=0.85,
        threshold=1.0,
        spike_fn="heaviside_atan",
        syn_input="add",
        reset="value",
        reset_timing="next",
        detach_reset=True,
        refractory=1,
    )
    ours = _run(lambda x: _tt_steps(layer, x), x, 15)
    _assert_same(peer, ours)
    assert torch.equal(peer[1], ours[1])  # membranes bit for bit
    layer.zero_states()
    seq = _run(lambda x: (layer.forward_sequence(x), torch.zeros(())), x, 15)
    assert torch.equal(seq[0], peer[0])


def _snntorch_rleaky(lif) -> Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    def run(x: torch.Tensor):
        lif.reset_mem()
        spikes, mems = [], []
        for xt in x:
            s, mem = lif(xt)
            spikes.append(s)
            mems.append(mem)
        return torch.stack(spikes), torch.stack(mems)

    return run


def _all_to_all_rlib(lif, **kw) -> snn.LeakyLayer:
    # every parameter fixed; gamma = 0: the recurrent trace is the previous output itself
    return snn.RLIB(
        N,
        beta=0.85,
        gamma=0.0,
        threshold=1.0,
        learn_beta=False,
        learn_gamma=False,
        learn_threshold=False,
        all_to_all=True,
        rec_matrix=lif.recurrent.weight.detach(),
        rec_bias=lif.recurrent.bias.detach(),
        learn_rec_matrix=False,
        learn_rec_bias=False,
        spike_fn="heaviside_atan",
        reset_timing="next",
        detach_reset=True,
        **kw,
    )


@pytest.mark.parametrize("reset_mechanism", ["subtract", "zero"])
def test_snntorch_all_to_all_rleaky_is_rlib_with_the_recurrent_matrix(reset_mechanism):
    # RLeaky(all_to_all=True, linear_features=N) (reset_delay=True, detached reset):
    # m = beta*m + x + W @ s_prev + b - r_t*th  ==  RLIB(all_to_all=True, gamma=0 fixed,
    # rec_matrix=W, rec_bias=b, reset_timing="next", detach_reset=True); "zero" adds
    # reset="value" and a one-step refractory period (the new membrane is zeroed, as Synaptic).
    snntorch = pytest.importorskip("snntorch")
    torch.manual_seed(16)
    lif = snntorch.RLeaky(beta=0.85, threshold=1.0, all_to_all=True, linear_features=N, reset_mechanism=reset_mechanism)
    x = _x(16, scale=1.4, shift=-0.3)
    peer = _run(_snntorch_rleaky(lif), x, 16)
    options = dict(reset="value", refractory=1) if reset_mechanism == "zero" else {}
    layer = _all_to_all_rlib(lif, **options)
    ours = _run(lambda x: _tt_steps(layer, x), x, 16)
    _assert_same(peer, ours)
    assert torch.equal(peer[1], ours[1])  # membranes bit for bit (the same order of additions)
    layer.zero_states()
    seq = _run(lambda x: (layer.forward_sequence(x), torch.zeros(())), x, 16)
    assert torch.equal(seq[0], peer[0])


def _norse_refrac(rho_reset: float) -> Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    pytest.importorskip("norse")
    import norse.torch as norse

    def run(x: torch.Tensor):
        cell = norse.LIFRefracCell(norse.LIFRefracParameters(rho_reset=torch.as_tensor(rho_reset)))
        state = None
        spikes, mems = [], []
        for xt in x:
            z, state = cell(xt, state)
            spikes.append(z)
            mems.append(state.lif.v)
        return torch.stack(spikes), torch.stack(mems)

    return run


@pytest.mark.parametrize("rho_reset", [1, 5])
def test_norse_lif_refrac_cell_is_slib_with_a_refractory_period(rho_reset):
    # LIFRefracCell(rho_reset=k) == LIFCell's SLIB mapping + refractory=k: while its counter is
    # positive Norse keeps the previous membrane (the reset value) and masks the spike; the
    # synaptic current goes on. Values only: Norse also differentiates through its counter
    # (a surrogate of rho), which traceTorch's integer counter does not.
    import tracetorch as tt

    x = _x(17, scale=14.0, shift=-0.2)
    peer = _run(_norse_refrac(float(rho_reset)), x, 17)
    layer = _fixed(
        snn.SLIB,
        alpha=1 - 0.001 * 200.0,
        beta=1 - 0.001 * 100.0,
        threshold=1.0,
        spike_fn=tt.functional.heaviside_fast_sigmoid(1.0),
        syn_input="add",
        decay_input=True,
        reset="value",
        refractory=rho_reset,
    )
    ours = _run(lambda x: _tt_steps(layer, x), x, 17)
    _assert_same(peer, ours, grads=False)
    # the refractory period did act: a neuron that fired stays silent for rho_reset steps
    s = ours[0]
    for k in range(1, rho_reset + 1):
        assert not bool((s[k:] * s[:-k]).any())
