"""Generate ``src/tracetorch/snn/_layers.py``: the 32 layer classes with explicit signatures.

The maths of every layer is the one pure update in ``tracetorch.snn.functional``;
the classes are thin configurations of it. They are generated (rather than built at
import time) so that each has a real, explicit keyword signature and docstring that
IDEs, ``inspect.signature`` and the docs all see. Run from the repository root:

    uv run python packages/tracetorch-snn/scripts/generate_layers.py

A test checks that the committed file is up to date.
"""

from __future__ import annotations

import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src" / "tracetorch" / "snn" / "functional"))

from _config import LAYER_NAMES, LeakyConfig  # noqa: E402

TARGET = HERE.parent / "src" / "tracetorch" / "snn" / "_layers.py"

KIND_TITLE = {
    "LI": "leaky integrator (no spikes; the output is the membrane)",
    "EMA": "leaky integrator as an exponential moving average (no spikes; the output is the membrane)",
    "B": "leaky integrate-and-fire with binary spikes (1 or 0)",
    "T": "leaky integrate-and-fire with ternary spikes (1, 0 or -1)",
    "TS": "leaky integrate-and-fire with ternary spikes, each polarity scaled",
}

PARAM_DOC = {
    "alpha": "Synapse decay in (0, 1)",
    "beta": "Membrane decay in (0, 1)",
    "gamma": "Recurrent trace decay in (0, 1)",
    "threshold": "Firing threshold (> 0)",
    "pos_threshold": "Threshold of positive spikes (> 0)",
    "neg_threshold": "Threshold of negative spikes (> 0); a negative spike fires when the membrane is below ``-neg_threshold``",
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
    for prefix, which in (("pos_", "positive"), ("neg_", "negative")):
        base = name[len(prefix):] if name.startswith(prefix) else None
        if base in ("alpha", "beta", "gamma", "rec_weight"):
            return f"{PARAM_DOC[base]}, {which} pathway"
    return PARAM_DOC[name]


def equations(cfg: LeakyConfig) -> list[str]:
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
            lines.append("output = s_pos + s_neg" if cfg.output == "T" else "output = pos_scale * s_pos + neg_scale * s_neg")
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
            lines += ["pos_mem = pos_beta * pos_mem + (1 - pos_beta) * u_pos", "neg_mem = neg_beta * neg_mem + (1 - neg_beta) * u_neg"]
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
            lines.append("output = s_pos + s_neg" if cfg.output == "T" else "output = pos_scale * s_pos + neg_scale * s_neg")
        else:
            lines.append("output = mem")
    if cfg.recurrent:
        lines.append("prev_output = output")
    return lines


def summary(cfg: LeakyConfig) -> str:
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


def example(cfg: LeakyConfig) -> list[str]:
    name = cfg.name
    lines = [
        "```python",
        "import torch",
        "from tracetorch import snn",
        "",
    ]
    extra = ', spike_fn="heaviside_atan"' if cfg.spiking else ""
    lines += [
        f"layer = snn.{name}(16{extra})",
        "x = torch.randn(8, 16)          # [batch, neurons]",
        "out = layer(x)                  # one timestep",
        "assert out.shape == (8, 16)",
        "seq = layer.forward_sequence(torch.randn(20, 8, 16))  # [T, batch, neurons]",
        "```",
    ]
    return lines


def render_class(cfg: LeakyConfig) -> str:
    names = cfg.param_names
    sig = ["self", "num_neurons: int"]
    sig += [f"{n}: ParamArg = {info.default!r}" for n, info in zip(names, cfg.params)]
    sig.append("*")
    sig.append("dim: int = -1")
    sig += [f"{n}_rank: int = 1" for n in names]
    sig += [f"learn_{n}: bool = True" for n in names]
    if cfg.spiking:
        sig += ["spike_fn: SpikeFnArg = None", "quant_fn: QuantFnArg = None"]
    doc: list[str] = [summary(cfg), ""]
    doc.append("Update for one timestep, with ``x`` the input and neurons along ``dim``")
    if cfg.dual:
        doc.append("(``p(v) = max(v, 0)``, ``n(v) = min(v, 0)``):")
    else:
        doc[-1] += ":"
    doc.append("")
    doc.append("```text")
    doc += equations(cfg)
    doc.append("```")
    doc.append("")
    states = ", ".join(f"``{s}`` ({STATE_DOC[s]})" for s in cfg.states)
    doc.append(f"States (created lazily, shaped like the input): {states}.")
    doc.append("")
    doc.append("Args:")
    doc.append("    num_neurons: Number of neurons (the size of the input along ``dim``).")
    for info in cfg.params:
        doc.append(
            f"    {info.name}: {param_doc(info.name)}; default {info.default}. A float, or a "
            "tensor (list, numpy array) of 0 dims or of ``num_neurons`` values."
        )
    doc.append("    dim: The axis of one timestep's input that holds the neurons (``-1`` for")
    doc.append("        ``[..., N]``, ``-3`` for ``[..., C, H, W]``).")
    for n in names:
        doc.append(f"    {n}_rank: 0 for one ``{n}`` for the layer, 1 for one per neuron.")
    for n in names:
        doc.append(f"    learn_{n}: Whether ``{n}`` is trained (a parameter) or fixed (a buffer).")
    if cfg.spiking:
        doc.append("    spike_fn: Membrane minus threshold to firing probability: ``None`` for")
        doc.append("        ``sigmoid(4x)``, a name (``\"heaviside_atan\"``, ...) or a callable such as")
        doc.append("        ``tt.functional.heaviside_atan(alpha=2.0)`` (deterministic 0/1 spikes).")
        doc.append("    quant_fn: Firing probability to spike: ``None`` for ``\"bernoulli\"``, or")
        doc.append("        ``\"round\"``, ``\"probabilistic\"``, or a callable (used as given).")
    doc.append("")
    doc.append("Raises:")
    doc.append("    TypeError: for a value, rank or flag of the wrong type.")
    doc.append("    ValueError: for a value out of its range or of the wrong size, a rank other than 0/1,")
    doc.append("        or an unknown ``spike_fn``/``quant_fn`` name.")
    doc.append("")
    doc.append("Example:")
    doc += ["    " + line if line else "" for line in example(cfg)]
    body_doc = "\n".join(("    " + line) if line else "" for line in doc)

    out = []
    out.append(f"class {cfg.name}(LeakyLayer):")
    out.append(f'    """{body_doc.lstrip()}\n    """')
    out.append("")
    out.append(
        f"    config = LeakyConfig(dual={cfg.dual}, synaptic={cfg.synaptic}, recurrent={cfg.recurrent}, output={cfg.output!r})"
    )
    out.append("")
    out.append("    def __init__(")
    for s in sig:
        out.append(f"        {s},")
    out.append("    ) -> None:")
    out.append("        super().__init__(num_neurons, dim)")
    out.append("        self._setup(")
    out.append(f"            ({', '.join(names)},),")
    out.append(f"            ({', '.join(n + '_rank' for n in names)},),")
    out.append(f"            ({', '.join('learn_' + n for n in names)},),")
    if cfg.spiking:
        out.append("            spike_fn,")
        out.append("            quant_fn,")
    out.append("        )")
    return "\n".join(out)


def main() -> None:
    header = '''"""The 32 leaky-integrator layers of `tracetorch.snn`.

GENERATED by ``packages/tracetorch-snn/scripts/generate_layers.py`` – do not edit by
hand. Each class is one `LeakyConfig` of the single update in
`tracetorch.snn.functional.leaky_step`, with an explicit signature.
"""

from __future__ import annotations

from ._leaky import LeakyLayer, ParamArg, QuantFnArg, SpikeFnArg
from .functional._config import LeakyConfig

__all__ = [
'''
    order = ["LI", "DLI", "SLI", "DSLI", "LIEMA", "DLIEMA", "SLIEMA", "DSLIEMA"]
    for k in ("LIB", "LIT", "LITS"):
        order += [p + k for p in ("", "D", "S", "R", "DS", "DR", "SR", "DSR")]
    assert sorted(order) == sorted(LAYER_NAMES)
    text = header + "".join(f'    "{n}",\n' for n in order) + "]\n"
    for n in order:
        text += "\n\n" + render_class(LeakyConfig.from_name(n)) + "\n"
    if "--check" in sys.argv:
        sys.exit(0 if TARGET.read_text() == text else 1)
    TARGET.write_text(text)


if __name__ == "__main__":
    main()
