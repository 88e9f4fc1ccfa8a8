"""Reference loops of the peer libraries' neuron equations, written out op by op.

Each function runs a whole ``[T, ...]`` input and returns ``(spikes, membranes)``, both
``[T, ...]``, where ``membranes[t]`` is the membrane the peer returns (or keeps) after
step ``t``. The operations are in the peer's own order, so in float32 the loops agree
with the peers bit for bit (``test_peers.py`` proves it against the installed peers),
and they are the specification that the layers' neuron options were built to (the same
module checks the layers against the peers themselves).

Conventions that differ between libraries and matter for exactness:

* snnTorch and Norse fire when ``mem - threshold > 0``; SpikingJelly and traceTorch
  when ``>= 0``.
* snnTorch's atan and SpikingJelly's ATan surrogate have the derivative
  ``(alpha/2) / (1 + (pi/2 * alpha * v)**2)`` (traceTorch's ``heaviside_atan(alpha)``);
  Norse's default ``"super"`` (SuperSpike) has ``1 / (|v| + 1)**2`` whatever its alpha
  (traceTorch's ``heaviside_fast_sigmoid(slope=1)``).
"""

from __future__ import annotations

import math
from typing import Optional

import torch
from torch import Tensor

__all__ = [
    "spike",
    "snntorch_leaky",
    "snntorch_synaptic",
    "spikingjelly_node",
    "norse_lif_box",
    "norse_lif",
]


class _Spike(torch.autograd.Function):
    @staticmethod
    def forward(ctx, v: Tensor, strict: bool, surrogate: str, alpha: float) -> Tensor:  # type: ignore[override]
        ctx.save_for_backward(v)
        ctx.surrogate = surrogate
        ctx.alpha = alpha
        return (v > 0).to(v.dtype) if strict else (v >= 0).to(v.dtype)

    @staticmethod
    def backward(ctx, grad: Tensor):  # type: ignore[override]
        (v,) = ctx.saved_tensors
        if ctx.surrogate == "atan":
            a = ctx.alpha
            d = a / 2 / (1 + (math.pi / 2 * a * v).pow(2))
        elif ctx.surrogate == "superspike":
            d = 1.0 / (v.abs() + 1.0).pow(2)
        else:
            raise ValueError(f"unknown surrogate {ctx.surrogate!r}")
        return grad * d, None, None, None


def spike(v: Tensor, *, strict: bool, surrogate: str = "atan", alpha: float = 2.0) -> Tensor:
    """Heaviside of ``v`` (``v > 0`` if ``strict`` else ``v >= 0``) with a surrogate derivative.

    Args:
        v: Membrane minus threshold.
        strict: ``True`` for snnTorch/Norse (``> 0``), ``False`` for SpikingJelly/traceTorch (``>= 0``).
        surrogate: ``"atan"`` (snnTorch, SpikingJelly) or ``"superspike"`` (Norse's ``"super"``).
        alpha: The atan sharpness.

    Returns:
        0/1 spikes in ``v``'s dtype.
    """
    return _Spike.apply(v, strict, surrogate, alpha)


def _snntorch_reset_now(mem: Tensor, do_reset: Tensor, th: Tensor, reset_mechanism: str) -> Tensor:
    """snnTorch's ``reset_delay=False`` correction: the reset of this step's spike
    (``do_reset = spk - reset``) applied at once (``* th``, or ``* mem`` for zero)."""
    if reset_mechanism == "subtract":
        return mem - do_reset * th
    if reset_mechanism == "zero":
        return mem - do_reset * mem
    return mem


def snntorch_leaky(
    x: Tensor,
    beta: float,
    threshold: float = 1.0,
    reset_mechanism: str = "subtract",
    reset_delay: bool = True,
) -> tuple[Tensor, Tensor]:
    """snnTorch ``Leaky`` (atan surrogate), as in its ``forward``.

    ``reset = H(mem[t-1] - threshold)`` is computed from the kept membrane and detached;
    ``subtract``: ``mem = beta*mem + x - reset*threshold``; ``zero``: the kept membrane is
    multiplied by ``1 - reset`` before the decay; ``none``: no reset. ``spk = H(mem - threshold)``.
    With ``reset_delay=False`` the spike of this step also resets now:
    ``mem -= (spk - reset) * threshold`` (``* mem`` for ``zero``).
    """
    b = torch.tensor(beta, dtype=x.dtype).clamp(0, 1)
    th = torch.tensor(threshold, dtype=x.dtype)
    mem = torch.zeros_like(x[0])
    spikes, mems = [], []
    for xt in x:
        reset = spike(mem - th, strict=True).clone().detach()
        if reset_mechanism == "subtract":
            mem = b * mem + xt - reset * th
        elif reset_mechanism == "zero":
            mem = (1 - reset) * mem
            mem = b * mem + xt
        elif reset_mechanism == "none":
            mem = b * mem + xt
        else:
            raise ValueError(reset_mechanism)
        s = spike(mem - th, strict=True)
        if not reset_delay:
            mem = _snntorch_reset_now(mem, s - reset, th, reset_mechanism)
        spikes.append(s)
        mems.append(mem)
    return torch.stack(spikes), torch.stack(mems)


def snntorch_synaptic(
    x: Tensor,
    alpha: float,
    beta: float,
    threshold: float = 1.0,
    reset_mechanism: str = "subtract",
    reset_delay: bool = True,
) -> tuple[Tensor, Tensor]:
    """snnTorch ``Synaptic`` (atan surrogate): ``syn = alpha*syn + x`` (no ``1 - alpha``), ``mem = beta*mem + syn``.

    The reset (``reset = H(mem[t-1] - threshold)``, detached) is applied to the *new*
    membrane: ``subtract``: ``mem -= reset*threshold``; ``zero``: ``mem -= reset*mem``
    (the new membrane, input included, becomes 0; ``syn`` is kept), unlike ``Leaky``.
    ``reset_delay=False`` adds ``mem -= (spk - reset) * threshold`` (``* mem`` for zero).
    Returns ``(spikes, membranes)``.
    """
    a = torch.tensor(alpha, dtype=x.dtype).clamp(0, 1)
    b = torch.tensor(beta, dtype=x.dtype).clamp(0, 1)
    th = torch.tensor(threshold, dtype=x.dtype)
    mem = torch.zeros_like(x[0])
    syn = torch.zeros_like(x[0])
    spikes, mems = [], []
    for xt in x:
        reset = spike(mem - th, strict=True).clone().detach()
        syn = a * syn + xt
        new = b * mem + syn
        if reset_mechanism == "subtract":
            mem = new - reset * th
        elif reset_mechanism == "zero":
            mem = new - new * reset
        elif reset_mechanism == "none":
            mem = new
        else:
            raise ValueError(reset_mechanism)
        s = spike(mem - th, strict=True)
        if not reset_delay:
            mem = _snntorch_reset_now(mem, s - reset, th, reset_mechanism)
        spikes.append(s)
        mems.append(mem)
    return torch.stack(spikes), torch.stack(mems)


def spikingjelly_node(
    x: Tensor,
    tau: Optional[float] = 2.0,
    decay_input: bool = True,
    v_threshold: float = 1.0,
    v_reset: Optional[float] = 0.0,
    detach_reset: bool = False,
) -> tuple[Tensor, Tensor]:
    """SpikingJelly ``LIFNode`` (``tau`` given) or ``IFNode`` (``tau=None``), ATan surrogate.

    Charge: IF ``h = v + x``; LIF ``h = v + (x - (v - r)) / tau`` with ``decay_input``,
    else ``h = v - (v - r) / tau + x``, where ``r = v_reset`` (0 for a soft reset).
    Fire: ``s = H(h - v_threshold)`` with ``>=``. Reset (``s`` detached if ``detach_reset``):
    hard ``v = s*v_reset + (1 - s)*h``; soft (``v_reset=None``) ``v = h - s*v_threshold``.
    The membrane starts at ``v_reset`` (0 for soft).
    """
    r = 0.0 if v_reset is None else v_reset
    v = torch.full_like(x[0], r)
    spikes, mems = [], []
    for xt in x:
        if tau is None:
            h = v + xt
        elif decay_input:
            h = v + (xt - (v - r)) / tau
        else:
            h = v - (v - r) / tau + xt
        s = spike(h - v_threshold, strict=False)
        sr = s.detach() if detach_reset else s
        if v_reset is None:
            v = h - sr * v_threshold
        else:
            v = sr * v_reset + (1.0 - sr) * h
        spikes.append(s)
        mems.append(v)
    return torch.stack(spikes), torch.stack(mems)


def norse_lif_box(
    x: Tensor,
    tau_mem_inv: float = 100.0,
    v_leak: float = 0.0,
    v_th: float = 1.0,
    v_reset: float = 0.0,
    dt: float = 0.001,
) -> tuple[Tensor, Tensor]:
    """Norse ``LIFBoxCell`` (SuperSpike surrogate): ``v += dt*tau_mem_inv*(x + v_leak - v)``.

    ``z = H(v - v_th)`` with ``>``; ``v = (1 - z)*v + z*v_reset`` (not detached). The
    membrane starts at ``v_leak``.
    """
    dtype = x.dtype
    k = dt * torch.tensor(tau_mem_inv, dtype=dtype)
    leak = torch.tensor(v_leak, dtype=dtype)
    th = torch.tensor(v_th, dtype=dtype)
    rv = torch.tensor(v_reset, dtype=dtype)
    v = torch.full_like(x[0], v_leak)
    spikes, mems = [], []
    for xt in x:
        dv = k * (xt + leak - v)
        v = v + dv
        z = spike(v - th, strict=True, surrogate="superspike")
        v = (1 - z) * v + z * rv
        spikes.append(z)
        mems.append(v)
    return torch.stack(spikes), torch.stack(mems)


def norse_lif(
    x: Tensor,
    tau_syn_inv: float = 200.0,
    tau_mem_inv: float = 100.0,
    v_leak: float = 0.0,
    v_th: float = 1.0,
    v_reset: float = 0.0,
    dt: float = 0.001,
) -> tuple[Tensor, Tensor]:
    """Norse ``LIFCell`` (SuperSpike surrogate), current-based.

    ``i += x``; ``v += dt*tau_mem_inv*(v_leak - v + i)``; ``i -= dt*tau_syn_inv*i``
    (the current jumps by the input *before* it drives the membrane, then decays);
    ``z = H(v - v_th)`` with ``>``; ``v = (1 - z)*v + z*v_reset``.
    """
    dtype = x.dtype
    km = dt * torch.tensor(tau_mem_inv, dtype=dtype)
    ks = -dt * torch.tensor(tau_syn_inv, dtype=dtype)
    leak = torch.tensor(v_leak, dtype=dtype)
    th = torch.tensor(v_th, dtype=dtype)
    rv = torch.tensor(v_reset, dtype=dtype)
    v = torch.full_like(x[0], v_leak)
    i = torch.zeros_like(x[0])
    spikes, mems = [], []
    for xt in x:
        i_new = i + xt
        dv = km * (leak - v + i_new)
        v = v + dv
        i = i_new + ks * i_new
        z = spike(v - th, strict=True, surrogate="superspike")
        v = (1 - z) * v + z * rv
        spikes.append(z)
        mems.append(v)
    return torch.stack(spikes), torch.stack(mems)
