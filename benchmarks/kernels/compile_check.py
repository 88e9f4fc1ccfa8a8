"""Compile every kernel configuration for a GPU target without a GPU (a check, not a benchmark).

Triton compiles ahead of time on any machine: this runs the full pipeline
(Triton IR -> LLVM -> PTX -> cubin with the bundled ``ptxas``) for the scan kernels
and for the forward and BPTT kernels of all 32 spiking configurations (and every
spike function and quantiser on the largest one), for float32 and bfloat16 inputs,
and reports registers and spills from ``ptxas -v`` at the block sizes the launchers
use for large inputs. It catches code that the CPU
interpreter accepts but the compiler does not.

Run: ``uv run python benchmarks/kernels/compile_check.py [--arch 90] [--quick]``
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.pop("TRITON_INTERPRET", None)  # compile, do not interpret

import triton  # noqa: E402
from triton.backends.compiler import GPUTarget  # noqa: E402
from triton.compiler import ASTSource  # noqa: E402

from tracetorch.kernels.ops.leaky import fused as lf  # noqa: E402
from tracetorch.kernels.ops.scan import fused as sf  # noqa: E402
from tracetorch.snn.functional import LAYER_NAMES, LeakyConfig  # noqa: E402

_BIN = Path(triton.__file__).parent / "backends" / "nvidia" / "bin"
PTXAS = _BIN / "ptxas-blackwell" if (_BIN / "ptxas-blackwell").exists() else _BIN / "ptxas"


def ptxas_stats(ptx: str, arch: int) -> str:
    with tempfile.NamedTemporaryFile("w", suffix=".ptx", delete=False) as f:
        f.write(ptx)
        name = f.name
    try:
        res = subprocess.run([str(PTXAS), f"-arch=sm_{arch}a" if arch >= 90 else f"-arch=sm_{arch}", "-v", name, "-o", os.devnull],
                             capture_output=True, text=True)
    finally:
        os.unlink(name)
    text = res.stderr + res.stdout
    regs = re.search(r"Used (\d+) registers", text)
    spill = re.search(r"(\d+) bytes spill stores", text)
    return f"{regs.group(1) if regs else '?'} regs, {spill.group(1) if spill else '?'} B spill"


def compile_one(fn, sig: dict, consts: dict, target: GPUTarget, arch: int, fusion: bool) -> str:
    src = ASTSource(fn, sig, constexprs=consts)
    k = triton.compile(src, target=target, options={"num_warps": 4, "enable_fp_fusion": fusion})
    return ptxas_stats(k.asm["ptx"], arch)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--arch", type=int, default=90)
    ap.add_argument("--quick", action="store_true", help="a few configurations only")
    args = ap.parse_args()
    target = GPUTarget("cuda", args.arch, 32)
    t0 = time.time()
    failures = 0
    for dt in ("fp32", "bf16"):
        for per_step in (True, False):
            sig = {"a_ptr": f"*{dt}", "b_ptr": f"*{dt}", "h0_ptr": f"*{dt}", "h_ptr": f"*{dt}", "T": "i32", "E": "i32",
                   "K": "i32", "A_PER_STEP": "constexpr", "BLOCK": "constexpr"}
            st = compile_one(sf._scan_fwd_kernel, sig, {"A_PER_STEP": per_step, "BLOCK": 1024}, target, args.arch, False)
            sigb = {"gh_ptr": f"*{dt}", "a_ptr": f"*{dt}", "h_ptr": f"*{dt}", "h0_ptr": f"*{dt}",
                    "ga_ptr": f"*{dt}" if per_step else "*fp32", "gb_ptr": f"*{dt}", "gh0_ptr": f"*{dt}",
                    "T": "i32", "E": "i32", "K": "i32", "A_PER_STEP": "constexpr", "BLOCK": "constexpr"}
            stb = compile_one(sf._scan_bwd_kernel, sigb, {"A_PER_STEP": per_step, "BLOCK": 1024}, target, args.arch, False)
            print(f"scan {dt} per_step={per_step}: fwd {st}; bwd {stb}", flush=True)
    names = ["LIB", "DSRLITS", "SLIEMA", "DRLIT"] if args.quick else list(LAYER_NAMES)
    variants = [(n, 2, 0) for n in names]
    variants += [("DSRLITS", s, q) for s in range(5) for q in range(3) if (s, q) != (2, 0)]
    for dt in ("fp32", "bf16") if not args.quick else ("fp32",):
        for name, spike, quant in variants:
            cfg = LeakyConfig.from_name(name)
            kind = {"LI": 0, "EMA": 1, "B": 2, "T": 3, "TS": 4}[cfg.output]
            lay = lf.layout(cfg)
            consts = {k: v for k, v in lay.items() if k[:2] in ("I_", "P_", "V_")}
            flags = dict(DUAL=cfg.dual, SYN=cfg.synaptic, REC=cfg.recurrent, KIND=kind, SPIKE=spike, QUANT=quant)
            try:
                sig = {"x_ptr": f"*{dt}", "s0_ptr": f"*{dt}", "p_ptr": "*fp32", "out_ptr": f"*{dt}", "sf_ptr": f"*{dt}",
                       "sv_ptr": "*fp32", "seed": "i32", "T": "i32", "E": "i32", "N": "i32", "SPARAM": "fp32"}
                for k in list(flags) + ["SAVE"] + list(consts) + ["BLOCK"]:
                    sig[k] = "constexpr"
                fwd = compile_one(lf._leaky_fwd_kernel, sig, {**flags, **consts, "SAVE": True, "BLOCK": lf._block(2**22, None, 0, flags, False)},
                                  target, args.arch, False)
                sigb = {"x_ptr": f"*{dt}", "s0_ptr": f"*{dt}", "p_ptr": "*fp32", "sv_ptr": "*fp32", "gout_ptr": f"*{dt}",
                        "gsf_ptr": f"*{dt}", "gx_ptr": f"*{dt}", "gs0_ptr": f"*{dt}", "gp_ptr": "*fp32",
                        "seed": "i32", "T": "i32", "E": "i32", "N": "i32", "SPARAM": "fp32"}
                for k in list(flags) + list(consts) + ["BLOCK"]:
                    sigb[k] = "constexpr"
                bwd = compile_one(lf._leaky_bwd_kernel, sigb, {**flags, **consts, "BLOCK": lf._block(2**22, None, 0, flags, True)}, target, args.arch, False)
                print(f"{name:8s} {dt} spike={spike} quant={quant}: fwd {fwd}; bwd {bwd}", flush=True)
            except Exception as e:  # report and go on
                failures += 1
                print(f"{name:8s} {dt} spike={spike} quant={quant}: FAILED {type(e).__name__}: {str(e)[:2000]}", flush=True)
    print(f"{failures} failures, {time.time() - t0:.0f} s")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
