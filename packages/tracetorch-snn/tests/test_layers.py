"""Every layer equals the plain SPEC reference; parameters, states and signatures as specified."""

from __future__ import annotations

import inspect

import pytest
import torch
import tracetorch as tt
from snn_testlib import (
    ALL_LAYERS,
    LAYOUTS,
    SPIKING,
    N,
    activated,
    inputs,
    layer_states,
    make_layer,
    param_names,
    parse,
    reference_step,
    state_names,
)
from tracetorch import snn


@pytest.mark.parametrize("layout", ["mlp", "conv"])
@pytest.mark.parametrize("variant", [0, 1])
@pytest.mark.parametrize("name", ALL_LAYERS)
def test_layer_equals_plain_reference_over_24_steps(name, variant, layout):
    shape, dim = LAYOUTS[layout]
    layer = make_layer(name, dim=dim, variant=variant, seed=hash((name, variant)) % 1000)
    P = activated(layer)
    xs = inputs(shape, 24, seed=3)
    ref = {s: torch.zeros(shape) for s in state_names(name)}
    spikes = 0.0
    with torch.no_grad():
        for x in xs:
            out = layer(x)
            ref_out, ref = reference_step(name, x, ref, P, dim)
            torch.testing.assert_close(out, ref_out, rtol=0, atol=1e-6)
            for s, v in layer_states(layer).items():
                torch.testing.assert_close(v, ref[s], rtol=0, atol=1e-6, msg=f"state {s}")
            spikes += float(out.abs().sum()) if name in SPIKING else 0.0
    if name in SPIKING:
        assert spikes > 0, "the test input should make the layer spike"


@pytest.mark.parametrize("name", ALL_LAYERS)
def test_signature_is_explicit_and_ordered(name):
    cls = getattr(snn, name)
    sig = inspect.signature(cls)
    params = list(sig.parameters.values())
    names = param_names(name)
    positional = [p.name for p in params if p.kind == p.POSITIONAL_OR_KEYWORD]
    assert positional == ["num_neurons"] + names
    kwonly = [p.name for p in params if p.kind == p.KEYWORD_ONLY]
    expected = ["dim"] + [f"{n}_rank" for n in names] + [f"learn_{n}" for n in names]
    if name in SPIKING:
        expected += ["spike_fn", "quant_fn", "reset", "reset_value", "reset_timing", "detach_reset"]
        expected += ["decay_input", "rest"] + (["syn_input"] if "S" in name.split("LI")[0] else [])
        expected += ["adaptive", "adapt_decay", "adapt_strength", "adapt_decay_rank", "adapt_strength_rank"]
        expected += ["learn_adapt_decay", "learn_adapt_strength", "refractory"]
        if "R" in name.split("LI")[0]:
            expected += ["all_to_all", "rec_matrix", "rec_bias", "rec_bias_rank", "learn_rec_matrix", "learn_rec_bias"]
    assert kwonly == expected
    assert sig.parameters["dim"].default == -1
    defaults = {"alpha": 0.5, "beta": 0.9, "gamma": 0.9, "threshold": 1.0, "scale": 1.0, "rec_weight": 0.0}
    for n in names:
        assert sig.parameters[n].default == defaults[n.removeprefix("pos_").removeprefix("neg_")]
        assert sig.parameters[f"{n}_rank"].default == 1
        assert sig.parameters[f"learn_{n}"].default is True
    doc = cls.__doc__
    assert doc and "Args:" in doc and "```text" in doc
    for n in names:
        assert f"{n}:" in doc


@pytest.mark.parametrize("name", ALL_LAYERS)
def test_defaults_states_and_parameter_storage(name):
    layer = getattr(snn, name)(N)
    assert isinstance(layer, snn.Layer) and isinstance(layer, tt.Layer)
    assert layer.state_names == tuple(state_names(name))
    defaults = {"alpha": 0.5, "beta": 0.9, "gamma": 0.9, "threshold": 1.0, "scale": 1.0, "rec_weight": 0.0}
    for n in param_names(name):
        v = getattr(layer, n)
        assert v.shape == (N,)
        torch.testing.assert_close(
            v, torch.full((N,), defaults[n.removeprefix("pos_").removeprefix("neg_")]), rtol=0, atol=1e-6
        )
        assert isinstance(getattr(layer, f"raw_{n}"), torch.nn.Parameter)
    # positional values in the documented order
    values = [0.3 + 0.01 * i for i in range(len(param_names(name)))]
    layer = getattr(snn, name)(N, *values)
    for n, v in zip(param_names(name), values):
        torch.testing.assert_close(getattr(layer, n), torch.full((N,), v), rtol=0, atol=1e-6)


def test_fixed_parameter_is_a_buffer_and_rank_zero_is_a_scalar():
    layer = snn.SLIB(4, alpha=0.2, beta=0.8, threshold=1.5, learn_beta=False, alpha_rank=0)
    assert "beta" in dict(layer.named_buffers())  # the value itself, read with no activation
    assert "raw_beta" not in dict(layer.named_parameters()) and "raw_beta" not in dict(layer.named_buffers())
    assert layer.alpha.shape == ()
    assert "beta" in layer.state_dict() and "raw_beta" not in layer.state_dict()
    assert torch.equal(layer.beta, torch.full((4,), 0.8))


def test_states_are_created_lazily_like_the_input():
    layer = snn.DSRLITS(5, dim=-3)
    assert all(v is None for v in layer.states().values())
    x = torch.randn(2, 5, 3, 2, dtype=torch.float64)
    layer.double()
    layer(x)
    for v in layer.states().values():
        assert v.shape == x.shape and v.dtype == torch.float64


def test_quant_and_spike_functions_are_resolved_and_callables_used_as_given():
    calls = []

    def my_quant(p):
        calls.append(p.shape)
        return (p > 0.25).to(p.dtype)

    layer = snn.LIB(4, quant_fn=my_quant)
    assert layer.quant_fn is my_quant
    layer(torch.ones(2, 4))
    assert calls == [(2, 4)]
    assert snn.LIT(4, spike_fn="heaviside_triangle").spike_fn == tt.functional.heaviside_triangle()
    assert snn.LIB(4).spike_fn == tt.functional.sigmoid(4.0)
    assert snn.LIB(4).quant_fn is tt.functional.quant_bernoulli
    layer.quant_fn = "round"
    assert layer.quant_fn is tt.functional.quant_round


def test_bad_arguments_raise_clear_errors():
    with pytest.raises(ValueError, match="LIB.*quant_fn.*nope"):
        snn.LIB(4, quant_fn="nope")
    with pytest.raises(ValueError, match="LIB.*spike_fn"):
        snn.LIB(4, spike_fn="nope")
    with pytest.raises(TypeError, match="LIB"):
        snn.LIB(4, quant_fn=3)
    with pytest.raises(ValueError, match="beta"):
        snn.LIB(4, beta=1.5)
    with pytest.raises(ValueError, match="threshold"):
        snn.LIB(4, threshold=-1.0)
    with pytest.raises(TypeError, match="beta"):
        snn.LI(4, beta="0.9")
    with pytest.raises(ValueError, match="beta_rank"):
        snn.LI(4, beta_rank=2)
    with pytest.raises(TypeError, match="learn_beta"):
        snn.LI(4, learn_beta=1)
    with pytest.raises(TypeError):
        snn.LI(4, spike_fn="heaviside_atan")  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        snn.LIB(4.0)
    layer = snn.LIB(4)
    with pytest.raises(TypeError, match="floating"):
        layer(torch.ones(2, 4, dtype=torch.int64))
    with pytest.raises(ValueError, match="expected 4"):
        layer(torch.ones(2, 5))
    layer(torch.ones(2, 4))
    with pytest.raises(ValueError, match="zero_states"):
        layer(torch.ones(3, 4))
    with pytest.raises(ValueError, match="dim"):
        snn.LIB(4, dim=-3)(torch.ones(4))


def test_public_api_is_typed_and_documented():
    for name in snn.__all__:
        obj = getattr(snn, name)
        assert obj.__doc__, name
    for name in snn.functional.__all__:
        obj = getattr(snn.functional, name)
        if callable(obj):
            assert obj.__doc__, name
            if inspect.isfunction(obj):
                hints = obj.__annotations__
                assert "return" in hints, name


def test_parse_helper_matches_configs():
    for name in ALL_LAYERS:
        cfg = getattr(snn, name).config
        f = parse(name)
        assert (cfg.dual, cfg.synaptic, cfg.recurrent, cfg.output) == (f["dual"], f["syn"], f["rec"], f["kind"])
        assert cfg.name == name
