"""`import_nir`: a NIR graph as a traceTorch model whose states `tracetorch.Model` manages.

The inverse of `export_nir` with the same conventions (see ``docs/layers/nir.md``).
A ``neuron -> Affine -> neuron`` cycle becomes one all-to-all `RLIB`; then a chain
becomes a `tracetorch.Sequential`, any other graph (branches, sums of edges, other
cycles) a `NIRGraphModel`.
"""

from __future__ import annotations

import math
import os
from typing import Any, Optional, Union

import numpy as np
import torch
from torch import nn
from torch.nn.utils import skip_init
from tracetorch.core import Sequential

from ._delay import Delay
from ._layers import LI, LIB, LIEMA, RLIB, SLI, SLIB, SLIEMA
from ._nir_graph import Gain, NIRGraphModel, SumPool2d, chain_order
from ._nir_io import read_nir
from ._nir_params import decay_from_tau, uniform

__all__ = ["build"]

PathLike = Union[str, "os.PathLike[str]"]

_NEURONS = ("LI", "CubaLI", "LIF", "CubaLIF", "IF")
_SUPPORTED = (
    "Input",
    "Output",
    "Affine",
    "Linear",
    "Scale",
    "Conv1d",
    "Conv2d",
    "Flatten",
    "AvgPool2d",
    "SumPool2d",
    "Delay",
    "NIRGraph",
    "_PassThrough",
) + _NEURONS
_RTOL = 1e-5


class _Unsupported(ValueError):
    """A node that cannot be imported (collected, then reported together)."""


def _arr(v: Any) -> np.ndarray:
    return np.asarray(v)


def _close(a: np.ndarray, b: Any) -> bool:
    return bool(np.allclose(np.asarray(a, dtype=np.float64), b, rtol=_RTOL, atol=0.0))


# --------------------------------------------------------------------------- graph structure


def _inline(nir: Any, graph: Any) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """The graph's nodes and edges with every nested NIRGraph inlined (names ``sub.inner``)."""
    nodes: dict[str, Any] = {}
    edges: list[tuple[str, str]] = []
    entry: dict[str, str] = {}
    exit_: dict[str, str] = {}
    for name, node in graph.nodes.items():
        if isinstance(node, nir.NIRGraph):
            sub_nodes, sub_edges = _inline(nir, node)
            ins = [k for k, n in node.nodes.items() if isinstance(n, nir.Input)]
            outs = [k for k, n in node.nodes.items() if isinstance(n, nir.Output)]
            if len(ins) != 1 or len(outs) != 1:
                raise ValueError(
                    f"import_nir: the subgraph {name!r} has {len(ins)} Input and {len(outs)} Output nodes; "
                    "only subgraphs with one of each are supported."
                )
            for k, n in sub_nodes.items():
                # the subgraph's own Input and Output pass their value through
                nodes[f"{name}.{k}"] = _PassThrough(n) if k in (ins[0], outs[0]) else n
            edges += [(f"{name}.{a}", f"{name}.{b}") for a, b in sub_edges]
            entry[name] = f"{name}.{ins[0]}"
            exit_[name] = f"{name}.{outs[0]}"
        else:
            nodes[name] = node
    for a, b in graph.edges:
        a, b = str(a), str(b)
        edges.append((exit_.get(a, a), entry.get(b, b)))
    return nodes, edges


class _PassThrough:
    """The Input or Output node of an inlined subgraph: an identity."""

    def __init__(self, node: Any) -> None:
        self.node = node


def _kind(node: Any) -> str:
    return type(node).__name__


def _order(
    nodes: dict[str, Any], edges: list[tuple[str, str]]
) -> tuple[list[str], dict[str, list[str]], dict[str, list[str]], str, str]:
    """Run order, forward inputs, delayed inputs, the Input and the Output node."""
    unknown = sorted({e for edge in edges for e in edge if e not in nodes})
    if unknown:
        raise ValueError(f"import_nir: edges refer to nodes that are not in the graph: {unknown}.")
    ins = [n for n, v in nodes.items() if _kind(v) == "Input"]
    outs = [n for n, v in nodes.items() if _kind(v) == "Output"]
    if len(ins) != 1 or len(outs) != 1:
        raise ValueError(
            f"import_nir: the graph has {len(ins)} Input nodes ({ins}) and {len(outs)} Output nodes ({outs}); "
            "exactly one of each is supported."
        )
    seen_edges: set[tuple[str, str]] = set()
    unique: list[tuple[str, str]] = []
    for e in edges:
        if e not in seen_edges:
            seen_edges.add(e)
            unique.append(e)
    succ: dict[str, list[str]] = {n: [] for n in nodes}
    for a, b in unique:
        succ[a].append(b)

    def reaches(graph: dict[str, list[str]], a: str, target: str) -> bool:
        stack, seen = [a], {a}
        while stack:
            n = stack.pop()
            if n == target:
                return True
            for m in graph[n]:
                if m not in seen:
                    seen.add(m)
                    stack.append(m)
        return False

    # Edges that leave a neuron and lie on a cycle may be delayed (read the neuron's previous
    # output). Taken in the graph's edge order, each one is delayed only if it still closes a
    # cycle of the edges kept so far: one delay per cycle, not one per neuron on it.
    candidates = [(a, b) for a, b in unique if _kind(nodes[a]) in _NEURONS and reaches(succ, b, a)]
    kept: dict[str, list[str]] = {n: [] for n in nodes}
    for a, b in unique:
        if (a, b) not in candidates:
            kept[a].append(b)
    late: set[tuple[str, str]] = set()
    for a, b in candidates:
        if reaches(kept, b, a):
            late.add((a, b))
        else:
            kept[a].append(b)
    forward: dict[str, list[str]] = {n: [] for n in nodes}
    delayed: dict[str, list[str]] = {n: [] for n in nodes}
    for a, b in unique:
        (delayed if (a, b) in late else forward)[b].append(a)
    indeg = {n: len(forward[n]) for n in nodes}
    fsucc: dict[str, list[str]] = {n: [] for n in nodes}
    for b, srcs in forward.items():
        for a in srcs:
            fsucc[a].append(b)
    ready = [n for n in nodes if indeg[n] == 0]
    order: list[str] = []
    while ready:
        n = ready.pop(0)
        order.append(n)
        for m in fsucc[n]:
            indeg[m] -= 1
            if indeg[m] == 0:
                ready.append(m)
    if len(order) != len(nodes):
        stuck = [n for n in nodes if n not in order]
        raise ValueError(
            f"import_nir: the nodes {stuck} form a cycle with no neuron on it (an algebraic loop); every "
            "cycle must pass through a neuron, whose previous output closes it."
        )
    dangling = [n for n in order if n != ins[0] and not forward[n] and not delayed[n]]
    if dangling:
        raise ValueError(f"import_nir: the nodes {dangling} have no incoming edge (only the Input may).")
    return order, forward, delayed, ins[0], outs[0]


# --------------------------------------------------------------------------- nodes


def _constant_except(b: np.ndarray, axis: int) -> bool:
    m = np.moveaxis(b, axis, 0).reshape(b.shape[axis], -1)
    return bool(np.all(m == m[:, :1]))


def _neuron_axis(shape: tuple[int, ...], arrays: list[np.ndarray]) -> int:
    """The axis of ``shape`` the parameters vary along (constant along the others)."""
    if len(shape) <= 1:
        return 0
    for axis in (0, len(shape) - 1):
        if all(_constant_except(np.broadcast_to(a, shape), axis) for a in arrays):
            return axis
    raise _Unsupported(f"its parameters vary along more than one axis of the neuron shape {shape}")


def _per_neuron(a: np.ndarray, shape: tuple[int, ...], axis: int) -> torch.Tensor:
    b = np.broadcast_to(np.asarray(a), shape)
    v = np.moveaxis(b, axis, 0).reshape(shape[axis], -1)[:, 0]
    t = torch.from_numpy(np.ascontiguousarray(v).astype(np.float32))
    return t[0].clone() if uniform(v) else t


def _scalar(a: np.ndarray, what: str) -> float:
    if not uniform(a):
        raise _Unsupported(f"{what} differs between neurons; traceTorch takes one value per layer")
    return float(np.asarray(a).reshape(-1)[0]) if np.asarray(a).size else 0.0


def _decay(tau: np.ndarray, dt: float, what: str) -> np.ndarray:
    t = np.asarray(tau)
    if not bool(np.all(np.isfinite(t))) or not bool(np.all(t > dt)):
        raise _Unsupported(f"{what} must be finite and greater than dt={dt} (a decay in (0, 1)); got {t.min()}")
    d = decay_from_tau(t, dt)
    if not bool(np.all((d > 0) & (d < 1))):
        raise _Unsupported(f"{what} gives decays outside (0, 1) with dt={dt}")
    return d


class _Built:
    def __init__(self, modules: list[nn.Module], out_shape: tuple[int, ...]) -> None:
        self.modules = modules
        self.out_shape = out_shape


def _neuron(
    kind: str,
    node: Any,
    shape: tuple[int, ...],
    dt: float,
    spike_fn: Any,
    learn: bool,
    rec: Optional[tuple[np.ndarray, Optional[np.ndarray]]] = None,
) -> list[nn.Module]:
    """The traceTorch layer (after a `Gain` where the input weight needs one) of a NIR neuron.

    With ``rec`` (the ``(weight, bias)`` of an ``Affine``/``Linear`` that feeds the neuron's
    own output back to it) a ``LIF``/``IF`` becomes an `RLIB` with ``all_to_all=True`` and
    a fixed ``gamma=0``; an empty list means that neuron needs a `Gain` (which would also
    scale the recurrent input), so the cycle stays a graph.
    """
    p = {
        k: _arr(getattr(node, k))
        for k in ("tau", "tau_mem", "tau_syn", "r", "v_leak", "v_threshold", "v_reset", "w_in")
        if hasattr(node, k)
    }
    for k, v in p.items():
        if v.size not in (1, int(np.prod(shape))) or (v.size > 1 and v.shape != shape):
            raise _Unsupported(f"its `{k}` has shape {v.shape}, but its input has shape {shape}")
        p[k] = np.broadcast_to(v, shape)
    axis = _neuron_axis(shape, list(p.values()))
    dim = axis - len(shape) if len(shape) > 1 else -1
    n = shape[axis]
    gain = np.ones(shape, dtype=np.float64)
    kw: dict[str, Any] = {"dim": dim}
    spiking = kind in ("LIF", "CubaLIF", "IF")
    if spiking:
        kw.update(threshold=_per_neuron(p["v_threshold"], shape, axis), learn_threshold=learn, spike_fn=spike_fn)
        if not bool(np.all(p["v_threshold"] > 0)):
            raise _Unsupported("v_threshold must be > 0")
        kw.update(reset="value", reset_value=_scalar(p["v_reset"], "v_reset"))
    lib: Any = LIB
    if rec is not None:
        w, b = rec
        bias = np.zeros(n, dtype=np.float32) if b is None else np.asarray(b, dtype=np.float32)
        kw.update(
            gamma=0.0,
            learn_gamma=False,
            all_to_all=True,
            rec_matrix=torch.from_numpy(np.ascontiguousarray(w, dtype=np.float32)),
            rec_bias=torch.tensor(float(bias[0])) if uniform(bias) else torch.from_numpy(bias.copy()),
            rec_bias_rank=0 if uniform(bias) else 1,
            learn_rec_matrix=learn,
            learn_rec_bias=learn,
        )
        lib = RLIB
    if kind == "IF":
        r = p["r"].astype(np.float64)
        if not _close(r, 1.0):
            gain = gain * r
        layer = lib(n, beta=1.0, learn_beta=False, **kw)
    else:
        tau_mem = p["tau"] if kind in ("LI", "LIF") else p["tau_mem"]
        beta = _decay(tau_mem, dt, "tau" if kind in ("LI", "LIF") else "tau_mem")
        r = p["r"].astype(np.float64)
        euler = r * dt / tau_mem.astype(np.float64)
        if _close(euler, 1.0):
            ema = False  # the input is added: mem = beta*mem + x
        elif _close(r, 1.0):
            ema = True  # mem = beta*mem + (1 - beta)*x
        else:
            ema = False
            gain = gain * euler
        v_leak = p["v_leak"]
        if kind in ("LI", "CubaLI") and not bool(np.all(v_leak == 0)):
            raise _Unsupported("v_leak != 0 on a leaky integrator (traceTorch's LI layers leak towards 0)")
        kw.update(beta=_per_neuron(beta, shape, axis), learn_beta=learn)
        if kind in ("CubaLI", "CubaLIF"):
            alpha = _decay(p["tau_syn"], dt, "tau_syn")
            w_in = p["w_in"].astype(np.float64)
            add = False
            if _close(w_in, 1.0):
                pass
            elif kind == "CubaLIF" and _close(w_in * dt / p["tau_syn"].astype(np.float64), 1.0):
                add = True
            else:
                gain = gain * w_in
            kw.update(alpha=_per_neuron(alpha, shape, axis), learn_alpha=learn)
        if kind == "LI":
            layer = (LIEMA if ema else LI)(n, **kw)
        elif kind == "CubaLI":
            layer = (SLIEMA if ema else SLI)(n, **kw)
        elif kind == "LIF":
            layer = lib(n, decay_input=ema, rest=_scalar(v_leak, "v_leak"), **kw)
        else:
            layer = SLIB(n, decay_input=ema, rest=_scalar(v_leak, "v_leak"), syn_input="add" if add else "ema", **kw)
    if bool(np.all(gain == 1.0)):
        return [layer]
    if rec is not None:
        return []
    return [Gain(torch.from_numpy(gain.astype(np.float32))), layer]


def _build(node: Any, in_shape: Optional[tuple[int, ...]], dt: float, spike_fn: Any, learn: bool) -> _Built:
    kind = _kind(node)
    if kind in ("Input", "Output"):
        shape = tuple(int(s) for s in _arr(node.input_type["input"]).reshape(-1)) if kind == "Input" else in_shape
        if shape is None or not shape:
            raise _Unsupported("its shape is not given")
        return _Built([nn.Identity()], shape)
    if in_shape is None:
        raise _Unsupported("its input shape could not be found")
    if kind in ("Affine", "Linear"):
        w = _arr(node.weight)
        if w.ndim != 2:
            raise _Unsupported(f"a weight of {w.ndim} axes (only 2-D weights are supported)")
        if in_shape != (w.shape[1],):
            raise _Unsupported(f"its weight {w.shape} does not take its input of shape {in_shape}")
        has_bias = kind == "Affine"
        lin = skip_init(nn.Linear, w.shape[1], w.shape[0], bias=has_bias)  # no random init: weights are set
        with torch.no_grad():
            lin.weight.copy_(torch.as_tensor(w, dtype=lin.weight.dtype))  # pyright: ignore[reportCallIssue, reportArgumentType]
            if has_bias:
                b = _arr(node.bias)
                if b.shape != (w.shape[0],):
                    raise _Unsupported(f"its bias has shape {b.shape}, expected ({w.shape[0]},)")
                lin.bias.copy_(torch.as_tensor(b, dtype=lin.weight.dtype))  # type: ignore[union-attr]
        return _Built([lin], (w.shape[0],))
    if kind == "_PassThrough":
        return _Built([nn.Identity()], in_shape)
    if kind in _NEURONS:
        mods = _neuron(kind, node, in_shape, dt, spike_fn, learn)
        return _Built(mods, in_shape)
    if kind == "Delay":
        d = _arr(node.delay).astype(np.float64)
        if d.size > 1 and d.shape != in_shape:
            raise _Unsupported(f"its delay has shape {d.shape}, but its input has shape {in_shape}")
        d = np.broadcast_to(d, in_shape)
        steps = d / dt
        k = np.rint(steps)
        if not bool(np.all(np.abs(steps - k) <= 1e-6 * np.maximum(1.0, np.abs(k)))) or bool(np.any(k < 0)):
            raise _Unsupported(f"its delays are not whole non-negative multiples of dt={dt}")
        axis = _neuron_axis(in_shape, [k])
        v = np.moveaxis(k, axis, 0).reshape(in_shape[axis], -1)[:, 0].astype(np.int64)
        dim = axis - len(in_shape) if len(in_shape) > 1 else -1
        return _Built([Delay(in_shape[axis], torch.from_numpy(v), dim=dim)], in_shape)
    if kind == "Scale":
        s = _arr(node.scale)
        return _Built([Gain(torch.as_tensor(s, dtype=torch.get_default_dtype()))], in_shape)
    mod: nn.Module
    if kind in ("Conv1d", "Conv2d"):
        w = torch.as_tensor(_arr(node.weight), dtype=torch.get_default_dtype())
        b = _arr(node.bias) if node.bias is not None else None
        has_bias = b is not None and bool(np.any(b != 0))
        pad = node.padding
        padding: Any = pad if isinstance(pad, str) else (tuple(int(x) for x in np.atleast_1d(pad)))
        cls = nn.Conv1d if kind == "Conv1d" else nn.Conv2d
        nd = 1 if kind == "Conv1d" else 2

        def tup(v: Any) -> tuple[int, ...]:
            a = tuple(int(x) for x in np.atleast_1d(v))
            return a * nd if len(a) == 1 else a

        if isinstance(padding, tuple):
            padding = padding * nd if len(padding) == 1 else padding
        groups = int(np.asarray(node.groups))
        mod = skip_init(
            cls,
            w.shape[1] * groups,
            w.shape[0],
            tuple(w.shape[2:]),
            stride=tup(node.stride),
            padding=padding,
            dilation=tup(node.dilation),
            groups=groups,
            bias=has_bias,
        )
        with torch.no_grad():
            mod.weight.copy_(w)  # pyright: ignore[reportCallIssue]
            if has_bias:
                mod.bias.copy_(torch.as_tensor(b, dtype=w.dtype))  # type: ignore[union-attr]
    elif kind == "Flatten":
        s, e = int(node.start_dim), int(node.end_dim)
        mod = nn.Flatten(s + 1 if s >= 0 else s, e + 1 if e >= 0 else e)
    elif kind == "AvgPool2d":
        mod = nn.AvgPool2d(
            tuple(int(x) for x in np.atleast_1d(node.kernel_size)),  # pyright: ignore[reportArgumentType]
            tuple(int(x) for x in np.atleast_1d(node.stride)),  # pyright: ignore[reportArgumentType]
            tuple(int(x) for x in np.atleast_1d(node.padding)),  # pyright: ignore[reportArgumentType]
        )
    elif kind == "SumPool2d":
        mod = SumPool2d(
            np.atleast_1d(node.kernel_size).tolist(),
            np.atleast_1d(node.stride).tolist(),
            np.atleast_1d(node.padding).tolist(),
        )
    else:  # pragma: no cover - filtered before
        raise _Unsupported("no traceTorch module")
    try:
        with torch.no_grad():
            y = mod(torch.zeros((1,) + in_shape))
    except Exception as e:
        raise _Unsupported(f"it does not take its input of shape {in_shape}: {e}") from None
    return _Built([mod], tuple(y.shape[1:]))


def _fold_recurrent_affines(
    nodes: dict[str, Any],
    order: list[str],
    forward: dict[str, list[str]],
    delayed: dict[str, list[str]],
    built: dict[str, _Built],
    dt: float,
    spike_fn: Any,
    learn: bool,
) -> None:
    """Turn each ``neuron -> Affine -> neuron`` cycle into one `RLIB` with ``all_to_all=True``
    (in place).

    The pattern: a ``LIF``/``IF`` over one axis whose inputs are one other node and an
    ``Affine``/``Linear`` (square weight) that reads only the neuron's previous output and
    that nothing else reads, and whose input weights need no `Gain`. The layer computes
    ``mem = beta*mem + x + (W @ s[t-1] + b)`` (snnTorch ``RLeaky``'s order of additions),
    with ``rec_matrix = W``, ``rec_bias = b`` (rank 0 when uniform) and a fixed ``gamma =
    0`` (the trace is the previous output, zero on the first step, as the cut edge is).
    """
    readers: dict[str, int] = {n: 0 for n in order}
    for n in order:
        for s in forward[n] + delayed[n]:
            readers[s] += 1
    for a in list(order):
        node = nodes[a]
        if _kind(node) not in ("Affine", "Linear") or forward[a] or len(delayed[a]) != 1 or readers[a] != 1:
            continue
        n = delayed[a][0]
        if _kind(nodes[n]) not in ("LIF", "IF") or delayed[n] or len(forward[n]) != 2 or a not in forward[n]:
            continue
        shape = built[n].out_shape
        w = _arr(node.weight)
        if len(shape) != 1 or w.shape != (shape[0], shape[0]):
            continue
        b = _arr(node.bias) if _kind(node) == "Affine" else None
        mods = _neuron(_kind(nodes[n]), nodes[n], shape, dt, spike_fn, learn, rec=(w, b))
        if not mods:
            continue
        built[n] = _Built(mods, shape)
        forward[n].remove(a)
        order.remove(a)
        readers[n] -= 1
        del forward[a], delayed[a], built[a]


def build(nir: Any, graph_or_path: Union[Any, PathLike], dt: float, spike_fn: Any, learn: bool) -> nn.Module:
    """`tracetorch.snn.import_nir`, with ``nir`` imported (see there)."""
    if isinstance(graph_or_path, (str, bytes)) or hasattr(graph_or_path, "__fspath__"):
        graph = read_nir(graph_or_path)  # type: ignore[arg-type]
    else:
        graph = graph_or_path
    if not isinstance(graph, nir.NIRGraph):
        raise TypeError(f"import_nir: expected a nir.NIRGraph or a file path, got {type(graph).__name__}.")
    if isinstance(dt, bool) or not isinstance(dt, (int, float)) or not (math.isfinite(dt) and dt > 0):
        raise ValueError(f"import_nir: dt must be a finite number > 0 (the time step), got {dt!r}.")
    if not isinstance(learn, bool):
        raise TypeError(f"import_nir: learn must be a bool, got {type(learn).__name__}.")
    dt = float(dt)
    nodes, edges = _inline(nir, graph)
    unsupported = [
        f"{n} ({_kind(v)}): no traceTorch module for this node type"
        for n, v in nodes.items()
        if _kind(v) not in _SUPPORTED
    ]
    if unsupported:
        raise ValueError(
            "import_nir: the graph has nodes traceTorch cannot import:\n  - "
            + "\n  - ".join(unsupported)
            + f"\nSupported node types: {', '.join(t for t in _SUPPORTED if t not in ('NIRGraph', '_PassThrough'))} (and nested graphs)."
        )
    order, forward, delayed, input_name, output_name = _order(nodes, edges)
    built: dict[str, _Built] = {}
    problems: dict[str, str] = {}
    pending = list(order)
    progress = True
    while pending and progress:
        progress = False
        for name in list(pending):
            preds = forward[name] + delayed[name]
            known = [built[s].out_shape for s in preds if s in built]
            if name != input_name and not known:
                if all(s in problems for s in preds):
                    problems.setdefault(name, "its inputs could not be imported")
                    pending.remove(name)
                    progress = True
                continue
            in_shape = known[0] if known else None
            try:
                built[name] = _build(nodes[name], in_shape, dt, spike_fn, learn)
            except _Unsupported as e:
                problems[name] = str(e)
            except (TypeError, ValueError) as e:
                problems[name] = f"{type(e).__name__}: {e}"
            pending.remove(name)
            progress = True
    for name in pending:
        problems.setdefault(name, "its input shape could not be found (it is fed only by a cycle)")
    for name in order:
        if name in built and name not in problems:
            shapes = {s: built[s].out_shape for s in forward[name] + delayed[name] if s in built}
            if len(set(shapes.values())) > 1:
                problems[name] = f"its inputs have different shapes {shapes} (inputs of a node are summed)"
    if problems:
        raise ValueError(
            "import_nir: the graph has nodes traceTorch cannot import:\n  - "
            + "\n  - ".join(f"{n} ({_kind(nodes[n])}): {why}" for n, why in problems.items())
        )
    _fold_recurrent_affines(nodes, order, forward, delayed, built, dt, spike_fn, learn)
    chain = chain_order(order, forward, delayed)
    if chain is not None and chain[0] == input_name and chain[-1] == output_name:
        mods = [m for n in chain for m in built[n].modules if not isinstance(m, nn.Identity)]
        return Sequential(*mods)
    modules: dict[str, nn.Module] = {}
    for n in order:
        ms = built[n].modules
        modules[n] = ms[0] if len(ms) == 1 else nn.Sequential(*ms)
    return NIRGraphModel(
        modules, order, forward, delayed, input_name, output_name, {n: built[n].out_shape for n in order}
    )
