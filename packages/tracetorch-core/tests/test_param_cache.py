"""The activated parameters of a layer are computed once per sequence, and never stale.

`Layer._param_value` caches ``activation(raw)`` between `zero_states` /
`detach_states` calls. These tests change everything that decides the value
(optimizer steps, ``load_state_dict``, ``.to()``, ``TTcompile``, grad and inference
modes, ``.data`` swaps, ``requires_grad``) between two steps and check that the next
step uses the new value; that gradients equal those of recomputing the activation
every step; and that a backward pass followed by more steps works exactly where it
worked before the cache (the cached value's autograd node is freed by that backward).
"""

from __future__ import annotations

import copy
import gc
import pickle
import weakref

import pytest
import torch
import tracetorch as tt


class Leaky(tt.Layer):
    """A leaky integrator with a learnable decay and threshold (read through the cache)."""

    def __init__(self, n: int, beta: float = 0.8, threshold: float = 1.2) -> None:
        super().__init__(n)
        self._register_decay("beta", beta)
        self._register_threshold("threshold", threshold)
        self._initialize_state("mem")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._ensure_states(x)
        beta = self._param_value("beta")
        th = self._param_value("threshold")
        self.mem = beta * self.mem + x
        return torch.tanh(self.mem - th)


def fresh_steps(layer: Leaky, xs: list[torch.Tensor]) -> list[torch.Tensor]:
    """The same maths with the activations recomputed at every step (the uncached path)."""
    mem = torch.zeros_like(xs[0])
    outs = []
    for x in xs:
        beta = torch.sigmoid(layer.raw_beta)
        th = torch.nn.functional.softplus(layer.raw_threshold)
        mem = beta * mem + x
        outs.append(torch.tanh(mem - th))
    return outs


class Gain(tt.Layer):
    """Output ``x * gain``; its state (a step counter) never depends on the parameter."""

    def __init__(self, n: int) -> None:
        super().__init__(n)
        self._register_threshold("gain", 1.5)
        self._initialize_state("count")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._ensure_states(x)
        self.count = self.count + 1.0
        return x * self._param_value("gain")


def test_the_activation_is_computed_once_per_sequence():
    layer = Leaky(4)
    layer(torch.randn(2, 4))
    first = layer._param_value("beta")
    layer(torch.randn(2, 4))
    assert layer._param_value("beta") is first  # reused between steps
    layer.zero_states()
    assert layer._param_value("beta") is not first
    again = layer._param_value("beta")
    layer.detach_states()
    assert layer._param_value("beta") is not again
    assert torch.equal(layer._param_value("beta"), torch.sigmoid(layer.raw_beta))


def test_an_optimizer_step_between_steps_changes_the_value_used():
    # no backward and no zeroing between the two steps: only the version counter of the
    # raw parameter (bumped by the optimizer's in-place update) says the value changed
    layer = Leaky(4)
    opt = torch.optim.SGD(layer.parameters(), lr=0.5)
    x = torch.randn(3, 4)
    layer(x)
    before = layer._param_value("beta").detach().clone()
    mem = layer.mem.detach()
    layer.raw_beta.grad = torch.ones(4)
    layer.raw_threshold.grad = torch.ones(4)
    opt.step()
    out = layer(x)
    beta_now = torch.sigmoid(layer.raw_beta.detach())
    assert not torch.equal(beta_now, before)
    assert torch.equal(layer._param_value("beta"), beta_now)
    th_now = torch.nn.functional.softplus(layer.raw_threshold.detach())
    assert torch.equal(out, torch.tanh(beta_now * mem + x - th_now))


def test_an_online_learning_loop_uses_each_update():
    torch.manual_seed(0)
    layer = Leaky(4)
    opt = torch.optim.SGD(layer.parameters(), lr=0.5)
    xs = [torch.randn(3, 4) for _ in range(4)]
    layer(xs[0])
    for x in xs[1:]:
        opt.zero_grad()
        mem = layer.mem
        out = layer(x)
        assert torch.equal(layer.mem, torch.sigmoid(layer.raw_beta) * mem + x)
        out.sum().backward()
        opt.step()
        layer.detach_states()
    assert not torch.equal(torch.sigmoid(layer.raw_beta.detach()), torch.full((4,), 0.8))


def test_an_in_place_change_without_zeroing_is_seen_by_the_next_step():
    layer = Leaky(4)
    x = torch.randn(2, 4)
    layer(x)
    with torch.no_grad():
        layer.raw_threshold.fill_(0.0)  # bumps the version counter
    mem = layer.mem
    out = layer(x)
    th = torch.nn.functional.softplus(torch.zeros(4))
    assert torch.equal(out, torch.tanh(layer._param_value("beta") * mem + x - th))


def test_swapping_data_and_toggling_requires_grad_are_seen():
    layer = Leaky(4)
    x = torch.randn(2, 4)
    layer(x)
    layer.raw_beta.data = torch.full((4,), 2.0)  # a new storage, same version counter
    layer(x)
    assert torch.equal(layer._param_value("beta"), torch.sigmoid(torch.full((4,), 2.0)))
    layer.zero_states()
    layer(x)
    assert layer._param_value("beta").requires_grad
    layer.raw_beta.requires_grad_(False)
    assert not layer._param_value("beta").requires_grad


def test_load_state_dict_between_steps_is_used_by_the_next_step():
    layer = Leaky(4)
    other = Leaky(4, beta=0.3, threshold=0.5)
    x = torch.randn(2, 4)
    layer(x)
    layer.load_state_dict(other.state_dict())
    assert torch.allclose(layer._param_value("beta"), torch.full((4,), 0.3))
    assert torch.allclose(layer._param_value("threshold"), torch.full((4,), 0.5))


def test_to_dtype_between_steps_is_used_by_the_next_step():
    layer = Leaky(4)
    layer(torch.randn(2, 4))
    layer.double()
    out = layer(torch.randn(2, 4, dtype=torch.float64))
    assert out.dtype == torch.float64
    assert layer._param_value("beta").dtype == torch.float64
    assert layer._param_value("threshold").dtype == torch.float64


def test_ttcompile_and_decompile_invalidate():
    layer = Leaky(4)
    x = torch.randn(2, 4)
    cached = layer._param_value("beta")
    layer(x)
    layer.TTcompile()
    compiled = layer._param_value("beta")
    assert compiled is layer._buffers["beta"]
    assert not compiled.requires_grad
    sd = layer.state_dict()
    sd["beta"] = torch.full((4,), 0.25)
    layer.load_state_dict(sd)
    layer(x)
    assert torch.equal(layer._param_value("beta"), torch.full((4,), 0.25))
    layer.TTdecompile()
    value = layer._param_value("beta")
    assert value is not cached
    assert value.requires_grad
    assert torch.allclose(value, torch.full((4,), 0.25))


def test_no_grad_then_grad_builds_the_graph():
    layer = Leaky(4)
    x = torch.randn(2, 4)
    with torch.no_grad():
        layer(x)
    layer.zero_states()
    with torch.no_grad():
        layer(x)
    layer.detach_states()
    out = layer(x)  # grad mode again: the value must carry a graph to raw_beta
    out.sum().backward()
    assert layer.raw_beta.grad is not None and bool(layer.raw_beta.grad.abs().sum() > 0)


def test_without_a_graph_nothing_is_cached():
    layer = Leaky(4)
    with torch.no_grad():
        layer(torch.randn(2, 4))
        assert layer._param_value("beta") is not layer._param_value("beta")
    layer.raw_beta.requires_grad_(False)
    assert layer._param_value("beta") is not layer._param_value("beta")
    assert layer._param_value("threshold") is layer._param_value("threshold")


def test_no_grad_steps_then_a_grad_step_without_zeroing():
    layer = Leaky(4)
    x = torch.randn(2, 4)
    with torch.no_grad():
        layer(x)
        assert not layer._param_value("beta").requires_grad
    out = layer(x)  # the cached no-grad value must not be reused here
    out.sum().backward()
    assert layer.raw_beta.grad is not None and bool(layer.raw_beta.grad.abs().sum() > 0)
    assert layer.raw_threshold.grad is not None and bool(layer.raw_threshold.grad.abs().sum() > 0)


def test_inference_mode_then_training_steps():
    layer = Leaky(4)
    x = torch.randn(2, 4)
    with torch.inference_mode():
        layer(x)
    layer.zero_states()
    out = layer(x)
    out.sum().backward()  # an inference tensor reused here would raise
    assert layer.raw_beta.grad is not None


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_gradients_equal_recomputing_the_activation_every_step(dtype):
    torch.manual_seed(1)
    layer = Leaky(16).to(dtype)
    xs = [torch.randn(5, 16, dtype=dtype, requires_grad=True) for _ in range(30)]
    outs = [layer(x) for x in xs]
    loss = sum((o * (i + 1)).sum() for i, o in enumerate(outs))
    g_cached = torch.autograd.grad(loss, [layer.raw_beta, layer.raw_threshold, *xs])
    ref = fresh_steps(layer, xs)
    for a, b in zip(outs, ref):
        assert torch.equal(a, b)  # the values themselves are bit-identical
    loss_ref = sum((o * (i + 1)).sum() for i, o in enumerate(ref))
    g_fresh = torch.autograd.grad(loss_ref, [layer.raw_beta, layer.raw_threshold, *xs])
    for a, b in zip(g_cached, g_fresh):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-6 * float(b.abs().max()))


def test_backward_then_more_steps_works_where_it_worked_before():
    # the state never depends on `gain`, so stepping on after a backward (without
    # zeroing) was always allowed; the cached gain's node was freed by that backward
    layer = Gain(3)
    x = torch.randn(2, 3)
    layer(x).sum().backward()
    g1 = layer.raw_gain.grad.clone()
    layer(x).sum().backward()  # must not raise "backward through the graph a second time"
    torch.testing.assert_close(layer.raw_gain.grad, 2 * g1)


def test_backward_with_retain_graph_then_more_steps():
    layer = Leaky(4)
    xs = [torch.randn(2, 4) for _ in range(3)]
    out = layer(xs[0])
    out.sum().backward(retain_graph=True)
    out2 = layer(xs[1])
    out2.sum().backward()  # through step 1's retained graph and step 2
    layer.zero_states()
    ref = fresh_steps(layer, xs[:2])
    grads = torch.autograd.grad(ref[0].sum() + ref[1].sum(), [layer.raw_beta])
    torch.testing.assert_close(layer.raw_beta.grad, grads[0], rtol=1e-6, atol=1e-7)


def test_a_stateful_graph_after_backward_raises_as_before():
    # the state depends on beta: stepping on after a backward without detach_states
    # raised before the cache, and still raises the same torch error
    layer = Leaky(4)
    x = torch.randn(2, 4)
    layer(x).sum().backward()
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        layer(x).sum().backward()


def test_the_cache_frees_its_graph_without_a_garbage_collection():
    layer = Leaky(4)
    was = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        out = layer(torch.randn(2, 4))
        value = weakref.ref(layer._param_value("beta"))
        out.sum().backward()
        del out
        layer.zero_states()
        assert value() is None
    finally:
        if was:
            gc.enable()


def test_deepcopy_and_pickle_mid_sequence():
    layer = Leaky(4)
    x = torch.randn(2, 4)
    layer(x)
    twin = copy.deepcopy(layer)  # the cache holds a tensor with a graph, which deepcopy refuses
    assert torch.equal(twin(x), layer(x))
    layer.detach_states()
    with torch.no_grad():
        layer(x)
    assert "_param_cache" not in layer.__getstate__()
    clone = pickle.loads(pickle.dumps(layer))
    with torch.no_grad():
        assert torch.equal(clone(x), layer(x))


def test_not_cached_under_autocast():
    layer = Leaky(4)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        a = layer._param_value("beta")
        b = layer._param_value("beta")
    assert a is not b
    assert torch.equal(a, b)


def test_a_masked_zero_through_a_model_invalidates():
    class Net(tt.Model):
        def __init__(self) -> None:
            super().__init__()
            self.lay = Leaky(4)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.lay(x)

    net = Net()
    net(torch.randn(2, 4))
    first = net.lay._param_value("beta")
    net.zero_states(torch.tensor([True, False]))
    assert net.lay._param_value("beta") is not first


def test_a_layer_on_the_meta_device_steps():
    layer = Leaky(4).to("meta")
    out = layer(torch.zeros(2, 4, device="meta"))
    assert out.shape == (2, 4) and out.device.type == "meta"
