"""Per-step bookkeeping of a layer built on tt.Layer (issue: core).

Compares one and the same leaky-integrator maths (``mem = sigmoid(raw_beta) * mem + x``)
written three ways, 100 steps per run:

* (a) a hand-written PyTorch loop (the bare maths, no module);
* (b) a minimal ``nn.Module`` keeping ``mem`` as a plain attribute (the floor of any
  per-step module: nn.Module's call overhead alone);
* tt: the same maths as a ``tt.Layer`` (lazy state creation, input/state checks,
  ``dim`` handling, parameter activation through ``layer.beta``).

Run: ``uv run python benchmarks/core_step.py``; writes ``benchmarks/results/core_step.md``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
import tracetorch as tt  # noqa: E402
from _common import interleaved, write_table  # noqa: E402

STEPS = 100


class TTLeaky(tt.Layer):
    def __init__(self, n: int):
        super().__init__(n)
        self._register_decay("beta", 0.9)
        self._initialize_state("mem")

    def forward(self, x):
        self._ensure_states(x)
        mem = self._param_value("beta") * self.mem + x
        self.__dict__["mem"] = mem
        return mem


class MinimalLeaky(nn.Module):
    def __init__(self, n: int):
        super().__init__()
        self.raw_beta = nn.Parameter(torch.full((n,), 2.1972246))
        self.mem = None

    def forward(self, x):
        if self.mem is None:
            self.mem = torch.zeros_like(x)
        self.mem = torch.sigmoid(self.raw_beta) * self.mem + x
        return self.mem


def main() -> None:
    torch.set_num_threads(2)
    rows = []
    for batch, n in [(1, 128), (64, 1024)]:
        xs = torch.randn(STEPS, batch, n)
        raw = nn.Parameter(torch.full((n,), 2.1972246))
        tt_layer, minimal = TTLeaky(n), MinimalLeaky(n)

        def loop(backward: bool):
            mem = torch.zeros(batch, n)
            total = 0
            for t in range(STEPS):
                mem = torch.sigmoid(raw) * mem + xs[t]
                total = total + mem.sum() if backward else 0
            if backward:
                total.backward()

        def module_run(m, backward: bool):
            def run():
                if isinstance(m, tt.Layer):
                    m.zero_states()
                else:
                    m.mem = None
                total = 0
                for t in range(STEPS):
                    out = m(xs[t])
                    total = total + out.sum() if backward else 0
                if backward:
                    total.backward()

            return run

        for mode, backward in [("forward", False), ("forward+backward", True)]:
            ctx = torch.enable_grad() if backward else torch.no_grad()
            with ctx:
                r = interleaved(
                    {
                        "loop": lambda: loop(backward),
                        "minimal": module_run(minimal, backward),
                        "tt": module_run(tt_layer, backward),
                    },
                    rounds=9,
                    inner=3,
                )
            rows.append(
                [
                    f"{batch}×{n}",
                    mode,
                    f"{r['loop'] * 1e3:.2f}",
                    f"{r['minimal'] * 1e3:.2f}",
                    f"{r['tt'] * 1e3:.2f}",
                    f"{r['tt'] / r['minimal']:.2f}×",
                    f"{r['tt'] / r['loop']:.2f}×",
                    f"{r['minimal'] / r['loop']:.2f}×",
                ]
            )
    text = write_table(
        "core_step",
        "Core per-step bookkeeping (100 steps, leaky integrator)",
        [
            "batch×neurons",
            "pass",
            "(a) loop ms",
            "(b) minimal module ms",
            "tt.Layer ms",
            "tt / (b)",
            "tt / (a)",
            "(b) / (a)",
        ],
        rows,
        notes="Targets: tt / (b) ≤ 1.10 everywhere; tt / (a) ≤ 1.10 at 64×1024 forward+backward.",
    )
    print(text)


if __name__ == "__main__":
    main()
