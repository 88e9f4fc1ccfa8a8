"""Mixed precision: under torch.autocast (bf16 on CPU) layers run, keep documented state
dtypes, and stay within documented tolerances of float32 over 100 steps.

Documented behaviour (docs: Concepts → mixed precision):

* spiking layers and SelectiveSSM keep their states in the parameters' dtype (float32):
  their element-wise updates are not autocast ops, so a bf16 input is promoted;
* LSTM, GRU and SimpleRNN follow PyTorch's autocast rules for their cell ops, so their
  states are bf16, exactly like ``nn.LSTMCell`` under autocast;
* non-spiking outputs stay within 2e-2 (max error relative to the output's range) of
  float32; spike trains may flip where a membrane sits within bf16 rounding of the
  threshold, and at least 95% of spikes agree.
"""

from __future__ import annotations

import pytest
import torch
import tracetorch as tt
from torch import nn
from tracetorch import rnn, snn

STEPS, BATCH, WIDTH = 100, 4, 16

CASES = [
    ("LI", lambda: snn.LI(WIDTH), torch.float32, None),
    ("DSLIEMA", lambda: snn.DSLIEMA(WIDTH), torch.float32, None),
    ("SLI", lambda: snn.SLI(WIDTH), torch.float32, None),
    ("LIB", lambda: snn.LIB(WIDTH, spike_fn="heaviside_atan"), torch.float32, "spikes"),
    ("DSRLITS", lambda: snn.DSRLITS(WIDTH, spike_fn="heaviside_atan", pos_rec_weight=0.3), torch.float32, "spikes"),
    ("SelectiveSSM", lambda: rnn.SelectiveSSM(WIDTH, WIDTH, 8), torch.float32, None),
    ("LSTM", lambda: rnn.LSTM(WIDTH, WIDTH), torch.bfloat16, None),
    ("GRU", lambda: rnn.GRU(WIDTH, WIDTH), torch.bfloat16, None),
    ("SimpleRNN", lambda: rnn.SimpleRNN(WIDTH, WIDTH), torch.bfloat16, None),
]


@pytest.mark.parametrize("name,build,state_dtype,kind", CASES, ids=[c[0] for c in CASES])
def test_bf16_autocast_stays_close_to_float32(name, build, state_dtype, kind):
    torch.manual_seed(0)
    layer = build()
    model = tt.Sequential(nn.Linear(WIDTH, WIDTH), layer)
    xs = torch.randn(STEPS, BATCH, WIDTH) * 2
    with torch.no_grad():
        ref = torch.stack([model(x) for x in xs])
        model.zero_states()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = torch.stack([model(x) for x in xs])
    assert torch.isfinite(low).all()
    for key, state in model.save_states().items():
        assert state.dtype == state_dtype, key
    if kind == "spikes":
        agree = (low.float() == ref).float().mean().item()
        assert agree >= 0.95, agree
    else:
        err = (low.float() - ref).abs().max() / ref.abs().max()
        assert err <= 2e-2, err.item()


@pytest.mark.parametrize("name", ["LI", "DSRLITS", "SLIB", "DLIEMA"])
def test_low_precision_input_gives_the_same_dtype_in_sequence_mode_as_stepping(name):
    cls = getattr(snn, name)
    kwargs = {"spike_fn": "heaviside_atan"} if cls.config.spiking else {}
    torch.manual_seed(0)
    a, b = cls(WIDTH, **kwargs), cls(WIDTH, **kwargs)
    b.load_state_dict(a.state_dict())
    xs = torch.randn(6, BATCH, WIDTH).to(torch.bfloat16)
    seq = a.forward_sequence(xs)
    steps = torch.stack([b(x) for x in xs])
    assert seq.dtype == steps.dtype == torch.float32
    assert torch.allclose(seq, steps, atol=1e-6)
