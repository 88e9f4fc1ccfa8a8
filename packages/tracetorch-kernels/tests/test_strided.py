"""Neurons along any axis: the kernels index the caller's layout, no transposing copies.

The reference here is the path the kernels took before (the neuron axis moved last,
copied, run with ``dim=-1``, moved back): outputs, final states and every gradient
must be bit-identical to it, for ``dim`` -1, -2 and -3 and for non-contiguous inputs.
"""

from __future__ import annotations

import pytest
import torch
import tracetorch.functional as TF
from kernel_testlib import ranked_grads
from tracetorch.kernels import leaky_sequence
from tracetorch.kernels.ops.leaky import fused
from tracetorch.snn.functional import LeakyConfig

ATAN = TF.heaviside_atan(2.0)


def _inputs(name: str, step: tuple[int, ...], dim: int, T: int, device: str, seed: int = 0):
    cfg = LeakyConfig.from_name(name)
    g = torch.Generator().manual_seed(seed)
    N = step[dim]
    view = [1] * (len(step) - (dim % len(step)))
    view[0] = N  # parameters as the layers view them for this dim: [N, 1, ..., 1]
    x = (torch.randn((T,) + step, generator=g) * 1.5).to(device).requires_grad_()
    states = tuple((torch.randn(step, generator=g) * 0.5).to(device).requires_grad_() for _ in cfg.states)
    params = []
    for info in cfg.params:
        if info.kind == "decay":
            v = torch.rand(N, generator=g) * 0.8 + 0.1
        elif info.kind == "threshold":
            v = torch.rand(N, generator=g) * 0.5 + 0.5
        else:
            v = torch.randn(N, generator=g)
        params.append(v.to(device).view(view).requires_grad_())
    return cfg, x, states, tuple(params)


def _old_path(cfg, x, states, params, dim: int, spike, quant):  # type: ignore[no-untyped-def]
    """The former implementation of ``dim != -1``: move the neurons last (copies), run, move back."""
    nd = x.ndim - 1
    d = dim % nd
    step = tuple(x.shape[1:])
    xs = x.movedim(d + 1, -1)
    sts = tuple(s.expand(step).movedim(d, -1) for s in states)
    ps = tuple(p.reshape(-1) for p in params)
    out, final = leaky_sequence(cfg, xs, sts, ps, spike, quant, -1)
    return out.movedim(-1, d + 1), tuple(s.movedim(-1, d) for s in final)


def _assert_identical(name: str, step: tuple[int, ...], dim: int, device: str, spike=ATAN, quant=TF.quant_round):  # type: ignore[no-untyped-def]
    cfg, x, states, params = _inputs(name, step, dim, 4, device)
    ins = (x, *states, *params)
    torch.manual_seed(11)
    out, final = leaky_sequence(cfg, x, states, params, spike, quant, dim)
    torch.manual_seed(11)
    ref, rfinal = _old_path(cfg, x, states, params, dim, spike, quant)
    assert out.shape == ref.shape and torch.equal(out, ref)
    for s, r in zip(final, rfinal):
        assert s.shape == r.shape and torch.equal(s, r)
    for a, b in zip(ranked_grads(out, final, ins), ranked_grads(ref, rfinal, ins)):
        assert a.shape == b.shape
        assert torch.equal(a, b)


@pytest.mark.parametrize(
    "name,step,dim",
    [
        ("DSRLITS", (2, 5, 3), -1),
        ("DSRLITS", (2, 5, 3), -2),
        ("SRLIB", (2, 5, 2, 3), -3),
        ("LIEMA", (3, 4, 2), -2),
        ("DLIT", (5, 2, 3), 0),
    ],
)
def test_any_neuron_axis_bit_identical_to_moving_it_last(device: str, poison, name: str, step, dim: int) -> None:
    poison(16)  # several programs, a partial last block, unwritten elements would be NaN
    _assert_identical(name, step, dim, device)


def test_non_contiguous_input(device: str) -> None:
    """A transposed (non-contiguous) input and broadcast states give the same numbers
    as the same values contiguous."""
    cfg, x, states, params = _inputs("SRLIT", (3, 4, 2), -2, 3, device)
    xt = x.detach().transpose(1, 3).contiguous().transpose(1, 3).requires_grad_()  # same values, other strides
    assert not xt.is_contiguous()
    out, final = leaky_sequence(cfg, xt, states, params, ATAN, TF.quant_round, -2)
    ref, rfinal = _old_path(cfg, x, states, params, -2, ATAN, TF.quant_round)
    assert torch.equal(out, ref)
    for s, r in zip(final, rfinal):
        assert torch.equal(s, r)
    gk = ranked_grads(out, final, (xt, *params))
    gr = ranked_grads(ref, rfinal, (x, *params))
    for a, b in zip(gk, gr):
        assert torch.equal(a, b)


def test_contiguous_input_reaches_the_kernel_uncopied(device: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """For a contiguous ``[T, B, C, H, W]`` input with neurons along C the kernel reads
    the input's own memory and its output is returned as is (no transposing copies)."""
    cfg, x, states, params = _inputs("LIB", (2, 3, 2, 2), -3, 3, device)
    seen = {}
    orig = fused.leaky_forward

    def spy(xk, *a, **k):  # type: ignore[no-untyped-def]
        seen["x"] = xk.data_ptr()
        seen["inner"] = k.get("inner")
        res = orig(xk, *a, **k)
        seen["out"] = res[0].data_ptr()
        return res

    monkeypatch.setattr(fused, "leaky_forward", spy)
    with torch.no_grad():
        out, _ = leaky_sequence(cfg, x, states, params, ATAN, TF.quant_round, -3)
    assert seen["x"] == x.data_ptr()
    assert seen["inner"] == 4  # H * W elements between two channels
    assert out.data_ptr() == seen["out"] and out.is_contiguous()


def test_dim_out_of_range_is_refused() -> None:
    cfg, x, states, params = _inputs("LIB", (2, 3), -1, 2, "cpu")
    with pytest.raises(ValueError, match="out of range"):
        leaky_sequence(cfg, x, states, params, ATAN, TF.quant_round, 2)
