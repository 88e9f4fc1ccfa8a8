"""`tracetorch.kernels`: fused Triton kernels for traceTorch's layers.

Optional (``pip install tracetorch[kernels]``) and used automatically: the snn and
rnn layers run their sequences through these kernels on CUDA tensors of dtype
float32, bfloat16 or float16, and through their pure-PyTorch references otherwise.
Importing this package does not import Triton; the kernels are compiled (or, for CPU
tensors, interpreted by ``TRITON_INTERPRET``-mode Triton) the first time they run.

Each op lives in ``tracetorch.kernels.ops.<op>`` as a pure-PyTorch ``naive``
reference and a Triton ``fused`` implementation, registered as ``torch.library``
custom ops (``tracetorch::...``) so that ``torch.compile`` works across them.

Forcing a path: ``TRACETORCH_KERNELS=0`` (references), ``1`` (kernels, also on
CPU through the interpreter) or ``auto`` (the default), or the ``use_kernels``
argument of the functions in `tracetorch.kernels.dispatch`.

Memory: `checkpoint_bptt` (``tracetorch.kernels.checkpoint_bptt(8)``, or a ``with``
block) makes the leaky-integrator backward recompute segments from checkpoints
instead of storing every step.
"""

from . import dispatch
from ._backend import ENV_VAR, KERNEL_DTYPES, kernels_mode, triton_available, use_kernels_for
from ._options import bptt_checkpoint_every, checkpoint_bptt
from .ops.leaky import leaky_sequence, leaky_sequence_naive, leaky_step
from .ops.scan import linear_scan, linear_scan_naive

__all__ = [
    "ENV_VAR",
    "KERNEL_DTYPES",
    "bptt_checkpoint_every",
    "checkpoint_bptt",
    "dispatch",
    "kernels_mode",
    "leaky_sequence",
    "leaky_sequence_naive",
    "leaky_step",
    "linear_scan",
    "linear_scan_naive",
    "triton_available",
    "use_kernels_for",
]
