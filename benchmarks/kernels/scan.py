"""Diagonal linear-recurrence scan kernel (issue 6, "Measure") on a CUDA GPU.

``h_t = a_t * h_{t-1} + b_t`` with a per-step ``a`` (SelectiveSSM) and a per-neuron
``a`` (LI), T in {8, 32, 128}, B x N in {2^16, 2^20, 2^22}, float32 / bfloat16:
forward and forward+backward of the Triton kernel against the pure-PyTorch parallel
scan of tracetorch-rnn and against a plain device copy of the same bytes (the
kernel's lower bound: target within 1.5x). Writes
``benchmarks/results/kernels_scan.md``. Needs a CUDA GPU.

Run: ``uv run python benchmarks/kernels/scan.py [--quick]``
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _gpu  # noqa: E402
from _gpu import cuda_time, hbm_peak_gbs, require_gpu, write  # noqa: E402


def main() -> None:
    require_gpu("benchmarks/kernels/scan.py")
    ap = argparse.ArgumentParser()
    ap.add_argument("--smoke", action="store_true", help="tiny CPU run through the interpreter (checks the script)")
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()

    from tracetorch.core._sequence import _TimedScan
    from tracetorch.kernels import linear_scan

    def torch_scan(a, b, h0):  # the pure-PyTorch scan, bypassing the kernel registry
        return _TimedScan.apply(a.expand(b.shape), b, h0)

    Ts = [8, 128] if args.quick else [8, 32, 128]
    Es = [2**16, 2**20] if args.quick else [2**16, 2**20, 2**22]
    if args.smoke:
        Ts, Es = [3], [2048]
    peak = hbm_peak_gbs()
    rows = []
    for a_kind in ("per step", "per neuron"):
        for dtype in (torch.float32, torch.bfloat16):
            elt = torch.tensor([], dtype=dtype).element_size()
            for T in Ts:
                for E in Es:
                    N = 1024
                    B = E // N
                    b = torch.randn(T, B, N, device=_gpu.DEV, dtype=dtype)
                    a = (
                        torch.rand(T, B, N, device=_gpu.DEV) if a_kind == "per step" else torch.rand(N, device=_gpu.DEV)
                    ).to(dtype)
                    h0 = torch.zeros(B, N, device=_gpu.DEV, dtype=dtype)
                    ag, bg = a.clone().requires_grad_(), b.clone().requires_grad_()
                    g = torch.randn_like(b)
                    a_full = a.expand(T, B, N)
                    # bytes: forward reads a (if per step) and b, writes h
                    n_in = 2 if a_kind == "per step" else 1
                    fwd_bytes = T * E * elt * (n_in + 1)
                    # backward reads grad_h, h (previous), a (per step) and writes grad_b (+ grad_a)
                    bwd_bytes = T * E * elt * (2 + 2 * (n_in - 1) + 1) if a_kind == "per step" else T * E * elt * 3
                    with torch.no_grad():
                        t_k = cuda_time(lambda: linear_scan(a, b, h0))
                        t_t = cuda_time(lambda: torch_scan(a_full, b, h0))
                    t_kb = cuda_time(lambda: linear_scan(ag, bg, h0).backward(g))
                    t_tb = cuda_time(lambda: torch_scan(ag.expand(T, B, N), bg, h0).backward(g))
                    src = torch.empty(fwd_bytes // 4, device=_gpu.DEV)
                    dst = torch.empty_like(src)
                    # a copy reading and writing half of the forward's bytes each
                    half = src[: fwd_bytes // 8]
                    dhalf = dst[: fwd_bytes // 8]
                    t_copy = cuda_time(lambda: dhalf.copy_(half))
                    gbs = fwd_bytes / t_k / 1e9
                    gbs_b = (fwd_bytes + bwd_bytes) / t_kb / 1e9
                    pct = lambda v: f"{100 * v / peak:.0f}%" if peak else "?"
                    rows.append(
                        [
                            a_kind,
                            str(dtype).replace("torch.", ""),
                            str(T),
                            f"2^{E.bit_length() - 1}",
                            f"{t_k * 1e3:.3f}",
                            f"{t_kb * 1e3:.3f}",
                            f"{gbs:.0f} ({pct(gbs)})",
                            f"{gbs_b:.0f} ({pct(gbs_b)})",
                            f"{t_k / t_copy:.2f}x",
                            f"{t_t / t_k:.1f}x",
                            f"{t_tb / t_kb:.1f}x",
                        ]
                    )
                    print(" | ".join(rows[-1]), flush=True)
                    del a, b, ag, bg, g, src, dst
                    torch.cuda.empty_cache()
    header = [
        "a",
        "dtype",
        "T",
        "B*N",
        "fwd ms",
        "fwd+bwd ms",
        "fwd GB/s (% HBM)",
        "fwd+bwd GB/s (% HBM)",
        "fwd / copy of same bytes",
        "torch scan / kernel (fwd)",
        "torch scan / kernel (fwd+bwd)",
    ]
    notes = "Target (issue 6): the scan within 1.5x of a plain copy of the same bytes."
    print(write("scan", "Linear-recurrence scan kernel", header, rows, notes))


if __name__ == "__main__":
    main()
