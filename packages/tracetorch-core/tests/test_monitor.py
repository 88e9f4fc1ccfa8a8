"""tt.Monitor on core layers: selection, stepping and sequence recording, the emit protocol, errors."""

from __future__ import annotations

import pytest
import torch
import tracetorch as tt
from torch import nn
from tracetorch._internal import emit, emit_sequence, wants


class Spiky(tt.Layer):
    """Integrate-and-fire that emits its membrane before the reset; a fused forward_sequence."""

    emitted_names = ("mem_pre",)
    emitted_sequence_names = ("mem", "mem_pre")

    def __init__(self, n: int, fused_emits: bool = True):
        super().__init__(n)
        self._initialize_state("mem")
        self.fused_emits = fused_emits

    def _step(self, x):
        mem_pre = 0.8 * self.mem + x
        s = (mem_pre >= 1.0).to(x.dtype)
        return s, mem_pre, mem_pre - s

    def forward(self, x):
        self._ensure_states(x)
        s, mem_pre, self.mem = self._step(x)
        emit(self, "mem_pre", mem_pre)
        return s

    def forward_sequence(self, x, time_dim=0):  # "fused": no per-step call of forward
        xt = x.movedim(time_dim, 0)
        self._ensure_states(xt[0])
        outs, pres, mems = [], [], []
        for step in xt:
            s, mem_pre, self.mem = self._step(step)
            outs.append(s), pres.append(mem_pre), mems.append(self.mem)
        if self.fused_emits and wants(self, "mem_pre"):
            emit_sequence(self, "mem_pre", torch.stack(pres))
        if self.fused_emits and wants(self, "mem"):
            emit_sequence(self, "mem", torch.stack(mems))
        return torch.stack(outs).movedim(0, time_dim)


class Net(tt.Model):
    def __init__(self, Leaky):
        super().__init__()
        self.fc = nn.Linear(3, 4)
        self.a = Leaky(4)
        self.b = Spiky(4)

    def forward(self, x):
        return self.b(self.a(self.fc(x)))

    def forward_sequence(self, x, time_dim=0):
        h = self.fc(x)
        return self.b.forward_sequence(self.a.forward_sequence(h, time_dim), time_dim)


def _run_steps(net, x):
    net.zero_states()
    return torch.stack([net(xt) for xt in x])


def test_records_outputs_and_states_at_every_step(Leaky_cls):
    net = Net(Leaky_cls)
    x = torch.randn(6, 2, 3)
    mon = tt.Monitor(net, states={"a": ["mem", "trace"], "b": ["mem", "mem_pre"]})
    assert mon.paths == ("a", "b") and not mon.recording
    with mon:
        assert mon.recording
        net.zero_states()
        outs, mems = [], []
        for xt in x:
            outs.append(net(xt))
            mems.append(net.b.mem)
    assert not mon.recording
    assert mon.output("b").shape == (6, 2, 4)
    assert torch.equal(mon["b"], torch.stack(outs))
    assert torch.equal(mon.get("b", "mem"), torch.stack(mems))
    assert mon.get("a", "trace").shape == (6, 2, 4)
    # the membrane before the reset: after-reset membrane plus the spike
    assert torch.equal(mon.get("b", "mem_pre") - mon["b"], mon.get("b", "mem"))
    assert mon.num_steps() == 6


def test_sequence_mode_records_the_same_as_stepping(Leaky_cls):
    torch.manual_seed(0)
    net = Net(Leaky_cls)
    x = torch.randn(7, 2, 3) * 2
    mon = tt.Monitor(net, states={"a": ["mem"], "b": ["mem", "mem_pre"]})
    with mon:
        _run_steps(net, x)
    stepped = {(p, n): mon.get(p, n) for p in mon.paths for n in ("output", "mem")} | {
        ("b", "mem_pre"): mon.get("b", "mem_pre")
    }
    with mon:
        net.zero_states()
        net.forward_sequence(x.movedim(0, 1), time_dim=1)  # time on axis 1: recordings are still time first
    for (p, n), v in stepped.items():
        torch.testing.assert_close(mon.get(p, n), v, rtol=0, atol=1e-6)


def test_a_fused_layer_that_does_not_emit_is_a_clear_error_before_it_runs(Leaky_cls):
    net = Net(Leaky_cls)
    net.b.fused_emits = False
    Spiky.emitted_sequence_names = ()
    try:
        mon = tt.Monitor(net, layers="b", states=["mem"])
        with mon:
            net.zero_states()
            with pytest.raises(RuntimeError, match=r"Spiky at 'b'.*\['mem'\].*did not run"):
                net.forward_sequence(torch.randn(4, 2, 3))
        assert net.b.mem is None  # nothing ran
        mon.remove()
        mon = tt.Monitor(net, layers="b")  # outputs alone are fine
        with mon:
            net.zero_states()
            y = net.forward_sequence(torch.randn(4, 2, 3))
        assert torch.equal(mon["b"], y)
    finally:
        Spiky.emitted_sequence_names = ("mem", "mem_pre")


def test_unknown_state_name_lists_the_names_the_layer_has(Leaky_cls):
    net = Net(Leaky_cls)
    with pytest.raises(ValueError, match=r"Leaky at 'a' has no state 'membrane'. It has: \['mem', 'trace'\]"):
        tt.Monitor(net, layers="a", states=["membrane"])
    with pytest.raises(ValueError, match=r"no traceTorch layer at path 'fc'.*\['a', 'b'\]"):
        tt.Monitor(net, layers="fc")
    with pytest.raises(ValueError, match="no layer of type"):
        tt.Monitor(net, layers=nn.GRU)
    with pytest.raises(TypeError, match="selector"):
        tt.Monitor(net, layers=[3])
    with pytest.raises(ValueError, match="not a chosen layer"):
        tt.Monitor(net, layers="a", states={"b": ["mem"]})


def test_selection_by_type_predicate_and_union(Leaky_cls):
    net = Net(Leaky_cls)
    assert tt.Monitor(net, layers=Spiky).paths == ("b",)
    assert tt.Monitor(net, layers=lambda path, layer: path.startswith("a")).paths == ("a",)
    assert tt.Monitor(net, layers=[Spiky, "a"]).paths == ("a", "b")


def test_nothing_is_recorded_outside_the_context_and_remove_restores_the_layer(Leaky_cls):
    net = Net(Leaky_cls)
    before = dict(net.b.__dict__)
    mon = tt.Monitor(net, states={"b": ["mem_pre"]})
    _run_steps(net, torch.randn(3, 2, 3))
    with pytest.raises(ValueError, match="nothing recorded"):
        mon.output("a")
    with mon:
        _run_steps(net, torch.randn(3, 2, 3))
    assert mon.num_steps() == 3
    with mon:  # entering again clears
        _run_steps(net, torch.randn(2, 2, 3))
    assert mon.num_steps() == 2
    mon.start(clear=False)
    _run_steps(net, torch.randn(2, 2, 3))
    mon.stop()
    assert mon.num_steps() == 4
    mon.remove()
    assert set(net.b.__dict__) == set(before) and not net.b._forward_hooks
    assert mon.num_steps() == 4  # recordings stay readable
    with pytest.raises(RuntimeError, match="removed"):
        mon.start()


def test_detach_and_cpu_options(Leaky_cls):
    net = Net(Leaky_cls)
    x = torch.randn(3, 2, 3)
    with tt.Monitor(net, layers="a") as mon:
        _run_steps(net, x)
    assert mon["a"].requires_grad
    with tt.Monitor(net, layers="a", detach=True, cpu=True) as mon:
        _run_steps(net, x)
    assert not mon["a"].requires_grad and mon["a"].device.type == "cpu"


def test_batch_size_change_without_clear_is_a_clear_error(Leaky_cls):
    net = Net(Leaky_cls)
    mon = tt.Monitor(net, layers="a")
    mon.start()
    _run_steps(net, torch.randn(2, 2, 3))
    _run_steps(net, torch.randn(2, 5, 3))
    mon.stop()
    with pytest.raises(ValueError, match="different shapes"):
        mon["a"]


def test_recording_changes_no_output_state_or_gradient(Leaky_cls):
    torch.manual_seed(1)
    net = Net(Leaky_cls)
    x = torch.randn(5, 2, 3)

    def run():
        net.zero_grad()
        y = _run_steps(net, x)
        y2 = (net.a.mem * 1.5).sum() + net.b.mem.pow(2).sum()
        (y.sum() + y2).backward()
        return y, net.save_states(), [p.grad.clone() for p in net.parameters()]

    plain = run()
    mon = tt.Monitor(net, states={"a": ["mem", "trace"], "b": ["mem", "mem_pre"]})
    attached = run()
    with mon:
        recorded = run()
    for other in (attached, recorded):
        assert torch.equal(plain[0], other[0])
        assert plain[1].keys() == other[1].keys() and all(torch.equal(plain[1][k], other[1][k]) for k in plain[1])
        assert all(torch.equal(a, b) for a, b in zip(plain[2], other[2]))


def test_an_idle_monitor_leaves_nothing_on_the_model(Leaky_cls):
    net = Net(Leaky_cls)
    mon = tt.Monitor(net, states={"b": ["mem", "mem_pre"]}, count_synops=True)
    plain = {name: dict(m.__dict__) for name, m in net.named_modules()}

    def installed():
        return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in net.modules()) + sum(
            "forward_sequence" in m.__dict__ or "_tt_monitor_sink" in m.__dict__ for m in net.modules()
        )

    assert installed() == 0
    with mon:
        assert installed() > 0
    assert installed() == 0
    assert {name: set(m.__dict__) for name, m in net.named_modules()} == {k: set(v) for k, v in plain.items()}


def test_two_monitors_on_one_layer_both_record_in_both_modes(Leaky_cls):
    net = Net(Leaky_cls)
    x = torch.randn(4, 2, 3)
    m1 = tt.Monitor(net, layers="b", states=["mem_pre"])
    m2 = tt.Monitor(net, layers="b", states=["mem"])
    with m1, m2:
        _run_steps(net, x)
    assert torch.equal(m1["b"], m2["b"]) and m1.get("b", "mem_pre").shape == m2.get("b", "mem").shape == (4, 2, 4)
    m1.start()
    m2.start()
    net.zero_states()
    y = net.forward_sequence(x)
    m1.stop()  # out of order: m2's wrapper still calls m1's, which now passes through
    net.zero_states()
    net.forward_sequence(x)
    m2.stop()
    assert torch.equal(m1["b"], y) and m1.num_steps() == 4
    assert m2.num_steps() == 8 and torch.equal(m2["b"][:4], y)
    assert "forward_sequence" not in net.b.__dict__ or not m1.recording
