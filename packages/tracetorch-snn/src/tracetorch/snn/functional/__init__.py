"""Pure functions behind the spiking layers: the one leaky-integrator update.

* `LeakyConfig` – which parts (dual, synaptic, recurrent, output kind) a layer uses,
  and the order of its ``params`` and ``states`` tuples.
* `leaky_step` – one timestep, ``(cfg, x, states, params, fire) -> (out, new_states)``.
* `leaky_sequence_reference` – the plain loop of `leaky_step` over a sequence: the
  reference every fast path (scans, the BPTT function, GPU kernels) must equal.
* `leaky_sequence` – the fast pure-PyTorch sequence path used by the layers.
"""

from ._config import LAYER_NAMES, OUTPUT_KINDS, LeakyConfig, ParamInfo
from ._step import leaky_step, negative_part, positive_part, spike_then_quant

__all__ = [
    "LAYER_NAMES",
    "OUTPUT_KINDS",
    "LeakyConfig",
    "ParamInfo",
    "leaky_step",
    "positive_part",
    "negative_part",
    "spike_then_quant",
]
