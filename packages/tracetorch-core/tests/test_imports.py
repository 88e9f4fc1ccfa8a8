"""The package root: lazy subpackages and helpful errors for missing distributions."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
import tracetorch as tt

_BLOCK = textwrap.dedent(
    """
    import importlib.abc, sys
    BLOCKED = {"tracetorch.snn", "tracetorch.rnn", "tracetorch.kernels"}
    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name in BLOCKED:
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None
    sys.meta_path.insert(0, Block())
    import tracetorch as tt
    for sub in ("snn", "rnn", "kernels"):
        try:
            exec(f"from tracetorch import {sub}")
        except ImportError as e:
            print(sub, "IMPORTERROR", type(e).__name__, e)
        else:
            print(sub, "IMPORTED")
    """
)


def test_a_missing_distribution_gives_an_import_error_naming_it():
    # One interpreter with the three subpackages hidden, as if their distributions were absent.
    out = subprocess.run([sys.executable, "-c", _BLOCK], capture_output=True, text=True, check=True)
    lines = dict(line.split(" ", 1) for line in out.stdout.splitlines())
    for sub, dist in [("snn", "tracetorch-snn"), ("rnn", "tracetorch-rnn"), ("kernels", "tracetorch-kernels")]:
        assert lines[sub].startswith("IMPORTERROR ImportError"), lines[sub]
        assert dist in lines[sub] and "pip install" in lines[sub]


def test_unknown_attributes_are_attribute_errors():
    with pytest.raises(AttributeError):
        tt.does_not_exist  # noqa: B018


def test_root_exports_and_version():
    assert {"Layer", "Model", "Sequential", "functional", "loss"} <= set(tt.__all__)
    assert tt.__version__ == "0.20.0"
