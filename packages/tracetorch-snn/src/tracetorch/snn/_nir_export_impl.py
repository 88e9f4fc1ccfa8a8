"""`export_nir`: a chain of traceTorch layers and torch modules as a NIR graph.

The mapping and its conventions are documented on the "NIR" page of the docs
(``docs/layers/nir.md``); in short, with ``dt`` the time step and forward Euler
(what snnTorch uses when it reads and writes NIR): ``tau = dt/(1 - beta)``, ``r =
tau/dt`` for an input added to the membrane (``r = 1`` for ``decay_input`` / EMA
layers), ``w_in = 1`` for ``syn = alpha*syn + (1 - alpha)*x`` (``w_in = tau_syn/dt``
for ``syn_input="add"``), ``v_leak = rest``, ``v_reset = reset_value``.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import os
from typing import Any, Optional, Sequence, Union

import numpy as np
import torch
from torch import nn
from tracetorch._internal import skips_quantisation
from tracetorch.core import Layer, Model

from ._delay import Delay
from ._leaky import LeakyLayer
from ._nir_graph import Gain, NIRGraphModel, SumPool2d
from ._nir_io import write_nir
from ._nir_params import per_sample, tau_from_decay

__all__ = ["export"]

PathLike = Union[str, "os.PathLike[str]"]

_PASS_THROUGH = (nn.Identity,)


def _leaves(module: nn.Module, path: str, out: list[tuple[str, nn.Module]], problems: list[str]) -> None:
    """The modules of a (nested) sequential container, in order, with their paths."""
    if isinstance(module, nn.Sequential):
        for name, child in module.named_children():
            _leaves(child, f"{path}.{name}" if path else name, out, problems)
    elif isinstance(module, NIRGraphModel):
        problems.append(
            f"{path or '<model>'} (NIRGraphModel): an imported graph is exported only on its own, not "
            "inside a container."
        )
    elif isinstance(module, Model):
        problems.append(
            f"{path or '<model>'} ({type(module).__name__}): a tt.Model's forward is Python code that NIR "
            "cannot read; export a tt.Sequential or nn.Sequential of layers."
        )
    else:
        out.append((path or "0", module))


def _infer_input_shape(leaves: list[tuple[str, nn.Module]]) -> tuple[int, ...]:
    for _, m in leaves:
        if isinstance(m, _PASS_THROUGH) or isinstance(m, nn.Dropout):
            continue
        if isinstance(m, nn.Linear):
            return (m.in_features,)
        if isinstance(m, Layer) and m.dim == -1:
            return (m.num_neurons,)
        break
    raise ValueError(
        "export_nir: pass input_shape= (the shape of one sample, without batch and time axes, e.g. "
        "(2, 34, 34)); it can be inferred only when the model starts with a Linear or a layer with dim=-1."
    )


def _shapes(
    leaves: list[tuple[str, nn.Module]], input_shape: tuple[int, ...]
) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
    """Each module's input and output shape for one sample, found by running zeros
    through copies of the modules (the model itself is not touched)."""
    shapes = []
    dtype = torch.get_default_dtype()
    x = torch.zeros((1,) + input_shape, dtype=dtype)
    for path, m in leaves:
        dev = next((t.device for t in list(m.parameters()) + list(m.buffers())), torch.device("cpu"))
        mc = copy.deepcopy(m)
        if isinstance(mc, Layer):
            mc.zero_states()
        with torch.no_grad():
            try:
                y = mc(x.to(dev))
            except Exception as e:
                raise ValueError(
                    f"export_nir: {path} ({type(m).__name__}) fails on one sample of shape "
                    f"{tuple(x.shape[1:])} (from input_shape={input_shape}): {e}"
                ) from e
        if not isinstance(y, torch.Tensor) or y.ndim < 1 or y.shape[0] != 1:
            raise ValueError(f"export_nir: {path} ({type(m).__name__}) does not map one sample to one tensor.")
        shapes.append((tuple(x.shape[1:]), tuple(y.shape[1:])))
        x = y.detach().to("cpu", dtype)
    return shapes


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().to("cpu", torch.float32).numpy().copy()


def _pair(v: Any) -> tuple[int, int]:
    return (int(v), int(v)) if isinstance(v, int) else (int(v[0]), int(v[1]))


def _neuron_axis(layer: Layer, in_shape: tuple[int, ...]) -> int:
    d = layer.dim
    return len(in_shape) + d if d < 0 else d - 1


def _param(layer: Layer, name: str, in_shape: tuple[int, ...]) -> np.ndarray:
    return per_sample(_np(getattr(layer, name)), in_shape, _neuron_axis(layer, in_shape))


def _leaky_refusals(layer: LeakyLayer) -> list[str]:
    """Every reason a leaky layer has no NIR neuron (empty when it has one)."""
    cfg = layer.config
    why: list[str] = []
    if cfg.recurrent:
        why += _recurrent_refusals(layer)
    if cfg.adaptive:
        why.append(
            "adaptive threshold (adaptive=True): NIR's LIF, CubaLIF and IF fire at a fixed v_threshold, "
            "with no adaptation state"
        )
    if cfg.refractory:
        why.append(
            f"refractory period (refractory={cfg.refractory}): NIR's neurons have no refractory period "
            "(no state holds the membrane after a spike)"
        )
    if cfg.dual:
        why.append("D layers split the drive into positive and negative membranes; no NIR neuron has that")
    if cfg.output in ("T", "TS"):
        why.append("ternary spikes (-1/0/+1, scaled for TS): NIR neurons emit 0/1 spikes")
    if cfg.spiking and not skips_quantisation(layer.spike_fn, layer.quant_fn):
        why.append(
            f"stochastic spikes (spike_fn={layer.spike_fn!r}, quant_fn="
            f"{getattr(layer.quant_fn, '__name__', layer.quant_fn)!r}): NIR neurons fire deterministically "
            "at the threshold; use a heaviside_* spike_fn"
        )
    if cfg.spiking and cfg.output == "B":
        if cfg.reset == "subtract":
            why.append(
                "reset by subtraction: NIR's LIF, CubaLIF and IF set the membrane to v_reset after a spike; "
                "build the layer with reset='value' (reset_value=v_reset) to export it"
            )
        elif cfg.reset == "none":
            why.append("no reset: NIR's spiking neurons always reset the membrane to v_reset")
        if cfg.reset_timing == "next":
            why.append("reset_timing='next': NIR resets on the step of the spike ('same')")
    return why


def _recurrent_refusals(layer: LeakyLayer) -> list[str]:
    """Why a recurrent (R) layer has no NIR cycle (empty when it has one: see `_recurrent_node`)."""
    cfg = layer.config
    if cfg.dual or cfg.output != "B":
        return []  # refused for its pathways / ternary spikes already
    if not cfg.all_to_all:
        return [
            "R layers' per-neuron recurrence (the output fed back through a decaying trace and rec_weight) "
            "has no NIR node; an all-to-all layer with no trace exports (all_to_all=True, gamma=0.0, "
            "learn_gamma=False: the neuron -> Affine -> neuron cycle)"
        ]
    why: list[str] = []
    learnable = "raw_gamma" in dict(layer.named_parameters(recurse=False))
    if learnable or not bool((layer.gamma.detach() == 0).all()):
        why.append(
            "a recurrent trace ("
            + ("learnable gamma" if learnable else "gamma != 0")
            + "): a NIR cycle carries the previous output only; build the layer with gamma=0.0, "
            "learn_gamma=False (the trace is then the previous output)"
        )
    return why


def _recurrent_nodes(
    nir: Any, layer: LeakyLayer, in_shape: tuple[int, ...], dt: float
) -> tuple[Optional[Any], Optional[Any]]:
    """The extra nodes of an all-to-all layer (one `_recurrent_refusals` accepts): the ``LI``
    that is a synaptic layer's synapse (``None`` without one), and the ``Affine``
    (``rec_matrix``, ``rec_bias``) that closes the cycle (``None`` for a layer without one).

    An ``SRLIB`` adds the recurrent input to the membrane after the synapse, while NIR's
    ``CubaLIF`` filters all of its input through its current; so it is written as its
    synapse, an ``LI`` (``syn = alpha*syn + (1 - alpha)*x`` is ``r = 1``, ``syn_input="add"``
    is ``r = tau_syn/dt``), followed by the ``LIF``/``IF`` of its membrane and the cycle.
    """
    cfg = layer.config
    if not (cfg.recurrent and cfg.all_to_all):
        return None, None
    if len(in_shape) != 1:
        raise ValueError(f"an all-to-all layer's NIR Affine takes one axis of neurons; the input here is {in_shape}")
    n = in_shape[0]
    syn = None
    if cfg.synaptic:
        alpha = _param(layer, "alpha", in_shape).astype(np.float32)
        try:
            tau_syn = tau_from_decay(alpha, dt)
        except ValueError as e:
            raise ValueError(f"`alpha`: {e}") from None
        r = (tau_syn / np.float32(dt)).astype(np.float32) if cfg.syn_input == "add" else np.ones(n, np.float32)
        syn = nir.LI(tau=tau_syn, r=r, v_leak=np.zeros(n, dtype=np.float32))
    bias = np.broadcast_to(_np(layer.rec_bias), (n,)).copy()
    return syn, nir.Affine(weight=_np(layer.rec_matrix), bias=bias)


def _unique(name: str, taken: set[str]) -> str:
    while name in taken:
        name += "_"
    return name


def _leaky_node(nir: Any, path: str, layer: LeakyLayer, in_shape: tuple[int, ...], dt: float) -> Any:
    """The NIR neuron of one leaky layer (one `_leaky_refusals` accepts); for an all-to-all
    layer, the neuron of its membrane (its synapse is a node of its own: `_recurrent_nodes`)."""
    cfg = layer.config
    if cfg.recurrent and cfg.synaptic:
        cfg = dataclasses.replace(cfg, synaptic=False, syn_input="ema")

    dt32 = np.float32(dt)
    shape = in_shape

    def decay(name: str) -> np.ndarray:
        d = _param(layer, name, shape).astype(np.float32)
        if bool(np.any(d >= 1)):
            raise ValueError(
                f"`{name}` is 1 (no leak) for some neurons, which has no finite NIR time constant"
                + (" (an integrate-and-fire LIB with beta=1 everywhere exports as IF)" if cfg.spiking else "")
            )
        try:
            return tau_from_decay(d, dt)
        except ValueError as e:
            raise ValueError(f"`{name}`: {e}") from None

    zeros = np.zeros(shape, dtype=np.float32)
    ones = np.ones(shape, dtype=np.float32)
    if cfg.output in ("LI", "EMA"):
        tau_mem = decay("beta")
        r = ones if cfg.output == "EMA" else (tau_mem / dt32).astype(np.float32)
        if cfg.synaptic:
            tau_syn = decay("alpha")
            return nir.CubaLI(tau_syn=tau_syn, tau_mem=tau_mem, r=r, v_leak=zeros, w_in=ones.copy())
        return nir.LI(tau=tau_mem, r=r, v_leak=zeros)

    # B layers with a reset to a value on the step of the spike
    threshold = _param(layer, "threshold", shape).astype(np.float32)
    v_reset = np.full(shape, cfg.reset_value, dtype=np.float64)
    v_leak = np.full(shape, cfg.rest, dtype=np.float64)
    beta = _param(layer, "beta", shape).astype(np.float32)
    if bool(np.all(beta == 1)) and not cfg.synaptic:
        if cfg.decay_input:
            raise ValueError("decay_input with beta=1 lets no input in ((1 - beta)*x = 0)")
        return nir.IF(r=ones, v_threshold=threshold, v_reset=v_reset)
    if bool(np.all(beta == 1)):
        raise ValueError("a synaptic integrate-and-fire (beta=1) has no NIR node (CubaLIF needs a finite tau_mem)")
    tau_mem = decay("beta")
    r = ones if cfg.decay_input else (tau_mem / dt32).astype(np.float32)
    if cfg.synaptic:
        tau_syn = decay("alpha")
        w_in = (tau_syn / dt32).astype(np.float32) if cfg.syn_input == "add" else ones.copy()
        return nir.CubaLIF(
            tau_syn=tau_syn,
            tau_mem=tau_mem,
            r=r,
            v_leak=v_leak,
            v_threshold=threshold,
            v_reset=v_reset,
            w_in=w_in,
        )
    return nir.LIF(tau=tau_mem, r=r, v_leak=v_leak, v_threshold=threshold, v_reset=v_reset)


_REFUSED_NAMES = {
    "LSTM": "an LSTM cell has no NIR node",
    "GRU": "a GRU cell has no NIR node",
    "RNN": "an RNN cell has no NIR node",
    "LSTMCell": "an LSTM cell has no NIR node",
    "GRUCell": "a GRU cell has no NIR node",
    "RNNCell": "an RNN cell has no NIR node",
    "SelectiveSSM": "a selective state-space layer has no NIR node",
}

_EXPORTABLE = (
    LeakyLayer,
    Delay,
    nn.Linear,
    nn.Conv1d,
    nn.Conv2d,
    nn.Flatten,
    nn.AvgPool2d,
    SumPool2d,
    Gain,
    nn.Identity,
    nn.Dropout,
)


def _precheck(m: nn.Module) -> Optional[str]:
    """Why a module cannot be exported whatever its input shape, or ``None``."""
    if isinstance(m, LeakyLayer):
        why = _leaky_refusals(m)
        return "; ".join(why) if why else None
    if isinstance(m, nn.Dropout) and m.training and m.p > 0:
        return "Dropout in training mode drops inputs at random; call model.eval() first"
    if isinstance(m, _EXPORTABLE):
        return None
    name = type(m).__name__
    if name in _REFUSED_NAMES:
        return _REFUSED_NAMES[name]
    if isinstance(m, Layer):
        return "this traceTorch layer has no NIR node"
    return "no NIR node expresses this module"


def _module_node(
    nir: Any, path: str, m: nn.Module, in_shape: tuple[int, ...], out_shape: tuple[int, ...], dt: float
) -> Optional[Any]:
    """The NIR node of one module, ``None`` for a module that passes its input through."""
    if isinstance(m, _PASS_THROUGH) or (isinstance(m, nn.Dropout) and (not m.training or m.p == 0)):
        return None
    if isinstance(m, LeakyLayer):
        return _leaky_node(nir, path, m, in_shape, dt)
    if isinstance(m, Delay):
        steps = per_sample(m.delays.detach().cpu().numpy().astype(np.float64), in_shape, _neuron_axis(m, in_shape))
        return nir.Delay(delay=steps * float(dt))
    if isinstance(m, nn.Linear):
        if len(in_shape) != 1:
            raise ValueError(f"NIR's Affine/Linear take one axis of features; the input here is {in_shape}")
        if m.bias is None:
            return nir.Linear(weight=_np(m.weight))
        return nir.Affine(weight=_np(m.weight), bias=_np(m.bias))
    if isinstance(m, (nn.Conv1d, nn.Conv2d)):
        if m.padding_mode != "zeros":
            raise ValueError(f"padding_mode={m.padding_mode!r}: NIR convolutions pad with zeros")
        bias = _np(m.bias) if m.bias is not None else np.zeros(m.out_channels, dtype=np.float32)
        padding: Any = m.padding if isinstance(m.padding, str) else tuple(int(p) for p in m.padding)
        if isinstance(m, nn.Conv1d):
            return nir.Conv1d(
                input_shape=int(in_shape[-1]),
                weight=_np(m.weight),
                stride=int(m.stride[0]),
                padding=padding if isinstance(padding, str) else padding[0],
                dilation=int(m.dilation[0]),
                groups=int(m.groups),
                bias=bias,
            )
        return nir.Conv2d(
            input_shape=(int(in_shape[-2]), int(in_shape[-1])),
            weight=_np(m.weight),
            stride=_pair(m.stride),
            padding=padding,
            dilation=_pair(m.dilation),
            groups=int(m.groups),
            bias=bias,
        )
    if isinstance(m, nn.Flatten):
        start, end = m.start_dim, m.end_dim
        if start == 0 or end == 0:
            raise ValueError("Flatten over the batch axis (start_dim=0) is not one sample's reshape")
        start = start - 1 if start > 0 else start
        end = end - 1 if end > 0 else end
        return nir.Flatten(input_type={"input": np.array(in_shape)}, start_dim=start, end_dim=end)
    if isinstance(m, nn.AvgPool2d):
        if m.ceil_mode:
            raise ValueError("ceil_mode=True: NIR pooling rounds the output size down")
        kernel = _pair(m.kernel_size)
        stride = _pair(m.stride if m.stride is not None else m.kernel_size)
        padding2 = _pair(m.padding)
        if m.divisor_override == 1:
            return nir.SumPool2d(kernel_size=np.array(kernel), stride=np.array(stride), padding=np.array(padding2))
        if m.divisor_override is not None:
            raise ValueError(f"divisor_override={m.divisor_override}: NIR has average and sum pooling only")
        if padding2 != (0, 0):
            raise ValueError("average pooling with padding: NIR does not say how padded cells are counted")
        return nir.AvgPool2d(kernel_size=np.array(kernel), stride=np.array(stride), padding=np.array(padding2))
    if isinstance(m, SumPool2d):
        return nir.SumPool2d(
            kernel_size=np.array(m.kernel_size), stride=np.array(m.stride), padding=np.array(m.padding)
        )
    if isinstance(m, Gain):
        return nir.Scale(scale=np.ascontiguousarray(np.broadcast_to(_np(m.scale), in_shape)))
    name = type(m).__name__
    if name in _REFUSED_NAMES:
        raise ValueError(_REFUSED_NAMES[name])
    if isinstance(m, nn.Dropout):
        raise ValueError("Dropout in training mode drops inputs at random; call model.eval() first")
    if isinstance(m, Layer):
        raise ValueError("this traceTorch layer has no NIR node")
    raise ValueError("no NIR node expresses this module")


def _export_graph(nir: Any, model: NIRGraphModel, dt: float) -> Any:
    """The NIR graph of an imported graph model: its nodes and edges, the delayed ones included."""
    problems: list[str] = []
    parts: dict[str, list[tuple[str, nn.Module]]] = {}
    for name in model.order:
        module = model.node(name)
        if name in (model.input_name, model.output_name):
            continue
        subs = list(module) if type(module) is nn.Sequential else [module]
        names = [f"{name}.{i}" for i in range(len(subs) - 1)] + [name]
        parts[name] = list(zip(names, subs))
        for sub_name, sub in parts[name]:
            if isinstance(sub, nn.Identity):
                continue
            reason = _precheck(sub)
            if reason is not None:
                problems.append(f"nodes.{model.node_keys[name]} = {sub_name} ({type(sub).__name__}): {reason}")
    if problems:
        raise ValueError("export_nir: the model cannot be exported to NIR:\n  - " + "\n  - ".join(problems))
    nodes: dict[str, Any] = {
        model.input_name: nir.Input(input_type=np.array(model.shapes[model.input_name])),
    }
    edges: list[tuple[str, str]] = []
    cycles: list[tuple[str, str]] = []
    taken = set(model.order) | {s for subs in parts.values() for s, _ in subs}
    first: dict[str, str] = {model.input_name: model.input_name, model.output_name: model.output_name}
    last: dict[str, str] = {model.input_name: model.input_name, model.output_name: model.output_name}
    for name in model.order:
        if name not in parts:
            continue
        preds = model.inputs[name] + model.delayed[name]
        in_shape = model.shapes[preds[0]]
        chain = []
        for (sub_name, sub), (ins, outs) in zip(parts[name], _shapes(parts[name], in_shape)):
            # an identity (a nested graph's own Input / Output) becomes a Scale by one
            node = (
                nir.Scale(scale=np.ones(ins, dtype=np.float32))
                if isinstance(sub, nn.Identity)
                else _module_node(nir, sub_name, sub, ins, outs, dt)
            )
            if node is None:
                node = nir.Scale(scale=np.ones(ins, dtype=np.float32))
            syn, rec = _recurrent_nodes(nir, sub, ins, dt) if isinstance(sub, LeakyLayer) else (None, None)
            if syn is not None:
                syn_name = _unique(f"{sub_name}.syn", taken)
                taken.add(syn_name)
                nodes[syn_name] = syn
                chain.append(syn_name)
            nodes[sub_name] = node
            chain.append(sub_name)
            if rec is not None:
                rec_name = _unique(f"{sub_name}.rec", taken)
                taken.add(rec_name)
                nodes[rec_name] = rec
                cycles += [(sub_name, rec_name), (rec_name, sub_name)]
        edges += list(zip(chain[:-1], chain[1:]))
        first[name], last[name] = chain[0], chain[-1]
    nodes[model.output_name] = nir.Output(output_type=np.array(model.shapes[model.output_name]))
    for name in model.order:
        for src in model.inputs[name] + model.delayed[name]:
            edges.append((last[src], first[name]))
    edges += cycles
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={"source": "tracetorch"})


def export(
    nir: Any, model: nn.Module, dt: float, input_shape: Optional[Sequence[int]], path: Optional[PathLike]
) -> Any:
    """`tracetorch.snn.export_nir`, with ``nir`` imported (see there)."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"export_nir: model must be an nn.Module, got {type(model).__name__}.")
    if isinstance(dt, bool) or not isinstance(dt, (int, float)) or not (math.isfinite(dt) and dt > 0):
        raise ValueError(f"export_nir: dt must be a finite number > 0 (the time step), got {dt!r}.")
    dt = float(dt)
    if isinstance(model, NIRGraphModel):
        graph = _export_graph(nir, model, dt)
        if path is not None:
            write_nir(path, graph)
        return graph
    problems: list[str] = []
    leaves: list[tuple[str, nn.Module]] = []
    _leaves(model, "", leaves, problems)
    if problems:
        raise ValueError("export_nir: the model cannot be exported to NIR:\n  - " + "\n  - ".join(problems))
    if not leaves:
        raise ValueError("export_nir: the model holds no modules.")
    if input_shape is None:
        shape = _infer_input_shape(leaves)
    else:
        try:
            shape = tuple(int(s) for s in input_shape)
        except (TypeError, ValueError):
            raise TypeError(f"export_nir: input_shape must be a sequence of ints, got {input_shape!r}.") from None
        if not shape or any(s < 1 for s in shape):
            raise ValueError(f"export_nir: input_shape must be one or more positive sizes, got {input_shape!r}.")
    for p, m in leaves:
        reason = _precheck(m)
        if reason is not None:
            problems.append(f"{p} ({type(m).__name__}): {reason}")
    if problems:
        raise ValueError("export_nir: the model cannot be exported to NIR:\n  - " + "\n  - ".join(problems))
    shapes = _shapes(leaves, shape)
    nodes: dict[str, Any] = {"input": nir.Input(input_type=np.array(shape))}
    order = ["input"]
    cycles: list[tuple[str, str]] = []
    taken = {"input", "output"} | {p for p, _ in leaves}
    for (p, m), (ins, outs) in zip(leaves, shapes):
        try:
            node = _module_node(nir, p, m, ins, outs, dt)
            syn, rec = _recurrent_nodes(nir, m, ins, dt) if isinstance(m, LeakyLayer) else (None, None)
        except ValueError as e:
            problems.append(f"{p} ({type(m).__name__}): {e}")
            continue
        if syn is not None:
            syn_name = _unique(f"{p}.syn", taken)
            taken.add(syn_name)
            nodes[syn_name] = syn
            order.append(syn_name)
        if node is not None:
            nodes[p] = node
            order.append(p)
        if rec is not None:
            rec_name = _unique(f"{p}.rec", taken)
            taken.add(rec_name)
            nodes[rec_name] = rec
            cycles += [(p, rec_name), (rec_name, p)]
    if problems:
        raise ValueError("export_nir: the model cannot be exported to NIR:\n  - " + "\n  - ".join(problems))
    nodes["output"] = nir.Output(output_type=np.array(shapes[-1][1]))
    order.append("output")
    edges = [(a, b) for a, b in zip(order[:-1], order[1:])] + cycles
    graph = nir.NIRGraph(nodes=nodes, edges=edges, metadata={"source": "tracetorch"})
    if path is not None:
        write_nir(path, graph)
    return graph
