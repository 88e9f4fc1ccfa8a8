"""The split distributions build, carry correct metadata, and install alone.

``uv build --all-packages`` builds every wheel and sdist once (module fixture). Each
scenario then gets a fresh virtual environment: its third-party dependencies (torch,
safetensors, ...) are synced from ``uv.lock`` with no workspace member
(``--no-install-workspace``; hard-linked from uv's cache, offline when the cache has
them), and the traceTorch distributions are installed from the built wheels only
(``uv pip install --offline --no-index --find-links <dist>``). The checks run in a
subprocess of that environment's Python.
"""

from __future__ import annotations

import email
import json
import os
import shutil
import subprocess
import sys
import tarfile
import textwrap
import zipfile
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
MEMBERS = {
    "tracetorch-core": None,
    "tracetorch-snn": "snn",
    "tracetorch-rnn": "rnn",
    "tracetorch-kernels": "kernels",
}
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]

pytestmark = pytest.mark.slow


def _uv() -> str:
    uv = os.environ.get("UV")
    if uv and Path(uv).exists():
        return uv
    found = shutil.which("uv")
    if found is None:
        pytest.skip("uv is not available")
    return found


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT", "PYTHONPATH")}
    env.update(extra)
    return env


def _run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        pytest.fail(f"command failed ({r.returncode}): {' '.join(map(str, cmd))}\n{r.stdout}\n{r.stderr}")
    return r


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    _run([_uv(), "build", "--all-packages", "--quiet", "-o", str(out)], cwd=ROOT, env=_env())
    return out


def _wheel(dist: Path, name: str) -> Path:
    found = sorted(dist.glob(f"{name.replace('-', '_')}-{VERSION}-*.whl"))
    assert len(found) == 1, f"expected one wheel for {name} {VERSION}, found {found}"
    return found[0]


def _make_env(tmp: Path, sync_package: str, extras: tuple[str, ...] = ()) -> Path:
    """A fresh venv: locked third-party deps of `sync_package`, then our wheels from `dist` only."""
    uv = _uv()
    cmd = [
        uv,
        "sync",
        "--frozen",
        "--quiet",
        "--no-default-groups",
        "--package",
        sync_package,
        "--no-install-workspace",
    ]
    for e in extras:
        cmd += ["--extra", e]
    env = _env(UV_PROJECT_ENVIRONMENT=str(tmp))
    r = subprocess.run(cmd + ["--offline"], cwd=ROOT, env=env, capture_output=True, text=True)
    if r.returncode != 0:  # the cache lacks something: let uv fetch it
        _run(cmd, cwd=ROOT, env=env)
    python = tmp / "bin" / "python"
    return python


def _pip(python: Path, dist: Path, *args: str) -> None:
    _run(
        [_uv(), "pip", *args, "--python", str(python)]
        + (["--offline", "--no-index", "--find-links", str(dist)] if args[0] == "install" else []),
        cwd=ROOT,
        env=_env(),
    )


CHECK = textwrap.dedent(
    r"""
    import importlib, importlib.metadata as md, json, sys, warnings
    warnings.simplefilter("ignore")
    import torch
    import tracetorch as tt
    out = {"dists": sorted(d.metadata["Name"] for d in md.distributions() if d.metadata["Name"].startswith("tracetorch")),
           "has_model": hasattr(tt, "Model") and hasattr(tt, "Layer") and hasattr(tt, "Sequential"),
           "version": tt.__version__, "subpackages": {}}
    for sub in ["snn", "rnn", "kernels"]:
        try:
            m = importlib.import_module("tracetorch." + sub)
        except ImportError:
            pass
        try:
            exec(f"from tracetorch import {sub}")
            res = {"ok": True, "all": list(getattr(m, "__all__", []))}
            if sub == "snn" and hasattr(m, "LIB"):
                y = m.LIB(4)(torch.ones(2, 4))
                res["step"] = list(y.shape)
            if sub == "rnn" and hasattr(m, "GRU"):
                y = m.GRU(3, 4)(torch.ones(2, 3))
                res["step"] = list(y.shape)
        except ImportError as e:
            res = {"ok": False, "type": type(e).__name__, "msg": str(e)}
        out["subpackages"][sub] = res
    print("JSON" + json.dumps(out))
    """
)


def _check(python: Path) -> dict:
    r = _run([str(python), "-c", CHECK], env=_env(PYTHONWARNINGS="ignore"), cwd="/")
    line = [ln for ln in r.stdout.splitlines() if ln.startswith("JSON")][-1]
    return json.loads(line[4:])


def _assert_present(info: dict, sub: str) -> None:
    res = info["subpackages"][sub]
    assert res["ok"], f"tracetorch.{sub} should import: {res}"
    if "step" in res:
        assert res["step"] == [2, 4]


def _assert_absent(info: dict, sub: str) -> None:
    res = info["subpackages"][sub]
    assert not res["ok"], f"tracetorch.{sub} should be missing here"
    assert res["type"] == "ImportError", res  # not a bare ModuleNotFoundError
    assert f"tracetorch-{sub}" in res["msg"], f"the error must name the distribution: {res['msg']}"


# --------------------------------------------------------------------------- build and metadata


def test_build_makes_a_wheel_and_an_sdist_per_distribution(dist):
    for name in ["tracetorch", *MEMBERS]:
        _wheel(dist, name)
        stem = f"{name.replace('-', '_')}-{VERSION}"
        sdists = list(dist.glob(f"{stem}.tar.gz"))
        assert len(sdists) == 1, f"no sdist for {name}: {sorted(p.name for p in dist.iterdir())}"
        with tarfile.open(sdists[0]) as tar:
            files = {m.name.removeprefix(stem + "/") for m in tar.getmembers()}
        assert {"PKG-INFO", "pyproject.toml", "README.md", "LICENSE"} <= files, (name, sorted(files))
        sub = MEMBERS.get(name)
        if name == "tracetorch-core":
            assert "src/tracetorch/__init__.py" in files
        elif sub is not None:
            assert f"src/tracetorch/{sub}/__init__.py" in files and f"src/tracetorch/{sub}/py.typed" in files


@pytest.mark.parametrize("name", ["tracetorch", *MEMBERS])
def test_wheel_metadata(dist, name):
    with zipfile.ZipFile(_wheel(dist, name)) as z:
        files = z.namelist()
        meta_name = next(f for f in files if f.endswith(".dist-info/METADATA"))
        meta = email.message_from_string(z.read(meta_name).decode())
    assert meta["Name"] == name
    assert meta["Version"] == VERSION
    assert meta["Summary"] and len(meta["Summary"]) > 20
    assert meta["Requires-Python"] == ">=3.10"
    assert meta["License-Expression"] == "MIT"
    assert meta.get_all("License-File"), "the licence text must ship"
    assert any(f.endswith(".dist-info/licenses/LICENSE") for f in files)
    urls = {u.split(",")[0].strip() for u in meta.get_all("Project-URL") or []}
    assert {"Homepage", "Documentation", "Source", "Issues"} <= urls
    classifiers = meta.get_all("Classifier") or []
    assert "Programming Language :: Python :: 3" in classifiers
    assert meta["Description-Content-Type"] == "text/markdown" and meta.get_payload().strip()
    # Pins between members are exact.
    pins = [r for r in meta.get_all("Requires-Dist") or [] if r.startswith("tracetorch")]
    for req in pins:
        assert f"=={VERSION}" in req, f"{name}: {req} is not pinned to {VERSION}"
    if name != "tracetorch-core":
        assert any(r.startswith("tracetorch-core") for r in pins) or name == "tracetorch"
    # Package contents: only core owns tracetorch/__init__.py; every package is typed.
    sub = MEMBERS.get(name)
    if name == "tracetorch":
        assert not [f for f in files if f.startswith("tracetorch/")], "the meta-package ships no code"
        reqs = meta.get_all("Requires-Dist") or []
        for member in ("tracetorch-core", "tracetorch-snn", "tracetorch-rnn"):
            assert f"{member}=={VERSION}" in reqs
        assert any(r.startswith(f"tracetorch-kernels=={VERSION}") and "extra == 'kernels'" in r for r in reqs)
        assert set(meta.get_all("Provides-Extra") or []) >= {"kernels", "plot"}
    elif sub is None:
        assert "tracetorch/__init__.py" in files and "tracetorch/py.typed" in files
        for pkg in ("core", "functional", "loss"):
            assert f"tracetorch/{pkg}/__init__.py" in files
        assert "Typing :: Typed" in classifiers
    else:
        assert "tracetorch/__init__.py" not in files, f"{name} must not own the tracetorch namespace"
        assert f"tracetorch/{sub}/__init__.py" in files
        assert f"tracetorch/{sub}/py.typed" in files
        assert all(f.startswith((f"tracetorch/{sub}/", "tracetorch_")) for f in files), files
        assert "Typing :: Typed" in classifiers


# --------------------------------------------------------------------------- installing alone


def test_snn_installs_alone(dist, tmp_path):
    py = _make_env(tmp_path / "venv", "tracetorch-snn")
    _pip(py, dist, "install", "tracetorch-snn")
    info = _check(py)
    assert info["dists"] == ["tracetorch-core", "tracetorch-snn"]
    assert info["has_model"] and info["version"] == VERSION
    _assert_present(info, "snn")
    _assert_absent(info, "rnn")
    _assert_absent(info, "kernels")


def test_rnn_installs_alone(dist, tmp_path):
    py = _make_env(tmp_path / "venv", "tracetorch-rnn")
    _pip(py, dist, "install", "tracetorch-rnn")
    info = _check(py)
    assert info["dists"] == ["tracetorch-core", "tracetorch-rnn"]
    assert info["has_model"] and info["version"] == VERSION
    _assert_present(info, "rnn")
    _assert_absent(info, "snn")


def test_meta_package_and_uninstalling_one_distribution(dist, tmp_path):
    py = _make_env(tmp_path / "venv", "tracetorch", extras=("kernels", "plot"))
    _pip(py, dist, "install", "tracetorch[kernels,plot]")
    info = _check(py)
    assert info["dists"] == ["tracetorch", "tracetorch-core", "tracetorch-kernels", "tracetorch-rnn", "tracetorch-snn"]
    assert info["has_model"] and info["version"] == VERSION
    for sub in ("snn", "rnn", "kernels"):
        _assert_present(info, sub)

    # Removing one distribution leaves tracetorch/__init__.py and the others intact.
    _pip(py, dist, "uninstall", "tracetorch-rnn")
    info = _check(py)
    assert info["has_model"]
    _assert_present(info, "snn")
    _assert_present(info, "kernels")
    _assert_absent(info, "rnn")

    _pip(py, dist, "install", "tracetorch-rnn")
    _pip(py, dist, "uninstall", "tracetorch-snn", "tracetorch-kernels")
    info = _check(py)
    assert info["has_model"]
    _assert_present(info, "rnn")
    _assert_absent(info, "snn")
    _assert_absent(info, "kernels")
