"""`tracetorch.snn`: the 32 spiking (and leaky-integrator) layers.

Names are built from parts: ``D`` dual (separate positive and negative pathways),
``S`` synaptic trace, ``R`` recurrent; ``LI`` leaky integrator; the output kind
``EMA`` (moving average), ``B`` (binary spikes), ``T`` (ternary spikes) or ``TS``
(ternary, scaled). Every layer takes one timestep per call, keeps its states inside
and runs whole sequences with ``forward_sequence``.

Example:
    ```python
    import torch
    import tracetorch as tt
    from tracetorch import snn

    net = tt.Sequential(torch.nn.Linear(10, 32), snn.LIB(32), torch.nn.Linear(32, 2), snn.LI(2))
    y = net(torch.randn(4, 10))                          # one step
    ys = net.forward_sequence(torch.randn(50, 4, 10))    # a whole sequence
    ```
"""

from . import functional
from ._layer import Layer
from ._layers import (
    DLI,
    DLIB,
    DLIEMA,
    DLIT,
    DLITS,
    DRLIB,
    DRLIT,
    DRLITS,
    DSLI,
    DSLIB,
    DSLIEMA,
    DSLIT,
    DSLITS,
    DSRLIB,
    DSRLIT,
    DSRLITS,
    LI,
    LIB,
    LIEMA,
    LIT,
    LITS,
    RLIB,
    RLIT,
    RLITS,
    SLI,
    SLIB,
    SLIEMA,
    SLIT,
    SLITS,
    SRLIB,
    SRLIT,
    SRLITS,
)
from ._leaky import LeakyLayer

__all__ = [
    "Layer",
    "LeakyLayer",
    "functional",
    "LI",
    "DLI",
    "SLI",
    "DSLI",
    "LIEMA",
    "DLIEMA",
    "SLIEMA",
    "DSLIEMA",
    "LIB",
    "DLIB",
    "SLIB",
    "RLIB",
    "DSLIB",
    "DRLIB",
    "SRLIB",
    "DSRLIB",
    "LIT",
    "DLIT",
    "SLIT",
    "RLIT",
    "DSLIT",
    "DRLIT",
    "SRLIT",
    "DSRLIT",
    "LITS",
    "DLITS",
    "SLITS",
    "RLITS",
    "DSLITS",
    "DRLITS",
    "SRLITS",
    "DSRLITS",
]
