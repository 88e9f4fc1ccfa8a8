"""Every distribution shares one version, and members pin each other to exactly it."""

from __future__ import annotations

import re
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
MEMBERS = ["tracetorch-core", "tracetorch-snn", "tracetorch-rnn", "tracetorch-kernels"]


def _load(path: Path) -> dict:
    return tomllib.loads(path.read_text())


def _version() -> str:
    return _load(ROOT / "pyproject.toml")["project"]["version"]


def test_every_member_has_the_root_version():
    version = _version()
    for m in MEMBERS:
        assert _load(ROOT / "packages" / m / "pyproject.toml")["project"]["version"] == version, m


def test_every_pin_between_members_is_exact_and_current():
    version = _version()
    names = set(MEMBERS) | {"tracetorch"}
    files = [ROOT / "pyproject.toml"] + [ROOT / "packages" / m / "pyproject.toml" for m in MEMBERS]
    seen = 0
    for f in files:
        project = _load(f)["project"]
        reqs = list(project.get("dependencies", []))
        for extra in project.get("optional-dependencies", {}).values():
            reqs += extra
        for req in reqs:
            m = re.match(r"^([A-Za-z0-9_.\-]+)(\[[^\]]*\])?\s*(.*)$", req)
            assert m, req
            if m.group(1) in names:
                seen += 1
                assert m.group(3).split(";")[0].strip() == f"=={version}", f"{f}: {req}"
    assert seen >= 6


def test_the_installed_core_reports_the_same_version():
    import tracetorch

    assert tracetorch.__version__ == _version()
