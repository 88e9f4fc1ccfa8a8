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
    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "tracetorch.{sub}":
                raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
            return None
    sys.meta_path.insert(0, Block())
    import tracetorch as tt
    try:
        from tracetorch import {sub}
    except ImportError as e:
        print("IMPORTERROR", type(e).__name__, e)
    else:
        print("IMPORTED")
    """
)


@pytest.mark.parametrize("sub,dist", [("snn", "tracetorch-snn"), ("rnn", "tracetorch-rnn"), ("kernels", "tracetorch-kernels")])
def test_a_missing_distribution_gives_an_import_error_naming_it(sub, dist):
    out = subprocess.run([sys.executable, "-c", _BLOCK.format(sub=sub)], capture_output=True, text=True, check=True)
    assert "IMPORTERROR ImportError" in out.stdout
    assert dist in out.stdout and "pip install" in out.stdout


def test_unknown_attributes_are_attribute_errors():
    with pytest.raises(AttributeError):
        tt.does_not_exist  # noqa: B018


def test_root_exports_and_version():
    assert {"Layer", "Model", "Sequential", "functional", "loss"} <= set(tt.__all__)
    assert tt.__version__ == "0.20.0"
