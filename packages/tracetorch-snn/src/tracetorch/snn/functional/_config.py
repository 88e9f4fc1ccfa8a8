"""`LeakyConfig`: which parts of the leaky-integrator update a layer uses.

Every one of the 32 spiking layers is one configuration of the same update:
dual (``D``) or not, synaptic (``S``) or not, recurrent (``R``) or not, and one
output kind (``LI``, ``EMA``, ``B``, ``T`` or ``TS``). The configuration also fixes
the names and order of the layer's parameters and states, which the pure step and
sequence functions use to read their ``params`` and ``states`` tuples.

`LeakyLayout` (``cfg.layout``) names every slot of the update: the states, the
parameters, the step's intermediate values (membranes before the reset, spikes) and
the per-step tensors the hand-written backward keeps. The step, the backward and
the GPU kernels' launcher address everything by these names, never by position, so
a new state or parameter is added here and in the update maths only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping, TypeVar

_V = TypeVar("_V")

__all__ = [
    "LeakyConfig",
    "LeakyLayout",
    "ParamInfo",
    "EXTRA_PARAMS",
    "OUTPUT_KINDS",
    "RESETS",
    "RESET_TIMINGS",
    "SYN_INPUTS",
]

RESETS = ("subtract", "value", "none")
"""What a spike does to the membrane: subtract the threshold, set it to ``reset_value``, nothing."""
RESET_TIMINGS = ("same", "next")
"""When the reset lands: on the step of the spike, or (undecayed) on the next step."""
SYN_INPUTS = ("ema", "add")
"""How the input enters the synaptic trace: ``(1 - alpha)*x`` or ``x``."""

_OPTION_DEFAULTS: tuple[tuple[str, Any], ...] = (
    ("reset", "subtract"),
    ("reset_value", 0.0),
    ("reset_timing", "same"),
    ("detach_reset", False),
    ("decay_input", False),
    ("rest", 0.0),
    ("syn_input", "ema"),
    ("adaptive", False),
    ("refractory", 0),
    ("all_to_all", False),
)
"""The neuron options of the spiking layers and their defaults (today's behaviour)."""

OUTPUT_KINDS = ("LI", "EMA", "B", "T", "TS")
"""The output kinds: leaky integrator, exponential moving average, binary, ternary,
ternary with a scale per polarity."""


@dataclass(frozen=True)
class ParamInfo:
    """A parameter of a configuration.

    Attributes:
        name: Public name, e.g. ``"pos_beta"``.
        kind: ``"decay"`` (sigmoid-bounded), ``"threshold"`` (softplus-bounded),
            ``"free"`` (unbounded) or ``"matrix"`` (unbounded, ``[N, N]``: the
            all-to-all recurrent weight; its ``default`` is unused, see `LeakyConfig`).
        default: Default value.
    """

    name: str
    kind: str
    default: float


EXTRA_PARAMS: tuple[ParamInfo, ...] = (
    ParamInfo("rec_matrix", "matrix", 0.0),
    ParamInfo("rec_bias", "free", 0.0),
    ParamInfo("adapt_decay", "decay", 0.95),
    ParamInfo("adapt_strength", "threshold", 1.0),
)
"""The parameters a neuron option adds (``all_to_all``: ``rec_matrix``, ``rec_bias``;
``adaptive``: ``adapt_decay``, ``adapt_strength``), with their defaults. A layer's
``rec_matrix`` defaults to ``nn.Linear(N, N).weight``'s initialisation, not to this
placeholder."""


@dataclass(frozen=True)
class LeakyLayout:
    """The named slots of one configuration (``LeakyConfig.layout``).

    Every tuple the pure functions exchange is ordered by one of these name tuples,
    and every consumer reads and writes them by name (``dict(zip(layout.states,
    states))``), so no code outside the configuration knows a position.

    Attributes:
        states: State names, in the order of the ``states`` tuples.
        params: Parameter names, in the order of the ``params`` tuples.
        membranes: The membrane state(s): ``("mem",)`` or ``("pos_mem", "neg_mem")``.
        traces: The other states kept per step by the sequence backward (synaptic and
            recurrent traces, and ``adapt``, ``refrac`` with those options; ``prev_output``
            is the output itself).
        pre: The membrane(s) before the reset, as the step reports them
            (``"mem_pre"``, or ``"pos_mem_pre"`` and ``"neg_mem_pre"``).
        spikes: The spikes the step reports: ``()`` (LI/EMA), ``("spike",)`` (B) or
            ``("pos_spike", "neg_spike")`` (T/TS).
        extras: Every intermediate the step reports besides its output and new states:
            `pre`, `spikes` and, for non-dual B layers, ``"fire_input"`` (membrane minus
            threshold, the spike function's argument).
        saved: What the hand-written sequence backward keeps per step, each a name of a
            state (its value after the step) or of an extra; empty for LI/EMA.
    """

    states: tuple[str, ...]
    params: tuple[str, ...]
    membranes: tuple[str, ...]
    traces: tuple[str, ...]
    pre: tuple[str, ...]
    spikes: tuple[str, ...]
    extras: tuple[str, ...]
    saved: tuple[str, ...]

    def pack(self, names: tuple[str, ...], values: Mapping[str, _V]) -> tuple[_V, ...]:
        """The values of ``names`` taken from a mapping, as a tuple in that order.

        Args:
            names: e.g. ``layout.states``.
            values: A mapping holding at least every name.

        Returns:
            ``tuple(values[n] for n in names)``.
        """
        return tuple([values[n] for n in names])


@dataclass(frozen=True)
class LeakyConfig:
    """One configuration of the leaky-integrator update.

    Attributes:
        dual: Separate positive and negative pathways (``D``).
        synaptic: A synaptic trace filters the input (``S``).
        recurrent: The previous output feeds back through a trace (``R``).
        output: One of `OUTPUT_KINDS`.
        params: The parameters, in positional order (synapse decays, membrane
            decays, recurrent decays, thresholds, scales, recurrent weights (or
            ``rec_matrix``, ``rec_bias`` with ``all_to_all``), then ``adapt_decay``,
            ``adapt_strength`` with ``adaptive``; ``pos`` before ``neg``).
        states: The state names, in the order of the ``states`` tuples of the pure
            functions: membranes, synapses, recurrent traces, ``prev_output``, the
            pending spikes (``reset_timing="next"``), ``adapt`` (``adaptive``) and
            ``refrac`` (``refractory``).
        reset: What a spike does to the membrane (spiking kinds): ``"subtract"`` the
            threshold (default), ``"value"`` (set it to ``reset_value``; dual layers set
            each pathway to ``reset_value / 2``) or ``"none"``.
        reset_value: The membrane after a ``"value"`` reset.
        reset_timing: ``"same"`` (the reset lands on the step of the spike) or
            ``"next"`` (snnTorch's default: the membrane state keeps the un-reset value
            and the reset of the previous step's spike is applied, undecayed, at the next
            step; the pending spikes are extra states ``prev_spike`` or
            ``prev_pos_spike``/``prev_neg_spike``).
        detach_reset: Cut the spike out of the reset term's graph.
        decay_input: The input enters the membrane as ``(1 - beta)*u`` (EMA form).
        rest: The potential the membrane leaks towards:
            ``mem = beta*mem + (1 - beta)*rest + ...``.
        syn_input: ``"ema"`` (``syn = alpha*syn + (1 - alpha)*x``) or ``"add"``
            (``syn = alpha*syn + x``); synaptic kinds only.
        adaptive: An adaptive threshold (ALIF/LSNN, Bellec et al. 2018): the state
            ``adapt`` is a decaying trace of the layer's own spikes,
            ``adapt = adapt_decay*adapt + (1 - adapt_decay)*|s|``, and every threshold
            the spikes and a ``"subtract"`` reset use is ``threshold + adapt_strength*adapt``
            (``adapt`` from before this step's spike). Adds the parameters
            ``adapt_decay`` (a decay) and ``adapt_strength`` (a threshold kind, > 0).
            Not with ``reset="subtract"`` and ``reset_timing="next"``.
        refractory: Steps (an int >= 0) after a spike during which the neuron cannot
            fire: its membrane is held at its value after the reset (the pending reset
            of ``reset_timing="next"`` applied), its input is ignored, its synaptic and
            recurrent traces go on. Adds the counter state ``refrac``.
        all_to_all: Recurrent (R) kinds: the recurrent trace reaches the membrane
            through a learned ``[N, N]`` matrix and a bias, ``u = d + rec_matrix @ rec +
            rec_bias``, instead of the per-neuron ``rec_weight`` (dual: the result's
            positive part feeds the positive membrane, its negative part the negative).

    Raises:
        ValueError: for an unknown output kind, a recurrent ``LI``/``EMA``
            configuration (which has no spikes to feed back), an unknown option value,
            a non-finite ``reset_value``/``rest``, a neuron option on an ``LI``/``EMA``
            configuration, ``syn_input`` on a non-synaptic one, ``all_to_all`` on a
            non-recurrent one, a negative ``refractory``, or ``adaptive`` with a
            next-step ``"subtract"`` reset.
        TypeError: for an option of the wrong type (e.g. a ``refractory`` that is not
            an int, an ``adaptive`` that is not a bool).
    """

    dual: bool
    synaptic: bool
    recurrent: bool
    output: str
    reset: str = "subtract"
    reset_value: float = 0.0
    reset_timing: str = "same"
    detach_reset: bool = False
    decay_input: bool = False
    rest: float = 0.0
    syn_input: str = "ema"
    adaptive: bool = False
    refractory: int = 0
    all_to_all: bool = False
    params: tuple[ParamInfo, ...] = field(init=False, repr=False, compare=False)
    states: tuple[str, ...] = field(init=False, repr=False, compare=False)
    layout: LeakyLayout = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.output not in OUTPUT_KINDS:
            raise ValueError(f"LeakyConfig: output must be one of {OUTPUT_KINDS}, got {self.output!r}.")
        if self.recurrent and self.output in ("LI", "EMA"):
            raise ValueError("LeakyConfig: LI and EMA layers are not recurrent.")
        self._check_options()

        def split(name: str, kind: str, default: float) -> list[ParamInfo]:
            if self.dual:
                return [ParamInfo(f"pos_{name}", kind, default), ParamInfo(f"neg_{name}", kind, default)]
            return [ParamInfo(name, kind, default)]

        params: list[ParamInfo] = []
        if self.synaptic:
            params += split("alpha", "decay", 0.5)
        params += split("beta", "decay", 0.9)
        if self.recurrent:
            params += split("gamma", "decay", 0.9)
        if self.output == "B":
            params.append(ParamInfo("threshold", "threshold", 1.0))
        elif self.output in ("T", "TS"):
            params += [ParamInfo("pos_threshold", "threshold", 1.0), ParamInfo("neg_threshold", "threshold", 1.0)]
        if self.output == "TS":
            params += [ParamInfo("pos_scale", "free", 1.0), ParamInfo("neg_scale", "free", 1.0)]
        if self.recurrent and self.all_to_all:
            params += EXTRA_PARAMS[:2]  # rec_matrix, rec_bias
        elif self.recurrent:
            params += split("rec_weight", "free", 0.0)
        if self.adaptive:
            params += EXTRA_PARAMS[2:]  # adapt_decay, adapt_strength
        object.__setattr__(self, "params", tuple(params))

        states: list[str] = ["pos_mem", "neg_mem"] if self.dual else ["mem"]
        if self.synaptic:
            states += ["pos_syn", "neg_syn"] if self.dual else ["syn"]
        if self.recurrent:
            states += ["pos_rec", "neg_rec"] if self.dual else ["rec"]
            states.append("prev_output")
        if self.reset_timing == "next" and self.reset != "none":
            states += ["prev_spike"] if self.output == "B" else ["prev_pos_spike", "prev_neg_spike"]
        if self.adaptive:
            states.append("adapt")
        if self.refractory:
            states.append("refrac")
        object.__setattr__(self, "states", tuple(states))

        pos_neg = ("pos_", "neg_") if self.dual else ("",)
        membranes = tuple(f"{p}mem" for p in pos_neg)
        pre = tuple(f"{m}_pre" for m in membranes)
        traces = tuple(n for n in states if n not in membranes and n != "prev_output" and not n.startswith("prev_"))
        spikes: tuple[str, ...] = ()
        extras = pre
        saved: tuple[str, ...] = ()
        if self.output == "B":
            spikes = ("spike",)
            extras = pre + spikes + (() if self.dual else ("fire_input",))
            # B layers reuse their output as the spike
            saved = (pre if self.dual else ("fire_input", "mem")) + traces
        elif self.spiking:
            spikes = ("pos_spike", "neg_spike")
            extras = pre + spikes
            saved = (pre if self.dual else ("mem_pre", "mem")) + spikes + traces
        layout = LeakyLayout(
            states=tuple(states),
            params=tuple(p.name for p in params),
            membranes=membranes,
            traces=traces,
            pre=pre,
            spikes=spikes,
            extras=extras,
            saved=saved,
        )
        object.__setattr__(self, "layout", layout)

    def _check_options(self) -> None:
        """Refuse unknown or inapplicable neuron options (the configuration is not built)."""
        where = "LeakyConfig"
        for name, valid in (("reset", RESETS), ("reset_timing", RESET_TIMINGS), ("syn_input", SYN_INPUTS)):
            value = getattr(self, name)
            if not isinstance(value, str) or value not in valid:
                raise ValueError(f"{where}: `{name}` must be one of {', '.join(map(repr, valid))}; got {value!r}.")
        for name in ("detach_reset", "decay_input", "adaptive", "all_to_all"):
            value = getattr(self, name)
            if not isinstance(value, bool):
                raise TypeError(f"{where}: `{name}` must be a bool, got {type(value).__name__} ({value!r}).")
        for name in ("reset_value", "rest"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(f"{where}: `{name}` must be a float, got {type(value).__name__} ({value!r}).")
            if not math.isfinite(value):
                raise ValueError(f"{where}: `{name}` must be finite, got {value!r}.")
            object.__setattr__(self, name, float(value))
        refractory = self.refractory
        if isinstance(refractory, bool) or not isinstance(refractory, int):
            raise TypeError(
                f"{where}: `refractory` must be an int (a number of steps), got "
                f"{type(refractory).__name__} ({refractory!r})."
            )
        if refractory < 0:
            raise ValueError(f"{where}: `refractory` must be >= 0 steps (0: none), got {refractory}.")
        opts = self.options
        if opts and not self.spiking:
            names = ", ".join(n for n, _ in opts)
            raise ValueError(
                f"{where}: the neuron options ({names}) apply to the spiking (B, T, TS) layers only, "
                f"not to {self.output}."
            )
        if self.syn_input != "ema" and not self.synaptic:
            raise ValueError(
                f"{where}: `syn_input` applies to synaptic (S) layers only; this configuration has no synapse."
            )
        if self.all_to_all and not self.recurrent:
            raise ValueError(
                f"{where}: `all_to_all` applies to recurrent (R) layers only; this configuration has no "
                "recurrence (use an R layer, e.g. RLIB)."
            )
        if self.adaptive and self.reset == "subtract" and self.reset_timing == "next":
            raise ValueError(
                f"{where}: `adaptive` with reset='subtract' and reset_timing='next' is not supported "
                "(the pending reset would need the threshold of the previous step); use "
                "reset_timing='same', or reset='value' / 'none'."
            )
        if self.reset_value != 0.0 and self.reset != "value":
            raise ValueError(f"{where}: `reset_value` is used only with reset='value'; got reset={self.reset!r}.")

    @property
    def options(self) -> tuple[tuple[str, Any], ...]:
        """Every neuron option that differs from its default, as ``(name, value)`` pairs.

        Empty for the 32 classic configurations. The GPU kernels implement the
        options as compile-time flags and decline any option (or value) they do not
        list, so the PyTorch update runs for it.
        """
        return tuple((n, getattr(self, n)) for n, d in _OPTION_DEFAULTS if getattr(self, n) != d)

    @property
    def name(self) -> str:
        """The layer name of this configuration, e.g. ``"DSRLITS"``."""
        prefix = ("D" if self.dual else "") + ("S" if self.synaptic else "") + ("R" if self.recurrent else "")
        suffix = {"LI": "LI", "EMA": "LIEMA", "B": "LIB", "T": "LIT", "TS": "LITS"}[self.output]
        return prefix + suffix

    @property
    def spiking(self) -> bool:
        """True for the B, T and TS kinds."""
        return self.output in ("B", "T", "TS")

    @property
    def param_names(self) -> tuple[str, ...]:
        """The parameter names in positional order."""
        return tuple(p.name for p in self.params)

    @classmethod
    def from_name(cls, name: str) -> LeakyConfig:
        """Parse a layer name such as ``"DSRLITS"`` into its configuration.

        Args:
            name: One of the 32 layer names.

        Returns:
            The configuration.

        Raises:
            ValueError: if ``name`` is not a layer name.
        """
        rest = name
        dual = rest.startswith("D")
        rest = rest[1:] if dual else rest
        synaptic = rest.startswith("S")
        rest = rest[1:] if synaptic else rest
        recurrent = rest.startswith("R")
        rest = rest[1:] if recurrent else rest
        kinds = {"LI": "LI", "LIEMA": "EMA", "LIB": "B", "LIT": "T", "LITS": "TS"}
        if rest not in kinds:
            raise ValueError(f"LeakyConfig.from_name: {name!r} is not a traceTorch spiking layer name.")
        cfg = cls(dual, synaptic, recurrent, kinds[rest])
        if cfg.name != name:
            raise ValueError(f"LeakyConfig.from_name: {name!r} is not a traceTorch spiking layer name.")
        return cfg


LAYER_NAMES = tuple(
    LeakyConfig(d, s, r, k).name
    for k in OUTPUT_KINDS
    for r in (False, True)
    for d in (False, True)
    for s in (False, True)
    if not (r and k in ("LI", "EMA"))
)
