"""Hostile input: every case is a clear error and leaves the model and its states unchanged.

The table below is the list of cases (issue: reliability). Each row builds a fresh,
already-running model, snapshots its states and parameters, feeds the bad input, checks
the exception type and message, and checks that nothing changed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import torch
import tracetorch as tt
from torch import nn
from tracetorch import rnn, snn


class Net(tt.Model):
    def __init__(self, width: int = 6):
        super().__init__()
        self.conv = nn.Conv2d(2, 4, 3, padding=1)
        self.lif = snn.LIB(4, dim=-3, spike_fn="heaviside_atan")
        self.flat = nn.Flatten()
        self.fc = nn.Linear(4 * 3 * 3, width)
        self.lstm = rnn.LSTM(width, width)
        self.out = snn.LI(width)

    def forward(self, x):
        return self.out(self.lstm(self.fc(self.flat(self.lif(self.conv(x))))))


def running_model() -> Net:
    torch.manual_seed(0)
    m = Net()
    for _ in range(3):
        m(torch.randn(2, 2, 3, 3))
    return m


def snapshot(m: tt.Model) -> dict[str, torch.Tensor]:
    out = {f"state:{k}": v for k, v in m.save_states().items()}
    out.update({f"param:{k}": v.detach().clone() for k, v in m.state_dict().items()})
    return out


class _Evil:
    def __reduce__(self):
        return (os.system, ("touch EVIL_RAN",))


@dataclass
class Case:
    name: str
    act: Callable[[Net, Path], object]
    exc: type[BaseException]
    match: str


def _load_other_width(m: Net, tmp: Path):
    other = Net(width=5)
    other(torch.randn(2, 2, 3, 3))
    return m.load_states(other.save_states())


def _pickled_object(m: Net, tmp: Path):
    path = tmp / "evil.pt"
    torch.save({"lif.mem": _Evil()}, path)
    return m.load_states(path)


def _truncated(m: Net, tmp: Path):
    path = tmp / "good.safetensors"
    m.save_states(path)
    data = path.read_bytes()
    (tmp / "trunc.safetensors").write_bytes(data[: len(data) - 7])
    return m.load_states(tmp / "trunc.safetensors")


def _corrupt(m: Net, tmp: Path):
    (tmp / "noise.safetensors").write_bytes(np.random.default_rng(0).bytes(300))
    return m.load_states(tmp / "noise.safetensors")


def _foreign_keys(m: Net, tmp: Path):
    foreign = tt.Sequential(snn.LIB(6))
    foreign(torch.randn(2, 6))
    return m.load_states(foreign.save_states())


def _nan_checked(m: Net, tmp: Path):
    x = torch.randn(2, 2, 3, 3)
    x[0, 0, 0, 0] = float("nan")
    with tt.check_finite():
        return m(x)


CASES = [
    Case(
        "wrong width along dim",
        lambda m, t: m.lif(torch.randn(2, 3, 3, 3)),
        ValueError,
        r"LIB: expected 4 features along dim=-3",
    ),
    Case("dim out of range", lambda m, t: m.lif(torch.randn(2, 4)), ValueError, r"LIB: dim=-3 is out of range"),
    Case("integer input", lambda m, t: m(torch.ones(2, 2, 3, 3, dtype=torch.int64)), RuntimeError, r"Long|long|dtype"),
    Case(
        "integer input to a layer",
        lambda m, t: m.lif(torch.ones(2, 4, 3, 3, dtype=torch.int64)),
        TypeError,
        r"floating-point",
    ),
    Case(
        "boolean input to a layer", lambda m, t: m.out(torch.ones(2, 6, dtype=torch.bool)), TypeError, r"floating-point"
    ),
    Case("batch size changed mid-sequence", lambda m, t: m(torch.randn(5, 2, 3, 3)), ValueError, r"zero_states\(\)"),
    Case(
        "rnn input of the wrong width", lambda m, t: m.lstm(torch.randn(2, 7)), ValueError, r"LSTM: expected 6 features"
    ),
    Case("states of a model of other widths", _load_other_width, ValueError, r"nothing was loaded.*expects size 6"),
    Case(".pt file holding a pickled object", _pickled_object, ValueError, r"evil\.pt"),
    Case("truncated .safetensors", _truncated, ValueError, r"trunc\.safetensors"),
    Case("corrupt .safetensors", _corrupt, ValueError, r"noise\.safetensors"),
    Case("keys from another model", _foreign_keys, ValueError, r"unexpected keys"),
    Case("unknown file extension", lambda m, t: m.load_states(t / "s.npz"), ValueError, r"unknown extension"),
    Case(
        "non-floating state tensor",
        lambda m, t: m.load_states({"out.mem": torch.ones(2, 6, dtype=torch.int32)}, strict=False),
        ValueError,
        r"floating-point",
    ),
    Case("bad reset mask", lambda m, t: m.zero_states(torch.tensor([True, False, True])), ValueError, r"batch size"),
    Case("non-bool reset mask", lambda m, t: m.zero_states(torch.tensor([1, 0])), TypeError, r"boolean"),
    Case("NaN input with check_finite", _nan_checked, ValueError, r"NaN or inf"),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile_input_is_a_clear_error_and_changes_nothing(case: Case, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    m = running_model()
    before = snapshot(m)
    with pytest.raises(case.exc, match=f"(?s){case.match}"):
        case.act(m, tmp_path)
    after = snapshot(m)
    assert before.keys() == after.keys()
    for k in before:
        assert torch.equal(before[k], after[k]), k
    assert not (tmp_path / "EVIL_RAN").exists()


BAD_CONSTRUCTION = [
    (
        "decay outside (0, 1)",
        lambda: snn.LIB(3, beta=1.2),
        ValueError,
        r"LIB: `beta` must be a decay strictly between 0 and 1",
    ),
    (
        "threshold <= 0",
        lambda: snn.LIB(3, threshold=0.0),
        ValueError,
        r"LIB: `threshold` must be strictly greater than 0",
    ),
    ("string parameter", lambda: snn.LIB(3, beta="0.9"), TypeError, r"LIB: `beta` must be a float or a tensor"),
    (
        "rank-1 tensor of the wrong size",
        lambda: snn.LIB(3, beta=torch.full((4,), 0.5)),
        ValueError,
        r"num_neurons=3 elements",
    ),
    ("rank other than 0/1", lambda: snn.LIB(3, beta_rank=2), ValueError, r"`beta_rank` must be 0"),
    (
        "tensor without values (meta device)",
        lambda: snn.LIB(3, beta=torch.full((3,), 0.5, device="meta")),
        ValueError,
        r"meta",
    ),
    ("non-int num_neurons", lambda: snn.LIB(3.0), TypeError, r"num_neurons"),
    ("unknown quant_fn name", lambda: snn.LIB(3, quant_fn="floor"), ValueError, r"unknown quant_fn 'floor'"),
    ("unknown spike_fn name", lambda: snn.LIB(3, spike_fn="step"), ValueError, r"unknown spike_fn 'step'"),
    ("SSM decay outside (0, 1)", lambda: rnn.SelectiveSSM(4, 4, 2, decay=1.0), ValueError, r"decay"),
]


@pytest.mark.parametrize("build,exc,match", [c[1:] for c in BAD_CONSTRUCTION], ids=[c[0] for c in BAD_CONSTRUCTION])
def test_bad_construction_arguments_are_clear_errors(build, exc, match):
    with pytest.raises(exc, match=match):
        build()


@pytest.mark.parametrize(
    "value",
    [[0.5, 0.6, 0.7], np.array([0.5, 0.6, 0.7]), torch.tensor([0.5, 0.6, 0.7], dtype=torch.float64)],
    ids=["list", "numpy", "float64 tensor"],
)
def test_parameters_as_lists_numpy_and_other_dtypes_are_accepted(value):
    layer = snn.LIB(3, beta=value)
    assert layer.raw_beta.dtype == torch.float32
    assert torch.allclose(layer.beta, torch.tensor([0.5, 0.6, 0.7]))


def test_non_finite_input_without_the_check_propagates_as_documented():
    m = running_model()
    x = torch.randn(2, 2, 3, 3)
    x[:] = float("nan")
    m(x)
    # NaN enters the membrane; a Heaviside spike of NaN is 0, so it stops there
    assert torch.isnan(m.save_states()["lif.mem"]).all()
    m.zero_states()
    assert torch.isfinite(m(torch.randn(2, 2, 3, 3))).all()
