"""NIR export and import: exact round trips, snnTorch in both directions, graphs with
cycles, and the errors (refused layers, unknown nodes, bad files)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
import tracetorch as tt
from hypothesis import given, settings
from hypothesis import strategies as hst
from torch import nn
from tracetorch import snn

nir = pytest.importorskip("nir")
np = pytest.importorskip("numpy")

DT = 1e-4
STEPS = 100
SPK = {"spike_fn": "heaviside_atan", "reset": "value"}


def _vals(rank: int, n: int, lo: float, hi: float, g: torch.Generator) -> torch.Tensor:
    if rank == 0:
        return torch.tensor(lo + (hi - lo) * float(torch.rand((), generator=g)))
    return lo + (hi - lo) * torch.rand(n, generator=g)


def _layer(kind: str, rank: int, n: int, dim: int = -1, seed: int = 0) -> nn.Module:
    g = torch.Generator().manual_seed(seed)
    beta = _vals(rank, n, 0.75, 0.97, g)
    alpha = _vals(rank, n, 0.4, 0.9, g)
    th = _vals(rank, n, 0.5, 1.5, g)
    if kind == "LI":
        return snn.LI(n, beta, dim=dim)
    if kind == "LIEMA":
        return snn.LIEMA(n, beta, dim=dim)
    if kind == "SLI":
        return snn.SLI(n, alpha, beta, dim=dim)
    if kind == "SLIEMA":
        return snn.SLIEMA(n, alpha, beta, dim=dim)
    if kind == "LIB":
        return snn.LIB(n, beta, th, dim=dim, **SPK)
    if kind == "LIB-options":
        return snn.LIB(n, beta, th, dim=dim, reset_value=-0.25, rest=0.125, decay_input=True, detach_reset=True, **SPK)
    if kind == "IF":
        return snn.LIB(n, 1.0, th, dim=dim, learn_beta=False, beta_rank=rank, **SPK)
    if kind == "SLIB":
        return snn.SLIB(n, alpha, beta, th, dim=dim, **SPK)
    if kind == "SLIB-add":
        return snn.SLIB(n, alpha, beta, th, dim=dim, syn_input="add", rest=-0.1, **SPK)
    if kind == "Delay":
        delays = 2 if rank == 0 else torch.randint(0, 4, (n,), generator=g)
        return snn.Delay(n, delays, dim=dim)
    raise AssertionError(kind)


# input scale per kind: 5-50% of the spiking neurons fire (asserted below)
_SCALE = {
    "LI": 0.6,
    "LIEMA": 1.0,
    "SLI": 0.6,
    "SLIEMA": 1.0,
    "LIB": 0.9,
    "LIB-options": 8.0,
    "IF": 0.6,
    "SLIB": 1.2,
    "SLIB-add": 0.3,
    "Delay": 1.0,
}
KINDS = list(_SCALE)


def _run(model: nn.Module, xs: torch.Tensor) -> torch.Tensor:
    if isinstance(model, tt.Model):
        model.zero_states()
    with torch.no_grad():
        return torch.stack([model(x) for x in xs])


def _readout() -> nn.Module:
    return snn.LIB(6, 0.9, 0.5, **SPK)


def _rate(spikes: torch.Tensor) -> float:
    assert bool(((spikes == 0) | (spikes == 1)).all())
    return float(spikes.mean())


@pytest.mark.parametrize("rank", [0, 1])
@pytest.mark.parametrize("kind", KINDS)
def test_round_trip_of_every_exportable_layer_kind_is_bit_identical(kind, rank):
    torch.manual_seed(10 + rank)
    layer = _layer(kind, rank, 16, seed=rank)
    net = tt.Sequential(nn.Linear(12, 16), layer, nn.Linear(16, 6), _readout())
    graph = snn.export_nir(net, DT)
    back = snn.import_nir(graph, DT)
    assert isinstance(back, tt.Sequential)
    xs = torch.rand(STEPS, 3, 12) * _SCALE[kind]
    # the layer itself, then the whole network
    ours = _run(net[:2], xs)
    theirs = _run(back[:2], xs)
    assert torch.equal(ours, theirs)
    if layer_is_spiking(layer):
        assert 0.05 <= _rate(ours) <= 0.5, _rate(ours)
    out_a, out_b = _run(net, xs), _run(back, xs)
    assert torch.equal(out_a, out_b)
    assert 0.05 <= _rate(out_a) <= 0.5, _rate(out_a)
    # the imported parameters are the very values the layer acted with
    imported = back[1]
    for name in getattr(layer, "parameter_names", ()):
        assert torch.equal(getattr(imported, name).expand(16), getattr(layer, name).detach().expand(16)), name


def layer_is_spiking(layer: nn.Module) -> bool:
    return isinstance(layer, snn.LeakyLayer) and layer.config.spiking


def test_export_maps_each_layer_to_its_nir_node():
    net = tt.Sequential(
        nn.Linear(4, 5),
        _layer("LI", 1, 5),
        nn.Linear(5, 5, bias=False),
        _layer("SLI", 1, 5),
        _layer("LIB", 1, 5),
        _layer("SLIB", 1, 5),
        _layer("IF", 1, 5),
        _layer("Delay", 1, 5),
        _layer("LIEMA", 0, 5),
    )
    g = snn.export_nir(net, DT)
    kinds = [type(g.nodes[k]).__name__ for k in ["0", "1", "2", "3", "4", "5", "6", "7", "8"]]
    assert kinds == ["Affine", "LI", "Linear", "CubaLI", "LIF", "CubaLIF", "IF", "Delay", "LI"]
    lif = g.nodes["4"]
    beta = net[4].beta.detach().numpy()
    # tau = dt/(1 - beta) (float32, 1 - dt/tau gives beta back exactly), r = tau/dt, v_reset = 0
    assert lif.tau.dtype == np.float32
    np.testing.assert_allclose(lif.tau, DT / (1 - beta.astype(np.float64)), rtol=1e-6)
    assert np.array_equal((np.float32(1) - np.float32(DT) / lif.tau).astype(np.float32), beta)
    np.testing.assert_allclose(lif.r, lif.tau / DT, rtol=1e-6)
    assert np.all(lif.v_reset == 0) and np.all(lif.v_leak == 0)
    assert np.array_equal(lif.v_threshold, net[4].threshold.detach().numpy())
    assert np.all(g.nodes["8"].r == 1)  # LIEMA: the input enters as (1 - beta)*x
    assert np.all(g.nodes["6"].r == 1)  # IF: one step adds the input
    assert np.array_equal(g.nodes["7"].delay, net[7].delays.numpy() * DT)
    assert g.edges == [("input", "0")] + [(str(i), str(i + 1)) for i in range(8)] + [("8", "output")]


def test_decays_survive_the_float32_time_constant_round_trip_for_many_values():
    from tracetorch.snn._nir_params import decay_from_tau, tau_from_decay

    g = torch.Generator().manual_seed(0)
    d = torch.rand(200_000, generator=g).numpy().astype(np.float32) * 0.998 + 0.001
    for dt in (1e-4, 1e-3, 0.5):
        tau = tau_from_decay(d, dt)
        assert np.array_equal(decay_from_tau(tau, dt), d)


def test_conv_net_with_dim_minus_3_round_trips_bit_identically(tmp_path):
    torch.manual_seed(3)
    net = tt.Sequential(
        nn.Conv2d(2, 4, 3, padding=1),
        _layer("LIB", 1, 4, dim=-3),
        nn.AvgPool2d(2),
        nn.Conv2d(4, 6, 3, bias=False),
        _layer("SLIB", 0, 6, dim=-3, seed=1),
        nn.AvgPool2d(2, divisor_override=1),
        nn.Flatten(),
        nn.Linear(6, 5),
        _layer("LI", 1, 5),
    )
    path = tmp_path / "conv.nir"
    graph = snn.export_nir(net, DT, input_shape=(2, 10, 10), path=path)
    kinds = [type(n).__name__ for n in graph.nodes.values()]
    assert kinds == [
        "Input",
        "Conv2d",
        "LIF",
        "AvgPool2d",
        "Conv2d",
        "CubaLIF",
        "SumPool2d",
        "Flatten",
        "Affine",
        "LI",
        "Output",
    ]
    assert graph.nodes["1"].v_threshold.shape == (4, 10, 10)
    back = snn.import_nir(path, DT)
    assert back[1].dim == -3 and back[1].num_neurons == 4
    xs = torch.rand(STEPS, 2, 2, 10, 10) * 3.0
    hidden: dict[str, list[torch.Tensor]] = {"ours": [], "back": []}
    net[1].register_forward_hook(lambda m, i, o: hidden["ours"].append(o))
    back[1].register_forward_hook(lambda m, i, o: hidden["back"].append(o))
    out, out_back = _run(net, xs), _run(back, xs)
    a, b = torch.stack(hidden["ours"]), torch.stack(hidden["back"])
    assert a.shape == (STEPS, 2, 4, 10, 10)
    assert torch.equal(a, b)
    assert 0.05 <= _rate(a) <= 0.5, _rate(a)
    assert torch.equal(out, out_back)
    # sequence mode of the imported chain (tt.Sequential: scans, time folded into the batch)
    back.zero_states()
    with torch.no_grad():
        torch.testing.assert_close(back.forward_sequence(xs[:20]), out_back[:20], rtol=1e-5, atol=1e-5)


def test_round_trip_through_a_written_file_and_conv1d(tmp_path):
    torch.manual_seed(4)
    net = nn.Sequential(
        nn.Conv1d(3, 4, 3, stride=2), _layer("LIB", 1, 4, dim=-2), nn.Flatten(), nn.Linear(16, 6), _readout()
    )
    path = tmp_path / "net.nir"
    snn.write_nir(path, snn.export_nir(net, DT, input_shape=(3, 9)))
    assert [p.name for p in tmp_path.iterdir()] == ["net.nir"]  # no temporary file left behind
    back = snn.import_nir(path, DT)
    xs = torch.rand(STEPS, 4, 3, 9) * 2
    with torch.no_grad():
        a = torch.stack([net(x) for x in xs])  # a plain nn.Sequential: fresh states
    assert torch.equal(a, _run(back, xs))
    assert 0.05 <= _rate(a) <= 0.5, _rate(a)


def test_export_does_not_touch_the_model_or_its_states():
    torch.manual_seed(5)
    net = tt.Sequential(nn.Linear(4, 8), _layer("LIB", 1, 8))
    net(torch.rand(2, 4))
    before = net.save_states()
    params = {k: v.clone() for k, v in net.state_dict().items()}
    snn.export_nir(net, DT)
    after = net.save_states()
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
    assert all(torch.equal(params[k], v) for k, v in net.state_dict().items())


# --------------------------------------------------------------------------- graphs with cycles


def _recurrent_graph(n_in: int, n: int, seed: int, foldable: bool = False):
    """``input -> fc -> lif``, ``lif -> rec -> lif`` (foldable into one RLIB), or with a Scale
    of ones on the back edge (``lif -> rec -> one -> lif``: the same numbers, kept a graph)."""
    g = torch.Generator().manual_seed(seed)
    w = (torch.rand(n, n_in, generator=g) - 0.5).numpy()
    b = (torch.rand(n, generator=g) * 0.2).numpy()
    w_rec = (torch.rand(n, n, generator=g) - 0.5).numpy() * 0.8
    b_rec = (torch.rand(n, generator=g) * 0.1).numpy()
    beta = (0.8 + 0.15 * torch.rand(n, generator=g)).numpy()
    from tracetorch.snn._nir_params import tau_from_decay

    tau = tau_from_decay(beta, DT)
    lif = nir.LIF(
        tau=tau,
        r=(tau / np.float32(DT)).astype(np.float32),
        v_leak=np.zeros(n, np.float32),
        v_threshold=np.full(n, 0.8, np.float32),
        v_reset=np.zeros(n, np.float32),
    )
    nodes = {
        "input": nir.Input(input_type=np.array([n_in])),
        "fc": nir.Affine(weight=w, bias=b),
        "lif": lif,
        "rec": nir.Affine(weight=w_rec, bias=b_rec),
        "output": nir.Output(output_type=np.array([n])),
    }
    if foldable:
        back = [("lif", "rec"), ("rec", "lif")]
    else:
        nodes["one"] = nir.Scale(scale=np.ones(n, np.float32))
        back = [("lif", "rec"), ("rec", "one"), ("one", "lif")]
    edges = [("input", "fc"), ("fc", "lif")] + back + [("lif", "output")]
    return nir.NIRGraph(nodes=nodes, edges=edges), (w, b, w_rec, b_rec, beta)


def _recurrent_reference(xs, w, b, w_rec, b_rec, beta, th=0.8, rleaky_order=False):
    """The recurrence by hand: ``mem = beta*mem + (x + rec)`` as a graph sums a node's inputs,
    or ``mem = (beta*mem + x) + rec`` (snnTorch RLeaky's and an all-to-all RLIB's order)."""
    W, B, R, BR = (torch.from_numpy(a) for a in (w, b, w_rec, b_rec))
    beta_t = torch.from_numpy(beta)
    mem = torch.zeros(xs.shape[1], W.shape[0])
    s = torch.zeros_like(mem)
    out = []
    linear = torch.nn.functional.linear
    for x in xs:
        if rleaky_order:
            mem = beta_t * mem + linear(x, W, B) + linear(s, R, BR)
        else:
            mem = beta_t * mem + (linear(x, W, B) + linear(s, R, BR))
        s = (mem - th >= 0).to(mem.dtype)
        mem = (1.0 - s) * mem
        out.append(s)
    return torch.stack(out)


def test_a_graph_with_a_cycle_runs_the_recurrence_with_one_step_of_delay():
    graph, params = _recurrent_graph(5, 12, seed=1)
    model = snn.import_nir(graph, DT)
    assert isinstance(model, snn.NIRGraphModel)
    assert ("lif", "rec") in model.edges and model.delayed["rec"] == ("lif",)
    xs = torch.rand(STEPS, 3, 5) * 1.5
    out = _run(model, xs)
    assert 0.05 <= _rate(out) <= 0.5, _rate(out)
    assert torch.equal(out, _recurrent_reference(xs, *params))
    model.zero_states()
    assert torch.equal(model.forward_sequence(xs), out)


def _all_to_all_layer(variant: str, rank: int, n: int) -> snn.RLIB:
    g = torch.Generator().manual_seed(20 + rank)
    beta = _vals(rank, n, 0.75, 0.95, g)
    th = _vals(rank, n, 0.5, 1.2, g)
    rec_bias = _vals(rank, n, -0.05, 0.1, g)
    rec_matrix = (torch.rand(n, n, generator=g) - 0.5) * 0.8
    kw = {"learn_gamma": False, "all_to_all": True, "rec_matrix": rec_matrix, "rec_bias": rec_bias}
    kw["rec_bias_rank"] = rank
    if variant == "IF":
        return snn.RLIB(n, 1.0, 0.0, th, learn_beta=False, beta_rank=rank, **kw, **SPK)
    if variant == "options":
        return snn.RLIB(n, beta, 0.0, th, decay_input=True, rest=0.1, reset_value=-0.2, **kw, **SPK)
    alpha = _vals(rank, n, 0.4, 0.9, g)
    if variant == "SRLIB":
        return snn.SRLIB(n, alpha, beta, 0.0, th, **kw, **SPK)
    if variant == "SRLIB-IF":
        return snn.SRLIB(n, alpha, 1.0, 0.0, th, learn_beta=False, beta_rank=rank, **kw, **SPK)
    if variant == "SRLIB-add":
        return snn.SRLIB(n, alpha, beta, 0.0, th, syn_input="add", decay_input=True, rest=-0.1, **kw, **SPK)
    return snn.RLIB(n, beta, 0.0, th, **kw, **SPK)


_A2A_SCALE = {"plain": 1.0, "options": 8.0, "IF": 0.6, "SRLIB": 1.5, "SRLIB-add": 2.0, "SRLIB-IF": 0.6}


@pytest.mark.parametrize("rank", [0, 1])
@pytest.mark.parametrize("variant", list(_A2A_SCALE))
def test_an_all_to_all_rlib_round_trips_through_a_file_as_a_cycle_bit_identically(tmp_path, variant, rank):
    torch.manual_seed(30 + rank)
    layer = _all_to_all_layer(variant, rank, 16)
    net = tt.Sequential(nn.Linear(12, 16), layer, nn.Linear(16, 6), _readout())
    graph = snn.export_nir(net, DT, path=tmp_path / "rec.nir")
    # the neuron, and an Affine that feeds its output back into its own input
    assert type(graph.nodes["1"]).__name__ == ("IF" if variant.endswith("IF") else "LIF")
    assert isinstance(graph.nodes["1.rec"], nir.Affine)
    assert ("1", "1.rec") in graph.edges and ("1.rec", "1") in graph.edges
    assert ("0", "1.syn" if variant.startswith("SRLIB") else "1") in graph.edges
    assert np.array_equal(graph.nodes["1.rec"].weight, layer.rec_matrix.detach().numpy())
    assert np.array_equal(graph.nodes["1.rec"].bias, layer.rec_bias.detach().expand(16).numpy())
    back = snn.import_nir(tmp_path / "rec.nir", DT)
    # the cycle comes back as one all-to-all layer with no trace, in a chain; an SRLIB's
    # synapse is an LI node before it (r = 1: LIEMA; syn_input="add", r = tau_syn/dt: LI)
    synaptic = variant.startswith("SRLIB")
    assert isinstance(back, tt.Sequential) and isinstance(back[2 if synaptic else 1], snn.RLIB)
    got = back[2 if synaptic else 1]
    if synaptic:
        assert isinstance(graph.nodes["1.syn"], nir.LI) and ("0", "1.syn") in graph.edges
        assert ("1.syn", "1") in graph.edges
        assert type(back[1]) is (snn.LI if variant == "SRLIB-add" else snn.LIEMA)
        assert torch.equal(back[1].beta.expand(16), layer.alpha.detach().expand(16))
    assert got.config.all_to_all and bool((got.gamma == 0).all()) and "raw_gamma" not in dict(got.named_parameters())
    assert torch.equal(got.rec_matrix, layer.rec_matrix.detach())
    assert torch.equal(got.rec_bias.expand(16), layer.rec_bias.detach().expand(16))
    for name in ("beta", "threshold"):
        assert torch.equal(getattr(got, name).expand(16), getattr(layer, name).detach().expand(16)), name
    for cfg_name in ("decay_input", "rest", "reset_value"):
        assert getattr(got.config, cfg_name) == getattr(layer.config, cfg_name), cfg_name
    k = 3 if synaptic else 2
    xs = torch.rand(STEPS, 3, 12) * _A2A_SCALE[variant]
    ours, theirs = _run(net[:2], xs), _run(back[:k], xs)
    assert 0.05 <= _rate(ours) <= 0.5, _rate(ours)
    assert torch.equal(ours, theirs)
    assert torch.equal(layer.mem, got.mem) and torch.equal(layer.prev_output, got.prev_output)
    if synaptic:
        assert torch.equal(layer.syn, back[1].mem)
    assert torch.equal(_run(net, xs), _run(back, xs))
    # the recurrence matters: without it the spikes differ
    plain = snn.import_nir(tmp_path / "rec.nir", DT)
    with torch.no_grad():
        plain[k - 1].rec_matrix.zero_()
    assert not torch.equal(_run(plain[:k], xs), ours)


def test_a_neuron_affine_cycle_imports_as_an_all_to_all_rlib_in_snntorch_rleaky_order():
    graph, params = _recurrent_graph(5, 12, seed=5, foldable=True)
    model = snn.import_nir(graph, DT)
    assert isinstance(model, tt.Sequential) and [type(m).__name__ for m in model] == ["Linear", "RLIB"]
    xs = torch.rand(STEPS, 3, 5) * 1.5
    out = _run(model, xs)
    assert 0.05 <= _rate(out) <= 0.5, _rate(out)
    assert torch.equal(out, _recurrent_reference(xs, *params, rleaky_order=True))
    # exported again, it is the same cycle
    again = snn.export_nir(model, DT)
    assert ("1", "1.rec") in again.edges and ("1.rec", "1") in again.edges
    assert np.array_equal(again.nodes["1.rec"].weight, params[2]) and np.array_equal(
        again.nodes["1.rec"].bias, params[3]
    )
    assert torch.equal(_run(snn.import_nir(again, DT), xs), out)
    # learn=True: the recurrent weights train, gamma stays a fixed 0
    learned = snn.import_nir(graph, DT, learn=True)[1]
    trained = dict(learned.named_parameters())
    assert {"raw_rec_matrix", "raw_rec_bias", "raw_beta"} <= set(trained) and "raw_gamma" not in trained
    assert bool((learned.gamma == 0).all()) and torch.equal(learned.rec_matrix.detach(), torch.from_numpy(params[2]))


def test_an_all_to_all_layer_inside_a_graph_model_exports_its_cycle_and_round_trips(tmp_path):
    graph, _ = _recurrent_graph(5, 12, seed=6, foldable=True)
    # a second branch from the input into the output: not a chain, so a graph model
    g = torch.Generator().manual_seed(6)
    graph.nodes["skip"] = nir.Affine(
        weight=(torch.rand(12, 5, generator=g) - 0.5).numpy(), bias=np.zeros(12, np.float32)
    )
    graph.edges += [("input", "skip"), ("skip", "output")]
    model = snn.import_nir(graph, DT)
    assert isinstance(model, snn.NIRGraphModel) and isinstance(model.node("lif"), snn.RLIB)
    assert "rec" not in model.order and not any(model.delayed.values())
    again = snn.export_nir(model, DT, path=tmp_path / "g.nir")
    assert ("lif", "lif.rec") in again.edges and ("lif.rec", "lif") in again.edges
    back = snn.import_nir(tmp_path / "g.nir", DT)
    assert isinstance(back, snn.NIRGraphModel) and isinstance(back.node("lif"), snn.RLIB)
    xs = torch.rand(STEPS, 3, 5) * 1.5
    model.zero_states()
    with torch.no_grad():
        spikes = torch.stack([model.node("lif")(model.node("fc")(x)) for x in xs])
    assert 0.05 <= _rate(spikes) <= 0.5, _rate(spikes)
    assert torch.equal(_run(model, xs), _run(back, xs))


def test_a_cycle_that_is_not_one_neuron_and_its_affine_stays_a_graph():
    graph, _ = _recurrent_graph(5, 12, seed=5)
    model = snn.import_nir(graph, DT)
    assert isinstance(model, snn.NIRGraphModel) and model.delayed["rec"] == ("lif",)
    # a LIF whose input weight needs a Gain: the gain would scale the recurrent input too
    graph2, _ = _recurrent_graph(5, 12, seed=5, foldable=True)
    lif = graph2.nodes["lif"]
    graph2.nodes["lif"] = nir.LIF(
        tau=lif.tau, r=lif.r * 2, v_leak=lif.v_leak, v_threshold=lif.v_threshold, v_reset=lif.v_reset
    )
    model2 = snn.import_nir(graph2, DT)
    assert isinstance(model2, snn.NIRGraphModel) and model2.delayed["rec"] == ("lif",)


def test_the_previous_outputs_of_a_cycle_are_states_the_model_manages(tmp_path):
    graph, _ = _recurrent_graph(5, 12, seed=2)
    model = snn.import_nir(graph, DT)
    xs = torch.rand(40, 3, 5) * 1.5
    full = _run(model, xs)
    model.zero_states()
    with torch.no_grad():
        first = [model(x) for x in xs[:20]]
    states = model.save_states()
    assert any(k.endswith(".value") for k in states), states.keys()
    model.save_states(tmp_path / "s.pt")
    with torch.no_grad():
        rest = [model(x) for x in xs[20:]]
    assert torch.equal(torch.stack(first + rest), full)
    model.zero_states()
    assert all(v is None for _, layer in model.named_layers() for v in layer.states().values())
    model.load_states(tmp_path / "s.pt")
    with torch.no_grad():
        again = [model(x) for x in xs[20:]]
    assert torch.equal(torch.stack(again), torch.stack(rest))
    # a masked reset zeroes the previous output of the chosen batch entries only
    model.zero_states(mask=torch.tensor([True, False, False]))
    prev = model.previous["lif"].value
    assert bool((prev[0] == 0).all())
    # a wrong batch size is an error that changes nothing
    saved = model.save_states()
    with pytest.raises(ValueError, match="zero_states"):
        model(torch.rand(5, 5))
    now = model.save_states()
    assert all(torch.equal(saved[k], now[k]) for k in saved)


def test_gradients_flow_through_an_imported_graph_and_detach_states_cuts_them():
    graph, _ = _recurrent_graph(5, 8, seed=3)
    model = snn.import_nir(graph, DT, learn=True)
    x = torch.rand(3, 5, requires_grad=True)
    out = model(x)
    out = model(x)
    out.sum().backward()
    assert x.grad is not None and bool(x.grad.abs().sum() > 0)
    model.detach_states()
    assert all(s is None or s.grad_fn is None for _, layer in model.named_layers() for s in layer.states().values())


def test_a_cycle_without_a_neuron_is_refused():
    graph = nir.NIRGraph(
        nodes={
            "input": nir.Input(input_type=np.array([3])),
            "a": nir.Linear(weight=np.eye(3, dtype=np.float32)),
            "b": nir.Linear(weight=np.eye(3, dtype=np.float32)),
            "output": nir.Output(output_type=np.array([3])),
        },
        edges=[("input", "a"), ("a", "b"), ("b", "a"), ("b", "output")],
        type_check=False,
    )
    with pytest.raises(ValueError, match="cycle with no neuron"):
        snn.import_nir(graph, DT)


def test_branches_are_summed_where_they_meet():
    w1 = np.full((4, 3), 0.5, np.float32)
    w2 = np.full((4, 3), -0.25, np.float32)
    graph = nir.NIRGraph(
        nodes={
            "input": nir.Input(input_type=np.array([3])),
            "a": nir.Linear(weight=w1),
            "b": nir.Affine(weight=w2, bias=np.ones(4, np.float32)),
            "output": nir.Output(output_type=np.array([4])),
        },
        edges=[("input", "a"), ("input", "b"), ("a", "output"), ("b", "output")],
    )
    model = snn.import_nir(graph, DT)
    x = torch.rand(2, 3)
    linear = torch.nn.functional.linear
    expected = linear(x, torch.from_numpy(w1)) + linear(x, torch.from_numpy(w2), torch.ones(4))
    assert torch.equal(model(x), expected)


# --------------------------------------------------------------------------- imports


def test_an_affine_node_keeps_its_bias_and_a_linear_node_has_none():
    w = np.arange(6, dtype=np.float32).reshape(2, 3)
    bias = np.array([0.5, -2.0], np.float32)
    model = snn.import_nir(nir.NIRGraph.from_list(nir.Affine(weight=w, bias=bias)), DT)
    assert torch.equal(model[0].bias.detach(), torch.from_numpy(bias))
    x = torch.ones(1, 3)
    assert torch.equal(model(x), torch.tensor([[3.5, 10.0]]))
    lin = snn.import_nir(nir.NIRGraph.from_list(nir.Linear(weight=w)), DT)
    assert lin[0].bias is None


def test_neurons_with_other_input_weights_get_a_gain_before_the_layer():
    n = 4
    tau = np.full(n, 0.002, np.float32)
    node = nir.LIF(
        tau=tau,
        r=np.full(n, 3.0, np.float32),
        v_leak=np.zeros(n, np.float32),
        v_threshold=np.ones(n, np.float32),
        v_reset=np.zeros(n, np.float32),
    )
    model = snn.import_nir(nir.NIRGraph.from_list(node), DT)
    gain, lif = model[0], model[1]
    assert isinstance(gain, snn._nir_graph.Gain) and isinstance(lif, snn.LIB)
    # Euler: mem += dt/tau * (r*I - mem), i.e. the drive is (dt/tau)*r = 0.15 times the input
    np.testing.assert_allclose(gain.scale.numpy(), 0.15, rtol=1e-6)
    assert not lif.config.decay_input


# --------------------------------------------------------------------------- snnTorch


def _snntorch():
    return pytest.importorskip("snntorch")


def _run_snntorch(net, xs):
    _snntorch()
    from snntorch import utils

    utils.reset(net)
    outs = []
    with torch.no_grad():
        for x in xs:
            y = net(x)
            outs.append(y[0] if isinstance(y, tuple) else y)  # nirtorch's executor returns (output, state)
    return torch.stack(outs)


def test_a_tracetorch_model_imported_by_snntorch_spikes_identically():
    _snntorch()
    from snntorch.import_nir import import_from_nir

    torch.manual_seed(6)
    g = torch.Generator().manual_seed(6)
    net = tt.Sequential(
        nn.Linear(10, 24),
        snn.LIB(24, 0.8 + 0.15 * torch.rand(24, generator=g), 0.9, threshold_rank=0, **SPK),
        nn.Linear(24, 12),
        snn.SLIB(
            12,
            0.5 + 0.4 * torch.rand(12, generator=g),
            0.85,
            0.7,
            beta_rank=0,
            threshold_rank=0,
            syn_input="add",
            **SPK,
        ),
    )
    graph = snn.export_nir(net, DT)
    # float32 time constants that snnTorch's float32 `1 - dt/tau` maps back to our decays
    assert graph.nodes["1"].tau.dtype == np.float32 and graph.nodes["3"].tau_syn.dtype == np.float32
    theirs = import_from_nir(graph)
    beta = torch.as_tensor(theirs.get_submodule("1").beta).expand(24)
    assert torch.equal(beta, net[1].beta.detach())
    xs = torch.rand(STEPS, 4, 10) * 1.2
    ours = _run(net, xs)
    hidden = _run(net[:2], xs)
    assert 0.05 <= _rate(hidden) <= 0.5 and 0.05 <= _rate(ours) <= 0.5, (_rate(hidden), _rate(ours))
    out = _run_snntorch(theirs, xs)
    out = out[0] if isinstance(out, tuple) else out
    assert int((out != ours).sum()) == 0


def _snntorch_leaky_net(st, seed):
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    kw = {"reset_mechanism": "zero", "reset_delay": False, "init_hidden": True}
    return nn.Sequential(
        nn.Linear(10, 24),
        # snnTorch's exporter needs the threshold in the shape of beta
        st.Leaky(beta=0.8 + 0.15 * torch.rand(24, generator=g), threshold=torch.full((24,), 0.9), **kw),
        nn.Linear(24, 12),
        st.Leaky(beta=torch.full((12,), 0.9), threshold=torch.full((12,), 0.7), **kw),
    )


def test_an_snntorch_model_exported_to_nir_runs_identically_here():
    st = _snntorch()
    from snntorch.export_nir import export_to_nir

    net = _snntorch_leaky_net(st, 7)
    graph = export_to_nir(net, torch.zeros(1, 10), ignore_dims=[0])
    ours = snn.import_nir(graph, DT)
    xs = torch.rand(STEPS, 4, 10) * 2.5
    theirs = _run_snntorch(net, xs)
    mine = _run(ours, xs)
    assert 0.05 <= _rate(theirs) <= 0.5, _rate(theirs)
    assert int((theirs != mine).sum()) == 0
    # the decays are snnTorch's, bit for bit
    leaky_layers = [m for m in ours.modules() if isinstance(m, snn.LIB)]
    assert torch.equal(leaky_layers[0].beta.expand(24), net[1].beta.detach().expand(24))


@pytest.mark.parametrize("rank", [0, 1])
def test_an_snntorch_all_to_all_rleaky_runs_identically_here(rank):
    st = _snntorch()
    from snntorch.export_nir import export_to_nir

    torch.manual_seed(8 + rank)
    g = torch.Generator().manual_seed(8 + rank)
    kw = {"reset_mechanism": "zero", "reset_delay": False, "init_hidden": True}
    n = 16
    beta = 0.85 if rank == 0 else 0.75 + 0.2 * torch.rand(n, generator=g)
    threshold = 0.8 if rank == 0 else 0.6 + 0.4 * torch.rand(n, generator=g)
    fc = nn.Linear(6, n)
    rleaky = st.RLeaky(beta=beta, threshold=threshold, linear_features=n, all_to_all=True, **kw)
    with torch.no_grad():
        rleaky.recurrent.weight.mul_(2.0)
    net = nn.Sequential(fc, rleaky)
    graph = export_to_nir(net, torch.zeros(1, 6), ignore_dims=[0])
    assert ("1.w_rec", "1.lif") in graph.edges  # the recurrent weight closes a cycle
    ours = snn.import_nir(graph, DT)
    # the cycle comes back as one all-to-all RLIB with no trace
    assert isinstance(ours, tt.Sequential) and isinstance(ours[1], snn.RLIB) and ours[1].config.all_to_all
    assert torch.equal(ours[1].rec_matrix, rleaky.recurrent.weight.detach())
    assert torch.equal(ours[1].rec_bias, rleaky.recurrent.bias.detach())
    assert torch.equal(ours[1].beta.expand(n), torch.as_tensor(rleaky.beta).detach().expand(n))
    xs = torch.rand(STEPS, 3, 6) * 1.5
    from snntorch import utils

    utils.reset(net)
    ours.zero_states()
    theirs_s, theirs_m, mine_s, mine_m = [], [], [], []
    with torch.no_grad():
        for x in xs:
            theirs_s.append(net(x))
            theirs_m.append(rleaky.mem.clone())
            mine_s.append(ours(x))
            mine_m.append(ours[1].mem.clone())
    theirs, mine = torch.stack(theirs_s), torch.stack(mine_s)
    assert 0.05 <= _rate(theirs) <= 0.5, _rate(theirs)
    assert torch.equal(theirs, mine)
    # the membranes too, bit for bit: the same additions in the same order
    assert torch.equal(torch.stack(theirs_m), torch.stack(mine_m))


def _run_snntorch_stateful(net, xs):
    """Run a model from snnTorch's ``import_from_nir``, passing nirtorch's state back every step."""
    _snntorch()
    from snntorch import utils

    utils.reset(net)
    outs, state = [], None
    with torch.no_grad():
        for x in xs:
            y = net(x) if state is None else net(x, state)
            if isinstance(y, tuple):
                y, state = y
            outs.append(y)
    return torch.stack(outs)


def test_snntorchs_importer_reads_our_all_to_all_export_as_its_own_rleaky_export():
    st = _snntorch()
    import copy

    from snntorch.export_nir import export_to_nir
    from snntorch.import_nir import import_from_nir

    torch.manual_seed(8)
    kw = {"reset_mechanism": "zero", "reset_delay": False, "init_hidden": True}
    rleaky = st.RLeaky(beta=0.85, threshold=0.8, linear_features=16, all_to_all=True, **kw)
    with torch.no_grad():
        rleaky.recurrent.weight.mul_(2.0)
    net = nn.Sequential(nn.Linear(6, 16), rleaky)
    graph = export_to_nir(net, torch.zeros(1, 6), ignore_dims=[0])
    # snnTorch's importer rewrites the graph it is given: import ours from a copy first
    ours = snn.import_nir(copy.deepcopy(graph), DT)
    assert isinstance(ours[1], snn.RLIB)
    xs = torch.rand(STEPS, 3, 6) * 1.5
    mine = _run(ours, xs)
    assert 0.05 <= _rate(mine) <= 0.5, _rate(mine)
    # snnTorch builds the same model from our export of the RLIB as from its own RLeaky export
    from_ours = _run_snntorch_stateful(import_from_nir(snn.export_nir(ours, DT)), xs)
    from_theirs = _run_snntorch_stateful(import_from_nir(graph), xs)
    assert torch.equal(from_ours, from_theirs)


# --------------------------------------------------------------------------- errors


def test_export_refuses_what_nir_cannot_express_naming_every_layer():
    net = tt.Sequential(
        nn.Linear(4, 4),
        snn.LIB(4),  # stochastic spikes and reset by subtraction
        tt.Sequential(
            snn.DLIB(4, spike_fn="heaviside_atan", reset="value"), snn.RLIB(4, spike_fn="heaviside_atan", reset="value")
        ),
        snn.LIT(4, spike_fn="heaviside_atan"),
        snn.LIB(4, spike_fn="heaviside_atan", reset="value", reset_timing="next"),
        snn.LIB(4, spike_fn="heaviside_atan", reset="none"),
        nn.ReLU(),
    )
    with pytest.raises(ValueError) as e:
        snn.export_nir(net, DT)
    msg = str(e.value)
    for expected in (
        "1 (LIB)",
        "stochastic spikes",
        "reset by subtraction",
        "2.0 (DLIB)",
        "2.1 (RLIB)",
        "recurrence",
        "3 (LIT)",
        "ternary",
        "4 (LIB)",
        "reset_timing='next'",
        "5 (LIB)",
        "no reset",
        "6 (ReLU)",
    ):
        assert expected in msg, (expected, msg)


def test_export_refuses_recurrent_adaptive_and_refractory_layers_with_the_reason():
    a2a = {"all_to_all": True, **SPK}
    net = tt.Sequential(
        nn.Linear(4, 4),
        snn.RLIB(4, 0.9, 0.0, learn_gamma=False, **SPK),  # per-neuron rec_weight
        snn.RLIB(4, 0.9, 0.5, learn_gamma=False, **a2a),  # a trace: gamma != 0
        snn.RLIB(4, 0.9, 0.5, **a2a),  # a learnable gamma
        snn.SRLIB(4, 0.5, 0.9, 0.25, learn_gamma=False, **a2a),
        snn.DRLIB(4, **a2a),
        snn.RLIT(4, **a2a),
        snn.LIB(4, adaptive=True, **SPK),
        snn.LIB(4, refractory=2, **SPK),
        snn.RLIB(4, 0.9, 0.0, learn_gamma=False, adaptive=True, refractory=1, **a2a),
        snn.SLIB(4, adaptive=True, **SPK),
    )
    before = {k: v.clone() for k, v in net.state_dict().items()}
    with pytest.raises(ValueError) as e:
        snn.export_nir(net, DT)
    msg = str(e.value)
    lines = {line.split(" (")[0].strip(" -"): line for line in msg.splitlines()[1:]}
    expected = {
        "1": ("(RLIB)", "per-neuron recurrence", "all_to_all=True, gamma=0.0"),
        "2": ("(RLIB)", "a recurrent trace (gamma != 0)", "learn_gamma=False"),
        "3": ("(RLIB)", "a recurrent trace (learnable gamma)"),
        "4": ("(SRLIB)", "a recurrent trace (gamma != 0)"),
        "5": ("(DRLIB)", "D layers"),
        "6": ("(RLIT)", "ternary"),
        "7": ("(LIB)", "adaptive threshold (adaptive=True)"),
        "8": ("(LIB)", "refractory period (refractory=2)"),
        "9": ("(RLIB)", "adaptive threshold", "refractory period (refractory=1)"),
        "10": ("(SLIB)", "adaptive threshold"),
    }
    assert set(lines) == set(expected), msg
    for path, parts in expected.items():
        for part in parts:
            assert part in lines[path], (path, part, lines[path])
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    # the same layers without the refused options export
    ok = tt.Sequential(nn.Linear(4, 4), snn.RLIB(4, 0.9, 0.0, learn_gamma=False, **a2a), snn.LIB(4, **SPK))
    assert set(snn.export_nir(ok, DT).nodes) == {"input", "0", "1", "1.rec", "2", "output"}


def test_export_refuses_rnn_cells_and_custom_models():
    with pytest.raises(ValueError, match=r"1 \(LSTM\).*LSTM"):
        snn.export_nir(nn.Sequential(nn.Linear(3, 3), nn.LSTM(3, 3)), DT)

    class Net(tt.Model):
        def __init__(self):
            super().__init__()
            self.lif = snn.LIB(3, spike_fn="heaviside_atan", reset="value")

        def forward(self, x):
            return self.lif(x)

    with pytest.raises(ValueError, match="forward is Python code"):
        snn.export_nir(Net(), DT)
    with pytest.raises(ValueError, match="dt must be"):
        snn.export_nir(nn.Sequential(nn.Linear(3, 3)), 0.0)
    with pytest.raises(ValueError, match="input_shape"):
        snn.export_nir(nn.Sequential(nn.Conv2d(1, 1, 3)), DT)
    with pytest.raises(ValueError, match=r"1 \(Linear\) fails on one sample of shape \(3,\)"):
        snn.export_nir(nn.Sequential(nn.Linear(4, 3), nn.Linear(4, 2)), DT)


def test_import_lists_every_unknown_or_unsupported_node():
    n = 3
    graph = nir.NIRGraph(
        nodes={
            "input": nir.Input(input_type=np.array([n])),
            "thr": nir.Threshold(threshold=np.ones(n, np.float32)),
            "integ": nir.I(r=np.ones(n, np.float32)),
            "output": nir.Output(output_type=np.array([n])),
        },
        edges=[("input", "thr"), ("thr", "integ"), ("integ", "output")],
    )
    with pytest.raises(ValueError) as e:
        snn.import_nir(graph, DT)
    assert "thr (Threshold)" in str(e.value) and "integ (I)" in str(e.value)
    varying = nir.LIF(
        tau=np.full(n, 0.001, np.float32),
        r=np.full(n, 10.0, np.float32),
        v_leak=np.zeros(n, np.float32),
        v_threshold=np.ones(n, np.float32),
        v_reset=np.array([0.0, 0.1, 0.2], np.float32),
    )
    with pytest.raises(ValueError, match="v_reset differs between neurons"):
        snn.import_nir(nir.NIRGraph.from_list(varying), DT)


def _valid_file(tmp_path: Path) -> Path:
    path = tmp_path / "ok.nir"
    snn.export_nir(nn.Sequential(nn.Linear(3, 2), snn.LI(2)), DT, path=path)
    return path


def test_reading_a_corrupt_truncated_or_unknown_version_file_is_a_clear_error(tmp_path):
    path = _valid_file(tmp_path)
    garbage = tmp_path / "garbage.nir"
    garbage.write_bytes(b"this is not hdf5" * 10)
    with pytest.raises(ValueError, match=r"garbage\.nir.*not HDF5"):
        snn.import_nir(garbage, DT)
    truncated = tmp_path / "truncated.nir"
    data = path.read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"truncated\.nir"):
        snn.read_nir(truncated)
    import h5py

    future = tmp_path / "future.nir"
    future.write_bytes(data)
    with h5py.File(future, "r+") as f:
        del f["version"]
        f.create_dataset("version", data="99.1.0", dtype=h5py.string_dtype())
    with pytest.raises(ValueError, match=r"future\.nir.*NIR 99\.1\.0"):
        snn.read_nir(future)
    odd = tmp_path / "odd.nir"
    odd.write_bytes(data)
    with h5py.File(odd, "r+") as f:
        del f["version"]
        f.create_dataset("version", data="banana", dtype=h5py.string_dtype())
    with pytest.raises(ValueError, match=r"odd\.nir.*unknown NIR version 'banana'"):
        snn.read_nir(odd)
    with pytest.raises(FileNotFoundError):
        snn.read_nir(tmp_path / "missing.nir")
    assert isinstance(snn.read_nir(path), nir.NIRGraph)


def test_write_nir_is_atomic(tmp_path, monkeypatch):
    path = _valid_file(tmp_path)
    before = path.read_bytes()
    graph = snn.read_nir(path)

    def broken(filename, graph, *a, **k):
        Path(filename).write_bytes(b"half")
        raise RuntimeError("disk full")

    monkeypatch.setattr(nir, "write", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        snn.write_nir(path, graph)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ok.nir"]
    with pytest.raises(TypeError, match="NIRGraph"):
        snn.write_nir(tmp_path / "x.nir", "not a graph")


def test_the_imported_model_runs_without_the_file(tmp_path):
    path = _valid_file(tmp_path)
    model = snn.import_nir(str(path), DT)
    os.remove(path)
    assert model(torch.rand(2, 3)).shape == (2, 2)


def test_an_imported_graph_with_a_cycle_exports_again_and_round_trips_bit_identically(tmp_path):
    graph, _ = _recurrent_graph(5, 12, seed=4)
    model = snn.import_nir(graph, DT)
    again = snn.export_nir(model, DT, path=tmp_path / "rec.nir")
    assert set(again.edges) == set(graph.edges)
    back = snn.import_nir(tmp_path / "rec.nir", DT)
    xs = torch.rand(STEPS, 3, 5) * 1.5
    out = _run(model, xs)
    assert 0.05 <= _rate(out) <= 0.5
    assert torch.equal(out, _run(back, xs))


def test_import_refuses_bad_arguments_and_graphs_it_cannot_wire():
    graph = nir.NIRGraph.from_list(nir.Linear(weight=np.eye(3, dtype=np.float32)))
    with pytest.raises(ValueError, match="dt must be"):
        snn.import_nir(graph, -1.0)
    with pytest.raises(TypeError, match="NIRGraph or a file path"):
        snn.import_nir(42, DT)
    with pytest.raises(TypeError, match="learn must be a bool"):
        snn.import_nir(graph, DT, learn="yes")
    two_inputs = nir.NIRGraph(
        nodes={
            "a": nir.Input(input_type=np.array([3])),
            "b": nir.Input(input_type=np.array([3])),
            "out": nir.Output(output_type=np.array([3])),
        },
        edges=[("a", "out"), ("b", "out")],
        type_check=False,
    )
    with pytest.raises(ValueError, match="2 Input nodes"):
        snn.import_nir(two_inputs, DT)
    half_step = nir.NIRGraph.from_list(nir.Delay(delay=np.full(3, 1.5 * DT)))
    with pytest.raises(ValueError, match="whole non-negative multiples of dt"):
        snn.import_nir(half_step, DT)
    short_tau = nir.NIRGraph.from_list(
        nir.LI(tau=np.full(3, DT / 2, np.float32), r=np.ones(3, np.float32), v_leak=np.zeros(3, np.float32))
    )
    with pytest.raises(ValueError, match="greater than dt"):
        snn.import_nir(short_tau, DT)


@settings(max_examples=25, deadline=None)
@given(
    shape=hst.lists(hst.integers(1, 4), min_size=1, max_size=3).map(tuple),
    last=hst.booleans(),
    seed=hst.integers(0, 2**16),
)
def test_per_neuron_parameters_come_back_along_their_axis(shape, last, seed):
    """A LIF node's parameters spread over one sample (as export writes them, one value per
    neuron along the first or the last axis) come back exactly, whatever the shape."""
    from tracetorch.snn._nir_params import per_sample, tau_from_decay

    axis = len(shape) - 1 if last else 0
    n = shape[axis]
    g = torch.Generator().manual_seed(seed)
    th = (0.5 + torch.rand(n, generator=g)).numpy()
    beta = (0.6 + 0.35 * torch.rand(n, generator=g)).numpy()
    tau = per_sample(tau_from_decay(beta, DT), shape, axis)
    node = nir.LIF(
        tau=tau,
        r=(tau / np.float32(DT)).astype(tau.dtype),
        v_leak=np.zeros(shape),
        v_threshold=per_sample(th, shape, axis),
        v_reset=np.zeros(shape),
    )
    layer = snn.import_nir(nir.NIRGraph.from_list(node), DT)[0]
    got_axis = len(shape) + layer.dim
    assert layer.num_neurons == shape[got_axis]
    for name, want in (("threshold", th), ("beta", beta)):
        got = getattr(layer, name).expand(layer.num_neurons).numpy()
        assert np.array_equal(per_sample(got, shape, got_axis), per_sample(want, shape, axis)), name


def test_a_cycle_through_two_neurons_is_delayed_once():
    n = 4
    tau = np.full(n, 0.001, np.float32)

    def lif(th):
        return nir.LIF(
            tau=tau,
            r=(tau / np.float32(DT)).astype(np.float32),
            v_leak=np.zeros(n, np.float32),
            v_threshold=np.full(n, th, np.float32),
            v_reset=np.zeros(n, np.float32),
        )

    graph = nir.NIRGraph(
        nodes={
            "input": nir.Input(input_type=np.array([n])),
            "a": lif(0.75),
            "b": lif(0.5),
            "output": nir.Output(output_type=np.array([n])),
        },
        edges=[("input", "a"), ("a", "b"), ("b", "a"), ("b", "output")],
    )
    model = snn.import_nir(graph, DT)
    assert model.delayed == {"input": (), "a": ("b",), "b": (), "output": ()}
    assert model.order == ("input", "a", "b", "output")
    # one input pulse: b fires from a's spike of the same step, a from b's spike of the step
    # before, so both fire on every step (with a delay on both edges they would alternate)
    xs = torch.zeros(4, 1, n)
    xs[0] = 2.0
    out = _run(model, xs)
    assert out[:, 0, 0].tolist() == [1.0, 1.0, 1.0, 1.0]
