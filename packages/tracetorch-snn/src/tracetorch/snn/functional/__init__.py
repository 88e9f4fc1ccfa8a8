"""Pure functions behind the spiking layers: the one leaky-integrator update.

* `LeakyConfig` – which parts (dual, synaptic, recurrent, output kind) a layer uses,
  and the order of its ``params`` and ``states`` tuples.
* `leaky_step` – one timestep, ``(cfg, x, states, params, fire) -> (out, new_states)``.
* `leaky_sequence_reference` – the plain loop of `leaky_step` over a sequence: the
  reference every fast path (scans, the BPTT function, GPU kernels) must equal.
* `leaky_sequence` – the one sequence entry point: a registered GPU kernel where one
  accepts the call, else the fast pure-PyTorch path.
* `LeakyConfig.layout` (`LeakyLayout`) – the names of every state, parameter and
  kept tensor; everything here addresses them by name.
"""

from ._bptt import spiking_sequence
from ._config import LAYER_NAMES, OUTPUT_KINDS, LeakyConfig, LeakyLayout, ParamInfo
from ._scan import linear_scan
from ._sequence import leaky_sequence, leaky_sequence_reference, linear_sequence
from ._step import leaky_step, make_fire, negative_part, positive_part, promote, spike_then_quant
from ._surrogate import fire_derivative, has_fire_derivative

__all__ = [
    "LAYER_NAMES",
    "OUTPUT_KINDS",
    "LeakyConfig",
    "LeakyLayout",
    "ParamInfo",
    "leaky_step",
    "positive_part",
    "negative_part",
    "spike_then_quant",
    "make_fire",
    "promote",
    "leaky_sequence_reference",
    "leaky_sequence",
    "linear_sequence",
    "linear_scan",
    "spiking_sequence",
    "fire_derivative",
    "has_fire_derivative",
]
