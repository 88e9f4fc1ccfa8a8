"""Launch geometry (a pure function of E and the SM count) and the device guard."""

from __future__ import annotations

import contextlib

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from tracetorch.kernels._launch import device_guard, elements_per_thread, launch_shape, sm_count


def test_large_problems_get_four_warps_and_the_configured_elements_per_thread() -> None:
    assert launch_shape(2**22, 132, 4) == (512, 4)
    assert launch_shape(2**22, 132, 2) == (256, 4)
    assert launch_shape(2**22, 132, 1) == (128, 4)


def test_small_problems_shrink_warps_to_fill_the_sms() -> None:
    # 2**16 elements at 512 per program is 128 programs for 132 SMs: too few
    block, warps = launch_shape(2**16, 132, 4)
    assert (block, warps) == (128, 1)
    assert -(-(2**16) // block) >= 2 * 132
    # a small device keeps the full block
    assert launch_shape(2**16, 8, 4) == (512, 4)


def test_tiny_problems_use_the_next_power_of_two_of_E() -> None:
    assert launch_shape(5, 132, 4) == (16, 1)
    assert launch_shape(100, 1, 4) == (128, 1)
    assert launch_shape(0, 132, 4) == (16, 1)


@given(E=st.integers(0, 2**33), sms=st.integers(1, 200), ept=st.sampled_from([1, 2, 4]))
def test_launch_shape_properties(E: int, sms: int, ept: int) -> None:
    block, warps = launch_shape(E, sms, ept)
    assert block >= 16 and block & (block - 1) == 0
    assert warps in (1, 2, 4)
    assert block <= ept * 32 * warps  # never more elements per thread than configured
    if warps < 4:  # shrunk only when the full block would under-fill the device
        assert -(-E // (ept * 32 * warps * 2)) < 2 * sms


@pytest.mark.parametrize(
    "bad", [dict(E=-1, sms=1, per_thread=4), dict(E=4, sms=0, per_thread=4), dict(E=4, sms=1, per_thread=0)]
)
def test_launch_shape_rejects_bad_sizes(bad: dict) -> None:
    with pytest.raises(ValueError, match="launch_shape"):
        launch_shape(**bad)


def test_elements_per_thread_follow_kernel_size() -> None:
    assert elements_per_thread(False, False, 2, False) == 4  # LIB forward
    assert elements_per_thread(False, False, 2, True) == 4  # LIB backward
    assert elements_per_thread(True, True, 4, False) == 2  # DSRLITS forward
    assert elements_per_thread(True, True, 4, True) == 2  # DSRLITS backward
    assert elements_per_thread(True, False, 2, True) == 2  # DLIB backward
    assert elements_per_thread(False, False, 4, True) == 4  # LITS backward


def test_device_guard_is_a_no_op_off_cuda() -> None:
    # on CPU only this code path can be checked; on CUDA it is torch.cuda.device(x.device)
    assert isinstance(device_guard(torch.device("cpu")), contextlib.nullcontext)
    assert sm_count(torch.device("cpu")) == 1


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_device_guard_selects_the_tensors_gpu() -> None:
    dev = torch.device("cuda", torch.cuda.device_count() - 1)
    with device_guard(dev):
        assert torch.cuda.current_device() == dev.index


def test_every_launch_goes_through_the_device_guard(device: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from tracetorch._internal import QUANT_FUNCTIONS
    from tracetorch.functional import SpikeFunction
    from tracetorch.kernels import dispatch
    from tracetorch.kernels.ops.leaky import fused as lf
    from tracetorch.kernels.ops.scan import fused as sf
    from tracetorch.snn.functional import LeakyConfig

    seen: list[torch.device] = []

    def guard(dev: torch.device) -> contextlib.nullcontext:
        seen.append(dev)
        return contextlib.nullcontext()

    monkeypatch.setattr(lf, "device_guard", guard)
    monkeypatch.setattr(sf, "device_guard", guard)
    cfg = LeakyConfig.from_name("LIB")
    x = torch.randn(3, 2, 4, device=device, requires_grad=True)
    st_ = tuple(torch.zeros(2, 4, device=device) for _ in cfg.states)
    ps = tuple(torch.full((4,), 0.5, device=device) for _ in cfg.params)
    out, _ = dispatch.leaky_sequence(
        cfg, x, st_, ps, SpikeFunction("heaviside_atan", 2.0), QUANT_FUNCTIONS["round"], use_kernels=True
    )
    out.sum().backward()
    a, b = torch.rand(3, 4, device=device, requires_grad=True), torch.randn(3, 4, device=device)
    dispatch.linear_scan(a, b, use_kernels=True).sum().backward()
    assert seen == [x.device] * 4
