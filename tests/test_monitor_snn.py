"""tt.Monitor on tt.snn models: bit-equality with and without recording, sequence mode,
regularisers through recordings, and NeuroBench's activation sparsity and synaptic operations."""

from __future__ import annotations

import pytest
import torch
import tracetorch as tt
from torch import nn
from tracetorch import snn


def _mlp(seed=0, spike_fn="heaviside_atan"):
    torch.manual_seed(seed)
    return tt.Sequential(nn.Linear(12, 20), snn.LIB(20, spike_fn=spike_fn), nn.Linear(20, 4), snn.LI(4))


def _step_train(net, x, y, use_sequence):
    net.zero_grad()
    net.zero_states()
    out = net.forward_sequence(x) if use_sequence else torch.stack([net(xt) for xt in x])
    loss = nn.functional.cross_entropy(out.mean(0), y)
    loss.backward()
    return out.detach(), net.save_states(), {n: p.grad.clone() for n, p in net.named_parameters()}


@pytest.mark.parametrize("use_sequence", [False, True])
@pytest.mark.parametrize("spike_fn", ["heaviside_atan", None])  # None: sigmoid + Bernoulli draws
def test_recording_changes_no_output_state_or_gradient(use_sequence, spike_fn):
    net = _mlp(spike_fn=spike_fn)
    x, y = torch.rand(8, 5, 12) * 2, torch.randint(0, 4, (5,))

    def run():
        torch.manual_seed(7)  # the same Bernoulli draws each time
        return _step_train(net, x, y, use_sequence)

    plain = run()
    mon = tt.Monitor(net, count_synops=True)
    attached = run()
    with mon:
        recorded = run()
    assert mon["1"].shape == (8, 5, 20) and mon["3"].shape == (8, 5, 4)
    for other in (attached, recorded):
        assert torch.equal(plain[0], other[0])
        assert all(torch.equal(plain[1][k], other[1][k]) for k in plain[1])
        assert all(torch.equal(plain[2][k], other[2][k]) for k in plain[2])
    mon.remove()
    assert run()[0].equal(plain[0])


def test_sequence_mode_records_what_stepping_records():
    net = _mlp(1)
    x = torch.rand(10, 3, 12) * 2
    mon = tt.Monitor(net)
    with mon:
        net.zero_states()
        for xt in x:
            net(xt)
    stepped = mon.recordings()
    with mon:
        net.zero_states()
        net.forward_sequence(x)
    sequenced = mon.recordings()
    assert stepped.keys() == sequenced.keys() == {"1", "3"}
    for k in stepped:
        torch.testing.assert_close(sequenced[k], stepped[k], rtol=1e-5, atol=1e-6)
    # the LI readout's output is its membrane
    assert torch.allclose(sequenced["3"][-1], net[3].mem)


def test_snn_state_names_and_a_fused_sequence_without_emits():
    net = _mlp()
    with pytest.raises(ValueError, match=r"LIB at '1' has no state 'v'. It has: \['mem'"):
        tt.Monitor(net, layers="1", states=["v"])
    mon = tt.Monitor(net, layers=snn.LIB, states=["mem"])
    with mon:
        net.zero_states()
        for xt in torch.rand(4, 2, 12):
            net(xt)
    assert mon.get("1", "mem").shape == (4, 2, 20)
    torch.testing.assert_close(mon.get("1", "mem")[-1], net[1].mem)
    if "mem" not in net[1].emitted_sequence_names:
        with mon, pytest.raises(RuntimeError, match="step through time"):
            net.forward_sequence(torch.rand(4, 2, 12))


def test_rate_regulariser_backpropagates_through_the_recording():
    net = _mlp(2)
    x = torch.rand(6, 4, 12) * 2
    with tt.Monitor(net, layers="1") as mon:
        net.zero_states()
        net.forward_sequence(x)
    reg = tt.loss.rate_upper_bound(mon["1"], 0.0)
    reg.backward()
    assert net[0].weight.grad is not None and net[0].weight.grad.abs().sum() > 0
    rates = mon.firing_rates()["1"]
    per_sample = mon["1"].detach().mean(0).mean(-1)  # population rate of each sample
    assert rates.shape == (20,) and float(rates.mean()) == pytest.approx(float(per_sample.mean()))
    assert float(reg.detach()) == pytest.approx(float((per_sample**2).mean()), rel=1e-6)
    counts = mon.spike_counts()["1"]
    assert counts.shape == (4, 20) and torch.equal(counts, mon["1"].detach().sum(0).long())


# ---------------------------------------------------------------------------- NeuroBench
def _conv_net():
    torch.manual_seed(3)
    return tt.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        snn.LIB(4, dim=-3, spike_fn="heaviside_atan"),
        nn.Flatten(),
        nn.Linear(4 * 6 * 6, 5),
        snn.LIB(5, spike_fn="heaviside_atan"),
    )


@pytest.mark.parametrize("model", ["mlp", "conv"])
@pytest.mark.parametrize("spiking_input", [True, False])
def test_sparsity_and_synops_equal_neurobench(model, spiking_input):
    pytest.importorskip("neurobench")
    from neurobench.metrics.workload import ActivationSparsity, SynapticOperations
    from neurobench.models import TorchModel

    net = _mlp(4) if model == "mlp" else _conv_net()
    with torch.no_grad():
        net[0].weight[0, 0] = 0.0  # a zero weight is not a synaptic operation
    shape = (7, 3, 12) if model == "mlp" else (7, 3, 1, 6, 6)
    probs = torch.rand(shape)
    x = tt.encode.rate(probs, None) * 1.0 if spiking_input else probs * 3

    nb = TorchModel(net)
    nb.add_activation_module(tt.Layer)
    nb.register_hooks()
    net.zero_states()
    with torch.no_grad():
        preds = torch.stack([net(xt) for xt in x])
    data = (x.transpose(0, 1), torch.zeros(3))
    sparsity = ActivationSparsity()(nb, preds, data)
    synops = SynapticOperations()(nb, preds, data)
    nb.cleanup_hooks()

    mon = tt.Monitor(net, count_synops=True)
    with mon, torch.no_grad():
        net.zero_states()
        for xt in x:
            net(xt)
    assert mon.activation_sparsity() == sparsity
    ours = mon.synaptic_operations(num_samples=3)
    assert ours["effective_acs"] == synops["Effective_ACs"]
    assert ours["effective_macs"] == synops["Effective_MACs"]
    assert ours["dense"] == synops["Dense"]
    assert (ours["effective_macs"] > 0) == (not spiking_input)
    # sequence mode counts the same (time folded into the batch of the connections)
    with mon, torch.no_grad():
        net.zero_states()
        net.forward_sequence(x)
    assert mon.synaptic_operations(num_samples=3) == ours | {
        "per_connection": mon.synaptic_operations()["per_connection"]
    }
    assert mon.activation_sparsity() == pytest.approx(sparsity, abs=1e-6)


# ---------------------------------------------------------------------------- membrane before the reset
@pytest.mark.parametrize("name", ["LIB", "DSRLITS"])
def test_stepping_records_the_membrane_before_the_reset_exactly(name):
    torch.manual_seed(4)
    layer = getattr(snn, name)(6, spike_fn="heaviside_atan")
    model = tt.Sequential(nn.Linear(3, 6), layer)
    x = 2 * torch.rand(7, 2, 3)
    pre_names = layer.config.layout.pre
    with tt.Monitor(model, layers="1", states=list(pre_names) + list(layer.state_names)) as mon:
        model.zero_states()
        outs = [model(xt) for xt in x]
    # replay the same steps through the functional update and compare every intermediate
    from tracetorch.snn.functional._step import _step

    model.zero_states()
    for t, xt in enumerate(x):
        h = model[0](xt)
        layer._ensure_states(h)
        states = {n: layer.__dict__[n] for n in layer.config.layout.states}
        out, new, extras = _step(layer.config, h, states, layer._params(h), layer.__dict__["_fire"])
        layer.__dict__.update(new)
        assert torch.equal(out, outs[t])
        for n in pre_names:
            assert torch.equal(mon.get("1", n)[t], extras[n])
    spiking = mon.get("1", "output")
    assert 0 < float(spiking.detach().abs().mean()) < 1  # spikes fired and reset the membrane
    assert not torch.equal(mon.get("1", pre_names[0]), mon.get("1", layer.state_names[0]))


def test_a_dual_layer_names_its_pathway_membranes_and_refuses_mem_pre():
    net = tt.Sequential(nn.Linear(3, 4), snn.DLIB(4))
    with pytest.raises(ValueError, match="pos_mem_pre"):
        tt.Monitor(net, layers="1", states=["mem_pre"])


def test_sequence_mode_records_an_li_membrane_and_refuses_a_spiking_one():
    net = _mlp(5)
    x = torch.rand(5, 2, 12) * 2
    with tt.Monitor(net, layers="3", states=["mem", "mem_pre"]) as mon:
        net.zero_states()
        y = net.forward_sequence(x)
    assert torch.equal(mon.get("3", "mem"), y) and torch.equal(mon.get("3", "mem_pre"), y)
    with tt.Monitor(net, layers="1", states=["mem_pre"]) as mon, pytest.raises(RuntimeError, match="step through time"):
        net.forward_sequence(x)
