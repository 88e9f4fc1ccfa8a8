"""The time-constant conventions shared by NIR export and import (numpy only).

A decay ``d`` (``beta`` or ``alpha``) and a NIR time constant ``tau`` are related by
forward Euler with step ``dt``: ``d = 1 - dt/tau``, ``tau = dt/(1 - d)``. snnTorch
reads and writes NIR with exactly these formulas, evaluated in float32 (``tau = dt/(1 -
beta)`` and ``beta = 1 - dt/tau`` with float32 arrays and ``dt`` a Python float, which
numpy turns into float32). Those two float32 formulas are not inverses of each other
for every float32 decay (about 2% of the decays in [0.5, 1) come back one ulp off, and
most decays below 0.5 have no float32 ``tau`` that maps back to them), so:

* `tau_from_decay` writes snnTorch's float32 ``tau`` when snnTorch's inverse gives every
  decay back exactly, and otherwise the float64 ``dt/(1 - d)``, whose float64 inverse
  rounds back to ``d`` exactly;
* `decay_from_tau` evaluates snnTorch's inverse for a float32 ``tau`` and, where that
  inverse is not the decay snnTorch's export formula came from, takes the float32
  decay next to it that is; a float64 ``tau`` is inverted in float64 and rounded once.

So export followed by import (ours, or snnTorch's export followed by ours) gives the very
same float32 decays, and snnTorch's importer gives them too whenever ``tau`` is float32.
"""

from __future__ import annotations

import numpy as np

__all__ = ["decay_from_tau", "tau_from_decay", "per_sample", "uniform"]

_SEARCH = 4
"""How many float32 neighbours on each side of a decay are tried on import."""


def _forward32(d: np.ndarray, dt: float) -> np.ndarray:
    """snnTorch's export: ``dt/(1 - d)`` in float32."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return (np.float32(dt) / (np.float32(1.0) - d.astype(np.float32))).astype(np.float32)


def _inverse32(tau: np.ndarray, dt: float) -> np.ndarray:
    """snnTorch's import: ``1 - dt/tau`` in float32."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return (np.float32(1.0) - np.float32(dt) / tau.astype(np.float32)).astype(np.float32)


def decay_from_tau(tau: np.ndarray, dt: float) -> np.ndarray:
    """The float32 decays of NIR time constants (see the module docstring).

    Args:
        tau: The time constants.
        dt: The time step.

    Returns:
        The decays, float32, shaped like ``tau``.
    """
    t = np.asarray(tau)
    if t.dtype != np.float32:
        with np.errstate(divide="ignore", invalid="ignore"):
            return (1.0 - float(dt) / t.astype(np.float64)).astype(np.float32)
    d = _inverse32(t, dt)
    bad = np.flatnonzero(_forward32(d, dt) != t)
    if bad.size:
        flat, tflat = d.reshape(-1).copy(), t.reshape(-1)
        for i in bad:
            up = down = flat[i]
            for _ in range(_SEARCH):
                up = np.nextafter(up, np.float32(np.inf), dtype=np.float32)
                down = np.nextafter(down, np.float32(-np.inf), dtype=np.float32)
                hit = [c for c in (up, down) if _forward32(np.asarray([c]), dt)[0] == tflat[i]]
                if hit:
                    flat[i] = hit[0]
                    break
        d = flat.reshape(d.shape)
    return d


def tau_from_decay(decay: np.ndarray, dt: float) -> np.ndarray:
    """NIR time constants for ``decay`` that `decay_from_tau` maps back to it exactly.

    Args:
        decay: Decays in (0, 1) (float32).
        dt: The time step.

    Returns:
        ``tau``: float32 (snnTorch's formula) where that round-trips for every entry,
        else float64.

    Raises:
        ValueError: if some decay is not in (0, 1).
    """
    d = np.asarray(decay, dtype=np.float32)
    if not bool(np.all((d > 0) & (d < 1))):
        bad = d[~((d > 0) & (d < 1))][:4].tolist()
        raise ValueError(f"a decay must lie in (0, 1) to have a finite time constant, got {bad}")
    tau = _forward32(d, dt)
    if np.array_equal(decay_from_tau(tau, dt), d):
        return tau
    tau64 = float(dt) / (1.0 - d.astype(np.float64))
    if not np.array_equal(decay_from_tau(tau64, dt), d):  # pragma: no cover - float64 has 29 spare bits
        raise ValueError(f"some decays have no exact time constant with dt={dt!r}")
    return tau64


def per_sample(value: np.ndarray, shape: tuple[int, ...], axis: int) -> np.ndarray:
    """A layer parameter (0-d, or one value per neuron along ``axis``) spread over one sample.

    Args:
        value: 0-d or ``[shape[axis]]``.
        shape: The sample's shape (no batch axis).
        axis: The neuron axis within ``shape``.

    Returns:
        A contiguous array of ``shape``.
    """
    v = np.asarray(value)
    if v.ndim == 1:
        v = v.reshape((v.shape[0],) + (1,) * (len(shape) - axis - 1))
    return np.ascontiguousarray(np.broadcast_to(v, shape))


def uniform(value: np.ndarray) -> bool:
    """Whether every entry of ``value`` is the same."""
    v = np.asarray(value)
    return v.size == 0 or bool(np.all(v == v.reshape(-1)[0]))
