"""Runtime modules of imported NIR graphs: the graph executor and small NIR operators.

Nothing here imports ``nir``: an imported model runs (and is saved, loaded, moved)
without the NIR extra.
"""

from __future__ import annotations

from typing import Mapping, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tracetorch.core import Layer, Model

__all__ = ["NIRGraphModel", "Gain", "SumPool2d", "PreviousOutput"]


class Gain(nn.Module):
    """Elementwise scale of one timestep's input (NIR ``Scale``; also an input weight NIR
    neurons carry that no layer option expresses).

    Args:
        scale: The factors, shaped like one sample (no batch axis), e.g. ``[N]`` or
            ``[C, H, W]``; they broadcast against ``[..., *scale.shape]``.
    """

    scale: Tensor

    def __init__(self, scale: Tensor) -> None:
        super().__init__()
        self.register_buffer("scale", torch.as_tensor(scale).detach().clone())

    def forward(self, x: Tensor) -> Tensor:
        """``x * scale``."""
        return x * self.scale

    def extra_repr(self) -> str:
        return f"shape={tuple(self.scale.shape)}"


class SumPool2d(nn.Module):
    """Sum pooling over ``[..., C, H, W]`` (NIR ``SumPool2d``): average pooling with a
    divisor of 1, so each output is the plain sum of its window.

    Args:
        kernel_size: ``(kh, kw)``.
        stride: ``(sh, sw)``.
        padding: ``(ph, pw)`` (zeros).
    """

    def __init__(self, kernel_size: Sequence[int], stride: Sequence[int], padding: Sequence[int]) -> None:
        super().__init__()
        self.kernel_size = tuple(int(k) for k in kernel_size)
        self.stride = tuple(int(s) for s in stride)
        self.padding = tuple(int(p) for p in padding)

    def forward(self, x: Tensor) -> Tensor:
        """The window sums."""
        return F.avg_pool2d(x, self.kernel_size, self.stride, self.padding, divisor_override=1)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class PreviousOutput(Layer):
    """The previous step's output of one graph node, read by the edges that close a cycle.

    A traceTorch layer with one state, ``value``, so `tracetorch.Model` zeroes, detaches,
    saves and loads it like any state; it starts at zeros (``None`` until the first step).

    Args:
        shape: The node's output shape for one sample (no batch axis).
    """

    def __init__(self, shape: Sequence[int]) -> None:
        shape = tuple(int(s) for s in shape)
        if not shape:
            raise ValueError("PreviousOutput: the node's output shape must have at least one axis.")
        super().__init__(shape[-1], -1)
        self.shape = shape
        self._initialize_state("value")

    def read(self, batch: tuple[int, ...], like: Tensor) -> Tensor:
        """The stored output, or zeros shaped ``[*batch, *shape]`` before the first step.

        Raises:
            ValueError: if the stored value was made for another batch size.
        """
        v = self.__dict__["value"]
        want = batch + self.shape
        if v is None:
            return torch.zeros(want, dtype=like.dtype, device=like.device)
        if tuple(v.shape) != want:
            raise ValueError(
                f"PreviousOutput: the stored previous output has shape {tuple(v.shape)} but this input "
                f"needs {want}. The batch size changed since the states were created: call "
                "model.zero_states() before a new sequence."
            )
        return v

    def forward(self, x: Tensor) -> Tensor:
        """Store ``x`` as this step's output and return the previous one (a one-step delay)."""
        prev = self.read(tuple(x.shape[: x.ndim - len(self.shape)]), x)
        self.__dict__["value"] = x
        return prev

    def extra_repr(self) -> str:
        return f"shape={self.shape}"


class NIRGraphModel(Model):
    """A NIR graph as a traceTorch model: its nodes run in topological order every step.

    Made by `tracetorch.snn.import_nir` for graphs that are not a plain chain. Each
    node is a module (``nodes[<key>]``); a node's input is the sum of its incoming
    edges. An edge that closes a cycle starts at a neuron and is read with one step of
    delay: its source's previous output is a state (a `PreviousOutput` in ``previous``),
    zero on the first step; e.g. a recurrent weight ``lif -> w_rec -> scale -> lif`` adds
    ``scale*w_rec(spikes[t-1])`` to the neuron's input at step ``t`` (a plain ``lif ->
    w_rec -> lif`` into a neuron with one other input is imported as one all-to-all `RLIB`
    instead: see `tracetorch.snn.import_nir`).
    `forward_sequence` loops over time (the same numbers as stepping).

    Args:
        modules: One module per node, by node name (Input and Output nodes are
            ``nn.Identity``).
        order: Every node name, in the order the nodes run.
        inputs: For each node, the names of the nodes whose this step's output it
            reads.
        delayed: For each node, the names of the nodes whose previous step's output it
            reads (edges that close a cycle).
        input_name: The graph's Input node.
        output_name: The graph's Output node.
        shapes: Every node's output shape for one sample (no batch axis).
    """

    def __init__(
        self,
        modules: Mapping[str, nn.Module],
        order: Sequence[str],
        inputs: Mapping[str, Sequence[str]],
        delayed: Mapping[str, Sequence[str]],
        input_name: str,
        output_name: str,
        shapes: Mapping[str, Sequence[int]],
    ) -> None:
        super().__init__()
        keys: dict[str, str] = {}
        used: set[str] = set()
        for name in order:
            key = "".join(c if (c.isalnum() or c == "_") else "_" for c in name) or "node"
            if key[0].isdigit():
                key = f"n{key}"
            base, i = key, 1
            while key in used:
                key, i = f"{base}_{i}", i + 1
            used.add(key)
            keys[name] = key
        self.node_keys: dict[str, str] = keys
        self.nodes = nn.ModuleDict({keys[n]: modules[n] for n in order})
        self.order: tuple[str, ...] = tuple(order)
        self.inputs: dict[str, tuple[str, ...]] = {n: tuple(inputs.get(n, ())) for n in order}
        self.delayed: dict[str, tuple[str, ...]] = {n: tuple(delayed.get(n, ())) for n in order}
        self.input_name = input_name
        self.output_name = output_name
        self.shapes: dict[str, tuple[int, ...]] = {n: tuple(int(s) for s in shapes[n]) for n in order}
        sources = sorted({s for n in order for s in self.delayed[n]}, key=self.order.index)
        self.delayed_sources: tuple[str, ...] = tuple(sources)
        self.previous = nn.ModuleDict({keys[s]: PreviousOutput(self.shapes[s]) for s in sources})

    @property
    def edges(self) -> list[tuple[str, str]]:
        """The graph's edges ``(source, target)`` (delayed ones included)."""
        return [(s, n) for n in self.order for s in self.inputs[n] + self.delayed[n]]

    def node(self, name: str) -> nn.Module:
        """The module of the node called ``name`` in the NIR graph."""
        return self.nodes[self.node_keys[name]]

    def forward(self, x: Tensor) -> Tensor:
        """Run one timestep through the graph.

        Args:
            x: One timestep, ``[*batch, *input_shape]``.

        Returns:
            The Output node's value for this step.

        Raises:
            TypeError: if ``x`` is not a floating-point tensor.
            ValueError: if ``x`` does not end with the graph's input shape, or the stored
                previous outputs were made for another batch size; no state is changed.
        """
        if not isinstance(x, Tensor) or not x.is_floating_point():
            got = x.dtype if isinstance(x, Tensor) else type(x).__name__
            raise TypeError(f"NIRGraphModel: input must be a floating-point tensor, got {got}.")
        in_shape = self.shapes[self.input_name]
        k = len(in_shape)
        if x.ndim < k or tuple(x.shape[x.ndim - k :]) != in_shape:
            raise ValueError(
                f"NIRGraphModel: the graph's input has shape {in_shape} per sample, so one timestep is "
                f"[*batch, {', '.join(map(str, in_shape))}]; got {tuple(x.shape)}."
            )
        batch = tuple(x.shape[: x.ndim - k])
        layers = [m for m in self.modules() if isinstance(m, Layer)]
        saved = [(m, dict(m.states())) for m in layers]
        try:
            values: dict[str, Tensor] = {}
            for name in self.order:
                if name == self.input_name:
                    values[name] = self.node(name)(x)
                    continue
                terms = [values[s] for s in self.inputs[name]]
                terms += [self.previous[self.node_keys[s]].read(batch, x) for s in self.delayed[name]]  # pyright: ignore[reportCallIssue]
                u = terms[0]
                for t in terms[1:]:
                    u = u + t
                values[name] = self.node(name)(u)
            for src in self.delayed_sources:
                self.previous[self.node_keys[src]].__dict__["value"] = values[src]
        except BaseException:
            for m, st in saved:
                m.__dict__.update(st)
            raise
        return values[self.output_name]

    def extra_repr(self) -> str:
        delayed = [(s, n) for n in self.order for s in self.delayed[n]]
        return f"order={list(self.order)}, delayed_edges={delayed}"


def chain_order(
    order: Sequence[str], inputs: Mapping[str, Sequence[str]], delayed: Mapping[str, Sequence[str]]
) -> Optional[list[str]]:
    """The nodes as one chain (each reads exactly the one before it), or ``None``."""
    if any(delayed.get(n) for n in order):
        return None
    for i, n in enumerate(order):
        want = () if i == 0 else (order[i - 1],)
        if tuple(inputs.get(n, ())) != want:
            return None
    readers: dict[str, int] = {}
    for n in order:
        for s in inputs.get(n, ()):
            readers[s] = readers.get(s, 0) + 1
    if any(readers.get(n, 0) != 1 for n in order[:-1]):
        return None
    return list(order)
