"""Finding the optional `tracetorch.kernels` distribution, once, without importing Triton."""

from __future__ import annotations

from typing import Any, Optional

_LOOKED_UP: list[Optional[Any]] = []  # empty until the first lookup (a plain cache: traceable)


def kernels_dispatch() -> Optional[Any]:
    """The ``tracetorch.kernels.dispatch`` module, or ``None`` when not installed.

    With the tracetorch-kernels distribution installed, the snn and rnn sequence paths
    hand their work to its dispatch, which runs Triton kernels on CUDA tensors
    (fp32/bf16/fp16) and the pure-PyTorch reference otherwise
    (``TRACETORCH_KERNELS=0/1`` forces either). Importing the dispatch never imports
    Triton, so the CPU path stays Triton-free.
    """
    if not _LOOKED_UP:
        try:
            from tracetorch.kernels import dispatch
        except ImportError:
            dispatch = None
        _LOOKED_UP.append(dispatch)
    return _LOOKED_UP[0]
