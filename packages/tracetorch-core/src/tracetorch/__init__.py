"""traceTorch: strict, ergonomic recurrent and spiking layers for PyTorch.

``import tracetorch as tt`` gives `tt.Layer`, `tt.Model`, `tt.Sequential`,
`tt.functional` and `tt.loss`; ``tt.snn``, ``tt.rnn``, ``tt.kernels`` and ``tt.plot``
come from their own distributions (or extras) and are imported on first use.
"""

import pkgutil as _pkgutil

__path__ = _pkgutil.extend_path(__path__, __name__)

import importlib as _importlib
from importlib import metadata as _metadata

from . import encode, functional, loss, metrics
from .core import Layer, Model, Sequential, check_finite, is_checking_finite, last_valid
from .functional._quant import deterministic, is_deterministic
from .monitor import Monitor

try:
    __version__: str = _metadata.version("tracetorch-core")
except _metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+unknown"

_OPTIONAL = {
    "snn": ("tracetorch-snn", "pip install tracetorch-snn"),
    "rnn": ("tracetorch-rnn", "pip install tracetorch-rnn"),
    "kernels": ("tracetorch-kernels", "pip install tracetorch-kernels  (or: pip install 'tracetorch[kernels]')"),
    "plot": ("matplotlib", "pip install 'tracetorch-core[plot]'  (or: pip install 'tracetorch[plot]')"),
}


def __getattr__(name: str):
    if name in _OPTIONAL:
        try:
            return _importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as e:
            dist, how = _OPTIONAL[name]
            missing = e.name or ""
            if missing == f"{__name__}.{name}" or missing.split(".")[0] == dist.split("-")[0] == "matplotlib":
                raise ImportError(
                    f"tracetorch.{name} is provided by the '{dist}' distribution, which is not installed. "
                    f"Install it with: {how}",
                    name=f"{__name__}.{name}",
                ) from None
            raise
    raise AttributeError(f"module 'tracetorch' has no attribute {name!r}")


__all__ = [
    "Layer",
    "Model",
    "Sequential",
    "check_finite",
    "is_checking_finite",
    "deterministic",
    "is_deterministic",
    "last_valid",
    "functional",
    "loss",
    "encode",
    "metrics",
    "Monitor",
    "__version__",
]
