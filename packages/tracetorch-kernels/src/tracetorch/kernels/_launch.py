"""Launch geometry and the device guard of the kernels (no Triton import).

`launch_shape` is a pure function of the problem size and the device's SM count, so it
is unit-tested on CPU; `device_guard` makes a launch target the tensors' GPU rather
than the current one (Triton launches on the current CUDA device).
"""

from __future__ import annotations

import contextlib
import functools
from typing import ContextManager

import torch

__all__ = ["launch_shape", "sm_count", "device_guard", "elements_per_thread"]

MAX_WARPS = 4
"""Warps per program for large problems (the configuration ``compile_check`` checks)."""
PROGRAMS_PER_SM = 2
"""Below this many programs per SM the launch shrinks its blocks (latency-bound sizes)."""


def _next_pow2(n: int) -> int:
    return 1 if n <= 1 else 1 << (n - 1).bit_length()


def elements_per_thread(dual: bool, recurrent: bool, kind: int, backward: bool) -> int:
    """Elements each thread owns, from the ``ptxas`` register counts on sm_90 (see
    ``benchmarks/kernels/compile_check.py``, which asserts vector accesses and no
    spills at these sizes): 2 for the dual recurrent forward and for the dual or
    recurrent backward kernels, 4 otherwise (2 or 4 elements make 8- or 16-byte vector
    accesses; at 2 the non-dual T/TS backward spills a few bytes, at 4 it does not).

    Args:
        dual: The configuration's ``DUAL`` flag.
        recurrent: Its ``REC`` flag.
        kind: Its ``KIND`` flag (0 LI, 1 EMA, 2 B, 3 T, 4 TS); unused today, part of
            the signature because the register counts depend on it.
        backward: The BPTT kernel (True) or the forward one.

    Returns:
        2 or 4.
    """
    if backward and (dual or recurrent):
        return 2
    if dual and recurrent:
        return 2
    return 4


def launch_shape(E: int, sms: int, per_thread: int, max_warps: int = MAX_WARPS) -> tuple[int, int]:
    """``(BLOCK, num_warps)`` for ``E`` elements per step on a device with ``sms`` SMs.

    Large problems get ``per_thread * 32 * max_warps`` elements per program. When that
    leaves fewer than `PROGRAMS_PER_SM` programs per SM, warps are halved (the same
    elements per thread, so the same registers) down to one warp, then the block is cut
    to the next power of two of ``E`` (at least 16).

    Args:
        E: Elements per timestep (>= 0).
        sms: Streaming multiprocessors of the device (>= 1; 1 for the CPU interpreter).
        per_thread: Elements per thread (`elements_per_thread`).
        max_warps: Warps per program for large problems (a power of two).

    Returns:
        ``(BLOCK, num_warps)``; ``BLOCK`` is a power of two >= 16.

    Raises:
        ValueError: for a negative ``E``, ``sms < 1`` or non-positive sizes.
    """
    if E < 0 or sms < 1 or per_thread < 1 or max_warps < 1:
        raise ValueError(
            f"launch_shape: expected E >= 0, sms >= 1, per_thread >= 1, max_warps >= 1; "
            f"got E={E}, sms={sms}, per_thread={per_thread}, max_warps={max_warps}."
        )
    warps = max_warps
    while warps > 1 and -(-E // (per_thread * 32 * warps)) < PROGRAMS_PER_SM * sms:
        warps //= 2
    block = per_thread * 32 * warps
    block = max(16, min(block, _next_pow2(E)))
    return block, warps


@functools.cache
def _cuda_sms(index: int) -> int:
    return int(torch.cuda.get_device_properties(index).multi_processor_count)


def sm_count(device: torch.device) -> int:
    """SMs of a CUDA device (cached); 1 for any other device (the interpreter)."""
    if device.type != "cuda":
        return 1
    index = device.index if device.index is not None else torch.cuda.current_device()
    return _cuda_sms(index)


def device_guard(device: torch.device) -> ContextManager[object]:
    """``torch.cuda.device(device)`` for a CUDA device (the launch goes to the tensors'
    GPU, not the current one), a no-op context otherwise."""
    if device.type == "cuda":
        return torch.cuda.device(device)
    return contextlib.nullcontext()
