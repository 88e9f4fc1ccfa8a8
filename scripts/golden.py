"""Record, or check, the exact numbers of every snn and rnn layer (a refactoring guard).

For every spiking configuration (rank 0 and 1, ``dim=-1`` and ``dim=-3``, each
deterministic spike function and the seeded stochastic quantisers) and every rnn
layer, in stepping and in sequence mode, this computes the outputs, the final
states and the gradients of the input, the initial states and every parameter on
fixed inputs, and keeps a SHA-256 of each tensor's bytes.

    uv run python scripts/golden.py record golden.json   # before a refactor
    uv run python scripts/golden.py check golden.json    # after: exit 1 on any difference

The hashes are only comparable on one machine and one PyTorch build (float
rounding of vectorised kernels may differ elsewhere), so this is a tool for a
refactor, not a test of the suite.
"""

from __future__ import annotations

import hashlib
import json
import sys
import zlib
from typing import Any, Iterator

import torch
from torch import nn
from tracetorch import rnn, snn

SPIKES = [
    ("heaviside_fast_sigmoid", "round", None),
    ("heaviside_atan", "round", None),
    ("heaviside_triangle", "bernoulli", None),
    ("heaviside_straight_through", "round", None),
    ("sigmoid", "round", None),
    ("sigmoid", "bernoulli", 7),
    ("sigmoid", "probabilistic", 11),
]


def _digest(t: Any) -> str:
    if t is None:
        return "None"
    t = t.detach().contiguous().cpu()
    return hashlib.sha256(t.numpy().tobytes()).hexdigest()[:24] + f"{tuple(t.shape)}{t.dtype}"


def _param_values(layer: snn.LeakyLayer, rank: int, n: int, g: torch.Generator) -> dict[str, Any]:
    kw: dict[str, Any] = {}
    for info in layer.config.params:
        shape = (n,) if rank else ()
        if info.kind == "decay":
            v = 0.3 + 0.6 * torch.rand(shape, generator=g)
        elif info.kind == "threshold":
            v = 0.5 + torch.rand(shape, generator=g)
        else:
            v = 0.2 + 0.5 * torch.rand(shape, generator=g)
        kw[info.name] = v if rank else float(v)
        kw[f"{info.name}_rank"] = rank
    return kw


def _run(layer: nn.Module, x: torch.Tensor, seq: bool, states0: dict[str, torch.Tensor]) -> dict[str, str]:
    x = x.clone().requires_grad_(True)
    init = {k: v.clone().requires_grad_(True) for k, v in states0.items()}
    for k, v in init.items():
        layer.__dict__[k] = v
    if seq:
        y = layer.forward_sequence(x)
    else:
        y = torch.stack([layer(x[t]) for t in range(x.shape[0])])
    finals = {k: layer.__dict__[k] for k in init}
    loss = (y * torch.linspace(-1, 1, y.numel()).view_as(y)).sum()
    for i, (k, v) in enumerate(finals.items()):
        loss = loss + (v * (0.1 * (i + 1))).sum()
    params = [(n, p) for n, p in layer.named_parameters()]
    grads = torch.autograd.grad(loss, [x, *init.values(), *[p for _, p in params]], allow_unused=True)
    out = {"y": _digest(y)}
    out.update({f"state:{k}": _digest(v) for k, v in finals.items()})
    out["grad:x"] = _digest(grads[0])
    out.update({f"grad:{k}": _digest(g) for k, g in zip(init, grads[1 : 1 + len(init)])})
    out.update({f"grad:{n}": _digest(g) for (n, _), g in zip(params, grads[1 + len(init) :])})
    return out


def cases() -> Iterator[tuple[str, dict[str, str]]]:
    torch.set_num_threads(1)
    T, B, N = 12, 3, 5
    for name in snn.__all__:
        cls = getattr(snn, name)
        if not (isinstance(cls, type) and issubclass(cls, snn.LeakyLayer)) or cls is snn.LeakyLayer:
            continue
        spiking = cls.config.spiking
        for rank in (0, 1):
            for dim in (-1, -3):
                shape = (T, B, N) if dim == -1 else (T, B, N, 2, 3)
                for sf, qf, seed in SPIKES if spiking else [(None, None, None)]:
                    for seq in (False, True):
                        g = torch.Generator().manual_seed(zlib.crc32(f"{name}{rank}{dim}".encode()))
                        probe = cls(N)
                        kw = _param_values(probe, rank, N, g)
                        if spiking:
                            kw.update(spike_fn=sf, quant_fn=qf)
                        layer = cls(N, dim=dim, **kw)
                        x = 1.5 * torch.randn(shape, generator=g)
                        layer(x[0])  # create the states
                        states0 = {
                            k: 0.3 * torch.randn(layer.__dict__[k].shape, generator=g) for k in cls.config.states
                        }
                        layer.zero_states()
                        if seed is not None:
                            torch.manual_seed(seed)
                        key = f"{name}|rank{rank}|dim{dim}|{sf}|{qf}|{'seq' if seq else 'step'}"
                        yield key, _run(layer, x, seq, states0)
    for cls, args in ((rnn.SimpleRNN, (4, 5)), (rnn.LSTM, (4, 5)), (rnn.GRU, (4, 5)), (rnn.SelectiveSSM, (4, 5, 3))):
        for seq in (False, True):
            torch.manual_seed(3)
            layer = cls(*args)
            x = torch.randn(T, B, 4)
            layer(x[0])
            states0 = {k: 0.3 * torch.randn(layer.__dict__[k].shape) for k in layer.state_names}
            layer.zero_states()
            yield f"{cls.__name__}|{'seq' if seq else 'step'}", _run(layer, x, seq, states0)


def main() -> int:
    mode, path = sys.argv[1], sys.argv[2]
    got = dict(cases())
    if mode == "record":
        with open(path, "w") as f:
            json.dump(got, f, indent=0, sort_keys=True)
        print(f"recorded {len(got)} cases to {path}")
        return 0
    with open(path) as f:
        want = json.load(f)
    bad = [k for k in want if got.get(k) != want[k]]
    missing = [k for k in want if k not in got]
    for k in bad[:20]:
        diff = {f: (want[k][f], (got.get(k) or {}).get(f)) for f in want[k] if (got.get(k) or {}).get(f) != want[k][f]}
        print("DIFFERS", k, diff)
    print(f"{len(want) - len(bad)} of {len(want)} cases bit-identical; {len(bad)} differ ({len(missing)} missing)")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
