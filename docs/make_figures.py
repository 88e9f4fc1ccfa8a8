"""Draw the figures of the documentation into docs/assets/.

Run from the repository root after changing a layer's behaviour:

    uv run python docs/make_figures.py

The PNGs are committed, so building the docs needs neither matplotlib nor this
script. Everything is seeded: the same code gives the same pictures.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

import tracetorch as tt  # noqa: E402
from tracetorch import snn  # noqa: E402

ASSETS = Path(__file__).resolve().parent / "assets"


def membrane_and_spikes(path: Path) -> None:
    """One LIB neuron driven by a noisy current, and a raster of 40 of them."""
    torch.manual_seed(0)
    steps = 120
    layer = snn.LIB(40, beta=0.9, threshold=1.0, spike_fn=tt.functional.heaviside_atan())
    # A slow sine plus noise; each neuron gets a different gain.
    t = torch.arange(steps, dtype=torch.float32)
    drive = 0.12 + 0.10 * torch.sin(2 * torch.pi * t / 60)
    gains = torch.linspace(0.4, 2.2, 40)
    currents = drive[:, None] * gains[None, :] + 0.05 * torch.randn(steps, 40)

    mem_before_reset, spikes = [], []
    with torch.no_grad():
        for step in range(steps):
            s = layer(currents[step][None])  # [1, 40]: one timestep, batch of 1
            # After the step, `mem` has been reset by subtraction; add it back to show
            # the membrane that crossed the threshold.
            mem_before_reset.append((layer.mem + s * layer.threshold)[0])
            spikes.append(s[0])
    mem = torch.stack(mem_before_reset)
    spk = torch.stack(spikes)

    n = 30  # the neuron shown on top
    fig, axes = plt.subplots(
        3, 1, figsize=(8.0, 5.6), sharex=True, gridspec_kw={"height_ratios": [1.0, 2.0, 2.4]}
    )
    axes[0].plot(t, currents[:, n], color="tab:gray", lw=1.2)
    axes[0].set_ylabel("input")
    axes[0].set_title("snn.LIB: one neuron's membrane, and spikes of 40 neurons")

    axes[1].plot(t, mem[:, n], color="tab:blue", lw=1.4, label="membrane (before reset)")
    axes[1].axhline(float(layer.threshold[n].detach()), color="tab:red", ls="--", lw=1.0, label="threshold")
    fired = spk[:, n] > 0
    axes[1].scatter(t[fired], mem[fired, n], color="tab:red", s=18, zorder=3, label="spike")
    axes[1].set_ylabel("membrane")
    axes[1].set_ylim(top=float(mem[:, n].max()) + 0.45)
    axes[1].legend(loc="upper left", fontsize="small", ncol=3)

    ts, ns = torch.nonzero(spk > 0, as_tuple=True)
    axes[2].scatter(ts, ns, marker="|", s=40, color="black", linewidths=1.2)
    axes[2].axhline(n, color="tab:blue", lw=0.6, alpha=0.5)
    axes[2].set_ylabel("neuron")
    axes[2].set_xlabel("timestep")
    axes[2].set_ylim(-0.5, 39.5)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    ASSETS.mkdir(exist_ok=True)
    membrane_and_spikes(ASSETS / "lib-membrane-spikes.png")
    print(f"wrote {ASSETS / 'lib-membrane-spikes.png'}")


if __name__ == "__main__":
    main()
