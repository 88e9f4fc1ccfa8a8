"""The generated layer classes: up to date, same signatures, equations that match the maths.

The 32 classes in ``tracetorch.snn`` are written by ``scripts/generate_layers.py``. These
tests check that the committed files are what the generator writes, that every class
keeps its recorded signature (``layer_signatures.json``, recorded before the classes
were split per family) and the one derived from its `LeakyConfig`, that each class
passes its arguments to ``LeakyLayer._setup`` in ``config.param_names`` order, and that
the equation block of each docstring, executed as written, gives the same output and
states as `tracetorch.snn.functional.leaky_step`.
"""

from __future__ import annotations

import importlib.util
import inspect
import json
import pathlib
import re
import subprocess
import sys
from types import ModuleType

import pytest
import torch
from tracetorch import snn
from tracetorch.snn.functional import LAYER_NAMES, LeakyConfig, leaky_step

HERE = pathlib.Path(__file__).resolve().parent
SCRIPT = HERE.parent / "scripts" / "generate_layers.py"
RECORDED_SIGNATURES = json.loads((HERE / "layer_signatures.json").read_text(encoding="utf-8"))


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("_tracetorch_generate_layers", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --------------------------------------------------------------------------- up to date


def test_generated_files_are_up_to_date():
    r = subprocess.run([sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True, check=False)
    assert r.returncode == 0, f"run: uv run python packages/tracetorch-snn/scripts/generate_layers.py\n{r.stderr}"


def test_check_mode_fails_on_a_stale_or_missing_file_and_writes_nothing(tmp_path, monkeypatch):
    gen = _generator()
    monkeypatch.setattr(gen, "PACKAGE", tmp_path)
    assert gen.main([]) == 0  # writes a fresh set into tmp_path
    written = sorted(p.name for p in tmp_path.iterdir())
    assert written == ["_layers.py", "_layers_b.py", "_layers_ema.py", "_layers_li.py", "_layers_t.py", "_layers_ts.py"]
    assert gen.main(["--check"]) == 0

    stale = tmp_path / "_layers_t.py"
    edited = stale.read_text(encoding="utf-8").replace("Membrane decay", "Membrane  decay", 1)
    stale.write_text(edited, encoding="utf-8")
    (tmp_path / "_layers_ema.py").unlink()
    assert gen.main(["--check"]) == 1
    assert stale.read_text(encoding="utf-8") == edited  # --check writes nothing
    assert not (tmp_path / "_layers_ema.py").exists()


def test_check_mode_names_the_stale_file(tmp_path):
    # The real script, run on the real tree, reports nothing; a changed copy of it that
    # renders one more line must report the files that no longer match.
    source = SCRIPT.read_text(encoding="utf-8")
    marker = 'doc.append("States: "'
    assert marker in source
    changed = source.replace(marker, 'doc.append("An extra line."); ' + marker, 1)
    copy = tmp_path / "generate_layers.py"
    copy.write_text(changed.replace('HERE.parent / "src"', f'pathlib.Path({str(SCRIPT.parent.parent)!r}) / "src"'))
    r = subprocess.run([sys.executable, str(copy), "--check"], capture_output=True, text=True, check=False)
    assert r.returncode == 1
    for module in ("_layers_li.py", "_layers_ema.py", "_layers_b.py", "_layers_t.py", "_layers_ts.py"):
        assert module in r.stderr
    assert "_layers.py;" not in r.stderr  # the re-exports did not change


# --------------------------------------------------------------------------- names and re-exports


def test_the_32_names_come_from_layer_names_once():
    nir_api = ["export_nir", "import_nir", "read_nir", "write_nir", "NIRGraphModel"]
    assert snn.__all__ == ["Layer", "LeakyLayer", "functional", *LAYER_NAMES, "Delay", *nir_api]
    assert len(set(LAYER_NAMES)) == 32
    for name in LAYER_NAMES:
        cls = getattr(snn, name)
        assert cls.__name__ == name
        assert cls.config == LeakyConfig.from_name(name)
        family = {"LI": "li", "EMA": "ema", "B": "b", "T": "t", "TS": "ts"}[cls.config.output]
        assert cls.__module__ == f"tracetorch.snn._layers_{family}"
        assert issubclass(cls, snn.LeakyLayer)


# --------------------------------------------------------------------------- signatures


def _expected_signature(cfg: LeakyConfig) -> inspect.Signature:
    """The signature a layer of ``cfg`` must have, built from the config alone."""
    P = inspect.Parameter
    params = [P("num_neurons", P.POSITIONAL_OR_KEYWORD, annotation="int")]
    params += [P(p.name, P.POSITIONAL_OR_KEYWORD, default=p.default, annotation="ParamArg") for p in cfg.params]
    params.append(P("dim", P.KEYWORD_ONLY, default=-1, annotation="int"))
    params += [P(f"{n}_rank", P.KEYWORD_ONLY, default=1, annotation="int") for n in cfg.param_names]
    params += [P(f"learn_{n}", P.KEYWORD_ONLY, default=True, annotation="bool") for n in cfg.param_names]
    if cfg.spiking:
        params += [
            P("spike_fn", P.KEYWORD_ONLY, default=None, annotation="SpikeFnArg"),
            P("quant_fn", P.KEYWORD_ONLY, default=None, annotation="QuantFnArg"),
        ]
        params += [P(n, P.KEYWORD_ONLY, default=d, annotation=a) for n, a, d in _neuron_options(cfg)]
    return inspect.Signature(params, return_annotation="None")


def _neuron_options(cfg: LeakyConfig) -> list[tuple[str, str, object]]:
    """The neuron options a spiking layer takes after ``quant_fn``: (name, annotation, default)."""
    opts: list[tuple[str, str, object]] = [
        ("reset", "str", "subtract"),
        ("reset_value", "float", 0.0),
        ("reset_timing", "str", "same"),
        ("detach_reset", "bool", False),
        ("decay_input", "bool", False),
        ("rest", "float", 0.0),
    ]
    if cfg.synaptic:
        opts.append(("syn_input", "str", "ema"))
    opts += [
        ("adaptive", "bool", False),
        ("adapt_decay", "ParamArg", 0.95),
        ("adapt_strength", "ParamArg", 1.0),
        ("adapt_decay_rank", "int", 1),
        ("adapt_strength_rank", "int", 1),
        ("learn_adapt_decay", "bool", True),
        ("learn_adapt_strength", "bool", True),
        ("refractory", "int", 0),
    ]
    if cfg.recurrent:
        opts += [
            ("all_to_all", "bool", False),
            ("rec_matrix", "ParamArg", None),
            ("rec_bias", "ParamArg", 0.0),
            ("rec_bias_rank", "int", 1),
            ("learn_rec_matrix", "bool", True),
            ("learn_rec_bias", "bool", True),
        ]
    return opts if cfg.spiking else []


@pytest.mark.parametrize("name", LAYER_NAMES)
def test_signature_matches_the_recorded_one_and_the_config(name):
    cls = getattr(snn, name)
    sig = inspect.signature(cls)
    # the recorded signature is kept unchanged; the neuron options were appended after it
    options = {n for n, _, _ in _neuron_options(cls.config)}
    before = sig.replace(parameters=[p for p in sig.parameters.values() if p.name not in options])
    assert str(before) == RECORDED_SIGNATURES[name]
    assert list(sig.parameters)[len(before.parameters) :] == [n for n, _, _ in _neuron_options(cls.config)]
    assert sig == _expected_signature(cls.config)
    # Defaults keep their types (0.0 is not 0, True is not 1).
    for p in sig.parameters.values():
        if p.default is not inspect.Parameter.empty:
            expected = _expected_signature(cls.config).parameters[p.name].default
            assert type(p.default) is type(expected), (name, p.name)


def test_recorded_signatures_cover_exactly_the_32_layers():
    assert sorted(RECORDED_SIGNATURES) == sorted(LAYER_NAMES)


@pytest.mark.parametrize("name", LAYER_NAMES)
def test_class_passes_its_arguments_to_setup_in_param_names_order(name, monkeypatch):
    cls = getattr(snn, name)
    cfg = cls.config
    calls = []

    def record(self, values, ranks, learn, spike_fn=None, quant_fn=None, extra_params=None, **options):
        calls.append((tuple(values), tuple(ranks), tuple(learn), spike_fn, quant_fn, extra_params, options))

    monkeypatch.setattr(snn.LeakyLayer, "_setup", record)
    kwargs: dict = {}
    values, ranks, learn = [], [], []
    for i, n in enumerate(cfg.param_names):
        values.append(0.01 * (i + 1))
        ranks.append(i % 2)
        learn.append(i % 3 != 0)
        kwargs.update({n: values[-1], f"{n}_rank": ranks[-1], f"learn_{n}": learn[-1]})
    options: dict = {}
    extra = None
    if cfg.spiking:
        kwargs.update(spike_fn="heaviside_atan", quant_fn="round")
        options = dict(
            reset="value", reset_value=0.25, reset_timing="next", detach_reset=True, decay_input=True, rest=-0.5
        )
        if cfg.synaptic:
            options["syn_input"] = "add"
        options.update(adaptive=True, refractory=3)
        kwargs.update(adapt_decay=0.5, adapt_strength=0.25, adapt_decay_rank=0, learn_adapt_strength=False)
        extra = {"adapt_decay": (0.5, 0, True), "adapt_strength": (0.25, 1, False)}
        if cfg.recurrent:
            options["all_to_all"] = True
            matrix = torch.eye(7)
            kwargs.update(rec_matrix=matrix, rec_bias=0.5, rec_bias_rank=0, learn_rec_matrix=False)
            extra.update(rec_matrix=(matrix, 1, False), rec_bias=(0.5, 0, True))
    layer = cls(7, dim=-3, **kwargs, **options)
    assert layer.num_neurons == 7 and layer.dim == -3
    expected_fire = ("heaviside_atan", "round") if cfg.spiking else (None, None)
    assert calls == [(tuple(values), tuple(ranks), tuple(learn), *expected_fire, extra, options)]


# --------------------------------------------------------------------------- docstrings


def _doc(name: str) -> str:
    return inspect.getdoc(getattr(snn, name)) or ""


def equation_lines(name: str) -> list[str]:
    """The lines of the ```text block of a layer's docstring."""
    m = re.search(r"```text\n(.*?)\n```", _doc(name), re.DOTALL)
    assert m, f"{name}: no equation block in the docstring"
    return m.group(1).splitlines()


def _spike(v: torch.Tensor) -> torch.Tensor:
    return (v > 0).to(v.dtype)


def _quant(v: torch.Tensor) -> torch.Tensor:
    return v


def _random_case(cfg: LeakyConfig, seed: int) -> tuple[torch.Tensor, dict, dict]:
    g = torch.Generator().manual_seed(seed)
    shape = (6, 5)
    x = 2.0 * torch.randn(shape, generator=g, dtype=torch.float64)
    states = {s: 1.5 * torch.randn(shape, generator=g, dtype=torch.float64) for s in cfg.states}
    params = {}
    for p in cfg.params:
        if p.kind == "decay":
            v = torch.rand(5, generator=g, dtype=torch.float64) * 0.8 + 0.1
        elif p.kind == "threshold":
            v = torch.rand(5, generator=g, dtype=torch.float64) * 0.9 + 0.3
        else:
            v = torch.randn(5, generator=g, dtype=torch.float64)
        params[p.name] = v
    return x, states, params


def run_equations(lines: list[str], x: torch.Tensor, states: dict, params: dict) -> dict:
    """Execute the docstring equations as written; returns the final namespace."""
    ns = {
        "x": x,
        "p": lambda v: torch.clamp(v, min=0.0),
        "n": lambda v: torch.clamp(v, max=0.0),
        "spike_fn": _spike,
        "quant_fn": _quant,
        **states,
        **params,
    }
    exec(compile("\n".join(lines), "<equations>", "exec"), {"__builtins__": {}}, ns)  # noqa: S102 (the point)
    return ns


def _fire(v: torch.Tensor) -> torch.Tensor:
    return _quant(_spike(v))


def mismatches(cfg: LeakyConfig, lines: list[str], seeds: tuple[int, ...] = (0, 1, 2)) -> list[str]:
    """What differs between the equations and `leaky_step` (empty when they agree)."""
    out = []
    for seed in seeds:
        x, states, params = _random_case(cfg, seed)
        ref_out, ref_states = leaky_step(
            cfg, x, tuple(states[s] for s in cfg.states), tuple(params[p] for p in cfg.param_names), _fire
        )
        ns = run_equations(lines, x, states, params)
        got = {"output": ns["output"], **{s: ns[s] for s in cfg.states}}
        want = {"output": ref_out, **dict(zip(cfg.states, ref_states))}
        for key, value in want.items():
            if not torch.allclose(got[key], value, rtol=1e-12, atol=1e-12):
                out.append(f"seed {seed}: {key}")
    return out


@pytest.mark.parametrize("name", LAYER_NAMES)
def test_docstring_equations_compute_the_functional_update(name):
    cfg = getattr(snn, name).config
    lines = equation_lines(name)
    assigned = {line.split("=", 1)[0].strip() for line in lines}
    assert {"output", *cfg.states} <= assigned, f"{name}: the equations must update every state and the output"
    assert mismatches(cfg, lines) == []
    if cfg.spiking:  # the random cases do exercise the spike and reset lines
        x, states, params = _random_case(cfg, 0)
        ns = run_equations(lines, x, states, params)
        fired = [ns[k] for k in ("s", "s_pos", "s_neg") if k in ns]
        assert any(bool(s.ne(0).any()) for s in fired) and any(bool(s.eq(0).any()) for s in fired)


@pytest.mark.parametrize("name", LAYER_NAMES)
def test_a_wrong_equation_line_is_caught(name):
    # Every line matters: changing the right-hand side of any one line makes the check fail.
    cfg = getattr(snn, name).config
    lines = equation_lines(name)
    for i, line in enumerate(lines):
        lhs, rhs = line.split("=", 1)
        wrong = [*lines[:i], f"{lhs}= ({rhs.strip()}) * 1.5 + 0.25", *lines[i + 1 :]]
        assert mismatches(cfg, wrong, seeds=(0,)), f"{name}: changing {line!r} went unnoticed"


@pytest.mark.parametrize("name", LAYER_NAMES)
def test_docstring_lists_its_states_and_value_parameters_and_links_the_shared_arguments(name):
    cfg = getattr(snn, name).config
    doc = _doc(name)
    states = re.search(r"^States: (.*)\.$", doc, re.MULTILINE)
    assert states, name
    assert re.findall(r"``(\w+)``", states.group(1)) == list(cfg.states)
    args = doc.split("\nArgs:\n", 1)[1]
    assert re.findall(r"^    (\w+): ", args, re.MULTILINE) == ["num_neurons", *cfg.param_names]
    assert "[tracetorch.snn][]" in doc
    # Lean: the shared arguments and errors are not repeated per class.
    assert not re.search(r"\w_rank\b|\blearn_\w|Raises:", doc), name
    assert ("``spike_fn``" in doc) == cfg.spiking


def test_shared_arguments_and_errors_are_documented_once_in_the_package():
    doc = inspect.getdoc(snn) or ""
    for needle in (
        "``dim``",
        "``<name>_rank``",
        "``learn_<name>``",
        "``spike_fn``",
        "``quant_fn``",
        "TypeError",
        "ValueError",
    ):
        assert needle in doc, needle
    for name in LAYER_NAMES:
        assert "of 0 dims or of ``num_neurons`` values" not in _doc(name)
