"""Fused single-step kernel (issue 6) on a CUDA GPU: one launch per step.

One timestep of LIB and DSRLITS, B x N in {2^16, 2^20, 2^22}, float32: the fused
step kernel (`tracetorch.kernels.dispatch._leaky_step`) against the layer's eager
step (one PyTorch op per line of the update), forward and forward+backward over 32
steps. Writes ``benchmarks/results/kernels_step.md``. Needs a CUDA GPU.

Run: ``uv run python benchmarks/kernels/step.py``
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _gpu  # noqa: E402
from _gpu import cuda_time, require_gpu, write  # noqa: E402


def main() -> None:
    require_gpu("benchmarks/kernels/step.py")
    import tracetorch.functional as TF
    from tracetorch import snn
    from tracetorch.kernels import dispatch

    rows = []
    T, N = 32, 1024
    sizes = (2**16, 2**20, 2**22)
    if _gpu.DEV != "cuda":  # --smoke
        T, sizes = 2, (2048,)
    for name in ("LIB", "DSRLITS"):
        for E in sizes:
            B = E // N
            layer = getattr(snn, name)(N, spike_fn="heaviside_atan", quant_fn="round").to(_gpu.DEV)
            cfg = layer.config
            x = torch.randn(T, B, N, device=_gpu.DEV) * 2
            xg = x.clone().requires_grad_()

            def eager(inp: torch.Tensor) -> torch.Tensor:
                layer.zero_states()
                return torch.stack([layer(inp[t]) for t in range(T)])

            def fused(inp: torch.Tensor) -> torch.Tensor:
                st = tuple(torch.zeros(B, N, device=_gpu.DEV) for _ in cfg.states)
                params = cfg.layout.pack(cfg.layout.params, layer._params(inp[0]))
                outs = []
                for t in range(T):
                    o, st = dispatch._leaky_step(
                        cfg, inp[t], st, params, TF.heaviside_atan(), TF.quant_round, use_kernels=True
                    )
                    outs.append(o)
                return torch.stack(outs)

            with torch.no_grad():
                te, tf = cuda_time(lambda: eager(x)), cuda_time(lambda: fused(x))
            teb = cuda_time(lambda: eager(xg).sum().backward())
            tfb = cuda_time(lambda: fused(xg).sum().backward())
            rows.append(
                [
                    name,
                    f"2^{E.bit_length() - 1}",
                    f"{te / T * 1e6:.1f}",
                    f"{tf / T * 1e6:.1f}",
                    f"{te / tf:.1f}x",
                    f"{teb / T * 1e6:.1f}",
                    f"{tfb / T * 1e6:.1f}",
                    f"{teb / tfb:.1f}x",
                ]
            )
            print(" | ".join(rows[-1]), flush=True)
    header = [
        "layer",
        "B*N",
        "eager fwd us/step",
        "fused fwd us/step",
        "speed-up",
        "eager fwd+bwd us/step",
        "fused fwd+bwd us/step",
        "speed-up",
    ]
    print(write("step", "Fused single-step kernel", header, rows))


if __name__ == "__main__":
    main()
