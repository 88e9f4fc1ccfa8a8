"""No silent wrong numbers: every path of issue 16 (and the ones found next to it) is a table row.

Each row either checks equality with a reference (stepping, or each sample run alone)
or checks a clear error that changed nothing. The rows:

==  ================================================================  ===========================
#   case                                                              outcome
==  ================================================================  ===========================
1   tt.Sequential with a traceTorch layer inside a plain nn.Sequential  equal to stepping (recursed)
1   tt.Sequential with a custom block holding a traceTorch layer        equal to stepping (stepped)
1   a folded module that does not keep the batch axis                   ValueError
2   the same layer at two positions of a tt.Sequential (also nested)    equal to stepping
3   nn.DataParallel replicating a layer / a model                       RuntimeError naming DDP
3   nn.DataParallel without replication (CPU): states persist          equal to the bare model
5   compiled state_dict into an uncompiled model, and the reverse      converted (raw<->value), no key lost
6   copy.deepcopy right after a training step                          detached copy, equal values
7   save_states(rng=True) at step 5, resume                            bit-identical to 10 steps
7   a bad generator state in a snapshot                                 ValueError, nothing loaded
8   state dtype for float16 / bfloat16 / float64 inputs               as the docs say
9   tt.deterministic(): stochastic quantisers round                     equal to quant_fn="round"
10  forward_sequence(x, lengths=...) for snn, rnn, tt.Sequential        equal to each sample alone
10  bad lengths, or states of another batch size                        ValueError, nothing changed
12  a traceTorch layer shared by two models                             states shared (documented)
==  ================================================================  ===========================
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch
import tracetorch as tt
from torch import nn
from tracetorch import rnn, snn


def _states(model: nn.Module) -> dict[str, torch.Tensor]:
    m = model if isinstance(model, tt.Model) else tt.Sequential(model)
    return m.save_states()


def _params(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _step(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return torch.stack([model(xt) for xt in x.unbind(0)])


# ---------------------------------------------------------------- 1. nested blocks
class _Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 8)
        self.lif = snn.LIB(8, spike_fn="heaviside_atan")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lif(self.lin(x))


def _nested_plain() -> tt.Sequential:
    return tt.Sequential(nn.Sequential(nn.Linear(4, 8), snn.LIB(8, spike_fn="heaviside_atan")))


def _nested_custom() -> tt.Sequential:
    return tt.Sequential(_Block())


def _nested_deep() -> tt.Sequential:
    inner = nn.Sequential(nn.Linear(4, 8), nn.Sequential(snn.LIB(8, spike_fn="heaviside_atan"), nn.Identity()))
    return tt.Sequential(inner)


@pytest.mark.parametrize("build", [_nested_plain, _nested_custom, _nested_deep], ids=["plain", "custom", "deep"])
@pytest.mark.parametrize("time_dim", [0, 1])
def test_sequential_runs_layers_inside_plain_blocks_like_stepping(build, time_dim):
    torch.manual_seed(0)
    model = build()
    x = torch.randn(9, 3, 4) * 2
    xs = x if time_dim == 0 else x.transpose(0, 1)
    seq = model.forward_sequence(xs, time_dim=time_dim)
    seq = seq if time_dim == 0 else seq.transpose(0, 1)
    seq_states = model.save_states()
    model.zero_states()
    ref = _step(model, x)
    assert (seq - ref).abs().max().item() == 0  # deterministic spikes: exactly the same
    assert seq.sum() > 0  # the layer did spike
    ref_states = model.save_states()
    assert seq_states.keys() == ref_states.keys()
    for k in ref_states:
        assert seq_states[k].shape == ref_states[k].shape == (3, 8)
        assert torch.allclose(seq_states[k], ref_states[k], atol=1e-6)


def test_sequential_li_scan_inside_custom_and_plain_blocks_is_close_to_stepping():
    torch.manual_seed(1)
    model = tt.Sequential(_Block(), nn.Sequential(nn.Linear(8, 3), snn.LI(3)))
    x = torch.randn(12, 2, 4)
    seq = model.forward_sequence(x)
    model.zero_states()
    assert torch.allclose(seq, _step(model, x), atol=1e-5)


def test_sequential_refuses_a_folded_module_that_drops_the_batch_axis():
    class BatchMean(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x.mean(0)

    model = tt.Sequential(snn.LI(4), BatchMean())
    model(torch.randn(2, 4))
    before = model.save_states()
    with pytest.raises(ValueError, match="per-timestep map"):
        model.forward_sequence(torch.randn(5, 2, 4))
    # the LI had already run over the sequence: its states are put back
    assert _same(before, model.save_states())


# ---------------------------------------------------------------- 2. shared layers
@pytest.mark.parametrize("nested", [False, True])
def test_a_layer_used_twice_gives_the_same_numbers_in_both_modes(nested):
    torch.manual_seed(2)
    lif = snn.LIB(4, spike_fn="heaviside_atan")
    lin, lin2 = nn.Linear(4, 4), nn.Linear(4, 4)
    model = tt.Sequential(lin, lif, nn.Sequential(lin2, lif)) if nested else tt.Sequential(lin, lif, lin2, lif)
    x = torch.randn(8, 3, 4) * 3
    seq = model.forward_sequence(x)
    s_seq = lif.mem.clone()
    model.zero_states()
    ref = _step(model, x)
    assert (seq - ref).abs().max().item() == 0
    assert torch.equal(s_seq, lif.mem)


# ---------------------------------------------------------------- 3. DataParallel
class _Counter(tt.Layer):
    def __init__(self) -> None:
        super().__init__(3)
        self._initialize_state("h")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._ensure_states(x)
        self.h = self.h + x
        return self.h


@pytest.mark.parametrize("wrap", ["layer", "model", "plain"])
def test_data_parallel_replication_is_refused_with_a_pointer_to_ddp(wrap):
    layer = _Counter()
    if wrap == "layer":
        module: nn.Module = layer
    elif wrap == "model":
        module = tt.Sequential(layer)
    else:
        module = nn.Sequential(nn.Identity(), layer)
    module(torch.ones(2, 3))
    before = layer.h.clone()
    # replicate() is what nn.DataParallel calls on every forward with more than one device
    with pytest.raises(RuntimeError, match="DistributedDataParallel"):
        torch.nn.parallel.replicate(module, [0, 1])
    assert torch.equal(layer.h, before)


def test_data_parallel_without_replication_keeps_states_on_the_model():
    torch.manual_seed(3)
    model = tt.Sequential(nn.Linear(4, 4), snn.LI(4))
    bare = copy.deepcopy(model)
    dp = nn.DataParallel(model, device_ids=[]) if not torch.cuda.is_available() else nn.DataParallel(model, [0])
    x = torch.randn(4, 2, 4)
    out = torch.stack([dp(xt) for xt in x])
    ref = _step(bare, x.to(out.device).cpu()).to(out.device)
    assert torch.equal(out, ref)
    assert torch.equal(model[1].mem, bare[1].mem.to(out.device))


# ---------------------------------------------------------------- 5. compiled state_dict
def _net() -> tt.Sequential:
    torch.manual_seed(4)
    return tt.Sequential(nn.Linear(4, 4), snn.LIB(4), snn.LI(4))


def _act(layer, name):
    """The value a layer acts with (compiled, fixed or learnable alike)."""
    return getattr(layer, name).detach()


@pytest.mark.parametrize("root", ["model", "layer"])
def test_compiled_state_dict_loads_into_an_uncompiled_model_through_the_inverse(root):
    src = _net()
    with torch.no_grad():
        for p in src.parameters():
            p.add_(0.3)
    src.TTcompile()
    dst = _net()
    if root == "layer":
        src, dst = src[1], dst[1]
    dst.load_state_dict(src.state_dict())
    a, b = (src, dst) if root == "layer" else (src[1], dst[1])
    assert not b.is_compiled
    for name in ("beta", "threshold"):
        # value -> raw through logit/softplus-inverse: the activated value is back to float rounding
        torch.testing.assert_close(_act(b, name), _act(a, name), rtol=2e-7, atol=0)


def test_uncompiled_state_dict_into_a_compiled_model_is_exact():
    src, dst = _net(), _net()
    with torch.no_grad():
        for p in src.parameters():
            p.add_(0.3)
    dst.TTcompile()
    dst.load_state_dict(src.state_dict())
    assert dst[1].is_compiled
    for name in ("beta", "threshold"):
        # raw -> value through the activation: exactly the value the source acted with
        assert torch.equal(_act(dst[1], name), _act(src[1], name))


def test_compiled_state_dict_into_a_plain_module_holding_layers_loads_every_key():
    src = nn.Sequential(nn.Linear(4, 4), snn.LIB(4))
    dst = nn.Sequential(nn.Linear(4, 4), snn.LIB(4))
    src[1].TTcompile()
    result = dst.load_state_dict(src.state_dict(), strict=False)
    assert not result.missing_keys and not result.unexpected_keys
    torch.testing.assert_close(_act(dst[1], "beta"), _act(src[1], "beta"), rtol=2e-7, atol=0)


# ---------------------------------------------------------------- 6. deepcopy
@pytest.mark.parametrize("mode", ["step", "sequence"])
def test_deepcopy_right_after_a_training_step_copies_detached_states(mode):
    torch.manual_seed(5)
    model = tt.Sequential(nn.Linear(4, 6), snn.SLIB(6, spike_fn="heaviside_atan"), rnn.LSTM(6, 3), snn.LI(3))
    x = torch.randn(6, 2, 4)
    out = model.forward_sequence(x) if mode == "sequence" else _step(model, x)
    out.sum().backward()
    assert model[1].mem.grad_fn is not None
    twin = copy.deepcopy(model)
    a, b = model.save_states(), twin.save_states()
    assert _same(a, b)
    for _, layer in twin.named_layers():
        for s in layer.states().values():
            assert s is not None and s.grad_fn is None
    assert model[1].mem.grad_fn is not None  # the original keeps its graph
    assert _same(_params(model), _params(twin))
    with torch.no_grad():
        next(twin.parameters()).add_(1.0)
    assert not torch.equal(next(twin.parameters()), next(model.parameters()))
    # both continue identically from equal states
    model.detach_states()
    y = torch.randn(2, 4)
    twin_fresh = copy.deepcopy(model)
    assert torch.equal(model(y), twin_fresh(y))


# ---------------------------------------------------------------- 7. RNG capture
def _stochastic() -> tt.Sequential:
    torch.manual_seed(6)
    return tt.Sequential(nn.Linear(4, 8), snn.LIB(8), nn.Linear(8, 3), snn.LITS(3, quant_fn="probabilistic"))


@pytest.mark.parametrize("suffix", [None, ".pt", ".safetensors"])
def test_resuming_with_saved_rng_is_bit_identical(tmp_path: Path, suffix):
    x = torch.randn(10, 2, 4)
    m = _stochastic()
    torch.manual_seed(11)
    full = _step(m, x)

    m = _stochastic()
    torch.manual_seed(11)
    first = _step(m, x[:5])
    target = None if suffix is None else tmp_path / f"s{suffix}"
    snap = m.save_states(target, rng=True)
    assert "__rng__.cpu" in snap
    torch.rand(1000)  # anything may happen in between
    resumed = _stochastic()
    resumed.load_states(snap if target is None else target)
    rest = _step(resumed, x[5:])
    assert torch.equal(torch.cat([first, rest]), full)


def test_resuming_without_rng_draws_differently():
    x = torch.randn(10, 2, 4)
    m = _stochastic()
    torch.manual_seed(11)
    full = _step(m, x)
    m = _stochastic()
    torch.manual_seed(11)
    _step(m, x[:5])
    snap = m.save_states()
    assert not any(k.startswith("__rng__") for k in snap)
    torch.rand(1000)
    resumed = _stochastic()
    resumed.load_states(snap)
    assert not torch.equal(_step(resumed, x[5:]), full[5:])


def test_bad_generator_state_is_refused_and_nothing_is_loaded():
    m = _stochastic()
    _step(m, torch.randn(3, 2, 4))
    snap = m.save_states(rng=True)
    m.zero_states()
    rng_before = torch.get_rng_state()
    for key, value in [
        ("__rng__.cpu", torch.zeros(5)),
        ("__rng__.cuda.99", torch.zeros(5, dtype=torch.uint8)),
        ("__rng__.mps", torch.zeros(5, dtype=torch.uint8)),
    ]:
        bad = dict(snap, **{key: value})
        with pytest.raises(ValueError, match="__rng__"):
            m.load_states(bad)
        assert m.save_states() == {}
        assert torch.equal(torch.get_rng_state(), rng_before)
    with pytest.raises(TypeError, match="rng must be a bool"):
        m.save_states(rng="yes")  # type: ignore[arg-type]


# ---------------------------------------------------------------- 8. dtypes
@pytest.mark.parametrize(
    "in_dtype, param_dtype, state_dtype",
    [
        (torch.float16, torch.float32, torch.float32),
        (torch.bfloat16, torch.float32, torch.float32),
        (torch.float64, torch.float32, torch.float64),
        (torch.float32, torch.float32, torch.float32),
        (torch.float16, torch.float64, torch.float64),
    ],
)
@pytest.mark.parametrize("layer_cls", [snn.LIB, snn.SLI, snn.DSRLITS])
def test_spiking_state_dtype_is_the_promotion_of_input_and_parameters(layer_cls, in_dtype, param_dtype, state_dtype):
    layer = layer_cls(4).to(param_dtype)
    x = torch.rand(3, 4, dtype=in_dtype)
    out = layer(x)
    for s in layer.states().values():
        assert s.dtype == state_dtype
    assert out.dtype == state_dtype
    layer.zero_states()
    seq = layer.forward_sequence(torch.rand(5, 3, 4, dtype=in_dtype))
    assert seq.dtype == state_dtype
    assert all(s.dtype == state_dtype for s in layer.states().values())


def test_rnn_layers_take_the_input_in_their_parameter_dtype():
    layer = rnn.LSTM(4, 4).double()
    layer(torch.rand(3, 4, dtype=torch.float64))
    assert layer.h.dtype == layer.c.dtype == torch.float64


@pytest.mark.parametrize(
    "build",
    [lambda: rnn.LSTM(4, 4), lambda: rnn.GRU(4, 4), lambda: rnn.SimpleRNN(4, 4), lambda: rnn.SelectiveSSM(4, 4, 3)],
    ids=["LSTM", "GRU", "SimpleRNN", "SelectiveSSM"],
)
@pytest.mark.parametrize("sequence", [False, True], ids=["step", "sequence"])
def test_rnn_layer_given_another_dtype_is_a_clear_error_that_changes_nothing(build, sequence):
    layer = build()
    layer(torch.rand(3, 4))
    before = {k: v.clone() for k, v in layer.states().items()}
    x = torch.rand(5, 3, 4, dtype=torch.float64)
    with pytest.raises(TypeError, match="float64 but the layer's parameters are torch.float32"):
        layer.forward_sequence(x) if sequence else layer(x[0])
    assert all(torch.equal(v, before[k]) for k, v in layer.states().items())


# ---------------------------------------------------------------- 9. deterministic switch
@pytest.mark.parametrize("layer_cls", [snn.LIB, snn.SRLIT, snn.DSLITS])
@pytest.mark.parametrize("quant", [None, "probabilistic"])
def test_deterministic_switch_rounds_stochastic_spikes(layer_cls, quant):
    torch.manual_seed(7)
    x = torch.rand(12, 3, 5) * 2
    layer = layer_cls(5, quant_fn=quant)
    ref = layer_cls(5, quant_fn="round")
    ref.load_state_dict(layer.state_dict())
    expect = ref.forward_sequence(x)
    with tt.deterministic():
        assert tt.is_deterministic()
        runs = []
        for mode in ("sequence", "sequence", "step"):
            layer.zero_states()
            torch.manual_seed(len(runs))  # a different seed each time: must not matter
            runs.append(layer.forward_sequence(x) if mode == "sequence" else _step(layer, x))
    assert not tt.is_deterministic()
    for r in runs:
        assert torch.equal(r, expect)


def test_deterministic_switch_gradient_matches_round_for_bernoulli():
    torch.manual_seed(8)
    x = torch.rand(10, 2, 4) * 2
    layer, ref = snn.LIB(4), snn.LIB(4, quant_fn="round")
    ref.load_state_dict(layer.state_dict())
    with tt.deterministic():
        layer.forward_sequence(x).sum().backward()
    ref.forward_sequence(x).sum().backward()
    assert torch.equal(layer.raw_beta.grad, ref.raw_beta.grad)


def test_default_stays_stochastic_and_the_call_form_sets_the_mode():
    torch.manual_seed(9)
    p = torch.full((1000,), 0.3)
    torch.manual_seed(9)
    a = tt.functional.quant_bernoulli(p)
    torch.manual_seed(9)
    assert torch.equal(a, torch.bernoulli(p))
    assert 100 < a.sum() < 500
    tt.deterministic(True)
    try:
        assert torch.equal(tt.functional.quant_bernoulli(p), torch.zeros(1000))
        assert torch.equal(tt.functional.quant_probabilistic(torch.full((3,), 0.7)), torch.ones(3))
    finally:
        tt.deterministic(False)
    assert not tt.is_deterministic()
    with pytest.raises(TypeError, match="bool"):
        tt.deterministic("on")  # type: ignore[arg-type]
    assert not tt.is_deterministic()


# ---------------------------------------------------------------- 10. variable lengths
def _lif(cls):
    def build():
        return cls(5, spike_fn="heaviside_atan")

    return build


LENGTH_CASES = {
    "LIB": _lif(snn.LIB),
    "SLI": lambda: snn.SLI(5),
    "DSRLITS": _lif(snn.DSRLITS),
    "LSTM": lambda: rnn.LSTM(5, 5),
    "GRU": lambda: rnn.GRU(5, 5),
    "Sequential": lambda: tt.Sequential(nn.Linear(5, 5), snn.LIB(5, spike_fn="heaviside_atan"), rnn.LSTM(5, 5)),
}
# element-wise maths: the batch size cannot change a bit. Stepping an LI layer differs
# from its scan by rounding, so SLI is exact against a lone sequence only.
EXACT = {"sequence": {"LIB", "SLI", "DSRLITS"}, "step": {"LIB", "DSRLITS"}}


def _check(a: torch.Tensor, b: torch.Tensor, exact: bool) -> None:
    if exact:
        assert torch.equal(a, b)
    else:
        assert torch.allclose(a, b, atol=1e-6, rtol=1e-5)


def _as_model(m: nn.Module) -> tt.Model:
    return m if isinstance(m, tt.Model) else tt.Sequential(m)


@pytest.mark.parametrize("name", list(LENGTH_CASES))
@pytest.mark.parametrize("time_dim", [0, 1])
@pytest.mark.parametrize("warm", [False, True])
def test_variable_lengths_equal_running_each_sample_alone(name, time_dim, warm):
    torch.manual_seed(10)
    build = LENGTH_CASES[name]
    module = build()
    twin = copy.deepcopy(module)
    T, B = 7, 4
    lengths = torch.tensor([3, 7, 1, 3])
    x = (torch.randn(T, B, 5) * 2).requires_grad_()
    warmup = torch.randn(B, 5)
    if warm:
        module(warmup)
    start = _as_model(module).save_states()
    xs = x if time_dim == 0 else x.transpose(0, 1)
    out = module.forward_sequence(xs, time_dim=time_dim, lengths=lengths)
    out = out if time_dim == 0 else out.transpose(0, 1)
    final = _as_model(module).save_states()
    for b in range(B):
        L = int(lengths[b])
        assert torch.equal(out[L:, b], torch.zeros_like(out[L:, b]))
        for mode in ("sequence", "step"):
            alone = _as_model(twin)
            alone.zero_states()
            if warm:
                alone.load_states({k: v[b : b + 1] for k, v in start.items()})
            xb = x[:L, b : b + 1].detach()
            ref = alone.forward_sequence(xb) if mode == "sequence" else _step(alone, xb)
            exact = name in EXACT[mode]
            _check(out[:L, b : b + 1], ref, exact)
            ref_final = alone.save_states()
            assert ref_final.keys() == final.keys()
            for k in final:
                _check(final[k][b : b + 1], ref_final[k], exact)
    # the last valid output of each sample, and no gradient across samples or past a length
    last = tt.last_valid(out, lengths)
    for b in range(B):
        assert torch.equal(last[b], out[int(lengths[b]) - 1, b])
    (g,) = torch.autograd.grad(last[0].sum(), x)
    assert torch.equal(g[:, 1:], torch.zeros_like(g[:, 1:]))
    assert torch.equal(g[3:, 0], torch.zeros_like(g[3:, 0]))
    assert g[:3, 0].abs().sum() > 0


def test_variable_lengths_bad_input_is_refused_and_changes_nothing():
    layer = snn.LIB(5, spike_fn="heaviside_atan")
    layer(torch.randn(4, 5))
    before = layer.mem.clone()
    x = torch.randn(6, 4, 5)
    for lengths, err, msg in [
        ([1, 2, 3], ValueError, "3 lengths for a batch of 4"),
        ([0, 2, 3, 4], ValueError, "between 1 and"),
        ([1, 2, 3, 7], ValueError, "between 1 and"),
        (torch.tensor([1.0, 2.0, 3.0, 4.0]), TypeError, "integers"),
        (torch.tensor([[1, 2, 3, 4]]), ValueError, "1-D"),
        ("1234", TypeError, "lengths must be"),
    ]:
        with pytest.raises(err, match=msg):
            layer.forward_sequence(x, lengths=lengths)
        assert torch.equal(layer.mem, before)
    with pytest.raises(ValueError, match="batch size 4 but the input has 3"):
        layer.forward_sequence(torch.randn(6, 3, 5), lengths=[1, 2, 3])
    assert torch.equal(layer.mem, before)


def test_variable_lengths_error_inside_a_group_restores_the_states():
    model = tt.Sequential(snn.LI(5), nn.Linear(5, 5), snn.LIB(5))
    model(torch.randn(3, 5))
    before = model.save_states()
    with pytest.raises(ValueError):
        # the second layer sees the wrong width only after the first has run on a group
        tt.Sequential(model[0], nn.Linear(5, 4), model[2]).forward_sequence(torch.randn(4, 3, 5), lengths=[1, 4, 2])
    assert _same(before, model.save_states())


def test_model_forward_sequence_takes_lengths():
    class Net(tt.Model):
        def __init__(self) -> None:
            super().__init__()
            self.a = snn.LIB(3, spike_fn="heaviside_atan")
            self.b = snn.LI(3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.b(self.a(x))

    torch.manual_seed(12)
    net = Net()
    x = torch.randn(5, 2, 3) * 2
    y = net.forward_sequence(x, lengths=[2, 5])
    one = Net()
    one.load_state_dict(net.state_dict())
    assert torch.equal(y[:2, 0:1], one.forward_sequence(x[:2, 0:1]))
    assert torch.equal(net.b.mem[0:1], one.b.mem)
    assert torch.equal(y[2:, 0], torch.zeros(3, 3))


def test_last_valid_picks_each_samples_last_step_for_any_time_dim():
    y = torch.arange(24.0).view(4, 3, 2)
    got = tt.last_valid(y, [1, 4, 2])
    assert torch.equal(got, torch.stack([y[0, 0], y[3, 1], y[1, 2]]))
    assert torch.equal(tt.last_valid(y.transpose(0, 1), torch.tensor([1, 4, 2]), time_dim=1), got)
    with pytest.raises(ValueError, match="between 1 and"):
        tt.last_valid(y, [0, 1, 1])


# ---------------------------------------------------------------- 12. more paths
def test_a_layer_shared_by_two_models_shares_its_states():
    lif = snn.LIB(4, spike_fn="heaviside_atan")
    a, b = tt.Sequential(nn.Identity(), lif), tt.Sequential(lif)
    a(torch.ones(2, 4))
    assert torch.equal(b.save_states()["0.mem"], a.save_states()["1.mem"])
    b.zero_states()
    assert a.save_states() == {}


def test_batch_size_change_mid_sequence_is_an_error_not_a_broadcast():
    model = tt.Sequential(nn.Linear(4, 4), snn.LIB(4), rnn.GRU(4, 4))
    model(torch.randn(3, 4))
    before = model.save_states()
    with pytest.raises(ValueError, match="zero_states"):
        model.forward_sequence(torch.randn(5, 1, 4))
    assert _same(before, model.save_states())


def test_load_states_from_a_model_of_another_width_is_refused():
    small = tt.Sequential(nn.Linear(4, 4), snn.LIB(4))
    big = tt.Sequential(nn.Linear(4, 6), snn.LIB(6))
    small(torch.randn(2, 4))
    big(torch.randn(2, 4))
    before = big.save_states()
    with pytest.raises(ValueError, match="another width"):
        big.load_states(small.save_states())
    assert _same(before, big.save_states())


# ---------------------------------------------------------------- 8. the docs' claims on random draws
@pytest.mark.parametrize("layer_cls", [snn.LIB, snn.SRLITS])
@pytest.mark.parametrize("quant", [None, "probabilistic"])
def test_one_random_layer_draws_the_same_in_both_modes_under_one_seed(layer_cls, quant):
    layer = layer_cls(6, quant_fn=quant)
    x = torch.rand(15, 3, 6) * 2
    torch.manual_seed(13)
    seq = layer.forward_sequence(x)
    layer.zero_states()
    torch.manual_seed(13)
    assert torch.equal(seq, _step(layer, x))


def test_a_multi_layer_sequential_with_random_spikes_draws_differently_in_sequence_mode():
    torch.manual_seed(14)
    model = tt.Sequential(nn.Linear(6, 6), snn.LIB(6), nn.Linear(6, 6), snn.LIB(6))
    x = torch.rand(15, 3, 6) * 2
    torch.manual_seed(13)
    seq = model.forward_sequence(x)
    model.zero_states()
    torch.manual_seed(13)
    assert not torch.equal(seq, _step(model, x))
    with tt.deterministic():
        model.zero_states()
        seq = model.forward_sequence(x)
        model.zero_states()
        assert (seq - _step(model, x)).abs().max() == 0


def test_a_model_failing_mid_sequence_leaves_its_states_as_they_were():
    class Net(tt.Model):
        def __init__(self) -> None:
            super().__init__()
            self.lif = snn.LIB(4, spike_fn="heaviside_atan")
            self.calls = 0

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            self.calls += 1
            if self.calls == 4:
                raise RuntimeError("boom at step 4")
            return self.lif(x)

    net = Net()
    net(torch.randn(2, 4))
    before = net.save_states()
    with pytest.raises(RuntimeError, match="boom"):
        net.forward_sequence(torch.randn(6, 2, 4))
    assert _same(before, net.save_states())


# ---------------------------------------------------------------- 8. repr of a skipped quantiser
def test_a_deterministic_layer_says_its_quantiser_is_skipped():
    assert "quant_fn='quant_bernoulli (skipped: deterministic spike)'" in repr(snn.LIB(3, spike_fn="heaviside_atan"))
    assert "quant_fn='quant_bernoulli')" in repr(snn.LIB(3))  # the default sigmoid spike does draw
