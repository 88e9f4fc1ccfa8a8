"""The NIR functions without the ``nir`` extra: importing tracetorch.snn never imports
nir, and calling them says which extra to install."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from torch import nn
from tracetorch import snn


def test_importing_tracetorch_snn_does_not_import_nir_h5py_or_numpy():
    code = (
        "import sys, tracetorch.snn as s; "
        "assert callable(s.export_nir) and callable(s.import_nir); "
        "print(sorted(m for m in ('nir', 'nirtorch', 'h5py') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


@pytest.mark.parametrize(
    "call",
    [
        lambda: snn.export_nir(nn.Sequential(nn.Linear(2, 2)), 1e-4),
        lambda: snn.import_nir("model.nir", 1e-4),
        lambda: snn.read_nir("model.nir"),
        lambda: snn.write_nir("model.nir", object()),
    ],
    ids=["export_nir", "import_nir", "read_nir", "write_nir"],
)
def test_without_the_extra_every_nir_function_names_it(monkeypatch, call):
    monkeypatch.setitem(sys.modules, "nir", None)  # `import nir` now raises ImportError
    with pytest.raises(ImportError, match=r'pip install "tracetorch-snn\[nir\]"'):
        call()


def test_an_imported_graph_model_needs_no_nir_to_run():
    from tracetorch.snn._nir_graph import NIRGraphModel

    model = NIRGraphModel(
        {"in": nn.Identity(), "fc": nn.Linear(3, 3), "out": nn.Identity()},
        ["in", "fc", "out"],
        {"fc": ["in"], "out": ["fc"]},
        {},
        "in",
        "out",
        {"in": (3,), "fc": (3,), "out": (3,)},
    )
    assert model(torch.rand(2, 3)).shape == (2, 3)
    with pytest.raises(ValueError, match=r"\[\*batch, 3\]"):
        model(torch.rand(2, 4))
