"""Draw the figures of the documentation into docs/assets/.

Run from the repository root after changing a layer's behaviour:

    uv run python docs/make_figures.py           # redraw every figure, rewrite the manifest
    uv run python docs/make_figures.py --check   # exit 1 if a figure is missing or stale

Each figure is computed by running real traceTorch layers on a fixed (seeded) input,
then drawn twice: ``<name>-light.png`` and ``<name>-dark.png`` (transparent background,
text and axes in the colour of Material's light and dark schemes; pages show them with
the ``#only-light`` / ``#only-dark`` image suffixes).

``docs/assets/figures.json`` records, per figure, a SHA-256 of the numbers that were
drawn (rounded to 5 decimals, so that PNG bytes, which differ between matplotlib
versions, play no part). ``tests/test_docs_figures.py`` recomputes the numbers and
fails when a figure is missing, or when a layer's behaviour changed and the figure
was not redrawn. The PNGs are committed, so building the docs needs neither
matplotlib nor this script.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import tracetorch as tt
from tracetorch import snn

ASSETS = Path(__file__).resolve().parent / "assets"
RESULTS = Path(__file__).resolve().parent.parent / "benchmarks" / "RESULTS.md"
MANIFEST = ASSETS / "figures.json"
THEMES = ("light", "dark")
STEPS = 100

# Foreground colours of Material's schemes; lines use colours readable on both.
FG = {"light": "#222222", "dark": "#d5d8e2"}
GRID = {"light": "#dddddd", "dark": "#3a3f4b"}
C_INPUT = "#8a8f98"
C_MEM = "#2f7fd0"
C_SYN = "#e08a1e"
C_REC = "#9b59b6"
C_SPIKE = "#e0483c"
C_NEG = "#20a39e"


# --------------------------------------------------------------------------- inputs


def binary_input() -> torch.Tensor:
    """[T] drive for the binary/membrane figures: a slow sine, two pulses, seeded noise."""
    g = torch.Generator().manual_seed(0)
    t = torch.arange(STEPS, dtype=torch.float32)
    x = 0.22 + 0.14 * torch.sin(2 * torch.pi * t / 50)
    x[70:76] += 0.6
    x[15:18] += 0.5
    return x + 0.04 * torch.randn(STEPS, generator=g)


def signed_input() -> torch.Tensor:
    """[T] drive that swings both ways, for ternary and dual layers."""
    g = torch.Generator().manual_seed(1)
    t = torch.arange(STEPS, dtype=torch.float32)
    return 0.4 * torch.sin(2 * torch.pi * t / 50) + 0.05 * torch.randn(STEPS, generator=g)


def run(layer: tt.Layer, x: torch.Tensor, states: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Step one neuron through ``x`` ([T]); record the output and each named state after each step."""
    rec: dict[str, list[float]] = {"output": [], **{s: [] for s in states}}
    with torch.no_grad():
        for step in range(x.shape[0]):
            out = layer(x[step].reshape(1, 1))
            rec["output"].append(float(out[0, 0]))
            for s in states:
                rec[s].append(float(getattr(layer, s)[0, 0]))
    return {k: np.asarray(v, dtype=np.float64) for k, v in rec.items()}


def _value(p: torch.Tensor) -> float:
    return float(p.detach().reshape(-1)[0])


# --------------------------------------------------------------------------- data


def data_home() -> dict[str, np.ndarray]:
    """One LIB neuron's membrane on a noisy current, and a raster of 40 neurons."""
    torch.manual_seed(0)
    layer = snn.LIB(40, beta=0.9, threshold=1.0, spike_fn=tt.functional.heaviside_atan())
    t = torch.arange(120, dtype=torch.float32)
    drive = 0.12 + 0.10 * torch.sin(2 * torch.pi * t / 60)
    gains = torch.linspace(0.4, 2.2, 40)
    currents = drive[:, None] * gains[None, :] + 0.05 * torch.randn(120, 40)
    mem, spikes = [], []
    with torch.no_grad():
        for step in range(120):
            s = layer(currents[step][None])  # [1, 40]: one timestep, batch of 1
            # `mem` was reset by subtraction; add it back to show the crossing.
            mem.append((layer.mem + s * layer.threshold)[0])
            spikes.append(s[0])
    return {
        "input": currents.numpy().astype(np.float64),
        "mem": torch.stack(mem).numpy().astype(np.float64),
        "spikes": torch.stack(spikes).numpy().astype(np.float64),
        "threshold": np.asarray([_value(layer.threshold[30])]),
    }


def data_li() -> dict[str, np.ndarray]:
    """LI and LIEMA membranes on the same input (beta 0.9)."""
    x = binary_input()
    li = run(snn.LI(1, beta=0.9), x, ("mem",))
    ema = run(snn.LIEMA(1, beta=0.9), x, ("mem",))
    return {"input": x.numpy().astype(np.float64), "li": li["mem"], "liema": ema["mem"]}


def data_lib() -> dict[str, np.ndarray]:
    x = binary_input()
    layer = snn.LIB(1, beta=0.9, threshold=1.0, spike_fn="heaviside_atan")
    r = run(layer, x, ("mem",))
    theta = _value(layer.threshold)
    return {
        "input": x.numpy().astype(np.float64),
        "mem": r["mem"] + r["output"] * theta,  # before the reset
        "output": r["output"],
        "threshold": np.asarray([theta]),
    }


def _ternary(scaled: bool) -> dict[str, np.ndarray]:
    x = signed_input()
    kwargs = {"pos_scale": 1.5, "neg_scale": 0.5} if scaled else {}
    cls = snn.LITS if scaled else snn.LIT
    layer = cls(1, beta=0.9, pos_threshold=1.0, neg_threshold=0.7, spike_fn="heaviside_atan", **kwargs)
    r = run(layer, x, ("mem",))
    tp, tn = _value(layer.pos_threshold), _value(layer.neg_threshold)
    out = r["output"]
    # Undo the reset: s+ * theta+ + s- * theta-, with s- = -1 for a negative spike.
    mem = r["mem"] + (out > 0) * tp - (out < 0) * tn
    return {
        "input": x.numpy().astype(np.float64),
        "mem": mem,
        "output": out,
        "thresholds": np.asarray([tp, -tn]),
    }


def data_lit() -> dict[str, np.ndarray]:
    return _ternary(scaled=False)


def data_lits() -> dict[str, np.ndarray]:
    return _ternary(scaled=True)


def data_s() -> dict[str, np.ndarray]:
    """LIB against SLIB: the synaptic trace smooths the drive before the membrane."""
    x = binary_input() * 1.6
    lib = run(snn.LIB(1, beta=0.8, threshold=1.0, spike_fn="heaviside_atan"), x, ("mem",))
    slib = run(snn.SLIB(1, alpha=0.8, beta=0.8, threshold=1.0, spike_fn="heaviside_atan"), x, ("mem", "syn"))
    return {
        "input": x.numpy().astype(np.float64),
        "syn": slib["syn"],
        "lib_output": lib["output"],
        "slib_output": slib["output"],
    }


def data_r() -> dict[str, np.ndarray]:
    """LIB against RLIB with a negative recurrent weight (each spike inhibits the next)."""
    x = binary_input() * 1.4
    lib = run(snn.LIB(1, beta=0.9, threshold=1.0, spike_fn="heaviside_atan"), x, ("mem",))
    rlib = snn.RLIB(1, beta=0.9, gamma=0.9, threshold=1.0, rec_weight=-1.5, spike_fn="heaviside_atan")
    r = run(rlib, x, ("mem", "rec"))
    return {
        "input": x.numpy().astype(np.float64),
        "rec": r["rec"],
        "lib_output": lib["output"],
        "rlib_output": r["output"],
    }


def data_d() -> dict[str, np.ndarray]:
    """DLI: a slow positive membrane and a fast negative one, and their sum."""
    x = signed_input()
    r = run(snn.DLI(1, pos_beta=0.95, neg_beta=0.6), x, ("pos_mem", "neg_mem"))
    return {
        "input": x.numpy().astype(np.float64),
        "pos_mem": r["pos_mem"],
        "neg_mem": r["neg_mem"],
        "output": r["output"],
    }


def _options(x: torch.Tensor, variants: dict[str, dict]) -> dict[str, np.ndarray]:
    """One LIB neuron per variant (fixed parameters, heaviside_atan) on the same input.

    Records the membrane state after each step (for ``reset_timing="next"`` that is the
    kept, un-reset membrane) and the spikes.
    """
    out: dict[str, np.ndarray] = {"input": x.numpy().astype(np.float64)}
    for key, kw in variants.items():
        kw = {"beta": 0.9, "threshold": 1.0, "learn_beta": False, "learn_threshold": False, **kw}
        r = run(snn.LIB(1, spike_fn="heaviside_atan", **kw), x, ("mem",))
        out[f"{key}:mem"] = r["mem"]
        out[f"{key}:spikes"] = r["output"]
    return out


def data_reset() -> dict[str, np.ndarray]:
    """reset="subtract" against "value" (to 0) against "none"."""
    return _options(
        binary_input(),
        {"subtract": {}, "value": {"reset": "value", "reset_value": 0.0}, "none": {"reset": "none"}},
    )


def data_timing() -> dict[str, np.ndarray]:
    """reset_timing="same" against "next" (snnTorch's default Leaky)."""
    return _options(binary_input() * 1.3, {"same": {}, "next": {"reset_timing": "next", "detach_reset": True}})


def data_if() -> dict[str, np.ndarray]:
    """Integrate-and-fire (beta = 1, fixed) against LIF (beta = 0.9)."""
    return _options(binary_input() * 0.5, {"lif": {}, "if": {"beta": 1.0}})


def data_decay_input() -> dict[str, np.ndarray]:
    """decay_input=True ((1 - beta)*x enters) against the plain + x, threshold 0.3."""
    return _options(binary_input(), {"plain": {"threshold": 0.3}, "ema": {"threshold": 0.3, "decay_input": True}})


def data_surrogates() -> dict[str, np.ndarray]:
    """Value and gradient of every spike function (default arguments) over v in [-3, 3]."""
    v = torch.linspace(-3, 3, 601)
    out: dict[str, np.ndarray] = {"v": v.numpy().astype(np.float64)}
    for name, factory in tt.functional.SPIKE_FUNCTIONS.items():
        x = v.clone().requires_grad_(True)
        y = factory()(x)
        (grad,) = torch.autograd.grad(y.sum(), x)
        out[f"{name}:value"] = y.detach().numpy().astype(np.float64)
        out[f"{name}:grad"] = grad.numpy().astype(np.float64)
    return out


def results_table(heading: str, path: Path = RESULTS) -> list[dict[str, str]]:
    """The first Markdown table after the line ``heading`` in benchmarks/RESULTS.md, as dicts."""
    lines = path.read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == heading)
    rows: list[list[str]] = []
    for line in lines[start + 1 :]:
        if line.startswith("|"):
            rows.append([c.strip() for c in line.strip().strip("|").split("|")])
        elif rows:
            break
    header, body = rows[0], rows[2:]  # rows[1] is the |---| line
    return [dict(zip(header, row)) for row in body]


PERF_IMPLEMENTATIONS = (
    "hand-written loop",
    "minimal nn.Module",
    "tt.snn.LIB",
    "snnTorch Leaky",
    "SpikingJelly LIFNode",
)
PERF_CASES = (("1x128", "fwd"), ("1x128", "fwd+bwd"), ("64x1024", "fwd"), ("64x1024", "fwd+bwd"))


def data_perf() -> dict[str, np.ndarray]:
    """LIB per step, µs (medians) per case and implementation, from benchmarks/RESULTS.md."""
    rows = [r for r in results_table("### snn per-step (`benchmarks/snn_step.py`)") if r["layer"] == "LIB"]
    us = np.full((len(PERF_CASES), len(PERF_IMPLEMENTATIONS)), np.nan)
    for r in rows:
        case = (r["B×N"], r["pass"])
        if case in PERF_CASES and r["implementation"] in PERF_IMPLEMENTATIONS:
            us[PERF_CASES.index(case), PERF_IMPLEMENTATIONS.index(r["implementation"])] = float(r["median µs / step"])
    if np.isnan(us).any():
        raise ValueError("benchmarks/RESULTS.md lacks a LIB per-step case; update PERF_CASES")
    return {"us_per_step": us}


# --------------------------------------------------------------------------- drawing


def _style(fig, axes, theme: str) -> None:
    fg = FG[theme]
    for ax in np.ravel(axes):
        ax.set_facecolor("none")
        for spine in ax.spines.values():
            spine.set_color(fg)
        ax.spines["top"].set_visible(False)
        ax.spines["right"].set_visible(False)
        ax.tick_params(colors=fg, labelsize=8)
        ax.xaxis.label.set_color(fg)
        ax.yaxis.label.set_color(fg)
        ax.title.set_color(fg)
        ax.grid(True, color=GRID[theme], lw=0.5)
        ax.set_axisbelow(True)
        leg = ax.get_legend()
        if leg is not None:
            leg.get_frame().set_alpha(0.0)
            for text in leg.get_texts():
                text.set_color(fg)
    fig.patch.set_alpha(0.0)


def _spike_stems(ax, t, values, color, label=None):
    nz = values != 0
    ax.vlines(t[nz], 0, values[nz], color=color, lw=1.6, label=label)
    ax.axhline(0, color=C_INPUT, lw=0.6)


def draw_home(d, theme, plt):
    t = np.arange(d["mem"].shape[0])
    n = 30
    fig, axes = plt.subplots(3, 1, figsize=(8.0, 5.6), sharex=True, gridspec_kw={"height_ratios": [1.0, 2.0, 2.4]})
    axes[0].plot(t, d["input"][:, n], color=C_INPUT, lw=1.2)
    axes[0].set_ylabel("input")
    axes[0].set_title("snn.LIB: one neuron's membrane, and spikes of 40 neurons")
    axes[1].plot(t, d["mem"][:, n], color=C_MEM, lw=1.4, label="membrane (before reset)")
    axes[1].axhline(d["threshold"][0], color=C_SPIKE, ls="--", lw=1.0, label="threshold")
    fired = d["spikes"][:, n] > 0
    axes[1].scatter(t[fired], d["mem"][fired, n], color=C_SPIKE, s=18, zorder=3, label="spike")
    axes[1].set_ylabel("membrane")
    axes[1].set_ylim(top=float(d["mem"][:, n].max()) + 0.45)
    axes[1].legend(loc="upper left", fontsize="small", ncol=3)
    ts, ns = np.nonzero(d["spikes"] > 0)
    axes[2].scatter(ts, ns, marker="|", s=40, color=FG[theme], linewidths=1.2)
    axes[2].axhline(n, color=C_MEM, lw=0.6, alpha=0.5)
    axes[2].set_ylabel("neuron")
    axes[2].set_xlabel("timestep")
    axes[2].set_ylim(-0.5, 39.5)
    return fig, axes


def draw_li(d, theme, plt):
    t = np.arange(STEPS)
    fig, axes = plt.subplots(2, 1, figsize=(7.5, 4.0), sharex=True, gridspec_kw={"height_ratios": [1, 2]})
    axes[0].plot(t, d["input"], color=C_INPUT, lw=1.2)
    axes[0].set_ylabel("input $x_t$")
    axes[0].set_title("LI and LIEMA (β = 0.9) on the same input")
    axes[1].plot(t, d["li"], color=C_MEM, lw=1.5, label="LI: mem = β·mem + x")
    axes[1].plot(t, d["liema"], color=C_SYN, lw=1.5, label="LIEMA: mem = β·mem + (1−β)·x")
    axes[1].set_ylabel("output = membrane")
    axes[1].set_xlabel("timestep")
    axes[1].legend(loc="upper left", fontsize="small")
    return fig, axes


def _membrane_panel(ax, t, mem, thresholds, output):
    ax.plot(t, mem, color=C_MEM, lw=1.4, label="membrane (before reset)")
    for k, th in enumerate(thresholds):
        ax.axhline(th, color=C_SPIKE if th > 0 else C_NEG, ls="--", lw=1.0, label="threshold" if k == 0 else None)
    pos, neg = output > 0, output < 0
    ax.scatter(t[pos], mem[pos], color=C_SPIKE, s=16, zorder=3)
    ax.scatter(t[neg], mem[neg], color=C_NEG, s=16, zorder=3)
    ax.set_ylabel("membrane")


def draw_spiking(title: str, out_label: str):
    def draw(d, theme, plt):
        t = np.arange(STEPS)
        thresholds = d["threshold"] if "threshold" in d else d["thresholds"]
        fig, axes = plt.subplots(3, 1, figsize=(7.5, 5.0), sharex=True, gridspec_kw={"height_ratios": [1, 2, 1.2]})
        axes[0].plot(t, d["input"], color=C_INPUT, lw=1.2)
        axes[0].set_ylabel("input $x_t$")
        axes[0].set_title(title)
        _membrane_panel(axes[1], t, d["mem"], thresholds, d["output"])
        axes[1].legend(loc="upper left", fontsize="small", ncol=2)
        out = d["output"]
        _spike_stems(axes[2], t, np.where(out > 0, out, 0), C_SPIKE)
        _spike_stems(axes[2], t, np.where(out < 0, out, 0), C_NEG)
        axes[2].set_ylabel(out_label)
        axes[2].set_xlabel("timestep")
        return fig, axes

    return draw


def draw_s(d, theme, plt):
    t = np.arange(STEPS)
    fig, axes = plt.subplots(3, 1, figsize=(7.5, 4.6), sharex=True, gridspec_kw={"height_ratios": [2, 1, 1]})
    axes[0].plot(t, d["input"], color=C_INPUT, lw=1.2, label="input $x_t$")
    axes[0].plot(t, d["syn"], color=C_SYN, lw=1.6, label="SLIB synaptic trace (α = 0.8)")
    axes[0].legend(loc="upper left", fontsize="small")
    axes[0].set_title("S: the synaptic trace low-passes the input")
    _spike_stems(axes[1], t, d["lib_output"], C_SPIKE)
    axes[1].set_ylabel("LIB")
    _spike_stems(axes[2], t, d["slib_output"], C_SPIKE)
    axes[2].set_ylabel("SLIB")
    axes[2].set_xlabel("timestep")
    return fig, axes


def draw_r(d, theme, plt):
    t = np.arange(STEPS)
    fig, axes = plt.subplots(4, 1, figsize=(7.5, 5.0), sharex=True, gridspec_kw={"height_ratios": [1.2, 1.2, 1, 1]})
    axes[0].plot(t, d["input"], color=C_INPUT, lw=1.2)
    axes[0].set_ylabel("input $x_t$")
    axes[0].set_title("R: RLIB with rec_weight = −1.5 (each spike inhibits the next)")
    axes[1].plot(t, d["rec"], color=C_REC, lw=1.5)
    axes[1].set_ylabel("rec trace")
    _spike_stems(axes[2], t, d["lib_output"], C_SPIKE)
    axes[2].set_ylabel("LIB")
    _spike_stems(axes[3], t, d["rlib_output"], C_SPIKE)
    axes[3].set_ylabel("RLIB")
    axes[3].set_xlabel("timestep")
    return fig, axes


def draw_d(d, theme, plt):
    t = np.arange(STEPS)
    fig, axes = plt.subplots(2, 1, figsize=(7.5, 4.0), sharex=True, gridspec_kw={"height_ratios": [1, 2]})
    axes[0].plot(t, d["input"], color=C_INPUT, lw=1.2)
    axes[0].axhline(0, color=C_INPUT, lw=0.6)
    axes[0].set_ylabel("input $x_t$")
    axes[0].set_title("D: DLI with a slow positive (β⁺ = 0.95) and a fast negative (β⁻ = 0.6) membrane")
    axes[1].plot(t, d["pos_mem"], color=C_SPIKE, lw=1.3, label="pos_mem")
    axes[1].plot(t, d["neg_mem"], color=C_NEG, lw=1.3, label="neg_mem")
    axes[1].plot(t, d["output"], color=FG[theme], lw=1.6, ls="--", label="output = sum")
    axes[1].set_ylabel("membranes")
    axes[1].set_xlabel("timestep")
    axes[1].legend(loc="upper left", fontsize="small", ncol=3)
    return fig, axes


def draw_options(title: str, labels: dict[str, str], threshold: float = 1.0):
    """Input, the variants' membranes overlaid, then one spike row per variant."""
    colors = [C_MEM, C_SYN, C_REC]

    def draw(d, theme, plt):
        t = np.arange(STEPS)
        n = len(labels)
        fig, axes = plt.subplots(
            2 + n, 1, figsize=(7.5, 3.6 + 0.7 * n), sharex=True, gridspec_kw={"height_ratios": [1, 2.4] + [0.7] * n}
        )
        axes[0].plot(t, d["input"], color=C_INPUT, lw=1.2)
        axes[0].set_ylabel("input $x_t$")
        axes[0].set_title(title)
        for (key, label), color in zip(labels.items(), colors):
            axes[1].plot(t, d[f"{key}:mem"], color=color, lw=1.3, label=label)
        axes[1].axhline(threshold, color=C_SPIKE, ls="--", lw=1.0, label="threshold")
        axes[1].set_ylabel("membrane state")
        axes[1].legend(loc="upper left", fontsize="x-small", ncol=2)
        for k, (key, color) in enumerate(zip(labels, colors)):
            _spike_stems(axes[2 + k], t, d[f"{key}:spikes"], color)
            axes[2 + k].set_ylabel(key, fontsize=8)
            axes[2 + k].set_yticks([])
        axes[-1].set_xlabel("timestep")
        return fig, axes

    return draw


def draw_surrogates(d, theme, plt):
    v = d["v"]
    names = sorted({k.split(":")[0] for k in d if ":" in k}, key=list(tt.functional.SPIKE_FUNCTIONS).index)
    colors = [C_MEM, C_SPIKE, C_SYN, C_NEG, C_REC]
    fig, axes = plt.subplots(1, 2, figsize=(8.0, 3.4))
    for name, color in zip(names, colors):
        axes[0].plot(v, d[f"{name}:value"], color=color, lw=1.4, label=name)
        axes[1].plot(v, d[f"{name}:grad"], color=color, lw=1.4, label=name)
    axes[0].set_title("forward: f(v)")
    axes[1].set_title("backward: df/dv (surrogate)")
    for ax in axes:
        ax.set_xlabel("v = membrane − threshold")
    axes[0].legend(loc="upper left", fontsize="x-small")
    return fig, axes


def draw_perf(d, theme, plt):
    us = d["us_per_step"]
    # Relative to the minimal nn.Module of the same case: 1.0 is the floor of any
    # per-step module.
    rel = us / us[:, [1]]
    colors = [C_INPUT, FG[theme], C_SPIKE, C_SYN, C_NEG]
    fig, ax = plt.subplots(figsize=(8.0, 3.6))
    width = 0.16
    x = np.arange(len(PERF_CASES))
    for k, (impl, color) in enumerate(zip(PERF_IMPLEMENTATIONS, colors)):
        ax.bar(x + (k - 2) * width, rel[:, k], width, color=color, label=impl)
    ax.axhline(1.0, color=FG[theme], lw=0.8, ls="--")
    ax.set_xticks(x, [f"{bn}, {p}" for bn, p in PERF_CASES])
    ax.set_ylabel("time per step / minimal module")
    ax.set_title("LIB per step (CPU, 2 threads): lower is faster")
    ax.legend(fontsize="x-small", ncol=3, loc="upper right")
    ax.set_ylim(0, float(rel.max()) * 1.3)
    return fig, ax


@dataclass(frozen=True)
class Figure:
    name: str
    compute: Callable[[], dict[str, np.ndarray]]
    draw: Callable
    alt: str


FIGURES: tuple[Figure, ...] = (
    Figure("lib-membrane-spikes", data_home, draw_home, "LIB membrane and a raster of 40 neurons"),
    Figure("neuron-li", data_li, draw_li, "LI and LIEMA membranes"),
    Figure(
        "neuron-lib",
        data_lib,
        draw_spiking("LIB (β = 0.9, θ = 1, heaviside_atan)", "spikes"),
        "LIB membrane and spikes",
    ),
    Figure(
        "neuron-lit",
        data_lit,
        draw_spiking("LIT (β = 0.9, θ⁺ = 1, θ⁻ = 0.7, heaviside_atan)", "spikes"),
        "LIT membrane and ternary spikes",
    ),
    Figure(
        "neuron-lits",
        data_lits,
        draw_spiking("LITS: as LIT, with pos_scale = 1.5, neg_scale = 0.5", "output"),
        "LITS membrane and scaled ternary output",
    ),
    Figure("variant-s", data_s, draw_s, "SLIB synaptic trace and spikes against LIB"),
    Figure("variant-r", data_r, draw_r, "RLIB recurrent trace and spikes against LIB"),
    Figure("variant-d", data_d, draw_d, "DLI positive and negative membranes"),
    Figure(
        "option-reset",
        data_reset,
        draw_options(
            "reset: subtract, value (to 0), none (LIB, β = 0.9, θ = 1)",
            {"subtract": 'reset="subtract" (default)', "value": 'reset="value", reset_value=0', "none": 'reset="none"'},
        ),
        "one LIB neuron with each reset mode",
    ),
    Figure(
        "option-reset-timing",
        data_timing,
        draw_options(
            "reset_timing: same step against next step (snnTorch's Leaky)",
            {"same": 'reset_timing="same" (default)', "next": 'reset_timing="next"'},
        ),
        "one LIB neuron with the reset on the same and on the next step",
    ),
    Figure(
        "option-if",
        data_if,
        draw_options(
            "integrate-and-fire (β = 1, learn_beta=False) against LIF (β = 0.9)",
            {"lif": "LIF: beta=0.9", "if": "IF: beta=1.0, learn_beta=False"},
        ),
        "integrate-and-fire against a leaky neuron",
    ),
    Figure(
        "option-decay-input",
        data_decay_input,
        draw_options(
            "decay_input: (1 − β)·x against + x (β = 0.9, θ = 0.3)",
            {"plain": "mem = β·mem + x (default)", "ema": "decay_input=True: mem = β·mem + (1 − β)·x"},
            threshold=0.3,
        ),
        "one LIB neuron with and without decay_input",
    ),
    Figure("surrogates", data_surrogates, draw_surrogates, "spike functions and their surrogate gradients"),
    Figure("perf-snn-step", data_perf, draw_perf, "LIB per-step time against a minimal module and peers"),
)


# --------------------------------------------------------------------------- manifest


def data_hash(data: dict[str, np.ndarray]) -> str:
    """SHA-256 of the arrays, rounded to 5 decimals (robust to last-bit differences)."""
    h = hashlib.sha256()
    for key in sorted(data):
        arr = np.round(np.asarray(data[key], dtype=np.float64), 5) + 0.0  # + 0.0: no -0.0
        h.update(key.encode())
        h.update(str(arr.shape).encode())
        h.update(arr.tobytes())
    return h.hexdigest()


def files_of(fig: Figure) -> list[str]:
    return [f"{fig.name}-{theme}.png" for theme in THEMES]


def render(fig: Figure, data: dict[str, np.ndarray], out_dir: Path) -> list[Path]:
    """Draw ``fig`` in both themes into ``out_dir``; return the paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    for theme, filename in zip(THEMES, files_of(fig)):
        f, axes = fig.draw(data, theme, plt)
        _style(f, axes, theme)
        f.tight_layout()
        path = out_dir / filename
        f.savefig(path, dpi=110, transparent=True)
        plt.close(f)
        paths.append(path)
    return paths


def manifest() -> dict[str, dict]:
    return {
        fig.name: {"data_sha256": data_hash(fig.compute()), "files": files_of(fig), "alt": fig.alt} for fig in FIGURES
    }


def check(assets: Path = ASSETS) -> list[str]:
    """Problems that make the committed figures missing or stale (empty: all fine)."""
    problems = []
    stored = json.loads((assets / "figures.json").read_text()) if (assets / "figures.json").exists() else {}
    current = manifest()
    for name, entry in current.items():
        if name not in stored:
            problems.append(f"{name}: not in {assets / 'figures.json'}")
        elif stored[name]["data_sha256"] != entry["data_sha256"]:
            problems.append(f"{name}: stale (the layers now produce different numbers)")
        for filename in entry["files"]:
            if not (assets / filename).is_file():
                problems.append(f"{name}: {assets / filename} is missing")
    for name in sorted(set(stored) - set(current)):
        problems.append(f"{name}: in figures.json but no longer drawn by docs/make_figures.py")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="only check; exit 1 if a figure is missing or stale")
    args = parser.parse_args(argv)
    if args.check:
        problems = check()
        for p in problems:
            print(p, file=sys.stderr)
        if problems:
            print("Redraw them: uv run python docs/make_figures.py", file=sys.stderr)
        return 1 if problems else 0
    ASSETS.mkdir(exist_ok=True)
    entries = {}
    for fig in FIGURES:
        data = fig.compute()
        for path in render(fig, data, ASSETS):
            print(f"wrote {path.relative_to(ASSETS.parent.parent)}")
        entries[fig.name] = {"data_sha256": data_hash(data), "files": files_of(fig), "alt": fig.alt}
    MANIFEST.write_text(json.dumps(entries, indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {MANIFEST.relative_to(ASSETS.parent.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
