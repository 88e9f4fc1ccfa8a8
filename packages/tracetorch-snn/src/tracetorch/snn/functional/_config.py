"""`LeakyConfig`: which parts of the leaky-integrator update a layer uses.

Every one of the 32 spiking layers is one configuration of the same update:
dual (``D``) or not, synaptic (``S``) or not, recurrent (``R``) or not, and one
output kind (``LI``, ``EMA``, ``B``, ``T`` or ``TS``). The configuration also fixes
the names and order of the layer's parameters and states, which the pure step and
sequence functions use to read their ``params`` and ``states`` tuples.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["LeakyConfig", "ParamInfo", "OUTPUT_KINDS"]

OUTPUT_KINDS = ("LI", "EMA", "B", "T", "TS")
"""The output kinds: leaky integrator, exponential moving average, binary, ternary,
ternary with a scale per polarity."""


@dataclass(frozen=True)
class ParamInfo:
    """A parameter of a configuration.

    Attributes:
        name: Public name, e.g. ``"pos_beta"``.
        kind: ``"decay"`` (sigmoid-bounded), ``"threshold"`` (softplus-bounded) or
            ``"free"`` (unbounded).
        default: Default value.
    """

    name: str
    kind: str
    default: float


@dataclass(frozen=True)
class LeakyConfig:
    """One configuration of the leaky-integrator update.

    Attributes:
        dual: Separate positive and negative pathways (``D``).
        synaptic: A synaptic trace filters the input (``S``).
        recurrent: The previous output feeds back through a trace (``R``).
        output: One of `OUTPUT_KINDS`.
        params: The parameters, in positional order (synapse decays, membrane
            decays, recurrent decays, thresholds, scales, recurrent weights; ``pos``
            before ``neg``).
        states: The state names, in the order of the ``states`` tuples of the pure
            functions: membranes, synapses, recurrent traces, ``prev_output``.

    Raises:
        ValueError: for an unknown output kind, or a recurrent ``LI``/``EMA``
            configuration (which has no spikes to feed back).
    """

    dual: bool
    synaptic: bool
    recurrent: bool
    output: str
    params: tuple[ParamInfo, ...] = field(init=False, repr=False, compare=False)
    states: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.output not in OUTPUT_KINDS:
            raise ValueError(f"LeakyConfig: output must be one of {OUTPUT_KINDS}, got {self.output!r}.")
        if self.recurrent and self.output in ("LI", "EMA"):
            raise ValueError("LeakyConfig: LI and EMA layers are not recurrent.")

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
        if self.recurrent:
            params += split("rec_weight", "free", 0.0)
        object.__setattr__(self, "params", tuple(params))

        states: list[str] = ["pos_mem", "neg_mem"] if self.dual else ["mem"]
        if self.synaptic:
            states += ["pos_syn", "neg_syn"] if self.dual else ["syn"]
        if self.recurrent:
            states += ["pos_rec", "neg_rec"] if self.dual else ["rec"]
            states.append("prev_output")
        object.__setattr__(self, "states", tuple(states))

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
    def from_name(cls, name: str) -> "LeakyConfig":
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
