"""Fixed (non-learnable) parameters act with exactly the value given, in every dtype and compiled."""

from __future__ import annotations

import pytest
import torch
import tracetorch as tt
from tracetorch import snn


def reference_lib(x: torch.Tensor, beta: torch.Tensor, threshold: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """LIB's documented step, written out: ``mem = beta*mem + x``, fire at ``mem >= threshold``, subtract."""
    mem = torch.zeros_like(x[0])
    out = []
    for xt in x:
        mem = beta * mem + xt
        s = (mem - threshold >= 0).to(x.dtype)
        mem = mem - s * threshold
        out.append(s)
    return torch.stack(out), mem


def fixed_lib(n: int, beta, threshold) -> snn.LIB:
    return snn.LIB(
        n, beta=beta, threshold=threshold, learn_beta=False, learn_threshold=False, spike_fn="heaviside_atan"
    )


def drive(layer: snn.LIB, x: torch.Tensor) -> torch.Tensor:
    return torch.stack([layer(xt) for xt in x])


def test_a_fixed_decay_and_threshold_hold_the_given_value_bitwise():
    layer = fixed_lib(4, 0.75, 0.3)
    assert torch.equal(layer.beta, torch.full((4,), 0.75))
    assert torch.equal(layer.threshold, torch.full((4,), 0.3))
    # the stored values are the values themselves, not a logit / softplus inverse
    assert sorted(dict(layer.named_buffers())) == ["beta", "threshold"]
    assert list(layer.parameters()) == []
    # what 0.20 acted with: the round trip through the activation is not exact
    assert torch.sigmoid(torch.logit(torch.tensor(0.75))) != torch.tensor(0.75)


@pytest.mark.parametrize("rank", [0, 1])
def test_a_fixed_lib_acts_with_exactly_the_values_given(rank):
    torch.manual_seed(0)
    x = torch.rand(60, 3, 4)
    layer = snn.LIB(
        4,
        beta=0.75,
        threshold=0.3,
        beta_rank=rank,
        threshold_rank=rank,
        learn_beta=False,
        learn_threshold=False,
        spike_fn="heaviside_atan",
    )
    spikes, mem = reference_lib(x, torch.tensor(0.75), torch.tensor(0.3))
    assert spikes.sum() > 0
    assert torch.equal(drive(layer, x), spikes)
    assert torch.equal(layer.mem, mem)
    layer.zero_states()
    assert torch.equal(layer.forward_sequence(x), spikes)
    assert torch.equal(layer.mem, mem)


def test_per_neuron_fixed_values_are_exact():
    beta = torch.tensor([0.1, 0.3, 0.75, 0.9])
    th = torch.tensor([0.3, 0.7, 1.1, 0.2])
    layer = fixed_lib(4, beta, th)
    torch.manual_seed(1)
    x = torch.rand(50, 2, 4)
    spikes, mem = reference_lib(x, beta, th)
    assert torch.equal(drive(layer, x), spikes) and torch.equal(layer.mem, mem)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float16])
def test_fixed_values_stay_exact_after_a_dtype_move(dtype):
    layer = fixed_lib(4, 0.75, 0.3)
    layer = layer.double() if dtype == torch.float64 else layer.half()
    # the value given, in the layer's creation dtype, converted once (not re-derived from a raw form)
    beta = torch.tensor(0.75).to(dtype)
    th = torch.tensor(0.3).to(dtype)
    assert layer.beta.dtype == dtype
    assert torch.equal(layer.beta, beta.expand(4)) and torch.equal(layer.threshold, th.expand(4))
    torch.manual_seed(2)
    x = torch.rand(40, 2, 4).to(dtype)
    spikes, mem = reference_lib(x, beta, th)
    assert torch.equal(drive(layer, x), spikes) and torch.equal(layer.mem, mem)


def test_compile_and_decompile_leave_fixed_values_untouched():
    model = tt.Sequential(fixed_lib(4, 0.75, 0.3), snn.LIB(4, beta=0.75, threshold=0.3, spike_fn="heaviside_atan"))
    fixed, learned = model[0], model[1]
    model.TTcompile()
    assert not fixed.is_compiled and learned.is_compiled  # nothing to compile in a fully fixed layer
    assert torch.equal(fixed.beta, torch.full((4,), 0.75)) and torch.equal(fixed.threshold, torch.full((4,), 0.3))
    torch.manual_seed(3)
    x = torch.rand(30, 2, 4)
    spikes, _ = reference_lib(x, torch.tensor(0.75), torch.tensor(0.3))
    assert torch.equal(drive(fixed, x), spikes)
    model.TTdecompile()
    fixed.zero_states()
    assert torch.equal(fixed.beta, torch.full((4,), 0.75))
    assert torch.equal(drive(fixed, x), spikes)


def test_a_020_state_dict_with_a_raw_fixed_value_loads_as_the_value_it_acted_with():
    layer = fixed_lib(4, 0.75, 0.3)
    raw_beta = torch.logit(torch.full((4,), 0.75))
    raw_th = torch.full((4,), 0.3) + torch.log(-torch.expm1(-torch.full((4,), 0.3)))
    layer.load_state_dict({"raw_beta": raw_beta, "raw_threshold": raw_th})
    assert torch.equal(layer.beta, torch.sigmoid(raw_beta))
    assert torch.equal(layer.threshold, torch.nn.functional.softplus(raw_th))


def test_a_learned_state_dict_loads_into_a_fixed_layer_and_back():
    learned = snn.LIB(4, beta=torch.tensor([0.2, 0.4, 0.6, 0.8]), threshold=0.5, spike_fn="heaviside_atan")
    fixed = fixed_lib(4, 0.75, 0.3)
    fixed.load_state_dict(learned.state_dict())
    assert torch.equal(fixed.beta, learned.beta.detach()) and torch.equal(fixed.threshold, learned.threshold.detach())
    again = snn.LIB(4, spike_fn="heaviside_atan")
    again.load_state_dict(fixed.state_dict())
    torch.testing.assert_close(again.beta.detach(), fixed.beta, rtol=0, atol=1e-6)


def test_loading_an_out_of_range_fixed_value_is_refused_and_changes_nothing_in_the_layer():
    layer = fixed_lib(4, 0.75, 0.3)
    with pytest.raises(RuntimeError, match="decay strictly between 0 and 1"):
        layer.load_state_dict({"beta": torch.full((4,), 1.5), "threshold": torch.full((4,), 0.5)})
    assert torch.equal(layer.beta, torch.full((4,), 0.75))
    with pytest.raises(RuntimeError, match="strictly greater than 0"):
        layer.load_state_dict({"beta": torch.full((4,), 0.5), "threshold": torch.zeros(4)})
    assert torch.equal(layer.threshold, torch.full((4,), 0.3))
