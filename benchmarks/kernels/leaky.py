"""Spiking sequence kernel (issue 6, "Measure"): LIB and DSRLITS on a CUDA GPU.

For T in {8, 32, 64, 128}, neurons B x N in {2^16, 2^20, 2^22} (N = 1024) and
float32 / bfloat16, one ``forward_sequence`` of the layer with

* the Triton kernel (``TRACETORCH_KERNELS=1``),
* the pure-PyTorch sequence path of tracetorch-snn (``TRACETORCH_KERNELS=0``),
* eager stepping (a Python loop over ``layer(x[t])``),
* SpikingJelly's Triton (or CuPy) multi-step LIF, when SpikingJelly is installed
  (LIB only: the same decay-and-reset neuron),

forward without autograd and forward+backward (a fixed upstream gradient), CUDA-event
medians; peak CUDA memory of forward+backward above the inputs; effective GB/s of the
kernel (the minimum bytes it must move: inputs and outputs in their dtype, the float32
tensors saved for the backward pass) against the device's data-sheet HBM peak and a
plain device copy. Heaviside spike with the arctan surrogate, ``round`` quantisation.

Writes ``benchmarks/results/kernels_leaky.md``. Needs a CUDA GPU; without one it says
so and exits.

Run: ``uv run python benchmarks/kernels/leaky.py [--quick] [--block 256|512|1024]``
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _gpu  # noqa: E402
from _gpu import copy_gbs, cuda_time, hbm_peak_gbs, peak_memory, require_gpu, write  # noqa: E402

N = 1024


def bytes_moved(layer_name: str, T: int, E: int, elt: int, backward: bool) -> int:
    """The minimum HBM traffic of the kernel (see the module docstring)."""
    from tracetorch.kernels.ops.leaky.fused import layout
    from tracetorch.snn.functional import LeakyConfig

    cfg = LeakyConfig.from_name(layer_name)
    nsave = layout(cfg)["NSAVE"]
    fwd = T * E * 2 * elt
    if not backward:
        return fwd
    needs_x = cfg.synaptic or cfg.dual or kind == 1
    return fwd + T * E * 4 * nsave * 2 + T * E * elt * (2 + int(needs_x))


def spikingjelly_lif(dtype: torch.dtype):  # type: ignore[no-untyped-def]
    """SpikingJelly's multi-step LIF on the GPU (its Triton kernel), or None and why.

    The same neuron as LIB: ``v = (1 - 1/tau) v + x`` with ``tau = 10`` (beta 0.9),
    threshold 1, reset by subtraction, arctan surrogate (alpha 2). Newer SpikingJelly
    releases pick the Triton operator for CUDA tensors themselves; older ones take a
    ``backend=`` argument.
    """
    if importlib.util.find_spec("spikingjelly") is None:
        return None, "not installed"
    try:
        from spikingjelly.activation_based import neuron, surrogate
    except Exception as e:  # pragma: no cover - depends on the install
        return None, f"import failed: {type(e).__name__}"
    kw = dict(
        tau=10.0, decay_input=False, v_threshold=1.0, v_reset=None, surrogate_function=surrogate.ATan(), step_mode="m"
    )
    for extra, label in (({}, "auto dispatch"), ({"backend": "triton"}, "triton"), ({"backend": "cupy"}, "cupy")):
        try:
            node = neuron.LIFNode(**kw, **extra).to(_gpu.DEV)
            node(torch.zeros(2, 4, N, device=_gpu.DEV, dtype=dtype))
            node.reset()
            return node, label
        except Exception:
            continue
    return None, "no working configuration"


def main() -> None:
    require_gpu("benchmarks/kernels/leaky.py")
    ap = argparse.ArgumentParser()
    ap.add_argument("--smoke", action="store_true", help="tiny CPU run through the interpreter (checks the script)")
    ap.add_argument("--quick", action="store_true", help="fewer sizes")
    ap.add_argument("--block", type=int, default=0, help="force the kernels' block size (a power of two)")
    args = ap.parse_args()
    if args.block:
        from tracetorch.kernels.ops.leaky import fused

        fused.BLOCK_OVERRIDE = args.block

    from tracetorch import snn

    Ts = [8, 64] if args.quick else [8, 32, 64, 128]
    Es = [2**16, 2**20] if args.quick else [2**16, 2**20, 2**22]
    if args.smoke:
        Ts, Es = [3], [2 * N]
    peak = hbm_peak_gbs()
    copy_bw = copy_gbs(2**20 if args.smoke else 2**30)
    rows = []
    for name in ("LIB", "DSRLITS"):
        for dtype in (torch.float32, torch.bfloat16):
            elt = torch.tensor([], dtype=dtype).element_size()
            for T in Ts:
                for E in Es:
                    B = E // N
                    layer = getattr(snn, name)(N, spike_fn="heaviside_atan", quant_fn="round").to(_gpu.DEV)
                    x = torch.randn(T, B, N, device=_gpu.DEV, dtype=dtype) * 2
                    xg = x.clone().requires_grad_()
                    gout = torch.randn_like(x)

                    def seq_fwd() -> None:
                        layer.zero_states()
                        with torch.no_grad():
                            layer.forward_sequence(x)

                    def seq_fwd_bwd() -> None:
                        layer.zero_states()
                        layer.forward_sequence(xg).backward(gout)

                    def step_fwd() -> None:
                        layer.zero_states()
                        with torch.no_grad():
                            for t in range(T):
                                layer(x[t])

                    def step_fwd_bwd() -> None:
                        layer.zero_states()
                        torch.stack([layer(xg[t]) for t in range(T)]).backward(gout)

                    res: dict[str, float] = {}
                    nan = float("nan")

                    def measure(key: str, fn, **kw) -> None:  # type: ignore[no-untyped-def]
                        try:
                            res[key] = cuda_time(fn, **kw) if key[0] != "m" else float(peak_memory(fn))
                        except Exception as e:  # a path that fails is reported, not fatal
                            print(f"{name} {dtype} T={T} E={E} {key}: {type(e).__name__}: {e}", file=sys.stderr)
                            res[key] = nan

                    for mode in ("1", "0"):
                        os.environ["TRACETORCH_KERNELS"] = mode
                        measure(f"f{mode}", seq_fwd)
                        measure(f"b{mode}", seq_fwd_bwd)
                        measure(f"m{mode}", seq_fwd_bwd)
                    os.environ["TRACETORCH_KERNELS"] = "0"
                    rep = 3 if T * E >= 2**27 else 10
                    measure("fs", step_fwd, repeats=rep, warmup=1)
                    measure("bs", step_fwd_bwd, repeats=rep, warmup=1)
                    measure("ms", step_fwd_bwd)
                    os.environ.pop("TRACETORCH_KERNELS")
                    sj = "–"
                    if name == "LIB":
                        node, backend = spikingjelly_lif(dtype)
                        if node is not None:

                            def sj_fwd_bwd() -> None:
                                node.reset()
                                node(xg).backward(gout)

                            sj = f"{cuda_time(sj_fwd_bwd) * 1e3:.3f} ({backend})"
                        else:
                            sj = backend
                    gbs_f = bytes_moved(name, T, E, elt, False) / res["f1"] / 1e9
                    gbs_b = bytes_moved(name, T, E, elt, True) / res["b1"] / 1e9
                    pct = lambda g: f"{100 * g / peak:.0f}%" if peak else "?"
                    rows.append(
                        [
                            name,
                            str(dtype).replace("torch.", ""),
                            str(T),
                            f"2^{E.bit_length() - 1}",
                            f"{res['f1'] * 1e3:.3f}",
                            f"{res['b1'] * 1e3:.3f}",
                            f"{gbs_f:.0f} ({pct(gbs_f)})",
                            f"{gbs_b:.0f} ({pct(gbs_b)})",
                            f"{res['f0'] / res['f1']:.1f}x",
                            f"{res['b0'] / res['b1']:.1f}x",
                            f"{res['fs'] / res['f1']:.1f}x",
                            f"{res['bs'] / res['b1']:.1f}x",
                            f"{res['m1'] / 2**20:.0f} / {res['m0'] / 2**20:.0f} / {res['ms'] / 2**20:.0f}",
                            sj,
                        ]
                    )
                    print(" | ".join(rows[-1]), flush=True)
                    del layer, x, xg, gout
                    torch.cuda.empty_cache()
    header = [
        "layer",
        "dtype",
        "T",
        "B*N",
        "kernel fwd ms",
        "kernel fwd+bwd ms",
        "fwd GB/s (% HBM)",
        "fwd+bwd GB/s (% HBM)",
        "fwd vs torch seq",
        "fwd+bwd vs torch seq",
        "fwd vs stepping",
        "fwd+bwd vs stepping",
        "peak MiB kernel / torch seq / stepping",
        "SpikingJelly fwd+bwd ms",
    ]
    notes = (
        f"Plain device copy: {copy_bw:.0f} GB/s. 'vs' columns: time of the other path divided by the "
        "kernel's (higher is better for the kernel). Targets (issue 6): LIB fwd+bwd >= 70% of HBM at "
        "B*N >= 2^22, T = 64; >= 10x eager stepping at T >= 16."
    )
    title = "Spiking sequence kernel (LIB, DSRLITS)" + (f", block {args.block}" if args.block else "")
    print(write("leaky" if not args.block else f"leaky_block{args.block}", title, header, rows, notes))


if __name__ == "__main__":
    main()
