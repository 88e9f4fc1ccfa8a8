"""tt.Model: finding layers anywhere, zero/detach, save/load, compile/decompile, moves."""

from __future__ import annotations

import os
import warnings

import pytest
import torch
import tracetorch as tt
from torch import nn


class Holder:
    """A plain object holding layers (not an nn.Module)."""

    def __init__(self, layer):
        self.inner = {"deep": (layer,)}


def make_everything_model(Leaky):
    class Everything(tt.Model):
        def __init__(self):
            super().__init__()
            self.net = nn.Sequential(nn.Linear(3, 3), Leaky(3))
            self.blocks = nn.ModuleList([Leaky(3), nn.Sequential(Leaky(3))])
            self.heads = nn.ModuleDict({"left": Leaky(3)})
            self.plain_list = [Leaky(3)]
            self.plain_tuple = (Leaky(3),)
            self.plain_dict = {"k": Leaky(3)}
            self.obj = Holder(Leaky(3))
            self.shared = [self.net[1]]  # same layer again
            self.cycle = [self]

        def forward(self, x):
            x = self.net(x)
            x = self.blocks[1](self.blocks[0](x))
            x = self.heads["left"](x)
            x = self.plain_list[0](x)
            x = self.plain_tuple[0](x)
            x = self.plain_dict["k"](x)
            return self.obj.inner["deep"][0](x)

    return Everything


EXPECTED_PATHS = [
    "net.1",
    "blocks.0",
    "blocks.1.0",
    "heads.left",
    "plain_list.0",
    "plain_tuple.0",
    "plain_dict.k",
    "obj.inner.deep.0",
]


def quiet(fn, *a, **k):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*a, **k)


def test_layers_are_found_everywhere_each_once_with_dotted_paths(Leaky_cls):
    model = quiet(make_everything_model(Leaky_cls))
    paths = [p for p, _ in quiet(model.named_layers)]
    assert paths == EXPECTED_PATHS
    quiet(model, torch.randn(2, 3))
    keys = quiet(model.save_states)
    assert sorted(keys) == sorted(f"{p}.{s}" for p in EXPECTED_PATHS for s in ("mem", "trace"))


def test_invisible_layers_warn_once_naming_the_path(Leaky_cls):
    model = make_everything_model(Leaky_cls)()
    with pytest.warns(UserWarning) as record:
        model.zero_states()
    messages = [str(r.message) for r in record]
    for path in ["plain_list.0", "plain_tuple.0", "plain_dict.k", "obj.inner.deep.0"]:
        assert sum(path in m for m in messages) == 1
    assert all("nn.ModuleList" in m for m in messages)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.zero_states()  # second walk: no new warnings


def test_zero_and_detach_reach_every_layer(Leaky_cls):
    model = quiet(make_everything_model(Leaky_cls))
    quiet(model, torch.randn(2, 3, requires_grad=True))
    layers = [l for _, l in quiet(model.named_layers)]
    assert all(l.mem.requires_grad for l in layers)
    quiet(model.detach_states)
    assert all(not l.mem.requires_grad for l in layers)
    quiet(model.zero_states)
    assert all(l.mem is None and l.trace is None for l in layers)


def test_masked_zero_on_a_model_is_all_or_nothing(Leaky_cls):
    class Two(tt.Model):
        def __init__(self):
            super().__init__()
            self.a = Leaky_cls(3)
            self.b = Leaky_cls(3)

    m = Two()
    m.a(torch.randn(2, 3))
    m.b(torch.randn(2, 3))
    m.b.zero_states()
    m.b(torch.randn(4, 3))
    before = m.a.mem.clone()
    with pytest.raises(ValueError, match="batch size"):
        m.zero_states(torch.tensor([True, False]))
    assert torch.equal(m.a.mem, before)


def test_invisible_layers_and_their_states_move_with_the_model(Leaky_cls):
    model = quiet(make_everything_model(Leaky_cls))
    quiet(model, torch.randn(2, 3))
    model.double()
    hidden = model.plain_dict["k"]
    assert hidden.raw_beta.dtype == torch.float64 and hidden.mem.dtype == torch.float64
    assert model.net[1].mem.dtype == torch.float64
    quiet(model, torch.randn(2, 3, dtype=torch.float64))


def run(model, x, steps=4):
    return [model(x[t]) for t in range(steps)]


@pytest.mark.parametrize("suffix", [None, ".pt", ".safetensors"])
def test_save_load_round_trip_is_bit_exact(Leaky_cls, tmp_path, suffix):
    model = quiet(make_everything_model(Leaky_cls))
    x = torch.randn(6, 2, 3)
    quiet(run, model, x)
    snap = quiet(model.save_states, None if suffix is None else tmp_path / f"s{suffix}")
    source = snap if suffix is None else tmp_path / f"s{suffix}"
    expected = [o.detach() for o in quiet(run, model, x[4:], 2)]
    quiet(model.zero_states)
    quiet(model.load_states, source)
    got = [o.detach() for o in quiet(run, model, x[4:], 2)]
    assert all(torch.equal(a, b) for a, b in zip(expected, got))


def test_save_states_returns_detached_clones(Leaky_cls):
    layer_model = tt.Sequential(Leaky_cls(3))
    layer_model(torch.randn(2, 3, requires_grad=True))
    snap = layer_model.save_states()
    assert set(snap) == {"0.mem", "0.trace"}
    assert not snap["0.mem"].requires_grad
    assert snap["0.mem"].data_ptr() != layer_model[0].mem.data_ptr()


def test_loaded_states_land_on_the_layers_dtype(Leaky_cls):
    m = tt.Sequential(Leaky_cls(3)).double()
    m.load_states({"0.mem": torch.ones(2, 3, dtype=torch.float32)}, strict=False)
    assert m[0].mem.dtype == torch.float64
    assert m[0].trace is None


def test_strict_load_sets_absent_states_to_none_and_rejects_unexpected_keys(Leaky_cls):
    m = tt.Sequential(Leaky_cls(3), Leaky_cls(3))
    m(torch.randn(2, 3))
    m.load_states({"0.mem": torch.ones(5, 3)})
    assert torch.equal(m[0].mem, torch.ones(5, 3))
    assert m[0].trace is None and m[1].mem is None
    before = {k: v.clone() for k, v in m.save_states().items()}
    with pytest.raises(ValueError, match=r"unexpected keys .*'other\.mem'"):
        m.load_states({"0.mem": torch.zeros(5, 3), "other.mem": torch.zeros(5, 3)})
    after = m.save_states()
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)


def test_non_strict_load_ignores_unexpected_and_keeps_absent(Leaky_cls):
    m = tt.Sequential(Leaky_cls(3), Leaky_cls(3))
    m(torch.randn(2, 3))
    keep = m[1].mem.clone()
    m.load_states({"0.mem": torch.ones(2, 3), "nope.mem": torch.zeros(1)}, strict=False)
    assert torch.equal(m[0].mem, torch.ones(2, 3)) and torch.equal(m[1].mem, keep)


def test_a_failed_load_changes_nothing_at_all(Leaky_cls):
    m = tt.Sequential(Leaky_cls(3), Leaky_cls(4))
    m[0](torch.randn(2, 3))
    m[1](torch.randn(2, 4))
    before = m.save_states()
    bad = {"0.mem": torch.zeros(2, 3), "0.trace": torch.zeros(2, 3), "1.mem": torch.zeros(2, 3)}  # wrong width
    with pytest.raises(ValueError, match=r"1\.mem: Leaky expects size 4 along dim=-1") as err:
        m.load_states(bad)
    assert "nothing was loaded" in str(err.value)
    after = m.save_states()
    assert all(torch.equal(before[k], after[k]) for k in before)


@pytest.mark.parametrize(
    "states,pattern",
    [
        ({"0.mem": torch.ones(2, 3, dtype=torch.int64)}, "floating-point"),
        ({"0.mem": torch.ones(1, 2)}, "size 3 along dim"),
        ({"0.mem": torch.ones(())}, "has no axis dim"),
        ({"0.mem": torch.ones(2, 3), "0.trace": torch.ones(4, 3)}, "does not match"),
        ({"0.mem": "not a tensor"}, "expected a tensor"),
    ],
)
def test_invalid_snapshots_are_value_errors(Leaky_cls, states, pattern):
    m = tt.Sequential(Leaky_cls(3))
    with pytest.raises(ValueError, match=pattern):
        m.load_states(states)


def test_unknown_file_extension_is_an_error(Leaky_cls, tmp_path):
    m = tt.Sequential(Leaky_cls(3))
    m(torch.randn(2, 3))
    with pytest.raises(ValueError, match=r"unknown extension '\.bin'.*\.pt, \.safetensors"):
        m.save_states(tmp_path / "s.bin")
    with pytest.raises(ValueError, match="unknown extension"):
        m.load_states(tmp_path / "s.json")
    assert list(tmp_path.iterdir()) == []


class _Evil:
    def __reduce__(self):
        return (os.system, ("touch EVIL_RAN",))


def test_pt_files_with_pickled_objects_are_rejected_without_running_them(Leaky_cls, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.pt"
    torch.save({"0.mem": _Evil()}, path)  # a real zip .pt carrying a malicious pickle
    m = tt.Sequential(Leaky_cls(3))
    with pytest.raises(ValueError, match="evil.pt"):
        m.load_states(path)
    assert not (tmp_path / "EVIL_RAN").exists()


def test_corrupt_and_truncated_files_are_value_errors_naming_the_file(Leaky_cls, tmp_path):
    m = tt.Sequential(Leaky_cls(3))
    m(torch.randn(2, 3))
    good = tmp_path / "good.safetensors"
    m.save_states(good)
    data = good.read_bytes()
    (tmp_path / "trunc.safetensors").write_bytes(data[: len(data) // 2])
    (tmp_path / "junk.pt").write_bytes(b"definitely not a torch file")
    torch.save([1, 2, 3], tmp_path / "list.pt")
    for name in ["trunc.safetensors", "junk.pt", "list.pt"]:
        with pytest.raises(ValueError, match=name):
            m.load_states(tmp_path / name)
    with pytest.raises(FileNotFoundError):
        m.load_states(tmp_path / "missing.pt")


def test_writes_are_atomic_a_failing_write_keeps_the_old_file(Leaky_cls, tmp_path, monkeypatch):
    m = tt.Sequential(Leaky_cls(3))
    m(torch.randn(2, 3))
    path = tmp_path / "s.pt"
    m.save_states(path)
    old = path.read_bytes()

    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(torch, "save", boom)
    m(torch.randn(2, 3))
    with pytest.raises(RuntimeError, match="disk full"):
        m.save_states(path)
    assert path.read_bytes() == old
    assert [p.name for p in tmp_path.iterdir()] == ["s.pt"]  # no temporary left behind


def test_keys_from_another_model_are_rejected(Leaky_cls):
    a = tt.Sequential(Leaky_cls(3))
    a(torch.randn(2, 3))

    class Other(tt.Model):
        def __init__(self):
            super().__init__()
            self.enc = Leaky_cls(3)

    with pytest.raises(
        ValueError, match=r"(?s)unexpected keys.*0\.mem.*absent from the snapshot: \['enc\.mem', 'enc\.trace'\]"
    ):
        Other().load_states(a.save_states())


def test_load_accepts_another_batch_size(Leaky_cls):
    m = tt.Sequential(Leaky_cls(3))
    m(torch.randn(2, 3))
    m.load_states({"0.mem": torch.ones(7, 3), "0.trace": torch.ones(7, 3)})
    assert m(torch.randn(7, 3)).shape == (7, 3)


def test_compile_decompile_round_trip_keeps_outputs_and_parameter_objects(Leaky_cls):
    m = tt.Sequential(Leaky_cls(4, beta=torch.rand(4) * 0.8 + 0.1), Leaky_cls(4, learn_beta=False))
    x = torch.randn(5, 2, 4)
    raw = m[0].raw_beta
    ref = m.forward_sequence(x)
    m.zero_states()
    m.TTcompile()
    assert "raw_beta" not in dict(m[0].named_parameters()) and "beta" in dict(m[0].named_buffers())
    m.TTcompile()  # idempotent
    compiled = m.forward_sequence(x)
    assert torch.allclose(ref, compiled, atol=1e-6)
    m.TTdecompile()
    m.TTdecompile()  # idempotent
    assert m[0].raw_beta is raw and isinstance(raw, nn.Parameter) and raw.requires_grad
    assert "beta" in dict(m[1].named_buffers())  # a fixed parameter holds its value throughout
    m.zero_states()
    assert torch.allclose(ref, m.forward_sequence(x), atol=1e-6)


def test_decompile_restores_gradients_and_training(Leaky_cls):
    m = tt.Sequential(Leaky_cls(3))
    m.forward_sequence(torch.randn(3, 2, 3)).sum().backward()
    assert m[0].raw_beta.grad.abs().sum() > 0
    grad = m[0].raw_beta.grad.clone()
    opt = torch.optim.SGD(m.parameters(), lr=0.1)
    m.TTcompile()
    m.TTuncompile()
    assert torch.equal(m[0].raw_beta.grad, grad)
    before = m[0].raw_beta.detach().clone()
    opt.step()
    assert not torch.equal(m[0].raw_beta.detach(), before)


def test_a_changed_compiled_value_is_carried_back_through_the_inverse(Leaky_cls):
    m = tt.Sequential(Leaky_cls(2))
    m.TTcompile()
    m.load_state_dict({**m.state_dict(), "0.beta": torch.tensor([0.2, 0.7])})
    m.TTdecompile()
    assert torch.allclose(m[0].beta, torch.tensor([0.2, 0.7]), atol=1e-6)


def test_compiled_layers_move_with_the_model_and_decompile_on_the_new_dtype(Leaky_cls):
    m = tt.Sequential(Leaky_cls(2))
    m.TTcompile()
    m.double()
    assert m[0].beta.dtype == torch.float64
    m.TTdecompile()
    assert m[0].raw_beta.dtype == torch.float64


def test_model_forward_sequence_loops_forward(Leaky_cls):
    class Net(tt.Model):
        def __init__(self):
            super().__init__()
            self.a = Leaky_cls(3)

        def forward(self, x):
            return self.a(x) * 2

    a, b = Net(), Net()
    b.load_state_dict(a.state_dict())
    x = torch.randn(5, 2, 3)
    assert torch.equal(a.forward_sequence(x), torch.stack([b(xt) for xt in x]))


def test_sequential_runs_other_modules_with_time_folded_into_the_batch(Leaky_cls):
    torch.manual_seed(1)
    a = tt.Sequential(nn.Conv2d(2, 3, 3, padding=1), Leaky_cls(3, dim=-3), nn.Flatten(), nn.Linear(48, 4), Leaky_cls(4))
    b = tt.Sequential(nn.Conv2d(2, 3, 3, padding=1), Leaky_cls(3, dim=-3), nn.Flatten(), nn.Linear(48, 4), Leaky_cls(4))
    b.load_state_dict(a.state_dict())
    x = torch.randn(6, 5, 2, 4, 4)
    seq = a.forward_sequence(x)
    steps = torch.stack([b(xt) for xt in x])
    assert seq.shape == (6, 5, 4)
    assert torch.allclose(seq, steps, atol=1e-6)
    assert all(torch.allclose(a.save_states()[k], b.save_states()[k], atol=1e-6) for k in b.save_states())
    seq_bt = a.forward_sequence(x.transpose(0, 1), time_dim=1)
    assert seq_bt.shape == (5, 6, 4)


@pytest.mark.parametrize("time_dim,exc", [(3, ValueError), (1.0, TypeError)])
def test_bad_time_dim_is_an_error(Leaky_cls, time_dim, exc):
    with pytest.raises(exc, match="time_dim"):
        tt.Sequential(Leaky_cls(3)).forward_sequence(torch.randn(2, 2, 3), time_dim=time_dim)
