"""Shared fixtures for the tracetorch-snn tests; the helpers live in ``snn_testlib.py``."""

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
