"""Sequence mode of the leaky-integrator layers: the module side of `leaky_sequence`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from tracetorch._internal import check_time_dim
from tracetorch._internal import kernels_dispatch

from .functional._sequence import leaky_sequence

if TYPE_CHECKING:
    from ._leaky import LeakyLayer


def run_sequence(layer: "LeakyLayer", x: Tensor, time_dim: int) -> Tensor:
    """Run ``layer`` over a whole sequence (see `LeakyLayer.forward_sequence`)."""
    t = check_time_dim(type(layer).__name__, x, time_dim)
    xt = x.movedim(t, 0) if t != 0 else x
    first = xt[0]
    layer._ensure_states(first)
    d = layer.__dict__
    lay = layer.config.layout
    states = tuple(d[n] for n in lay.states)
    params = lay.pack(lay.params, layer._params(first))
    kd = kernels_dispatch()
    if kd is not None and kd.wants_leaky(layer.config, xt, states, d["_spike_fn"], d["_quant_fn"]):
        out, final = kd.leaky_sequence(
            layer.config, xt, states, params, d["_spike_fn"], d["_quant_fn"], dim=layer.dim
        )
    else:
        # compute in the dtype stepping would end up in (e.g. a bf16 input with fp32
        # parameters is promoted to fp32 by the first update, exactly as in `forward`)
        dtype = xt.dtype
        for v in params + states:
            dtype = torch.promote_types(dtype, v.dtype)
        if dtype != xt.dtype:
            xt = xt.to(dtype)
        states = tuple(s if s.dtype == dtype else s.to(dtype) for s in states)
        out, final = leaky_sequence(
            layer.config, xt, states, params, d["_fire"], d["_spike_fn"], d["_quant_fn"]
        )
    d.update(zip(lay.states, final))
    return out.movedim(0, t) if t != 0 else out
