"""Variable-length sequences in one batch: ``forward_sequence(x, lengths=...)`` and `last_valid`.

The batch axis is axis 0 of one timestep's tensor: for a sequence with time along
``time_dim`` it is axis 1 of ``x`` when ``time_dim`` is 0, and axis 0 otherwise. Every
state of every layer involved has the batch on its axis 0 too (the layers' ``dim``
must not be 0).

The run is exact, not masked: the batch is grouped by distinct length, each group runs
its first ``L`` steps through the module's own ``forward_sequence`` with its slice of
the states, and the outputs and final states are put back in batch order. So each
sample's states end at its own last valid step, its outputs past it are zeros (a
constant: no gradient flows through them), and nothing of one sample reaches another.
"""

from __future__ import annotations

from typing import Any, Callable, Optional, Sequence, Union, cast

import torch
from torch import Tensor, nn

from ._layer import Layer, iter_state_items, set_state
from ._sequence import check_time_dim
from ._walk import find_layers

__all__ = ["last_valid", "run_with_lengths"]

Lengths = Union[Tensor, Sequence[int]]


def _batch_axis(t: int) -> int:
    """The batch axis of a sequence tensor whose time axis is ``t`` (non-negative)."""
    return 1 if t == 0 else 0


def check_lengths(owner: str, lengths: Any, batch: int, steps: int) -> Tensor:
    """Validate per-sample lengths; return them as a 1-D int64 CPU tensor.

    Raises:
        TypeError: if ``lengths`` is not a 1-D integer tensor or a sequence of ints.
        ValueError: for a wrong number of entries or a length outside ``1..steps``.
    """
    if isinstance(lengths, Tensor):
        if lengths.dtype == torch.bool or lengths.is_floating_point() or lengths.is_complex():
            raise TypeError(
                f"{owner}: lengths must hold integers (one per sample), got a tensor of dtype {lengths.dtype}."
            )
        lt = lengths.detach().to("cpu", torch.int64)
    elif isinstance(lengths, (list, tuple)):
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in lengths):
            raise TypeError(f"{owner}: lengths must be ints (one per sample), got {list(lengths)!r}.")
        lt = torch.tensor(list(lengths), dtype=torch.int64)
    else:
        raise TypeError(
            f"{owner}: lengths must be a 1-D integer tensor or a list of ints, got {type(lengths).__name__}."
        )
    if lt.ndim != 1:
        raise ValueError(f"{owner}: lengths must be 1-D (one per sample), got shape {tuple(lt.shape)}.")
    if lt.shape[0] != batch:
        raise ValueError(
            f"{owner}: got {lt.shape[0]} lengths for a batch of {batch} (the batch is axis 0 of one "
            "timestep: axis 1 of x for time_dim=0, else axis 0)."
        )
    if batch and (int(lt.min()) < 1 or int(lt.max()) > steps):
        raise ValueError(
            f"{owner}: every length must be between 1 and the number of timesteps ({steps}); got {lt.tolist()}."
        )
    return lt


def _state_layers(module: nn.Module) -> list[Layer]:
    return [f.layer for f in find_layers(module)]


def run_with_lengths(
    module: nn.Module,
    x: Tensor,
    lengths: Lengths,
    time_dim: int,
    run: Callable[[Tensor], Tensor],
) -> Tensor:
    """Run ``run`` (the module's own ``forward_sequence``) on a batch of variable-length sequences.

    Args:
        module: The layer or model whose states ``run`` advances.
        x: Input with time along ``time_dim`` and the batch on axis 0 of each timestep.
        lengths: One length per sample, each in ``1..T``.
        time_dim: The axis of ``x`` that holds time.
        run: ``run(x_group)`` runs a sub-batch's sequence (with ``time_dim`` as given)
            from the module's current states and returns its outputs.

    Returns:
        The outputs, shaped as ``run(x)`` would return them, zero past each sample's
        length.

    Raises:
        TypeError, ValueError: for bad lengths, or states without a batch axis 0 that
            matches ``x``; then no state is changed.
    """
    owner = type(module).__name__
    t = check_time_dim(owner, x, time_dim)
    if x.ndim < 2:
        raise ValueError(f"{owner}.forward_sequence: lengths need a batch axis; the input has shape {tuple(x.shape)}.")
    b_axis = _batch_axis(t)
    batch, steps = x.shape[b_axis], x.shape[t]
    lt = check_lengths(f"{owner}.forward_sequence", lengths, batch, steps)

    layers = _state_layers(module)
    saved: list[tuple[Layer, str, Optional[Tensor]]] = []
    for layer in layers:
        for name, s in iter_state_items(layer):
            saved.append((layer, name, s))
            if s is None:
                continue
            d = layer.dim + s.ndim if layer.dim < 0 else layer.dim
            if s.ndim < 2 or d == 0:
                raise ValueError(
                    f"{owner}.forward_sequence: lengths need every state to have the batch on axis 0, "
                    f"separate from the layer's dim; {type(layer).__name__}.{name} has shape "
                    f"{tuple(s.shape)} with dim={layer.dim}."
                )
            if s.shape[0] != batch:
                raise ValueError(
                    f"{owner}.forward_sequence: state {type(layer).__name__}.{name} has batch size "
                    f"{s.shape[0]} but the input has {batch}; call zero_states() before a new batch."
                )

    distinct = sorted(set(lt.tolist()))
    order: list[Tensor] = []
    outs: list[Tensor] = []
    finals: list[list[Optional[Tensor]]] = []
    try:
        for length in distinct:
            idx = torch.nonzero(lt == length).flatten()
            dev_idx = idx.to(x.device)
            for layer, name, s in saved:
                set_state(layer, name, None if s is None else s.index_select(0, idx.to(s.device)))
            xg = x.index_select(b_axis, dev_idx).narrow(t, 0, length)
            yg = run(xg)
            if not isinstance(yg, Tensor):
                raise TypeError(f"{owner}.forward_sequence: lengths need a tensor output, got {type(yg).__name__}.")
            if yg.ndim <= max(t, b_axis) or yg.shape[t] != length or yg.shape[b_axis] != idx.numel():
                raise ValueError(
                    f"{owner}.forward_sequence: lengths need outputs with time on axis {t} and the batch "
                    f"on axis {b_axis}, like the input; got shape {tuple(yg.shape)} for an input of "
                    f"shape {tuple(xg.shape)}."
                )
            if length < steps:
                pad_shape = list(yg.shape)
                pad_shape[t] = steps - length
                yg = torch.cat([yg, yg.new_zeros(pad_shape)], t)
            outs.append(yg)
            order.append(idx)
            finals.append([getattr(layer, name) for layer, name, _ in saved])
    except BaseException:
        for layer, name, s in saved:
            set_state(layer, name, s)
        raise

    perm = torch.cat(order)
    inverse = torch.empty_like(perm)
    inverse[perm] = torch.arange(perm.numel())
    out = torch.cat(outs, b_axis) if len(outs) > 1 else outs[0]
    out = out.index_select(b_axis, inverse.to(out.device))
    for k, (layer, name, _) in enumerate(saved):
        parts = [f[k] for f in finals]
        if any(p is None for p in parts):
            # a state no group created stays as it was (None)
            set_state(layer, name, None if all(p is None for p in parts) else _fill_none(parts, order))
            continue
        present = cast("list[Tensor]", parts)  # no None left (checked above)
        full = torch.cat(present, 0) if len(present) > 1 else present[0]
        set_state(layer, name, full.index_select(0, inverse.to(full.device)))
    return out


def _fill_none(parts: list[Optional[Tensor]], order: list[Tensor]) -> Tensor:
    like = next(p for p in parts if p is not None)
    filled = [
        p if p is not None else like.new_zeros((idx.numel(),) + tuple(like.shape[1:])) for p, idx in zip(parts, order)
    ]
    perm = torch.cat(order)
    inverse = torch.empty_like(perm)
    inverse[perm] = torch.arange(perm.numel())
    return torch.cat(filled, 0).index_select(0, inverse.to(like.device))


def last_valid(outputs: Tensor, lengths: Lengths, time_dim: int = 0) -> Tensor:
    """Each sample's output at its own last valid step.

    Args:
        outputs: Outputs of ``forward_sequence(x, lengths=...)`` (or any tensor) with
            time along ``time_dim`` and the batch on axis 0 of each timestep (axis 1 for
            ``time_dim=0``, else axis 0).
        lengths: One length per sample, each in ``1..T``.
        time_dim: The axis of ``outputs`` that holds time.

    Returns:
        A tensor shaped like one timestep of ``outputs``: entry ``b`` is
        ``outputs`` at step ``lengths[b] - 1`` of sample ``b``. Differentiable.

    Raises:
        TypeError, ValueError: for a bad ``time_dim`` or bad lengths.

    Example:
        ```python
        import torch
        import tracetorch as tt

        y = torch.arange(12.0).view(4, 3, 1)      # [T=4, B=3, 1]
        last = tt.last_valid(y, [1, 4, 2])
        assert last.flatten().tolist() == [0.0, 10.0, 5.0]
        ```
    """
    t = check_time_dim("last_valid", outputs, time_dim)
    if outputs.ndim < 2:
        raise ValueError(f"last_valid: outputs need a batch axis; got shape {tuple(outputs.shape)}.")
    o = outputs.movedim(t, 0)
    lt = check_lengths("last_valid", lengths, o.shape[1], o.shape[0]).to(o.device)
    return o[lt - 1, torch.arange(o.shape[1], device=o.device)]
