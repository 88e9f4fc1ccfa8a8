"""The kernels' slot constants come from `LeakyConfig.layout`; the kernels register through an entry point."""

from __future__ import annotations

import dataclasses
from importlib import metadata

import pytest
import torch
from tracetorch import _internal
from tracetorch.snn.functional import LAYER_NAMES, LeakyConfig


def _key(name: str, cfg: LeakyConfig, twin_names: tuple[str, ...]) -> str:
    return (name if cfg.dual or name in twin_names else "pos_" + name).upper()


# configurations with the neuron options that add states and parameters: the pending
# spikes of reset_timing="next", the adaptation trace and its parameters, the refractory counter
_WITH_OPTIONS = {
    "LIB+adaptive,refractory": ("LIB", dict(adaptive=True, refractory=2)),
    "DSRLITS+adaptive,refractory,next": (
        "DSRLITS",
        dict(adaptive=True, refractory=1, reset="value", reset_timing="next"),
    ),
    "SLIT+refractory,next": ("SLIT", dict(refractory=3, reset_timing="next")),
}


@pytest.mark.parametrize("name", LAYER_NAMES + tuple(_WITH_OPTIONS))
def test_slot_constants_follow_the_layout(name: str) -> None:
    from tracetorch.kernels.ops.leaky import fused
    from tracetorch.kernels.ops.leaky._op import saved_names

    base, options = _WITH_OPTIONS.get(name, (name, {}))
    cfg = dataclasses.replace(LeakyConfig.from_name(base), **options)
    lay = cfg.layout
    twin = LeakyConfig(True, cfg.synaptic, cfg.recurrent, cfg.output, **options).layout
    consts = fused.layout(cfg)
    assert (consts["NS"], consts["NP"], consts["NSAVE"]) == (len(lay.states), len(lay.params), len(saved_names(cfg)))
    for prefix, names, twin_names in (("I_", lay.states, twin.states), ("P_", lay.params, twin.params)):
        for i, n in enumerate(names):
            assert consts[prefix + _key(n, cfg, twin_names)] == i, (name, n)
    for i, n in enumerate(saved_names(cfg)):
        assert consts["V_" + _key(n, cfg, twin.pre + twin.traces)] == i
    # the single pathway of a non-dual layer is the kernel's positive one
    if not cfg.dual:
        assert consts["I_POS_MEM"] == lay.states.index("mem")


def test_a_slot_the_kernels_do_not_know_is_an_error() -> None:
    from tracetorch.kernels.ops.leaky import fused

    cfg = LeakyConfig.from_name("LIB")
    lay = dataclasses.replace(cfg.layout, states=cfg.layout.states + ("mystery",))
    object.__setattr__(cfg, "layout", lay)
    with pytest.raises(ValueError, match="mystery"):
        fused.layout(cfg)


def test_the_kernels_register_through_their_entry_point(monkeypatch: pytest.MonkeyPatch) -> None:
    eps = list(metadata.entry_points(group=_internal.ENTRY_POINT_GROUP))
    assert any(ep.value == "tracetorch.kernels._register:register" for ep in eps)
    monkeypatch.delenv("TRACETORCH_KERNELS", raising=False)
    _internal.reset_kernels()
    try:
        # CPU tensors under the automatic rule: nothing is loaded
        assert _internal.kernels_for("leaky_sequence", torch.zeros(2)) is None
        _internal.load_kernels()
        leaky = _internal.kernels_for("leaky_sequence")
        scan = _internal.kernels_for("linear_scan")
        assert callable(leaky) and callable(scan) and callable(_internal.kernels_for("leaky_step"))
        # ... and the registered kernels decline CPU calls (the PyTorch path runs)
        cfg = LeakyConfig.from_name("LI")
        x = torch.randn(3, 2, 4)
        assert leaky(cfg, x, (torch.zeros(2, 4),), (torch.full((4,), 0.9),), None, None, -1) is None
        assert scan(torch.rand(3, 4), torch.randn(3, 4), None) is None
    finally:
        _internal.reset_kernels()


def test_the_slot_list_matches_the_kernel_signatures() -> None:
    from tracetorch.kernels.ops.leaky import fused
    from tracetorch.kernels.ops.leaky._op import SLOT_ARGS

    assert set(fused._SLOT_ARGS) == set(SLOT_ARGS)


@pytest.mark.parametrize("name", ["LIB", "DSRLITS", "SLIT"])
def test_configurations_with_implemented_options_are_accepted(name: str) -> None:
    """The kernels implement the neuron options (a whitelist: others are declined, see
    ``test_options.py``)."""
    import dataclasses

    from tracetorch.functional import SpikeFunction
    from tracetorch.kernels import dispatch
    from tracetorch.kernels.ops.leaky._op import supports

    plain = LeakyConfig.from_name(name)
    cfg = dataclasses.replace(plain, reset="value", reset_timing="next")  # neuron options of the snn maths
    assert cfg.options
    sf, qf = SpikeFunction("heaviside_atan", 2.0), _internal.QUANT_FUNCTIONS["round"]
    assert supports(plain, sf, qf)
    assert supports(cfg, sf, qf)
    x = torch.randn(3, 2, 4)
    assert dispatch.wants_leaky(cfg, x, (), sf, qf, use_kernels=True)
    assert dispatch.wants_leaky(plain, x, (), sf, qf, use_kernels=True)
    # the pending spikes of reset_timing="next" are state slots of their own
    from tracetorch.kernels.ops.leaky import fused

    consts = fused.layout(cfg)
    for n in cfg.layout.states:
        if n.startswith("prev_") and n != "prev_output":
            assert consts["I_" + n.upper()] == cfg.layout.states.index(n)
    assert consts["NS"] == len(plain.layout.states) + (1 if cfg.output == "B" else 2)


def test_an_unknown_slot_is_declined_not_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    from tracetorch.kernels import _register, dispatch
    from tracetorch.kernels.ops.leaky._op import supports

    cfg = LeakyConfig.from_name("LIB")
    lay = dataclasses.replace(cfg.layout, states=cfg.layout.states + ("mystery",))
    object.__setattr__(cfg, "layout", lay)
    from tracetorch.functional import SpikeFunction

    sf, qf = SpikeFunction("heaviside_atan", 2.0), _internal.QUANT_FUNCTIONS["round"]
    assert not supports(cfg, sf, qf)
    x = torch.randn(3, 2, 4)
    # the registered kernel declines (None: the PyTorch path runs) even when kernels are forced
    assert not dispatch.wants_leaky(cfg, x, (), sf, qf, use_kernels=True)
    states = tuple(torch.zeros(2, 4) for _ in cfg.layout.states)
    params = tuple(torch.full((4,), 0.5) for _ in cfg.layout.params)
    monkeypatch.setenv("TRACETORCH_KERNELS", "1")
    assert _register._leaky_sequence(cfg, x, states, params, sf, qf, -1) is None
