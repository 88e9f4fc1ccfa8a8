"""`Delay`: per-neuron integer delays over time, held in a delay line managed like any state."""

from __future__ import annotations

import numbers
from typing import Any, Sequence, Union

import torch
from torch import Tensor
from tracetorch._internal import FINITE_FLAGS, check_time_dim
from tracetorch.core import Layer

__all__ = ["Delay"]

DelaysValue = Union[int, Sequence[int], Tensor]


def _delays_tensor(owner: str, delays: Any, num_neurons: int) -> Tensor:
    """Validate ``delays`` and return them as a ``[num_neurons]`` int64 tensor."""
    hint = (
        f"Pass one non-negative int for every neuron, or a sequence/1-d integer tensor of "
        f"{num_neurons} non-negative ints (0 passes the input through)."
    )
    if not isinstance(delays, (Tensor, numbers.Number, list, tuple, str)) and hasattr(delays, "__array__"):
        delays = torch.as_tensor(delays)  # a numpy array
    if isinstance(delays, bool) or (isinstance(delays, Tensor) and delays.dtype == torch.bool):
        raise TypeError(f"{owner}: delays must be integers, got a bool. {hint}")
    if isinstance(delays, Tensor):
        if delays.is_floating_point() or delays.is_complex():
            raise TypeError(f"{owner}: delays must be an integer tensor, got dtype {delays.dtype}. {hint}")
        values = delays.detach().to("cpu", torch.int64)
    elif isinstance(delays, numbers.Integral):
        values = torch.tensor(int(delays), dtype=torch.int64)
    elif isinstance(delays, (list, tuple)):
        for i, v in enumerate(delays):
            if isinstance(v, bool) or not isinstance(v, numbers.Integral):
                raise TypeError(f"{owner}: delays[{i}] must be an int, got {v!r} ({type(v).__name__}). {hint}")
        values = torch.tensor([int(v) for v in delays], dtype=torch.int64)
    else:
        raise TypeError(
            f"{owner}: delays must be an int, a sequence of ints or an integer tensor, got {type(delays).__name__}. {hint}"
        )
    if values.ndim == 0:
        values = values.expand(num_neurons).clone()
    elif values.ndim != 1 or values.shape[0] != num_neurons:
        raise ValueError(
            f"{owner}: delays must have one value per neuron ({num_neurons}), got shape {tuple(values.shape)}. {hint}"
        )
    if bool((values < 0).any()):
        bad = values[values < 0][:4].tolist()
        raise ValueError(f"{owner}: delays must be non-negative, got {bad}. {hint}")
    return values


class Delay(Layer):
    """Per-neuron integer delays: output at step ``t`` is the input of step ``t - delay``.

    Neuron ``n`` outputs ``y_t[n] = x_{t - d_n}[n]``, and zeros for the first ``d_n``
    steps after its states were zeroed; a delay of 0 passes the input through. The past
    inputs are held in a delay line, the state ``history``: shaped like one timestep's
    input but with ``max_delay * num_neurons`` entries along ``dim`` (slot ``k`` of
    ``max_delay``, oldest first, holds neurons ``k * num_neurons .. (k + 1) *
    num_neurons - 1``). Like every state it is created lazily, zeroed (also with a
    batch mask), detached, saved and loaded by `tracetorch.Model`, and moves with the
    model's dtype and device. When every delay is 0 the layer has no state.

    The delays are a buffer (``delays``, int64, one per neuron): saved in
    ``state_dict``, not trained. A loaded ``delays`` must be non-negative integers, one
    per neuron, and at most the `max_delay` the layer was built with.

    `forward_sequence` shifts the whole sequence at once (a gather over time) and
    leaves ``history`` as stepping would.

    Args:
        num_neurons: Number of neurons (the width of the input along ``dim``).
        delays: The delay of every neuron, in steps: one non-negative int for all
            neurons, or a sequence / 1-d integer tensor (or numpy array) of
            ``num_neurons`` of them.
        dim: The axis of one timestep's input that holds the neurons (``-1`` for
            ``[..., N]``, ``-3`` for ``[..., C, H, W]``).

    Raises:
        TypeError: if ``delays`` holds a bool, a float (e.g. 1.5) or another non-int.
        ValueError: if a delay is negative, or there is not one per neuron.

    Example:
        ```python
        import torch
        from tracetorch import snn

        delay = snn.Delay(3, [0, 1, 2])
        ys = delay.forward_sequence(torch.arange(1.0, 5.0).view(4, 1, 1).expand(4, 1, 3))
        assert ys[:, 0].tolist() == [[1, 0, 0], [2, 1, 0], [3, 2, 1], [4, 3, 2]]
        ```
    """

    def __init__(self, num_neurons: int, delays: DelaysValue, *, dim: int = -1) -> None:
        super().__init__(num_neurons, dim)
        values = _delays_tensor(type(self).__name__, delays, num_neurons)
        self.max_delay: int = int(values.max())
        self.register_buffer("delays", values)
        if self.max_delay > 0:
            self._initialize_state("history", self.max_delay * num_neurons)

    def _load_from_state_dict(  # type: ignore[override]
        self,
        state_dict: dict[str, Any],
        prefix: str,
        local_metadata: dict[str, Any],
        strict: bool,
        missing_keys: list[str],
        unexpected_keys: list[str],
        error_msgs: list[str],
    ) -> None:
        value = state_dict.get(prefix + "delays")
        if isinstance(value, Tensor):
            owner = type(self).__name__
            problem = None
            if value.dtype == torch.bool or value.is_floating_point() or value.is_complex():
                problem = f"must be an integer tensor, got dtype {value.dtype}"
            elif tuple(value.shape) != (self.num_neurons,):
                problem = f"must have shape ({self.num_neurons},), got {tuple(value.shape)}"
            elif bool((value < 0).any()) or bool((value > self.max_delay).any()):
                problem = f"must lie in 0..{self.max_delay} (this layer's max_delay), got {value.tolist()[:8]}"
            if problem is not None:
                error_msgs.append(
                    f"{owner}: `{prefix}delays` {problem}. Nothing was loaded into this layer; "
                    "build the layer with the delays of the checkpoint."
                )
                return
        super()._load_from_state_dict(
            state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
        )

    def _index(self, device: torch.device) -> Tensor:
        """Where each neuron reads in ``cat([history, x])`` along ``dim`` (one step)."""
        n = self.num_neurons
        return (self.max_delay - self.delays.to(device)) * n + torch.arange(n, device=device)

    def forward(self, x: Tensor) -> Tensor:
        """Advance one timestep.

        Args:
            x: One timestep, ``num_neurons`` along ``dim``, e.g. ``[B, N]``.

        Returns:
            The delayed input, shaped like ``x``.
        """
        if self.max_delay == 0:
            self._check_input(x)
            return x
        self._ensure_states(x)
        d = self.dim
        full = torch.cat([self.__dict__["history"], x], d)
        out = full.index_select(d, self._index(x.device))
        self.__dict__["history"] = full.narrow(d, self.num_neurons, self.max_delay * self.num_neurons)
        return out

    def forward_sequence(self, x: Tensor, time_dim: int = 0) -> Tensor:
        """Run a whole sequence at once: every neuron's input shifted by its delay.

        Continues from the current ``history`` and leaves it as stepping would; the
        outputs, the final state and the gradients are those of stepping.

        Args:
            x: Input with time along ``time_dim``, e.g. ``[T, B, N]``; ``dim`` refers to
                one timestep's tensor.
            time_dim: The axis of ``x`` that holds time.

        Returns:
            The outputs of every step, stacked along ``time_dim``.
        """
        owner = type(self).__name__
        t = check_time_dim(owner, x, time_dim)
        xs = x.movedim(t, 0)
        d = self._check_input(xs[0])
        if FINITE_FLAGS.check_finite and not bool(torch.isfinite(x).all()):
            raise ValueError(
                f"{owner}: the input contains NaN or inf (tt.check_finite is on). "
                "Find where it came from upstream; the layer's states were not changed."
            )
        if self.max_delay == 0:
            return x
        self._ensure_states(xs[0])
        D, n, steps = self.max_delay, self.num_neurons, xs.shape[0]
        xw = xs.movedim(1 + d, -1)  # [T, *rest, N]
        hw = self.__dict__["history"].movedim(d, -1)  # [*rest, D * N]
        hw = hw.unflatten(-1, (D, n)).movedim(-2, 0)  # [D, *rest, N], oldest first
        full = torch.cat([hw, xw], 0)  # [D + T, *rest, N]
        idx = D + torch.arange(steps, device=x.device).unsqueeze(1) - self.delays.to(x.device)  # [T, N]
        idx = idx.view((steps,) + (1,) * (xw.ndim - 2) + (n,)).expand(xw.shape)
        out = full.gather(0, idx)
        last = full[steps:].movedim(0, -2).flatten(-2)  # [*rest, D * N]
        self.__dict__["history"] = last.movedim(-1, d).contiguous()
        return out.movedim(-1, 1 + d).movedim(0, t)

    def extra_repr(self) -> str:
        return f"num_neurons={self.num_neurons}, max_delay={self.max_delay}, dim={self.dim}"
