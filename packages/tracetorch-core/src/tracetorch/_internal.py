"""Helpers shared by the traceTorch distributions (tracetorch-snn, -rnn, -kernels).

This module is internal: its names may change in any release and are not part of
the public API. It exists so that no distribution imports a leading-underscore
module of another one; everything the other distributions need from core is
re-exported here, and only here.
"""

from __future__ import annotations

from .core._errors import check_int, owner_name
from .core._finite import FLAGS as FINITE_FLAGS
from .core._io import atomic_write_path
from .core._kernels import (
    ENTRY_POINT_GROUP,
    kernels_for,
    load_kernels,
    register_kernels,
    reset_kernels,
)
from .core._sequence import check_time_dim, linear_scan, loop_over_time
from .functional._quant import QUANT_FUNCTIONS, skips_quantisation
from .functional._spike import SPIKE_KINDS

__all__ = [
    "atomic_write_path",
    "ENTRY_POINT_GROUP",
    "QUANT_FUNCTIONS",
    "SPIKE_KINDS",
    "FINITE_FLAGS",
    "check_int",
    "check_time_dim",
    "kernels_for",
    "load_kernels",
    "register_kernels",
    "reset_kernels",
    "linear_scan",
    "loop_over_time",
    "owner_name",
    "skips_quantisation",
]

# The monitor's emit protocol (see tracetorch.monitor._emit): layers call these to hand a
# recording monitor values that are not their output or a state (e.g. the membrane before
# the reset), or their per-step states in sequence mode.
from .monitor._emit import SINK_ATTR as MONITOR_SINK_ATTR  # noqa: E402
from .monitor._emit import emit, emit_sequence, wants  # noqa: E402

__all__ += ["MONITOR_SINK_ATTR", "emit", "emit_sequence", "wants"]
