"""Random spikes (sigmoid spike with a bernoulli / probabilistic quantiser): where the
kernels' Philox key comes from, and what ``torch.manual_seed`` guarantees.

The contract: each call draws one key with ``torch.randint(0, SEED_HIGH, ())`` on the
input's device, from that device's default generator, and the kernels read it from
device memory. Hence the same seed gives the same spikes, successive calls differ, a
deterministic configuration draws nothing, and a captured CUDA graph (which replays
the ``randint`` with PyTorch's graph-safe Philox offsets) gets new spikes per replay.
"""

from __future__ import annotations

import pytest
import torch
import tracetorch.functional as TF
from tracetorch.kernels import leaky_sequence
from tracetorch.kernels.ops.leaky import fused
from tracetorch.kernels.ops.leaky._op import SEED_HIGH, config_flags
from tracetorch.snn.functional import LeakyConfig

SPIKE = TF.sigmoid(4.0)


def _case(name: str, device: str, T: int = 4, B: int = 2, N: int = 8):
    cfg = LeakyConfig.from_name(name)
    g = torch.Generator().manual_seed(0)
    x = (torch.randn(T, B, N, generator=g) * 1.5).to(device)
    states = tuple((torch.randn(B, N, generator=g) * 0.5).to(device) for _ in cfg.states)
    params = tuple((torch.rand(N, generator=g) * 0.6 + 0.2).to(device) for _ in cfg.params)
    return cfg, x, states, params


def _flat(cfg, x, states, params):  # type: ignore[no-untyped-def]
    T, N = x.shape[0], x.shape[-1]
    x2 = x.reshape(T, -1).contiguous()
    s0 = torch.stack([s.expand(x.shape[1:]) for s in states]).reshape(len(states), -1).contiguous()
    p = torch.stack([q.reshape(-1).expand(N) for q in params]).contiguous()
    return x2, s0, p


@pytest.mark.parametrize("quant", [TF.quant_bernoulli, TF.quant_probabilistic])
def test_successive_calls_differ_and_reseeding_reproduces(device: str, quant) -> None:  # type: ignore[no-untyped-def]
    cfg, x, states, params = _case("DSRLITS", device)
    torch.manual_seed(3)
    a, _ = leaky_sequence(cfg, x, states, params, SPIKE, quant)
    b, _ = leaky_sequence(cfg, x, states, params, SPIKE, quant)
    torch.manual_seed(3)
    c, _ = leaky_sequence(cfg, x, states, params, SPIKE, quant)
    d, _ = leaky_sequence(cfg, x, states, params, SPIKE, quant)
    assert not torch.equal(a, b)
    assert torch.equal(a, c) and torch.equal(b, d)


def test_key_is_one_randint_on_the_device(device: str) -> None:
    """A call consumes exactly one ``randint(0, SEED_HIGH, ())`` of the device's default
    generator, and that value is the kernel's key."""
    cfg, x, states, params = _case("LIB", device)
    torch.manual_seed(5)
    out, _ = leaky_sequence(cfg, x, states, params, SPIKE, TF.quant_bernoulli)
    after = torch.rand(4, device=device)
    torch.manual_seed(5)
    key = torch.randint(0, SEED_HIGH, (), dtype=torch.int64, device=device)
    assert torch.equal(torch.rand(4, device=device), after)
    flags, sparam = config_flags(cfg, SPIKE, TF.quant_bernoulli)
    direct, _, _ = fused.leaky_forward(*_flat(cfg, x, states, params), tuple(flags), sparam, key, save=False)
    assert torch.equal(direct.view(out.shape), out)


def test_deterministic_configurations_draw_nothing(device: str) -> None:
    """Rounding spikes leave the generator untouched (no key is drawn)."""
    cfg, x, states, params = _case("DSRLITS", device)
    torch.manual_seed(9)
    leaky_sequence(cfg, x, states, params, TF.heaviside_atan(), TF.quant_round)
    leaky_sequence(cfg, x, states, params, SPIKE, TF.quant_round)
    got = torch.rand(4, device=device)
    torch.manual_seed(9)
    assert torch.equal(torch.rand(4, device=device), got)


def test_kernel_reads_the_key_from_device_memory(device: str) -> None:
    """The launch reads the key tensor when it runs (as a CUDA-graph replay would after
    the captured ``randint`` rewrote it), not a host value fixed at launch time."""
    cfg, x, states, params = _case("SRLIB", device)
    flags, sparam = config_flags(cfg, SPIKE, TF.quant_bernoulli)
    args = _flat(cfg, x, states, params)
    key = torch.tensor(1234, dtype=torch.int64, device=device)
    a, _, _ = fused.leaky_forward(*args, tuple(flags), sparam, key, save=False)
    key.fill_(98765)  # in place: same tensor, new value
    b, _, _ = fused.leaky_forward(*args, tuple(flags), sparam, key, save=False)
    key.fill_(1234)
    c, _, _ = fused.leaky_forward(*args, tuple(flags), sparam, key, save=False)
    assert not torch.equal(a, b)
    assert torch.equal(a, c)
    # an int key is the same key
    d, _, _ = fused.leaky_forward(*args, tuple(flags), sparam, 1234, save=False)
    assert torch.equal(a, d)


def test_segment_counters_continue_the_sequence(device: str) -> None:
    """``t0`` offsets the Philox counters: two launches over the halves of a sequence
    (the second from the first's final states, ``t0`` = its length) draw exactly what
    one launch over the whole sequence draws."""
    cfg, x, states, params = _case("DSRLITS", device, T=6)
    flags, sparam = config_flags(cfg, SPIKE, TF.quant_probabilistic)
    x2, s0, p = _flat(cfg, x, states, params)
    key = torch.tensor(77, dtype=torch.int64, device=device)
    whole, fin, _ = fused.leaky_forward(x2, s0, p, tuple(flags), sparam, key, save=False)
    first, mid, _ = fused.leaky_forward(x2[:2], s0, p, tuple(flags), sparam, key, save=False)
    second, fin2, _ = fused.leaky_forward(x2[2:], mid, p, tuple(flags), sparam, key, save=False, t0=2)
    assert torch.equal(torch.cat([first, second]), whole)
    assert torch.equal(fin2, fin)
    unshifted, _, _ = fused.leaky_forward(x2[2:], mid, p, tuple(flags), sparam, key, save=False)
    assert not torch.equal(unshifted, whole[2:])
