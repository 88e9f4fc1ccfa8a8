"""Recurrent layers that process one timestep per call: `SimpleRNN`, `LSTM`, `GRU` and
`SelectiveSSM`, on the common base `Layer`.

Every layer takes ``(in_features, out_features, ..., dim=-1)``, keeps its hidden states
inside itself (created lazily on the first call, managed by `tracetorch.Model`), works
along any feature axis ``dim``, and runs whole sequences with ``forward_sequence``
(PyTorch's fused RNN kernels, or the linear scan for `SelectiveSSM`).
"""

# `linear_scan` is traceTorch's one linear-scan contract, defined in core; it is
# re-exported here under its old public name (it used to be a separate rnn scan).
from tracetorch._internal import linear_scan  # noqa: E402

from ._gru import GRU
from ._layer import Layer
from ._lstm import LSTM
from ._selective_ssm import SelectiveSSM
from ._simple_rnn import SimpleRNN

__all__ = ["Layer", "SimpleRNN", "LSTM", "GRU", "SelectiveSSM", "linear_scan"]
