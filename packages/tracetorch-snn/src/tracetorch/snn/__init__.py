"""`tracetorch.snn`: the 32 spiking (and leaky-integrator) layers.

Names are built from parts: ``D`` dual (separate positive and negative pathways),
``S`` synaptic trace, ``R`` recurrent; ``LI`` leaky integrator; the output kind
``EMA`` (moving average), ``B`` (binary spikes), ``T`` (ternary spikes) or ``TS``
(ternary, scaled). Every layer takes one timestep per call, keeps its states inside
and runs whole sequences with ``forward_sequence``. Each layer's docstring gives its
update equations, its states and its value parameters (the decays, thresholds, scales
and recurrent weights, in the order of ``config.param_names``); what all layers share
is documented here once.

Value parameters:
    Each value parameter (``beta``, ``threshold``, ...) takes a float, or a tensor
    (list, numpy array) of 0 dims or of ``num_neurons`` values. Decays must lie in
    (0, 1) and thresholds above 0; they are stored through a sigmoid and a softplus
    respectively, so they stay in range while they are trained. Scales and recurrent
    weights are unbounded. A fixed value (``learn_<name>=False``) acts with exactly
    the value given. Integrate-and-fire: a fixed membrane decay of a spiking layer may
    be exactly 1 (``beta=1.0, learn_beta=False``: no leak); a learnable one cannot
    (it is an error that says to pass ``learn_beta=False``).

Keyword-only arguments:
    - ``dim``: the axis of one timestep's input that holds the neurons (``-1`` for
      ``[..., N]``, ``-3`` for ``[..., C, H, W]``).
    - ``<name>_rank`` (one per value parameter, default 1): 0 for one ``<name>`` for
      the whole layer, 1 for one per neuron.
    - ``learn_<name>`` (one per value parameter, default ``True``): whether ``<name>``
      is trained (a parameter) or fixed (a buffer).
    - ``spike_fn`` (B, T and TS layers only): membrane minus threshold to firing
      probability: ``None`` for ``sigmoid(4x)``, a name (``"heaviside_atan"``, ...) or
      a callable such as ``tt.functional.heaviside_atan(alpha=2.0)`` (deterministic
      0/1 spikes).
    - ``quant_fn`` (B, T and TS layers only): firing probability to spike: ``None``
      for ``"bernoulli"``, or ``"round"``, ``"probabilistic"``, or a callable (used
      as given).

Neuron options (keyword-only, B, T and TS layers only; the defaults are the update
written in each layer's docstring):
    - ``reset`` (``"subtract"``): what a spike does to the membrane: ``"subtract"`` the
      threshold, ``"value"`` (set it to ``reset_value``) or ``"none"``. Dual layers:
      ``"subtract"`` takes half of the reset from each pathway's membrane; ``"value"``
      sets each pathway's membrane to ``reset_value / 2``, so that their sum is
      ``reset_value``. A ternary layer's negative spike resets to ``reset_value`` too.
    - ``reset_value`` (``0.0``): the membrane after a ``"value"`` reset (finite; only
      with ``reset="value"``).
    - ``reset_timing`` (``"same"``): ``"same"`` resets on the step of the spike;
      ``"next"`` (snnTorch's default) keeps the un-reset membrane as the state and
      applies the reset of the previous step's spike at the next step, undecayed:
      ``"subtract"``: ``mem = beta*mem + u - s[t-1]*threshold``; ``"value"``: ``mem =
      (1 - s[t-1])*mem + s[t-1]*reset_value`` before the decay. The pending spikes are
      extra states (``prev_spike``, or ``prev_pos_spike`` and ``prev_neg_spike``).
    - ``detach_reset`` (``False``): the spike in the reset term is cut from the graph.
    - ``decay_input`` (``False``): the drive enters the membrane as ``(1 - beta)*u``
      (SpikingJelly's ``decay_input=True``, Norse).
    - ``rest`` (``0.0``): the potential the membrane leaks towards: ``mem = beta*mem +
      (1 - beta)*rest + u`` (dual: each pathway towards ``rest / 2``). The states still
      start at 0; set ``layer.mem`` to start elsewhere.
    - ``syn_input`` (``"ema"``, S layers only): ``"ema"`` for ``syn = alpha*syn + (1 -
      alpha)*x``, ``"add"`` for ``syn = alpha*syn + x`` (snnTorch ``Synaptic``, Norse
      ``LIFCell``).
    - ``adaptive`` (``False``): an adaptive threshold (ALIF/LSNN): the state ``adapt``,
      ``adapt = adapt_decay*adapt + (1 - adapt_decay)*|s|``, raises every threshold by
      ``adapt_strength*adapt``; ``adapt_decay`` (a decay) and ``adapt_strength`` (> 0)
      take a value, ``_rank`` and ``learn_`` flag like the other parameters.
    - ``refractory`` (``0``): an int number of steps after a spike during which the
      neuron cannot fire; its membrane is held after the reset and the input ignored
      (the state ``refrac`` counts the steps left).
    - ``all_to_all`` (``False``, R layers only): a learned ``[N, N]`` ``rec_matrix``
      and a ``rec_bias`` replace ``rec_weight``: ``u = d + rec_matrix @ rec +
      rec_bias`` (``dim=-1`` only). A fixed ``gamma`` may be exactly 0 (the trace is
      then the previous output).
    ``layer.config.options`` lists the options in effect. Every option runs in
    ``forward_sequence``'s hand-written BPTT (outputs and states bit-identical to the
    reference loop, gradients within 1e-5 relative of autograd through it) and in the
    GPU kernels, ``all_to_all`` there only with at most 64 neurons (32 for dual layers;
    larger layers run the hand-written BPTT on the GPU).

Errors of every layer constructor:
    - ``TypeError`` for a value, rank or flag of the wrong type.
    - ``ValueError`` for a value out of its range or of the wrong size, a rank other
      than 0/1, an unknown ``spike_fn``/``quant_fn`` name, an unknown ``reset``,
      ``reset_timing`` or ``syn_input`` (the message lists the valid ones), a
      non-finite ``reset_value``/``rest``, or a learnable decay of 1.

Example:
    ```python
    import torch
    import tracetorch as tt
    from tracetorch import snn

    net = tt.Sequential(torch.nn.Linear(10, 32), snn.LIB(32), torch.nn.Linear(32, 2), snn.LI(2))
    y = net(torch.randn(4, 10))                          # one step
    ys = net.forward_sequence(torch.randn(50, 4, 10))    # a whole sequence

    layer = snn.DSRLITS(16, pos_threshold=0.5, pos_beta_rank=0, learn_pos_scale=False,
                        spike_fn="heaviside_atan", quant_fn="round")
    out = layer(torch.randn(8, 16))                      # [batch, neurons], one timestep
    assert out.shape == (8, 16)
    ```
"""

from . import _layers, functional
from ._delay import Delay
from ._layer import Layer
from ._layers import *  # noqa: F403  (the 32 generated layer classes; names in _layers.__all__)
from ._leaky import LeakyLayer
from ._nir_export import export_nir
from ._nir_graph import NIRGraphModel
from ._nir_import import import_nir
from ._nir_io import read_nir, write_nir

__all__ = ["Layer", "LeakyLayer", "functional"]
__all__ += _layers.__all__
__all__ += ["Delay"]
__all__ += ["export_nir", "import_nir", "read_nir", "write_nir", "NIRGraphModel"]
