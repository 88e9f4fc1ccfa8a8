"""Pure functions used by traceTorch layers: decay conversions, inverse activations,
spike functions with surrogate gradients and quantisation functions."""

from ._decay import (
    decay_to_halflife,
    decay_to_timesteps,
    halflife_to_decay,
    hippo_decays,
    identity,
    max_halflife_to_hippo_scale,
    sigmoid_inverse,
    softplus_inverse,
    timesteps_to_decay,
)
from ._quant import (
    QUANT_FUNCTIONS,
    quant_bernoulli,
    quant_probabilistic,
    quant_round,
    resolve_quant_fn,
)
from ._spike import (
    SPIKE_FUNCTIONS,
    SpikeFunction,
    heaviside_atan,
    heaviside_fast_sigmoid,
    heaviside_straight_through,
    heaviside_triangle,
    resolve_spike_fn,
    sigmoid,
)

__all__ = [
    "identity",
    "sigmoid_inverse",
    "softplus_inverse",
    "halflife_to_decay",
    "decay_to_halflife",
    "timesteps_to_decay",
    "decay_to_timesteps",
    "hippo_decays",
    "max_halflife_to_hippo_scale",
    "SpikeFunction",
    "sigmoid",
    "heaviside_fast_sigmoid",
    "heaviside_atan",
    "heaviside_triangle",
    "heaviside_straight_through",
    "resolve_spike_fn",
    "SPIKE_FUNCTIONS",
    "quant_round",
    "quant_bernoulli",
    "quant_probabilistic",
    "resolve_quant_fn",
    "QUANT_FUNCTIONS",
]
