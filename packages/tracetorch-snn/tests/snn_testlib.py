"""Helpers for the tracetorch-snn tests.

`reference_step` is an independent, deliberately plain implementation of the leaky update,
written from the equations with named states in a dict; it shares no code with
``tracetorch.snn.functional``.
"""

from __future__ import annotations

from typing import Any, Optional

import torch
from torch import Tensor
from tracetorch import snn

ALL_LAYERS = [
    "LI",
    "DLI",
    "SLI",
    "DSLI",
    "LIEMA",
    "DLIEMA",
    "SLIEMA",
    "DSLIEMA",
    "LIB",
    "DLIB",
    "SLIB",
    "RLIB",
    "DSLIB",
    "DRLIB",
    "SRLIB",
    "DSRLIB",
    "LIT",
    "DLIT",
    "SLIT",
    "RLIT",
    "DSLIT",
    "DRLIT",
    "SRLIT",
    "DSRLIT",
    "LITS",
    "DLITS",
    "SLITS",
    "RLITS",
    "DSLITS",
    "DRLITS",
    "SRLITS",
    "DSRLITS",
]
SPIKING = [n for n in ALL_LAYERS if n.endswith(("B", "T", "TS"))]
RECURRENT = [n for n in ALL_LAYERS if "R" in n.replace("LI", "")]

# (shape of one timestep, dim)
LAYOUTS = {"mlp": ((3, 5), -1), "conv": ((2, 5, 3, 2), -3)}
N = 5


def parse(name: str) -> dict:
    rest = name
    flags = {}
    for letter, key in (("D", "dual"), ("S", "syn"), ("R", "rec")):
        flags[key] = rest.startswith(letter)
        if flags[key]:
            rest = rest[1:]
    flags["kind"] = {"LI": "LI", "LIEMA": "EMA", "LIB": "B", "LIT": "T", "LITS": "TS"}[rest]
    return flags


def param_names(name: str) -> list[str]:
    f = parse(name)
    split = (lambda b: [f"pos_{b}", f"neg_{b}"]) if f["dual"] else (lambda b: [b])
    out = []
    if f["syn"]:
        out += split("alpha")
    out += split("beta")
    if f["rec"]:
        out += split("gamma")
    if f["kind"] == "B":
        out.append("threshold")
    if f["kind"] in ("T", "TS"):
        out += ["pos_threshold", "neg_threshold"]
    if f["kind"] == "TS":
        out += ["pos_scale", "neg_scale"]
    if f["rec"]:
        out += split("rec_weight")
    return out


def state_names(name: str) -> list[str]:
    f = parse(name)
    out = ["pos_mem", "neg_mem"] if f["dual"] else ["mem"]
    if f["syn"]:
        out += ["pos_syn", "neg_syn"] if f["dual"] else ["syn"]
    if f["rec"]:
        out += ["pos_rec", "neg_rec", "prev_output"] if f["dual"] else ["rec", "prev_output"]
    return out


def random_values(name: str, gen: torch.Generator, variant: int = 0) -> tuple[dict, dict]:
    """Random parameter values and keyword options.

    variant 0: every parameter rank 1 and learnable; variant 1: alternate rank 0 /
    rank 1 and learnable / fixed.
    """
    values = {}
    opts = {}
    for i, p in enumerate(param_names(name)):
        rank = 1 if variant == 0 else i % 2
        learn = True if variant == 0 else (i % 3 != 1)
        shape = (N,) if rank == 1 else ()
        u = torch.rand(shape, generator=gen)
        base = p.removeprefix("pos_").removeprefix("neg_")
        if base in ("alpha", "beta", "gamma"):
            v = 0.05 + 0.9 * u
        elif base == "threshold":
            v = 0.3 + 1.2 * u
        elif base == "scale":
            v = 0.5 + u
        else:  # rec_weight
            v = torch.randn(shape, generator=gen) * 0.7
        values[p] = v
        opts[f"{p}_rank"] = rank
        opts[f"learn_{p}"] = learn
    return values, opts


def make_layer(name: str, dim: int = -1, variant: int = 0, seed: int = 0, spike_fn="heaviside_atan", **kw):
    gen = torch.Generator().manual_seed(seed)
    values, opts = random_values(name, gen, variant)
    cls = getattr(snn, name)
    if name.endswith(("B", "T", "TS")):
        opts["spike_fn"] = spike_fn
    opts.update(kw)
    return cls(N, **values, dim=dim, **opts)


def activated(layer) -> dict[str, Tensor]:
    return {p: getattr(layer, p).detach().clone() for p in param_names(type(layer).__name__)}


def reference_step(name: str, x: Tensor, states: dict, P: dict, dim: int) -> tuple[Tensor, dict]:
    """The leaky update, one timestep, written plainly. Heaviside spikes (``v >= 0``)."""
    f = parse(name)
    s = dict(states)

    def par(key: str) -> Tensor:
        t = P[key]
        if t.ndim == 1 and dim != -1:
            t = t.reshape((-1,) + (1,) * (-dim - 1))
        return t

    def pos(t: Tensor) -> Tensor:
        return torch.where(t > 0, t, torch.zeros_like(t))

    def neg(t: Tensor) -> Tensor:
        return torch.where(t < 0, t, torch.zeros_like(t))

    def spike(v: Tensor) -> Tensor:
        return (v >= 0).to(v.dtype)

    ema = f["kind"] == "EMA"
    if not f["dual"]:
        if f["syn"]:
            s["syn"] = par("alpha") * s["syn"] + (1 - par("alpha")) * x
            d = s["syn"]
        else:
            d = x
        if f["rec"]:
            s["rec"] = par("gamma") * s["rec"] + (1 - par("gamma")) * s["prev_output"]
            u = d + par("rec_weight") * s["rec"]
        else:
            u = d
        if ema:
            s["mem"] = par("beta") * s["mem"] + (1 - par("beta")) * u
        else:
            s["mem"] = par("beta") * s["mem"] + u
        mem = s["mem"]
    else:
        if f["syn"]:
            s["pos_syn"] = par("pos_alpha") * s["pos_syn"] + (1 - par("pos_alpha")) * pos(x)
            s["neg_syn"] = par("neg_alpha") * s["neg_syn"] + (1 - par("neg_alpha")) * neg(x)
            d = s["pos_syn"] + s["neg_syn"]
        else:
            d = x
        if f["rec"]:
            o = s["prev_output"]
            s["pos_rec"] = par("pos_gamma") * s["pos_rec"] + (1 - par("pos_gamma")) * pos(o)
            s["neg_rec"] = par("neg_gamma") * s["neg_rec"] + (1 - par("neg_gamma")) * neg(o)
            r = s["pos_rec"] + s["neg_rec"]
            u_pos = pos(d) + par("pos_rec_weight") * pos(r)
            u_neg = neg(d) + par("neg_rec_weight") * neg(r)
        else:
            u_pos, u_neg = pos(d), neg(d)
        if ema:
            s["pos_mem"] = par("pos_beta") * s["pos_mem"] + (1 - par("pos_beta")) * u_pos
            s["neg_mem"] = par("neg_beta") * s["neg_mem"] + (1 - par("neg_beta")) * u_neg
        else:
            s["pos_mem"] = par("pos_beta") * s["pos_mem"] + u_pos
            s["neg_mem"] = par("neg_beta") * s["neg_mem"] + u_neg
        mem = s["pos_mem"] + s["neg_mem"]
    kind = f["kind"]
    if kind in ("LI", "EMA"):
        return mem, s
    if kind == "B":
        spk = spike(mem - par("threshold"))
        reset = spk * par("threshold")
        out = spk
    else:
        sp = spike(mem - par("pos_threshold"))
        sn = -spike(-par("neg_threshold") - mem)
        reset = sp * par("pos_threshold") + sn * par("neg_threshold")
        out = sp + sn if kind == "T" else par("pos_scale") * sp + par("neg_scale") * sn
    if f["dual"]:
        s["pos_mem"] = s["pos_mem"] - reset / 2
        s["neg_mem"] = s["neg_mem"] - reset / 2
    else:
        s["mem"] = mem - reset
    if f["rec"]:
        s["prev_output"] = out
    return out, s


def inputs(shape, steps: int, seed: int = 1, scale: float = 1.5) -> Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn((steps,) + tuple(shape), generator=gen) * scale + 0.2


def layer_states(layer) -> dict[str, Tensor]:
    return {n: layer.__dict__[n] for n in layer.state_names}


class RecordingEntryPoint:
    """A stand-in kernels entry point whose kernels record the configuration names they
    are asked for and decline every call (``None``: the PyTorch path runs)."""

    def __init__(self, calls: list) -> None:
        self.calls = calls

    def load(self) -> Any:
        def register(register_kernels: Any) -> None:
            def leaky(cfg: Any, *args: Any) -> Optional[Any]:
                self.calls.append(cfg.name)
                return None

            register_kernels(leaky_sequence=leaky, leaky_step=leaky)

        return register
