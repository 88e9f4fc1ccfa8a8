"""Whole training steps of two published spiking models, side by side (issue 18, "Measure").

Models
------
* ``mlp``: the 784-1000-10 LIF MLP of snnTorch's tutorial 5 (beta 0.95, 25 steps,
  Adam lr 5e-4, batch 128), fed rate-coded Fashion-MNIST (Bernoulli spikes of the
  pixel intensities, one draw per batch shared by every implementation). The loss is
  cross-entropy on the output spike counts (snnTorch's ``ce_count_loss``), because
  traceTorch's sequence mode returns spikes, not the membrane the tutorial's loss reads.
* ``csnn``: the convolutional SNN of SpikingJelly's
  ``activation_based/examples/conv_fashion_mnist.py`` (Conv3x3-BN-neuron-MaxPool x2,
  Flatten, Linear-neuron x2, no biases, the image repeated over T=4, MSE between the
  output firing rates and the one-hot label, SGD momentum 0.9 lr 0.1, batch 128).

Neuron
------
``--neuron lif`` (default): the leaky integrate-and-fire neuron whose definition agrees
across the three libraries - ``mem = beta * mem + x``, spike ``H(mem - 1)``, soft reset
``mem -= spike`` with the gradient flowing through the reset, arctan surrogate
``(alpha/2) / (1 + (pi/2 * alpha * x)^2)`` with alpha = 2:

* traceTorch ``snn.LIB(n, beta=b, threshold=1.0, dim=-1 or -3, learn_*=False,
  spike_fn=tt.functional.heaviside_atan(2.0))``
* snnTorch ``snn.Leaky(beta=b, reset_mechanism="subtract", reset_delay=False)``
  (default ``atan`` surrogate)
* SpikingJelly ``neuron.LIFNode(tau=1/(1-b), decay_input=False, v_reset=None,
  surrogate_function=surrogate.ATan(2.0))``

The CSNN uses beta = 0.5 (SpikingJelly's default tau = 2). ``--neuron if`` asks for the
integrate-and-fire neuron with hard reset of the published CSNN; it raises a clear error
while traceTorch has no such option (looked up at run time).

Implementations (same initial weights, same batches)
----------------------------------------------------
* ``tt-step``: ``tt.Sequential`` called once per timestep in a user loop (``zero_states``
  first);
* ``tt-seq``: the same ``tt.Sequential`` run with ``forward_sequence`` (time folded into
  the batch for Conv/BN/Linear/pooling, one sequence call per spiking layer);
* ``sj-multistep``: SpikingJelly ``step_mode='m'``, torch backend (no cupy on CPU);
* ``snntorch``: snnTorch's usual loop (tutorial 5's ``Net`` for the MLP; an
  ``nn.Sequential`` of ``init_hidden=True`` neurons for the CSNN).

BatchNorm in training mode normalises over what it is given: per timestep when stepping
(``tt-step``, ``snntorch``), over all timesteps at once when time is folded into the
batch (``tt-seq``, ``sj-multistep``). So for the CSNN the agreement check compares
those pairs in training mode, and all four with BatchNorm in eval mode.

Method
------
1. Agreement: one training step from the same weights on the same batch; losses and
   every weight gradient must agree within 1e-5 (``|a-b| <= 1e-5 * max(1, |b|)``,
   in float64 - see `check_agreement`) and the spiking layers' firing rates must lie in [5%, 50%] (input gain
   ``--gain``); the script fails loudly otherwise.
2. Speed: a full training step (zero_grad, forward, loss, backward, optimizer step),
   2 CPU threads, implementations interleaved in rounds, median seconds per step, in
   one process; ratios against SpikingJelly and snnTorch.
3. Peak memory: each implementation in its own subprocess; after building the model,
   the optimizer and the batch, the kernel's peak-RSS counter is reset
   (``echo 5 > /proc/self/clear_refs``) and ``VmHWM - VmRSS`` from ``/proc/self/status``
   after the training steps is reported: the resident memory the training steps
   added at their peak (activations, gradients, optimizer state, allocator caches).

Writes ``benchmarks/results/models.md`` and the ``models`` section of
``benchmarks/RESULTS.md``.

Run: ``uv run python benchmarks/models.py`` (``--quick`` for a short run of a few
minutes, ``--models csnn`` for one model, ``--profile`` to print torch.profiler tables
of traceTorch's training steps and SpikingJelly's for comparison).
"""

from __future__ import annotations

import argparse
import gzip
import inspect
import json
import os
import struct
import subprocess
import sys
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch
import tracetorch as tt
from torch import Tensor, nn
from tracetorch import snn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import interleaved, machine, render_table  # noqa: E402

torch.set_num_threads(2)

DATA_DIR = Path("/usr/share/datasets/fashion-mnist")
RESULTS_MD = Path(__file__).resolve().parent / "RESULTS.md"
RESULTS_DIR = Path(__file__).resolve().parent / "results"
BEGIN, END = "<!-- models:begin -->", "<!-- models:end -->"
IMPLS = ("tt-step", "tt-seq", "sj-multistep", "snntorch")
ATAN_ALPHA = 2.0
TOL = 1e-5


class Unavailable(RuntimeError):
    """A requested model, neuron or implementation cannot be built here."""


# ----------------------------------------------------------------------------- data
def _read_idx(path: Path) -> np.ndarray:
    data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    magic, n = struct.unpack(">II", data[:8])
    if magic == 2051:
        rows, cols = struct.unpack(">II", data[8:16])
        return np.frombuffer(data, np.uint8, offset=16).reshape(n, rows, cols)
    if magic == 2049:
        return np.frombuffer(data, np.uint8, offset=8).reshape(n)
    raise ValueError(f"{path}: not an IDX image or label file (magic {magic}).")


def load_data(n: int, folder: Path = DATA_DIR, seed: int = 0) -> tuple[Tensor, Tensor, str]:
    """``n`` Fashion-MNIST training images ``[n, 1, 28, 28]`` in [0, 1] and labels.

    Falls back to synthetic images of the same shape (fixed random class prototypes plus
    noise) when the IDX files are absent; the third value says which was used.
    """
    images = folder / "train-images-idx3-ubyte.gz"
    labels = folder / "train-labels-idx1-ubyte.gz"
    if images.is_file() and labels.is_file():
        x = torch.from_numpy(_read_idx(images)[:n].copy()).float().div_(255.0).unsqueeze(1)
        y = torch.from_numpy(_read_idx(labels)[:n].astype(np.int64))
        return x, y, f"Fashion-MNIST ({folder})"
    g = torch.Generator().manual_seed(seed)
    protos = torch.rand(10, 1, 28, 28, generator=g)
    y = torch.randint(0, 10, (n,), generator=g)
    x = (protos[y] * 0.8 + 0.2 * torch.rand(n, 1, 28, 28, generator=g)).clamp_(0, 1)
    return x, y, f"synthetic (Fashion-MNIST not found at {folder})"


# ----------------------------------------------------------------------------- config
class Spec:
    """Everything that defines one benchmarked model."""

    def __init__(
        self, model: str, *, neuron: str, batch: int, steps: int, hidden: int, channels: int, gain: float
    ) -> None:
        if model not in ("mlp", "csnn"):
            raise ValueError(f"model must be 'mlp' or 'csnn', got {model!r}.")
        if neuron not in ("lif", "if"):
            raise ValueError(f"--neuron must be 'lif' or 'if', got {neuron!r}.")
        self.model = model
        self.neuron = neuron
        self.batch = batch
        self.steps = steps
        self.hidden = hidden
        self.channels = channels
        self.gain = gain
        self.beta = 0.95 if model == "mlp" else 0.5

    def describe(self) -> str:
        if self.model == "mlp":
            return f"MLP 784-{self.hidden}-10, T={self.steps}, B={self.batch}, rate-coded"
        c = self.channels
        return f"CSNN c={c} (conv{c}-conv{c}-fc{c * 16}-fc10), T={self.steps}, B={self.batch}, direct input"


# ----------------------------------------------------------------------------- neurons
def tt_neuron(spec: Spec, n: int, conv: bool) -> nn.Module:
    """The traceTorch neuron for ``spec.neuron`` (one argument switches LIF / IF)."""
    dim = -3 if conv else -1
    spike = tt.functional.heaviside_atan(ATAN_ALPHA)
    if spec.neuron == "lif":
        return snn.LIB(
            n, beta=spec.beta, threshold=1.0, dim=dim, learn_beta=False, learn_threshold=False, spike_fn=spike
        )
    # integrate-and-fire with hard reset: look the options up rather than assume them
    cls = getattr(snn, "IF", None) or getattr(snn, "IFB", None)
    params = inspect.signature(snn.LIB).parameters
    if cls is None and "reset" not in params:
        raise Unavailable(
            "--neuron if: this traceTorch has no integrate-and-fire neuron with hard reset yet "
            "(neither snn.IF/snn.IFB nor a `reset` option of snn.LIB exists). Use --neuron lif, "
            "or install a traceTorch that has it."
        )
    if cls is not None:
        return cls(n, threshold=1.0, dim=dim, spike_fn=spike)
    return snn.LIB(
        n, beta=1.0, threshold=1.0, dim=dim, learn_beta=False, learn_threshold=False, spike_fn=spike, reset="value"
    )


def snntorch_neuron(spec: Spec, *, init_hidden: bool, output: bool = False) -> nn.Module:
    import snntorch

    if spec.neuron == "if":
        return snntorch.Leaky(
            beta=1.0, reset_mechanism="zero", reset_delay=False, init_hidden=init_hidden, output=output
        )
    return snntorch.Leaky(
        beta=spec.beta, reset_mechanism="subtract", reset_delay=False, init_hidden=init_hidden, output=output
    )


def sj_neuron(spec: Spec) -> nn.Module:
    from spikingjelly.activation_based import neuron, surrogate

    if spec.neuron == "if":
        return neuron.IFNode(surrogate_function=surrogate.ATan(ATAN_ALPHA), step_mode="m")
    return neuron.LIFNode(
        tau=1.0 / (1.0 - spec.beta),
        decay_input=False,
        v_reset=None,
        surrogate_function=surrogate.ATan(ATAN_ALPHA),
        step_mode="m",
    )


# ----------------------------------------------------------------------------- models
def _layers(spec: Spec, neuron: Callable[[int, bool], nn.Module], L) -> list[nn.Module]:
    """The layer list of the model; ``L`` provides Conv2d/BatchNorm2d/MaxPool2d/Flatten/Linear."""
    if spec.model == "mlp":
        return [L.Linear(784, spec.hidden), neuron(spec.hidden, False), L.Linear(spec.hidden, 10), neuron(10, False)]
    c = spec.channels
    return [
        L.Conv2d(1, c, kernel_size=3, padding=1, bias=False),
        L.BatchNorm2d(c),
        neuron(c, True),
        L.MaxPool2d(2, 2),
        L.Conv2d(c, c, kernel_size=3, padding=1, bias=False),
        L.BatchNorm2d(c),
        neuron(c, True),
        L.MaxPool2d(2, 2),
        L.Flatten(),
        L.Linear(c * 49, c * 16, bias=False),
        neuron(c * 16, False),
        L.Linear(c * 16, 10, bias=False),
        neuron(10, False),
    ]


class TTStep(nn.Module):
    """traceTorch stepping: a user loop over time calling the ``tt.Sequential``."""

    def __init__(self, net: tt.Sequential, spec: Spec) -> None:
        super().__init__()
        self.net = net
        self.spec = spec

    def forward(self, x: Tensor) -> Tensor:
        self.net.zero_states()
        if self.spec.model == "csnn":
            return torch.stack([self.net(x) for _ in range(self.spec.steps)])
        return torch.stack([self.net(xt) for xt in x])


class TTSeq(nn.Module):
    """traceTorch sequence mode: ``tt.Sequential.forward_sequence`` on ``[T, ...]``."""

    def __init__(self, net: tt.Sequential, spec: Spec) -> None:
        super().__init__()
        self.net = net
        self.spec = spec

    def forward(self, x: Tensor) -> Tensor:
        self.net.zero_states()
        if self.spec.model == "csnn":
            x = x.unsqueeze(0).expand((self.spec.steps,) + tuple(x.shape))
        return self.net.forward_sequence(x)


class SJMulti(nn.Module):
    """SpikingJelly multi-step (``step_mode='m'``), as in its conv_fashion_mnist example."""

    def __init__(self, spec: Spec) -> None:
        super().__init__()
        from spikingjelly.activation_based import layer

        self.spec = spec
        self.net = nn.Sequential(*_layers(spec, lambda n, conv: sj_neuron(spec), layer))
        from spikingjelly.activation_based import functional

        functional.set_step_mode(self.net, "m")
        self._reset = functional.reset_net

    def forward(self, x: Tensor) -> Tensor:
        self._reset(self.net)
        if self.spec.model == "csnn":
            x = x.unsqueeze(0).expand((self.spec.steps,) + tuple(x.shape))
        return self.net(x)


class SnnTorchMLP(nn.Module):
    """snnTorch tutorial 5's ``Net``: explicit membranes, a loop over time."""

    def __init__(self, spec: Spec) -> None:
        super().__init__()
        self.fc1 = nn.Linear(784, spec.hidden)
        self.lif1 = snntorch_neuron(spec, init_hidden=False)
        self.fc2 = nn.Linear(spec.hidden, 10)
        self.lif2 = snntorch_neuron(spec, init_hidden=False)

    def forward(self, x: Tensor) -> Tensor:
        mem1 = self.lif1.init_leaky()
        mem2 = self.lif2.init_leaky()
        spk2_rec = []
        for xt in x:
            cur1 = self.fc1(xt)
            spk1, mem1 = self.lif1(cur1, mem1)
            cur2 = self.fc2(spk1)
            spk2, mem2 = self.lif2(cur2, mem2)
            spk2_rec.append(spk2)
        return torch.stack(spk2_rec)


class SnnTorchCSNN(nn.Module):
    """snnTorch's usual convolutional pattern: ``init_hidden=True`` neurons in ``nn.Sequential``."""

    def __init__(self, spec: Spec) -> None:
        super().__init__()
        import snntorch.utils

        self.spec = spec
        self.net = nn.Sequential(*_layers(spec, lambda n, conv: snntorch_neuron(spec, init_hidden=True), nn))
        self._reset = snntorch.utils.reset

    def forward(self, x: Tensor) -> Tensor:
        self._reset(self.net)
        return torch.stack([self.net(x) for _ in range(self.spec.steps)])


def weights(model: nn.Module) -> list[Tensor]:
    """The trainable weights, in layer order (Conv2d, BatchNorm2d, Linear; weight then bias)."""
    out = []
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.BatchNorm2d, nn.Linear)):
            out += [p for p in (m.weight, m.bias) if p is not None]
    return out


def build(impl: str, spec: Spec, init: list[Tensor]) -> nn.Module:
    """Implementation ``impl`` of ``spec`` with its weights set to ``init``."""
    if impl in ("tt-step", "tt-seq"):
        net = tt.Sequential(*_layers(spec, lambda n, conv: tt_neuron(spec, n, conv), nn))
        model: nn.Module = TTStep(net, spec) if impl == "tt-step" else TTSeq(net, spec)
    elif impl == "sj-multistep":
        try:
            model = SJMulti(spec)
        except ImportError as e:
            raise Unavailable(f"SpikingJelly is not installed ({e}); run `uv sync --group bench`.") from None
    elif impl == "snntorch":
        try:
            model = SnnTorchMLP(spec) if spec.model == "mlp" else SnnTorchCSNN(spec)
        except ImportError as e:
            raise Unavailable(f"snnTorch is not installed ({e}); run `uv sync --group bench`.") from None
    else:
        raise ValueError(f"unknown implementation {impl!r}; expected one of {IMPLS}.")
    ws = weights(model)
    params = list(model.parameters())
    if len(ws) != len(params) or len(ws) != len(init):
        raise RuntimeError(
            f"{impl}: {len(params)} parameters, {len(ws)} weights, {len(init)} initial values: the neurons must not be trainable."
        )
    with torch.no_grad():
        for w, v in zip(ws, init):
            w.copy_(v)
    return model


def initial_weights(spec: Spec, seed: int) -> list[Tensor]:
    """PyTorch's default initialisation, rescaled so that every spiking layer fires 5-50%.

    At the default initialisation the later layers barely fire (CSNN: 2.8% and 0% in the
    two Linear-neuron layers), so gradients would hardly pass through the spikes:

    * MLP: ``fc1`` weight and bias x0.4, bias +0.08; ``fc2`` bias +0.1.
    * CSNN: BatchNorm weight 0.25, bias 0.35; Linear weights x0.3, then +3.1/fan-in
      (first) and +1/fan-in (second), i.e. +0.002 each at 32 channels.
    """
    torch.manual_seed(seed)
    w = [w.detach().clone() for w in weights(nn.Sequential(*_layers(spec, lambda n, conv: nn.Identity(), nn)))]
    if spec.model == "mlp":  # [fc1.w, fc1.b, fc2.w, fc2.b]
        return [w[0] * 0.4, w[1] * 0.4 + 0.08, w[2], w[3] + 0.1]
    # [conv1.w, bn1.w, bn1.b, conv2.w, bn2.w, bn2.b, fc1.w, fc2.w]
    k1, k2 = 3.1 / w[6].shape[1], 1.0 / w[7].shape[1]  # 0.002 and 0.002 at 32 channels
    return [w[0], w[1] * 0.25, w[2] + 0.35, w[3], w[4] * 0.25, w[5] + 0.35, w[6] * 0.3 + k1, w[7] * 0.3 + k2]


def make_batch(spec: Spec, x: Tensor, y: Tensor, i: int, seed: int) -> tuple[Tensor, Tensor]:
    """Batch ``i`` (wrapping around): the model's input and the labels."""
    n = x.shape[0]
    idx = torch.arange(i * spec.batch, (i + 1) * spec.batch) % n
    xb, yb = x[idx], y[idx]
    if spec.model == "mlp":
        g = torch.Generator().manual_seed(seed + i)
        p = xb.flatten(1).unsqueeze(0).expand(spec.steps, -1, -1)
        return torch.bernoulli(p, generator=g) * spec.gain, yb
    return xb * spec.gain, yb


def loss_fn(spec: Spec, out: Tensor, y: Tensor) -> Tensor:
    if spec.model == "mlp":
        return nn.functional.cross_entropy(out.sum(0), y)
    return nn.functional.mse_loss(out.mean(0), nn.functional.one_hot(y, 10).to(out.dtype))


def make_optimizer(spec: Spec, model: nn.Module) -> torch.optim.Optimizer:
    if spec.model == "mlp":
        return torch.optim.Adam(model.parameters(), lr=5e-4, betas=(0.9, 0.999))
    return torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)


def train_step(spec: Spec, model: nn.Module, opt: torch.optim.Optimizer, xb: Tensor, yb: Tensor) -> Tensor:
    opt.zero_grad(set_to_none=True)
    loss = loss_fn(spec, model(xb), yb)
    loss.backward()
    opt.step()
    return loss.detach()


# ----------------------------------------------------------------------------- agreement
def firing_rates(spec: Spec, init: list[Tensor], xb: Tensor) -> tuple[list[float], list[int]]:
    """Per spiking layer: mean firing rate, and how often the membrane reached 2x threshold.

    Measured with traceTorch stepping in training mode. A membrane at or above twice the
    threshold before the reset is where snnTorch's ``Leaky(reset_delay=False)`` is a
    different neuron (see `check_agreement`).
    """
    model = build("tt-step", spec, init)
    rates: list[list[float]] = []
    over: list[int] = []

    def hook(i: int):
        def f(m, _inp, out):
            rates[i].append(out.float().mean().item())
            over[i] += int(((m.mem + out) >= 2.0).sum().item())  # threshold 1: pre-reset membrane

        return f

    for m in model.modules():
        if isinstance(m, snn.LeakyLayer):
            rates.append([])
            over.append(0)
            m.register_forward_hook(hook(len(rates) - 1))
    with torch.no_grad():
        model(xb)
    return [sum(s) / len(s) for s in rates], over


def agreement(
    spec: Spec,
    impls: list[str],
    init: list[Tensor],
    xb: Tensor,
    yb: Tensor,
    *,
    bn_eval: bool,
    dtype: torch.dtype = torch.float64,
) -> dict[str, tuple[float, list[Tensor], Tensor]]:
    """Loss, weight gradients and output spikes of one training step of every implementation."""
    res = {}
    for impl in impls:
        model = build(impl, spec, init).to(dtype)
        if bn_eval:
            for m in model.modules():
                if isinstance(m, nn.BatchNorm2d):
                    m.eval()
        out = model(xb.to(dtype))
        loss = loss_fn(spec, out, yb)
        loss.backward()
        res[impl] = (loss.item(), [w.grad.detach().clone() for w in weights(model)], out.detach())
    return res


def max_rel_diff(a: Tensor, b: Tensor) -> float:
    return ((a - b).abs() / b.abs().clamp_min(1.0)).max().item()


def check_agreement(
    spec: Spec, impls: list[str], init: list[Tensor], xb: Tensor, yb: Tensor, log: Callable[[str], None]
) -> list[str]:
    """Fail loudly unless rates are in range and the implementations agree; return report lines.

    Agreement is required wherever the neuron definitions agree. traceTorch and
    SpikingJelly always agree. snnTorch's ``Leaky(reset_delay=False)`` subtracts the
    previous step's reset *before* it fires and adds it back after, so when a
    membrane stays at or above threshold after its reset (pre-reset membrane >= 2x
    threshold) it fires on ``mem - threshold`` where the others fire on ``mem``: the
    snnTorch comparison is then reported but not required. BatchNorm in training mode
    sees one timestep (stepping) or all timesteps (time folded into the batch), so the
    CSNN is also compared with BatchNorm in eval mode, where all four must agree.

    The comparisons among traceTorch and SpikingJelly run in float64: in float32 a folded ``[T*B, ...]`` matmul and T
    per-step ones round differently in the last bit, which now and then moves a
    membrane across the threshold and flips one spike (a real but meaningless
    difference of ~1e-3 in a few gradient entries). snnTorch always emits float32
    spikes, so it is compared in float32 with traceTorch stepping, which does the same
    per-step matmuls in the same order.
    """
    lines = []
    rates, over = firing_rates(spec, init, xb)
    rate_txt = ", ".join(f"{r:.1%}" for r in rates)
    over_txt = ", ".join(str(o) for o in over)
    log(f"  firing rates per spiking layer (tt-step): {rate_txt}; pre-reset membranes >= 2x threshold: {over_txt}")
    lines.append(f"firing rates per spiking layer {rate_txt}; pre-reset membranes at >= 2x threshold: {over_txt}")
    if not all(0.05 <= r <= 0.5 for r in rates):
        raise SystemExit(
            f"FAIL {spec.model}: firing rates {rate_txt} not all within [5%, 50%]; change --gain-{spec.model} "
            f"(now {spec.gain}) or the initial scaling so that the agreement check sees spikes."
        )
    snntorch_same = sum(over) == 0
    f64 = [("tt-step", "tt-seq"), ("tt-step", "sj-multistep"), ("tt-seq", "sj-multistep")]
    f32 = [("tt-step", "snntorch")]
    if spec.model == "csnn":
        checks = [(False, [("tt-seq", "sj-multistep")], f32), (True, f64, f32)]
    else:
        checks = [(False, f64, f32)]
    for bn_eval, pairs64, pairs32 in checks:
        for dtype, pairs in ((torch.float64, pairs64), (torch.float32, pairs32)):
            need = sorted({i for pair in pairs for i in pair if i in impls})
            res = agreement(spec, need, init, xb, yb, bn_eval=bn_eval, dtype=dtype)
            for a, b in pairs:
                if a not in res or b not in res:
                    continue
                la, ga, oa = res[a]
                lb, gb, ob = res[b]
                dl = abs(la - lb) / max(1.0, abs(lb))
                dg = max(max_rel_diff(u, v) for u, v in zip(ga, gb))
                ds = (oa != ob).float().mean().item()
                mode = " BN eval" if bn_eval else (" BN train" if spec.model == "csnn" else "")
                required = snntorch_same or "snntorch" not in (a, b)
                ok = dl <= TOL and dg <= TOL
                msg = (
                    f"{a} vs {b} ({str(dtype)[6:]}{mode}): loss {la:.6f} vs {lb:.6f} (rel diff {dl:.1e}), "
                    f"max gradient rel diff {dg:.1e}, output spikes differing {ds:.1e}"
                )
                if not required:
                    msg += " [not required: snnTorch's neuron differs where membranes reach 2x threshold]"
                log(("  " if ok or not required else "  MISMATCH ") + msg)
                lines.append(msg)
                if required and not ok:
                    raise SystemExit(f"FAIL {spec.model}: {msg} exceeds {TOL}.")
    return lines


# ----------------------------------------------------------------------------- memory
def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def memory_child(spec: Spec, impl: str, n_steps: int, seed: int, n_data: int) -> None:
    """Run in a subprocess: print the peak RSS the training steps added, in MiB (JSON)."""
    x, y, _ = load_data(n_data)
    init = initial_weights(spec, seed)
    model = build(impl, spec, init)
    opt = make_optimizer(spec, model)
    batches = [make_batch(spec, x, y, i, seed) for i in range(n_steps)]
    base = _status_kb("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
    for xb, yb in batches:
        train_step(spec, model, opt, xb, yb)
    peak = _status_kb("VmHWM")
    print(json.dumps({"added_mib": (peak - base) / 1024, "peak_mib": peak / 1024}))


def measure_memory(spec: Spec, impl: str, args: argparse.Namespace) -> dict[str, float]:
    cmd = [
        sys.executable,
        __file__,
        "--_memory-child",
        impl,
        "--models",
        spec.model,
        "--neuron",
        spec.neuron,
        "--batch",
        str(spec.batch),
        "--steps",
        str(spec.steps),
        "--hidden",
        str(spec.hidden),
        "--channels",
        str(spec.channels),
        f"--gain-{spec.model}",
        str(spec.gain),
        "--seed",
        str(args.seed),
        "--n-data",
        str(args.n_data),
        "--mem-steps",
        str(args.mem_steps),
    ]
    r = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS="2"))
    if r.returncode != 0:
        raise RuntimeError(f"memory subprocess for {impl} failed:\n{r.stderr[-3000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------------------- profile
def profile(spec: Spec, init: list[Tensor], xb: Tensor, yb: Tensor, impl: str, rows: int = 25) -> str:
    """torch.profiler table (CPU, self time) of one implementation's training step."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as tprofile

    model = build(impl, spec, init)
    opt = make_optimizer(spec, model)
    for _ in range(2):
        train_step(spec, model, opt, xb, yb)
    with tprofile(activities=[ProfilerActivity.CPU], with_stack=False) as prof:
        for _ in range(3):
            train_step(spec, model, opt, xb, yb)
    return prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=rows)


# ----------------------------------------------------------------------------- results
def splice_results(section: str, path: Path = RESULTS_MD) -> None:
    """Replace (or append) the text between the models markers of RESULTS.md."""
    text = path.read_text() if path.exists() else ""
    block = f"{BEGIN}\n{section.rstrip()}\n{END}"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        text = head + block + tail
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    path.write_text(text)


def fmt_ratio(a: Optional[float], b: Optional[float]) -> str:
    return "–" if a is None or b is None else f"{a / b:.2f}×"


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", default="mlp,csnn", help="comma-separated: mlp, csnn")
    p.add_argument("--neuron", default="lif", choices=("lif", "if"))
    p.add_argument("--impls", default=",".join(IMPLS), help="comma-separated subset of " + ",".join(IMPLS))
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--steps", type=int, default=None, help="timesteps (default: 25 for mlp, 4 for csnn)")
    p.add_argument("--hidden", type=int, default=1000)
    p.add_argument("--channels", type=int, default=32, help="CSNN channels (SpikingJelly's default is 128)")
    p.add_argument("--gain-mlp", type=float, default=1.0, help="amplitude of the input spikes")
    p.add_argument("--gain-csnn", type=float, default=1.0, help="factor on the pixel intensities")
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--inner", type=int, default=2)
    p.add_argument("--mem-steps", type=int, default=3)
    p.add_argument("--n-data", type=int, default=2048)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="fewer rounds (numbers are noisier)")
    p.add_argument("--no-memory", action="store_true")
    p.add_argument(
        "--profile", action="store_true", help="print torch.profiler tables of the training steps (tt and SpikingJelly)"
    )
    p.add_argument("--no-write", action="store_true", help="do not write results files")
    p.add_argument("--_memory-child", dest="memory_child", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.quick:  # a few minutes for both models on 2 cores
        args.rounds, args.inner = 3, 1
        args.mem_steps = min(args.mem_steps, 2)

    models = [m.strip() for m in args.models.split(",") if m.strip()]
    specs = {}
    for m in models:
        steps = args.steps or (25 if m == "mlp" else 4)
        gain = args.gain_mlp if m == "mlp" else args.gain_csnn
        specs[m] = Spec(
            m, neuron=args.neuron, batch=args.batch, steps=steps, hidden=args.hidden, channels=args.channels, gain=gain
        )

    if args.memory_child:
        memory_child(specs[models[0]], args.memory_child, args.mem_steps, args.seed, args.n_data)
        return 0

    try:
        for spec in specs.values():  # fail early, before any measuring, if a neuron is missing
            tt_neuron(spec, 2, False)
    except Unavailable as e:
        print(f"error: {e}", file=sys.stderr)
        return 2

    wanted = [i.strip() for i in args.impls.split(",") if i.strip()]
    x, y, data_note = load_data(args.n_data, seed=args.seed)
    print(f"data: {data_note}; {machine()}; load average {os.getloadavg()[0]:.1f}")
    sections = []
    for name, spec in specs.items():
        print(f"\n== {spec.describe()}")
        init = initial_weights(spec, args.seed)
        load_before = os.getloadavg()[0]
        impls, skipped = [], []
        for impl in wanted:
            try:
                build(impl, spec, init)
                impls.append(impl)
            except Unavailable as e:
                skipped.append(f"{impl}: {e}")
                print(f"  skipped {impl}: {e}")
        xb, yb = make_batch(spec, x, y, 0, args.seed)
        check_lines = check_agreement(spec, impls, init, xb, yb, print)

        # speed: a full training step, interleaved rounds
        states = {}
        for impl in impls:
            model = build(impl, spec, init)
            states[impl] = (
                model,
                make_optimizer(spec, model),
                [make_batch(spec, x, y, i, args.seed) for i in range(4)],
            )

        def stepper(impl: str) -> Callable[[], object]:
            model, opt, batches = states[impl]
            counter = [0]

            def f() -> object:
                xb_, yb_ = batches[counter[0] % len(batches)]
                counter[0] += 1
                return train_step(spec, model, opt, xb_, yb_)

            return f

        times = interleaved({i: stepper(i) for i in impls}, rounds=args.rounds, inner=args.inner, warmup=1)
        del states
        mem = {}
        if not args.no_memory:
            for impl in impls:
                mem[impl] = measure_memory(spec, impl, args)
        rows = []
        sj, st = times.get("sj-multistep"), times.get("snntorch")
        for impl in impls:
            t = times[impl]
            m = mem.get(impl)
            rows.append(
                [
                    impl,
                    f"{t * 1e3:.1f}",
                    f"{spec.batch / t:.0f}",
                    fmt_ratio(t, sj),
                    fmt_ratio(t, st),
                    f"{m['added_mib']:.0f}" if m else "–",
                    f"{m['peak_mib']:.0f}" if m else "–",
                ]
            )
            print(
                f"  {impl:13s} {t * 1e3:8.1f} ms/step  {spec.batch / t:7.0f} img/s  vs SJ {fmt_ratio(t, sj):>6}  vs snnTorch {fmt_ratio(t, st):>6}"
                + (f"  +{m['added_mib']:.0f} MiB (peak RSS {m['peak_mib']:.0f} MiB)" if m else "")
            )
        tt_impls = [i for i in ("tt-step", "tt-seq") if i in times]
        verdict = ""
        if tt_impls:
            best = min(tt_impls, key=times.get)
            tb = times[best]
            parts = []
            if sj:
                parts.append(f"{tb / sj:.2f}× SpikingJelly (target ≤ 0.80: {'met' if tb / sj <= 0.8 else 'not met'})")
            if st:
                parts.append(f"{tb / st:.2f}× snnTorch (target ≤ 0.60: {'met' if tb / st <= 0.6 else 'not met'})")
            if mem and best in mem:
                others = [mem[i]["added_mib"] for i in ("sj-multistep", "snntorch") if i in mem]
                if others:
                    ok = mem[best]["added_mib"] <= min(others)
                    parts.append(
                        f"memory {mem[best]['added_mib']:.0f} MiB vs {', '.join(f'{o:.0f}' for o in others)} MiB (target no higher than either: {'met' if ok else 'not met'})"
                    )
            verdict = f"Faster traceTorch mode: {best}, " + "; ".join(parts) + "."
            print("  " + verdict)
        notes = "Agreement (one training step, same weights and batch): " + "; ".join(check_lines) + "."
        if skipped:
            notes += " Skipped: " + "; ".join(skipped) + "."
        if verdict:
            notes += "\n\n" + verdict
        sections.append(
            render_table(
                f"{spec.describe()}, neuron {spec.neuron}, full training step",
                f"{machine()}; load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after; data: {data_note}",
                [
                    "implementation",
                    "ms / step",
                    "images / s",
                    "vs SpikingJelly",
                    "vs snnTorch",
                    "step peak +MiB",
                    "peak RSS MiB",
                ],
                rows,
                notes,
            )
        )
        if args.profile:
            for impl in tt_impls + [i for i in ("sj-multistep",) if i in impls]:
                print(f"\n-- torch.profiler, {impl}, {spec.model}: 3 training steps, sorted by self CPU time")
                print(profile(spec, init, xb, yb, impl))

    if not args.no_write and sections:
        intro = (
            "## Real models (`benchmarks/models.py`)\n\n"
            "A whole training step (forward, loss, backward, optimizer step) of snnTorch tutorial 5's MLP and "
            "SpikingJelly's Fashion-MNIST CSNN, with the LIF neuron whose definition agrees across the libraries "
            "(soft reset; `--neuron if` runs the CSNN's integrate-and-fire/hard-reset neuron, but at these initial "
            "weights its hidden linear layer fires at 74%, outside the 5–50% window the agreement check requires, "
            "so the tables use LIF), same "
            "weights and batches in every implementation, 2 CPU threads, medians of interleaved rounds in one "
            "process. Memory: each implementation in its own process; `step peak +MiB` is the peak resident "
            "memory the training steps added above the RSS after building model, optimizer and batches "
            "(`/proc/self/clear_refs` then `VmHWM`); `peak RSS` includes the imported libraries. "
            "The development machine is shared: each table gives the load average before and after its run; "
            "the implementations are interleaved round by round, so their ratios see the same contention, "
            "but the absolute ms / step are not comparable with other runs or machines.\n\n"
        )
        text = intro + "\n".join(sections)
        RESULTS_DIR.mkdir(exist_ok=True)
        (RESULTS_DIR / "models.md").write_text(text)
        splice_results(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
