"""Generate the 32 layer classes of `tracetorch.snn`, one module per output family.

The maths of every layer is the one pure update in ``tracetorch.snn.functional``; the
classes are thin configurations of it. They are generated (rather than built at import
time) so that each has a real, explicit keyword signature that IDEs,
``inspect.signature`` and the docs all see. Each docstring is lean: a one-line summary,
the update equations of that configuration, its states and its value parameters. The
arguments every layer shares (``dim``, ``*_rank``, ``learn_*``, ``spike_fn``,
``quant_fn``) and the errors they raise are documented once, in the `tracetorch.snn`
package docstring, and each class links there.

Written files (under ``src/tracetorch/snn/``):

* ``_layers_li.py``, ``_layers_ema.py``, ``_layers_b.py``, ``_layers_t.py``,
  ``_layers_ts.py``: the classes of one output kind each;
* ``_layers.py``: the re-exports, with ``__all__`` in the order of
  ``tracetorch.snn.functional.LAYER_NAMES`` (the one list of the 32 names).

Run from the repository root::

    uv run python packages/tracetorch-snn/scripts/generate_layers.py           # write
    uv run python packages/tracetorch-snn/scripts/generate_layers.py --check   # verify

``--check`` writes nothing and exits 1 (naming the stale files) when a committed file
differs from what would be generated; a test runs it.
"""

from __future__ import annotations

import argparse
import importlib.util
import pathlib
import re
import sys
import textwrap
from collections.abc import Iterable
from types import ModuleType
from typing import TYPE_CHECKING

HERE = pathlib.Path(__file__).resolve().parent
PACKAGE = HERE.parent / "src" / "tracetorch" / "snn"


def _load_config() -> ModuleType:
    """``snn/functional/_config.py``, loaded by path: importing ``tracetorch.snn`` would
    import the generated modules, which may be missing or stale while this runs."""
    name = "_tracetorch_snn_layer_config"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, PACKAGE / "functional" / "_config.py")
        if spec is None or spec.loader is None:
            raise SystemExit(f"generate_layers: cannot load {PACKAGE / 'functional' / '_config.py'}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


_config = _load_config()
LAYER_NAMES: tuple[str, ...] = _config.LAYER_NAMES
OUTPUT_KINDS: tuple[str, ...] = _config.OUTPUT_KINDS
if TYPE_CHECKING:
    from tracetorch.snn.functional._config import LeakyConfig
else:
    LeakyConfig = _config.LeakyConfig

SCRIPT = "packages/tracetorch-snn/scripts/generate_layers.py"

FAMILY_MODULE = {"LI": "_layers_li", "EMA": "_layers_ema", "B": "_layers_b", "T": "_layers_t", "TS": "_layers_ts"}
"""Output kind -> the module (in ``tracetorch.snn``) holding that family's classes."""

KIND_TITLE = {
    "LI": "leaky integrator (no spikes; the output is the membrane)",
    "EMA": "leaky integrator as an exponential moving average (no spikes; the output is the membrane)",
    "B": "leaky integrate-and-fire with binary spikes (1 or 0)",
    "T": "leaky integrate-and-fire with ternary spikes (1, 0 or -1)",
    "TS": "leaky integrate-and-fire with ternary spikes, each polarity scaled",
}

FAMILY_TITLE = {
    "LI": "The leaky integrators (``LI``): the output is the membrane",
    "EMA": "The moving-average leaky integrators (``LIEMA``): the output is the membrane",
    "B": "The binary-spike layers (``LIB``)",
    "T": "The ternary-spike layers (``LIT``)",
    "TS": "The scaled ternary-spike layers (``LITS``)",
}

PARAM_DOC = {
    "alpha": "Synapse decay in (0, 1)",
    "beta": "Membrane decay in (0, 1)",
    "gamma": "Recurrent trace decay in (0, 1)",
    "threshold": "Firing threshold (> 0)",
    "pos_threshold": "Threshold of positive spikes (> 0)",
    "neg_threshold": "Threshold of negative spikes (> 0); a negative spike fires when the membrane is below "
    "``-neg_threshold``",
    "pos_scale": "Output value of a positive spike (unbounded)",
    "neg_scale": "Output magnitude of a negative spike (unbounded); the output is ``-neg_scale``",
    "rec_weight": "Weight of the recurrent trace in the membrane input (unbounded)",
}

STATE_DOC = {
    "mem": "membrane potential",
    "pos_mem": "positive membrane",
    "neg_mem": "negative membrane",
    "syn": "synaptic trace",
    "pos_syn": "positive synaptic trace",
    "neg_syn": "negative synaptic trace",
    "rec": "recurrent trace",
    "pos_rec": "positive recurrent trace",
    "neg_rec": "negative recurrent trace",
    "prev_output": "the previous output",
}


def param_doc(name: str) -> str:
    """The one-line description of the value parameter ``name``."""
    for prefix, which in (("pos_", "positive"), ("neg_", "negative")):
        base = name[len(prefix) :] if name.startswith(prefix) else None
        if base in ("alpha", "beta", "gamma", "rec_weight"):
            return f"{PARAM_DOC[base]}, {which} pathway"
    return PARAM_DOC[name]


def equations(cfg: LeakyConfig) -> list[str]:
    """The update of ``cfg`` for one timestep, as Python assignments read top to bottom.

    Names: ``x`` the input, the states and parameters by their names, ``p``/``n`` the
    positive and negative parts, ``spike_fn``/``quant_fn`` the firing functions. The
    test suite executes these lines (taken from the docstrings) against
    ``tracetorch.snn.functional.leaky_step``.
    """
    lines: list[str] = []
    ema = cfg.output == "EMA"
    if not cfg.dual:
        if cfg.synaptic:
            lines.append("syn = alpha * syn + (1 - alpha) * x")
            d = "syn"
        else:
            d = "x"
        if cfg.recurrent:
            lines.append("rec = gamma * rec + (1 - gamma) * prev_output")
            u = f"({d} + rec_weight * rec)"
        else:
            u = d
        if ema:
            lines.append(f"mem = beta * mem + (1 - beta) * {u}")
        else:
            lines.append(f"mem = beta * mem + {u.strip('()') if u.startswith('(') else u}")
        if cfg.output == "B":
            lines += ["s = quant_fn(spike_fn(mem - threshold))", "mem = mem - s * threshold", "output = s"]
        elif cfg.output in ("T", "TS"):
            lines += [
                "s_pos = quant_fn(spike_fn(mem - pos_threshold))",
                "s_neg = -quant_fn(spike_fn(-neg_threshold - mem))",
                "mem = mem - (s_pos * pos_threshold + s_neg * neg_threshold)",
            ]
            lines.append(
                "output = s_pos + s_neg" if cfg.output == "T" else "output = pos_scale * s_pos + neg_scale * s_neg"
            )
        else:
            lines.append("output = mem")
    else:
        if cfg.synaptic:
            lines += [
                "pos_syn = pos_alpha * pos_syn + (1 - pos_alpha) * p(x)",
                "neg_syn = neg_alpha * neg_syn + (1 - neg_alpha) * n(x)",
                "d = pos_syn + neg_syn",
            ]
            d = "d"
        else:
            d = "x"
        if cfg.recurrent:
            lines += [
                "pos_rec = pos_gamma * pos_rec + (1 - pos_gamma) * p(prev_output)",
                "neg_rec = neg_gamma * neg_rec + (1 - neg_gamma) * n(prev_output)",
                "r = pos_rec + neg_rec",
                f"u_pos = p({d}) + pos_rec_weight * p(r)",
                f"u_neg = n({d}) + neg_rec_weight * n(r)",
            ]
        else:
            lines += [f"u_pos = p({d})", f"u_neg = n({d})"]
        if ema:
            lines += [
                "pos_mem = pos_beta * pos_mem + (1 - pos_beta) * u_pos",
                "neg_mem = neg_beta * neg_mem + (1 - neg_beta) * u_neg",
            ]
        else:
            lines += ["pos_mem = pos_beta * pos_mem + u_pos", "neg_mem = neg_beta * neg_mem + u_neg"]
        lines.append("mem = pos_mem + neg_mem")
        if cfg.output == "B":
            lines += [
                "s = quant_fn(spike_fn(mem - threshold))",
                "pos_mem = pos_mem - s * threshold / 2",
                "neg_mem = neg_mem - s * threshold / 2",
                "output = s",
            ]
        elif cfg.output in ("T", "TS"):
            lines += [
                "s_pos = quant_fn(spike_fn(mem - pos_threshold))",
                "s_neg = -quant_fn(spike_fn(-neg_threshold - mem))",
                "reset = s_pos * pos_threshold + s_neg * neg_threshold",
                "pos_mem = pos_mem - reset / 2",
                "neg_mem = neg_mem - reset / 2",
            ]
            lines.append(
                "output = s_pos + s_neg" if cfg.output == "T" else "output = pos_scale * s_pos + neg_scale * s_neg"
            )
        else:
            lines.append("output = mem")
    if cfg.recurrent:
        lines.append("prev_output = output")
    return lines


def summary(cfg: LeakyConfig) -> str:
    """The one-line summary of ``cfg``, e.g. "Dual, synaptic leaky integrator (...)."."""
    parts = []
    if cfg.dual:
        parts.append("dual (separate positive and negative pathways)")
    if cfg.synaptic:
        parts.append("synaptic")
    if cfg.recurrent:
        parts.append("recurrent")
    lead = ", ".join(parts)
    text = KIND_TITLE[cfg.output]
    return f"{lead.capitalize()} {text}." if lead else f"{text[0].upper()}{text[1:]}."


def signature(cfg: LeakyConfig) -> list[str]:
    """The ``__init__`` parameters of ``cfg``'s class, one per entry, with annotations and defaults."""
    names = cfg.param_names
    sig = ["self", "num_neurons: int"]
    sig += [f"{info.name}: ParamArg = {info.default!r}" for info in cfg.params]
    sig += ["*", "dim: int = -1"]
    sig += [f"{n}_rank: int = 1" for n in names]
    sig += [f"learn_{n}: bool = True" for n in names]
    if cfg.spiking:
        sig += ["spike_fn: SpikeFnArg = None", "quant_fn: QuantFnArg = None"]
        sig += [f"{name}: {ann} = {_literal(default)}" for name, ann, default in option_params(cfg)]
        sig += [f"{name}: {ann} = {_literal(default)}" for name, ann, default in extra_args(cfg)]
    return sig


NEURON_OPTIONS = (
    ("reset", "str", "subtract"),
    ("reset_value", "float", 0.0),
    ("reset_timing", "str", "same"),
    ("detach_reset", "bool", False),
    ("decay_input", "bool", False),
    ("rest", "float", 0.0),
)
"""The keyword-only neuron options of every spiking layer: (name, annotation, default)."""


ADAPTIVE_ARGS = (
    ("adaptive", "bool", False),
    ("adapt_decay", "ParamArg", 0.95),
    ("adapt_strength", "ParamArg", 1.0),
    ("adapt_decay_rank", "int", 1),
    ("adapt_strength_rank", "int", 1),
    ("learn_adapt_decay", "bool", True),
    ("learn_adapt_strength", "bool", True),
    ("refractory", "int", 0),
)
"""The adaptive-threshold and refractory keywords of every spiking layer, after the options."""

ALL_TO_ALL_ARGS = (
    ("all_to_all", "bool", False),
    ("rec_matrix", "ParamArg", None),
    ("rec_bias", "ParamArg", 0.0),
    ("rec_bias_rank", "int", 1),
    ("learn_rec_matrix", "bool", True),
    ("learn_rec_bias", "bool", True),
)
"""The all-to-all recurrence keywords of the recurrent (R) spiking layers, last."""


def extra_args(cfg: LeakyConfig) -> list[tuple[str, str, object]]:
    """The keywords after the neuron options: adaptive threshold, refractory period and
    (R layers) all-to-all recurrence, with the values, ranks and learn flags of the
    parameters they add."""
    if not cfg.spiking:
        return []
    return list(ADAPTIVE_ARGS) + (list(ALL_TO_ALL_ARGS) if cfg.recurrent else [])


def _literal(value: object) -> str:
    """``value`` as source, strings in double quotes (``ruff format``'s style)."""
    return f'"{value}"' if isinstance(value, str) else repr(value)


def option_params(cfg: LeakyConfig) -> list[tuple[str, str, object]]:
    """The neuron options of ``cfg``'s class (spiking kinds; ``syn_input`` for S layers)."""
    if not cfg.spiking:
        return []
    opts = list(NEURON_OPTIONS)
    if cfg.synaptic:
        opts.append(("syn_input", "str", "ema"))
    return opts


def extra_options(cfg: LeakyConfig) -> list[tuple[str, str, object]]:
    """The option keywords of `extra_args` (those that are no parameter's value, rank or flag)."""
    return [a for a in extra_args(cfg) if a[0] in ("adaptive", "refractory", "all_to_all")]


def docstring(cfg: LeakyConfig) -> list[str]:
    """The docstring lines of ``cfg``'s class (unindented)."""
    doc = [summary(cfg), ""]
    if cfg.dual:
        doc += ["Update for one timestep, with ``x`` the input, ``p(v) = max(v, 0)`` and ``n(v) = min(v, 0)``:"]
    else:
        doc += ["Update for one timestep, with ``x`` the input:"]
    doc += ["", "```text", *equations(cfg), "```", ""]
    doc.append("States: " + ", ".join(f"``{s}`` ({STATE_DOC[s]})" for s in cfg.states) + ".")
    doc.append("")
    shared = (
        "``dim``, ``*_rank``, ``learn_*``, ``spike_fn``, ``quant_fn``"
        if cfg.spiking
        else "``dim``, ``*_rank`` and ``learn_*``"
    )
    if cfg.spiking:
        opts = ", ".join(f"``{name}``" for name, _, _ in option_params(cfg) + extra_options(cfg))
        doc.append(f"The accepted values, the keyword-only {shared} and neuron options")
        doc.append(f"({opts})")
        doc.append("and the errors raised are the same for every layer: see [tracetorch.snn][].")
    else:
        doc.append(f"The accepted values, the keyword-only {shared} and the errors")
        doc.append("raised are the same for every layer: see [tracetorch.snn][].")
    doc += ["", "Args:", "    num_neurons: Number of neurons (the size of the input along ``dim``)."]
    doc += [f"    {info.name}: {param_doc(info.name)}." for info in cfg.params]
    if cfg.spiking:
        doc[-len(cfg.params) :] = [
            line.replace(
                "Membrane decay in (0, 1)",
                "Membrane decay in (0, 1]; exactly 1 (no leak: integrate-and-fire) only when fixed",
            )
            for line in doc[-len(cfg.params) :]
        ]
        if cfg.dual:
            doc += [
                "",
                'Neuron options on the two pathways: a ``"subtract"`` reset takes half of the reset from each',
                'membrane, a ``"value"`` reset sets each to ``reset_value / 2`` (so their sum is',
                "``reset_value``), and each pathway leaks towards ``rest / 2``.",
            ]
        doc += ["", *adaptive_doc(cfg), "", *refractory_doc(cfg)]
        if cfg.recurrent:
            doc += ["", *all_to_all_doc(cfg)]
    return doc


def _wrap(text: str) -> list[str]:
    """``text`` as docstring lines of about 108 columns (no word nor ````code```` span is broken)."""
    glued = re.sub(r"``[^`]*``", lambda m: m.group(0).replace(" ", "\0"), text)
    lines = textwrap.wrap(glued, width=108, break_long_words=False, break_on_hyphens=False)
    return [line.replace("\0", " ") for line in lines]


def adaptive_doc(cfg: LeakyConfig) -> list[str]:
    """The paragraph on ``adaptive=True`` (ALIF/LSNN) of a spiking class."""
    if cfg.output == "B":
        th, mag = "``threshold``", "s"
    else:
        th, mag = "``pos_threshold`` and ``neg_threshold``", "(s_pos - s_neg)"
    text = (
        "Adaptive threshold (``adaptive=True``; ALIF/LSNN, Bellec et al. 2018): a new state ``adapt`` "
        "(starting at 0) and the parameters ``adapt_decay`` (in (0, 1)) and ``adapt_strength`` (> 0). "
        f"The {th} above {'reads' if cfg.output == 'B' else 'each read'} ``threshold + adapt_strength * adapt`` "
        "(``adapt`` as it was "
        'before this step), also in the ``"subtract"`` reset; after the spike, '
        f"``adapt = adapt_decay * adapt + (1 - adapt_decay) * {mag}``."
    )
    if cfg.output != "B":
        text += " A spike of either polarity raises both thresholds by the same amount."
    if cfg.dual:
        text += " The adapted thresholds apply to ``mem = pos_mem + neg_mem``; a reset takes half from each."
    text += ' Not with ``reset="subtract"`` and ``reset_timing="next"``.'
    return _wrap(text)


def refractory_doc(cfg: LeakyConfig) -> list[str]:
    """The paragraph on ``refractory`` of a spiking class."""
    mem = "both membranes keep their values" if cfg.dual else "the membrane keeps its value"
    traces = [n for n, on in (("synaptic", cfg.synaptic), ("recurrent", cfg.recurrent)) if on]
    go_on = f"; the {' and '.join(traces)} trace{'s go' if len(traces) > 1 else ' goes'} on" if traces else ""
    return _wrap(
        "Refractory period (``refractory = k`` steps, an int, 0 = none): a new state ``refrac`` counts the "
        f"steps left. While ``refrac > 0`` the neuron does not fire, {mem} after any pending reset "
        f"(this step's input is ignored{go_on}) and ``refrac`` drops by 1; a spike sets it to ``k``."
    )


def all_to_all_doc(cfg: LeakyConfig) -> list[str]:
    """The paragraph on ``all_to_all=True`` of a recurrent spiking class."""
    if cfg.dual:
        use = (
            "``v = rec_matrix @ (pos_rec + neg_rec) + rec_bias`` feeds ``u_pos = p(d) + p(v)`` and "
            "``u_neg = n(d) + n(v)``"
        )
        weights = "``pos_rec_weight`` and ``neg_rec_weight``"
        gamma = "``pos_gamma=0.0`` and ``neg_gamma=0.0`` make the traces"
    else:
        use = f"the membrane input is ``{'syn' if cfg.synaptic else 'x'} + rec_matrix @ rec + rec_bias``"
        weights = "``rec_weight``"
        gamma = "``gamma=0.0`` makes ``rec``"
    return _wrap(
        "All-to-all recurrence (``all_to_all=True``, ``dim=-1`` only): a learned ``[N, N]`` ``rec_matrix`` "
        "(initialised as ``nn.Linear(N, N).weight`` by default) and a ``rec_bias`` (default 0) replace "
        f"{weights}: {use} (``@`` along the neuron axis, as ``nn.Linear``). A fixed {gamma} the previous "
        "output itself."
    )


LINE_LENGTH = 120
"""Displays that fit in this many columns stay on one line, longer ones get one item per
line and a trailing comma: the output is then stable under ``ruff format`` at 120 columns
or more."""


def display(head: str, items: Iterable[str], tail: str, indent: int) -> list[str]:
    """``head`` + the comma-separated ``items`` + ``tail`` at ``indent`` spaces, as lines.

    A one-item tuple display (``head`` ``"("``, ``tail`` starting with ``")"``) keeps its comma.
    """
    items = list(items)
    pad = " " * indent
    one = ", ".join(items) + ("," if head == "(" and tail.startswith(")") and len(items) == 1 else "")
    if indent + len(head) + len(one) + len(tail) <= LINE_LENGTH:
        return [f"{pad}{head}{one}{tail}"]
    return [f"{pad}{head}", *(f"{pad}    {item}," for item in items), f"{pad}{tail}"]


def render_class(cfg: LeakyConfig) -> str:
    """The source of ``cfg``'s class."""
    names = cfg.param_names
    body_doc = "\n".join(("    " + line) if line else "" for line in docstring(cfg))
    out = [
        f"class {cfg.name}(LeakyLayer):",
        f'    """{body_doc.lstrip()}\n    """',
        "",
        *display(
            "config = LeakyConfig(",
            [f"dual={cfg.dual}", f"synaptic={cfg.synaptic}", f"recurrent={cfg.recurrent}", f'output="{cfg.output}"'],
            ")",
            4,
        ),
        "",
        "    def __init__(",
        *(f"        {s}," for s in signature(cfg)),
        "    ) -> None:",
        "        super().__init__(num_neurons, dim)",
        "        self._setup(",
        *display("(", names, "),", 12),
        *display("(", (n + "_rank" for n in names), "),", 12),
        *display("(", ("learn_" + n for n in names), "),", 12),
    ]
    if cfg.spiking:
        out += ["            spike_fn,", "            quant_fn,"]
        extra = ["adapt_decay", "adapt_strength"] + (["rec_matrix", "rec_bias"] if cfg.recurrent else [])
        out.append("            extra_params={")
        for n in extra:
            rank = "1" if n == "rec_matrix" else f"{n}_rank"
            out.append(f'                "{n}": ({n}, {rank}, learn_{n}),')
        out.append("            },")
        out += [f"            {name}={name}," for name, _, _ in option_params(cfg)]
        out += ["            adaptive=adaptive,", "            refractory=refractory,"]
        if cfg.recurrent:
            out.append("            all_to_all=all_to_all,")
    out.append("        )")
    return "\n".join(out)


def family_names(kind: str) -> list[str]:
    """The layer names of one output kind, in ``LAYER_NAMES`` order."""
    return [n for n in LAYER_NAMES if LeakyConfig.from_name(n).output == kind]


def render_family(kind: str) -> str:
    """The source of the module holding the classes of output kind ``kind``."""
    names = family_names(kind)
    imports = ["from ._leaky import LeakyLayer, ParamArg"]
    if LeakyConfig.from_name(names[0]).spiking:
        imports = ["from ._leaky import LeakyLayer, ParamArg, QuantFnArg, SpikeFnArg"]
    text = (
        f'"""{FAMILY_TITLE[kind]}.\n\n'
        f"GENERATED by ``{SCRIPT}``: do not edit by hand.\n"
        "Each class is one `LeakyConfig` of the update in `tracetorch.snn.functional.leaky_step`,\n"
        "with an explicit signature.\n"
        '"""\n\n'
        "from __future__ import annotations\n\n"
        + "\n".join(imports)
        + "\nfrom .functional._config import LeakyConfig\n\n"
        + "\n".join(display("__all__ = [", (f'"{n}"' for n in names), "]", 0))
        + "\n"
    )
    for n in names:
        text += "\n\n" + render_class(LeakyConfig.from_name(n)) + "\n"
    return text


def render_reexports() -> str:
    """The source of ``_layers.py``: every class, re-exported in ``LAYER_NAMES`` order."""
    text = (
        '"""The 32 layer classes of `tracetorch.snn`, re-exported from their family modules.\n\n'
        f"GENERATED by ``{SCRIPT}`` from\n"
        "`tracetorch.snn.functional.LAYER_NAMES`: do not edit by hand.\n"
        '"""\n\n'
        "from __future__ import annotations\n\n"
    )
    for kind in sorted(OUTPUT_KINDS, key=lambda k: FAMILY_MODULE[k]):
        text += f"from .{FAMILY_MODULE[kind]} import " + ", ".join(sorted(family_names(kind))) + "\n"
    text += "\n__all__ = [\n" + "".join(f'    "{n}",\n' for n in LAYER_NAMES) + "]\n"
    return text


def render_all() -> dict[pathlib.Path, str]:
    """Every generated file: path -> content."""
    if sorted(FAMILY_MODULE) != sorted(OUTPUT_KINDS):
        raise SystemExit(f"generate_layers: FAMILY_MODULE {sorted(FAMILY_MODULE)} must cover {OUTPUT_KINDS}.")
    files = {PACKAGE / f"{FAMILY_MODULE[k]}.py": render_family(k) for k in OUTPUT_KINDS}
    files[PACKAGE / "_layers.py"] = render_reexports()
    return files


def main(argv: list[str] | None = None) -> int:
    """Write the generated files, or with ``--check`` report the stale ones (exit 1)."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a file is stale")
    args = parser.parse_args(argv)
    files = render_all()
    if args.check:
        stale = [p for p, text in files.items() if not p.exists() or p.read_text(encoding="utf-8") != text]
        for p in stale:
            sys.stderr.write(f"stale: {p}; run: uv run python {SCRIPT}\n")
        return 1 if stale else 0
    for p, text in files.items():
        p.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
