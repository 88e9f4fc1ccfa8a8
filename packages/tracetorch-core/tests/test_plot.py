"""tt.plot: figure content (not only that no error is raised), saving, headlessness, errors."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
import tracetorch as tt
from torch import nn

pytest.importorskip("matplotlib")

from matplotlib.figure import Figure  # noqa: E402


def _offsets(collection) -> set[tuple[int, int]]:
    return {(int(round(a)), int(round(b))) for a, b in np.asarray(collection.get_offsets())}


# ---------------------------------------------------------------------------- raster
def test_binary_raster_marks_exactly_the_spikes():
    spikes = torch.zeros(6, 4)
    spikes[0, 1] = spikes[2, 3] = spikes[5, 0] = 1.0
    fig = tt.plot.spike_raster(spikes)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert len(ax.collections) == 1
    assert _offsets(ax.collections[0]) == {(0, 1), (2, 3), (5, 0)}
    assert ax.get_xlim() == (-0.5, 5.5) and ax.get_ylim() == (-0.5, 3.5)


def test_ternary_raster_separates_polarities_and_flattens_feature_maps():
    spikes = torch.zeros(3, 2, 2, 2)  # [T, C, H, W] -> 8 neurons
    spikes[1, 1, 0, 1] = 1.0  # neuron 1*4 + 0*2 + 1 = 5
    spikes[2, 0, 1, 0] = -1.0  # neuron 2
    spikes[0, 0, 0, 0] = 0.7  # scaled positive spike (TS layers)
    fig = tt.plot.spike_raster(spikes)
    pos, neg = fig.axes[0].collections
    assert pos.get_label() == "+1" and neg.get_label() == "-1"
    assert _offsets(pos) == {(1, 5), (0, 0)}
    assert _offsets(neg) == {(2, 2)}


def test_raster_time_dim_max_neurons_and_rate_panel():
    spikes = torch.zeros(3, 10)  # [neurons=3, T=10] with time_dim=1
    spikes[0, :] = 1.0
    spikes[2, 4] = 1.0
    fig = tt.plot.spike_raster(spikes, time_dim=1, max_neurons=2, show_rate=True)
    assert len(fig.axes) == 2
    assert _offsets(fig.axes[0].collections[0]) == {(t, 0) for t in range(10)}
    rate = fig.axes[1].lines[0].get_ydata()
    np.testing.assert_allclose(rate, np.full(10, 0.5))


def test_raster_of_many_neurons_is_fast_and_complete():
    torch.manual_seed(0)
    spikes = (torch.rand(200, 2000) < 0.05).float()
    fig = tt.plot.spike_raster(spikes)
    assert len(fig.axes[0].collections[0].get_offsets()) == int(spikes.sum())


def test_raster_errors():
    with pytest.raises(TypeError, match="spike_raster"):
        tt.plot.spike_raster("spikes")
    with pytest.raises(ValueError, match="time_dim"):
        tt.plot.spike_raster(torch.zeros(3, 4), time_dim=2)
    with pytest.raises(ValueError, match="0-d"):
        tt.plot.spike_raster(torch.tensor(1.0))
    with pytest.raises(ValueError, match="max_neurons"):
        tt.plot.spike_raster(torch.zeros(3, 4), max_neurons=0)
    with pytest.raises(TypeError, match="show"):
        tt.plot.spike_raster(torch.zeros(3, 4), show="yes")


# ---------------------------------------------------------------------------- smoothing / lines
def test_smooth_is_a_debiased_ema():
    np.testing.assert_allclose(tt.plot.smooth([1.0, 0.0, 0.0], 0.5), [1.0, 1 / 3, 1 / 7])
    np.testing.assert_allclose(tt.plot.smooth([1.0, 0.0, 0.0], 0.5, debias=False), [0.5, 0.25, 0.125])
    np.testing.assert_allclose(tt.plot.smooth(torch.tensor([3.0, 3.0, 3.0]), 0.99), [3.0, 3.0, 3.0])
    np.testing.assert_allclose(tt.plot.smooth([1.0, 2.0], 0.0), [1.0, 2.0])
    np.testing.assert_allclose(tt.plot.smooth([2.0, float("nan"), 2.0], 0.9), [2.0, 2.0, 2.0])
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        tt.plot.smooth([1.0], 1.0)
    with pytest.raises(TypeError):
        tt.plot.smooth([1.0], "0.9")
    with pytest.raises(ValueError, match="1-D"):
        tt.plot.smooth(np.zeros((2, 2)), 0.5)


def test_line_plot_draws_raw_then_each_smoothing():
    y = torch.tensor([4.0, 0.0, 2.0, 1.0])
    fig = tt.plot.line_plot({"loss": y}, smoothing=(0.5, 0.9), title="t", ylabel="loss", logy=False)
    lines = fig.axes[0].lines
    assert [ln.get_label() for ln in lines] == ["loss (raw)", "loss (decay 0.5)", "loss (decay 0.9)"]
    np.testing.assert_allclose(lines[0].get_ydata(), y.numpy())
    np.testing.assert_allclose(lines[1].get_ydata(), tt.plot.smooth(y, 0.5))
    np.testing.assert_allclose(lines[2].get_ydata(), tt.plot.smooth(y, 0.9))
    np.testing.assert_allclose(lines[0].get_xdata(), [0, 1, 2, 3])
    assert fig.axes[0].get_title() == "t"


def test_line_plot_2d_is_one_line_per_column_and_labels_apply():
    data = np.arange(12.0).reshape(4, 3)
    fig = tt.plot.line_plot(data, labels=["a", "b", "c"])
    lines = fig.axes[0].lines
    assert [ln.get_label() for ln in lines] == ["a", "b", "c"]
    for j, ln in enumerate(lines):
        np.testing.assert_allclose(ln.get_ydata(), data[:, j])
    fig = tt.plot.line_plot([1.0, 2.0], smoothing=0.5, show_raw=False)
    assert len(fig.axes[0].lines) == 1


def test_inputs_may_be_lists_of_tensors_that_require_grad_or_live_anywhere():
    t = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    fig = tt.plot.line_plot([t * 1, t * 2])  # a list of rows: [time=2, series=3]
    np.testing.assert_allclose(fig.axes[0].lines[2].get_ydata(), [3.0, 6.0])
    fig = tt.plot.line_plot([torch.tensor(0.5), 1, np.float32(2.0)])
    np.testing.assert_allclose(fig.axes[0].lines[0].get_ydata(), [0.5, 1.0, 2.0])
    with pytest.raises(ValueError, match="rectangular"):
        tt.plot.line_plot([[1.0, 2.0], [3.0]])


def test_line_plot_errors():
    with pytest.raises(ValueError, match="labels"):
        tt.plot.line_plot(np.zeros((4, 3)), labels=["a"])
    with pytest.raises(ValueError, match="2-D"):
        tt.plot.line_plot(np.zeros((2, 2, 2)))
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        tt.plot.line_plot([1.0, 2.0], smoothing=[0.5, 1.5])
    with pytest.raises(TypeError, match="line_plot"):
        tt.plot.line_plot(["a", "b"])
    with pytest.raises(TypeError, match="figsize"):
        tt.plot.line_plot([1.0], figsize=5)


# ---------------------------------------------------------------------------- distributions
def test_histogram_bar_heights_are_the_counts():
    values = torch.tensor([0.0, 0.0, 1.0, 2.0, 2.0, 2.0])
    fig = tt.plot.histogram(values, bins=3)
    (bars,) = fig.axes[0].containers
    np.testing.assert_allclose([p.get_height() for p in bars.patches], [2, 1, 3])
    fig = tt.plot.histogram({"a": [0.0, 1.0], "b": [1.0, 1.0]}, bins=2)
    a, b = fig.axes[0].containers
    np.testing.assert_allclose([p.get_height() for p in a.patches], [1, 1])
    np.testing.assert_allclose([p.get_height() for p in b.patches], [0, 2])
    assert a.get_label() == "a" and b.get_label() == "b"


def test_histogram_of_equal_values_has_a_sensible_range():
    fig = tt.plot.histogram([0.9] * 5, bins=4)
    bars = fig.axes[0].containers[0].patches
    assert sum(p.get_height() for p in bars) == 5
    left = bars[0].get_x()
    right = bars[-1].get_x() + bars[-1].get_width()
    assert left < 0.9 < right and right - left < 0.2


class _Net(tt.Model):
    def __init__(self, Leaky):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(3, 4), Leaky(4, beta=torch.tensor([0.1, 0.2, 0.3, 0.4])), Leaky(4, beta=0.5))
        self.extra = nn.ModuleDict({"head": Leaky(2, beta=0.7, beta_rank=0)})

    def forward(self, x):
        return self.net(x)


def test_parameter_distributions_has_one_panel_per_name_and_one_histogram_per_layer(Leaky_cls):
    model = _Net(Leaky_cls)
    fig = tt.plot.parameter_distributions(model, ["beta", "threshold"], bins=4)
    assert [ax.get_title() for ax in fig.axes] == ["beta", "threshold"]
    beta_ax = fig.axes[0]
    labels = [c.get_label() for c in beta_ax.containers]
    assert labels == ["net.1 (Leaky)", "net.2 (Leaky)", "extra.head (Leaky)"]
    counts = [sum(p.get_height() for p in c.patches) for c in beta_ax.containers]
    assert counts == [4, 4, 1]  # per-neuron, per-neuron, rank 0
    # the values shown are the activated decays: bins over [0.1, 0.7]
    first = beta_ax.containers[0].patches
    assert first[0].get_x() == pytest.approx(0.1, abs=1e-6)
    last = beta_ax.containers[2].patches[-1]
    assert last.get_x() + last.get_width() == pytest.approx(0.7, abs=1e-6)
    assert [p.get_height() for p in beta_ax.containers[2].patches] == [0, 0, 0, 1]


def test_parameter_distributions_defaults_and_inputs(Leaky_cls):
    model = _Net(Leaky_cls)
    fig = tt.plot.parameter_distributions(model)
    assert [ax.get_title() for ax in fig.axes] == ["beta", "threshold", "gain"]
    model.TTcompile()
    fig = tt.plot.parameter_distributions(model, "beta")
    assert len(fig.axes[0].containers) == 3
    # a single layer, a plain nn.Module and a mapping work too
    assert len(tt.plot.parameter_distributions(Leaky_cls(3), "beta").axes[0].containers) == 1
    plain = nn.Sequential(Leaky_cls(3), nn.Linear(3, 3), Leaky_cls(3))
    assert len(tt.plot.parameter_distributions(plain, "beta").axes[0].containers) == 2
    assert len(tt.plot.parameter_distributions({"x": Leaky_cls(3)}, "beta").axes[0].containers) == 1


def test_parameter_distributions_errors(Leaky_cls):
    with pytest.raises(ValueError, match=r"'alpha'.*available: \['beta', 'threshold', 'gain'\]"):
        tt.plot.parameter_distributions(Leaky_cls(3), "alpha")
    with pytest.raises(ValueError, match="no traceTorch layers"):
        tt.plot.parameter_distributions(nn.Linear(2, 2))
    with pytest.raises(TypeError, match="model"):
        tt.plot.parameter_distributions(42)
    with pytest.raises(TypeError, match="names"):
        tt.plot.parameter_distributions(Leaky_cls(3), 3)


# ---------------------------------------------------------------------------- images
def test_image_grid_shows_each_image_in_its_cell():
    images = torch.rand(5, 1, 8, 6)
    fig = tt.plot.image_grid(images, ncols=3, titles=list("abcde"))
    assert len(fig.axes) == 6  # 2 x 3 grid, last cell blank
    for i in range(5):
        np.testing.assert_allclose(np.asarray(fig.axes[i].images[0].get_array()), images[i, 0].numpy(), rtol=1e-6)
        assert fig.axes[i].get_title() == "abcde"[i]
    assert not fig.axes[5].images and not fig.axes[5].axison


def test_image_grid_rgb_sequences_and_channels_last():
    rgb = torch.rand(3, 4, 5)  # [C, H, W]
    fig = tt.plot.image_grid([rgb, torch.rand(7, 7)])
    arr = np.asarray(fig.axes[0].images[0].get_array())
    np.testing.assert_allclose(arr, rgb.permute(1, 2, 0).numpy(), rtol=1e-6)
    assert np.asarray(fig.axes[1].images[0].get_array()).shape == (7, 7)
    hwc = np.random.default_rng(0).random((2, 4, 5, 3)) * 10  # scaled into [0, 1] per image
    fig = tt.plot.image_grid(hwc, channels_last=True)
    arr = np.asarray(fig.axes[0].images[0].get_array())
    assert arr.shape == (4, 5, 3) and arr.min() == pytest.approx(0.0) and arr.max() == pytest.approx(1.0)
    single = tt.plot.image_grid(np.eye(3))
    assert len(single.axes) == 1


def test_image_grid_errors():
    with pytest.raises(ValueError, match="channels"):
        tt.plot.image_grid(torch.rand(2, 5, 4, 4))
    with pytest.raises(ValueError, match="titles"):
        tt.plot.image_grid(torch.rand(2, 4, 4), titles=["a"])
    with pytest.raises(ValueError, match="no images"):
        tt.plot.image_grid([])
    with pytest.raises(TypeError, match="image_grid"):
        tt.plot.image_grid(5)
    with pytest.raises(ValueError, match="shape"):
        tt.plot.image_grid(torch.rand(1, 1, 1, 4, 4))


# ---------------------------------------------------------------------------- tracker
def test_tracker_records_smooths_and_plots():
    tracker = tt.plot.MeasurementTracker(decays={"loss": (0.5, 0.9)})
    for v in [4.0, 2.0, 1.0, 0.5]:
        tracker.update(loss=torch.tensor(v, requires_grad=True) * 1.0)
    tracker.update(step=3, accuracy=0.25)
    tracker.log("accuracy", np.float32(0.75), step=7)
    assert tracker.names == ("loss", "accuracy") and "loss" in tracker and len(tracker) == 2
    assert tracker["loss"] == [4.0, 2.0, 1.0, 0.5]
    assert tracker.steps("loss") == [0, 1, 2, 3] and tracker.steps("accuracy") == [3, 7]
    assert tracker.latest("loss") == 0.5
    assert tracker.latest("loss", decay=0.5) == pytest.approx(tt.plot.smooth([4, 2, 1, 0.5], 0.5)[-1])
    assert tracker.decays_for("loss") == [0.5, 0.9] and tracker.decays_for("accuracy") == []

    fig = tracker.plot(logy=["loss"])
    loss_ax, acc_ax = fig.axes
    assert loss_ax.get_title() == "loss" and acc_ax.get_title() == "accuracy"
    assert loss_ax.get_yscale() == "log" and acc_ax.get_yscale() == "linear"
    assert len(loss_ax.lines) == 3
    np.testing.assert_allclose(loss_ax.lines[0].get_ydata(), [4, 2, 1, 0.5])
    np.testing.assert_allclose(loss_ax.lines[2].get_ydata(), tt.plot.smooth([4, 2, 1, 0.5], 0.9))
    (acc_line,) = acc_ax.lines
    np.testing.assert_allclose(acc_line.get_xdata(), [3, 7])
    np.testing.assert_allclose(acc_line.get_ydata(), [0.25, 0.75])


def test_tracker_state_dict_round_trip_and_errors():
    tracker = tt.plot.MeasurementTracker(decays=0.9)
    tracker.update(loss=1.0, acc=0.5)
    other = tt.plot.MeasurementTracker()
    other.load_state_dict(tracker.state_dict())
    assert (
        other.state_dict()
        == tracker.state_dict()
        == {
            "loss": {"steps": [0], "values": [1.0]},
            "acc": {"steps": [0], "values": [0.5]},
        }
    )
    with pytest.raises(KeyError, match="recorded"):
        tracker["nope"]
    with pytest.raises(ValueError, match="single number"):
        tracker.update(loss=torch.zeros(2))
    with pytest.raises(TypeError, match="number"):
        tracker.update(loss="high")
    with pytest.raises(TypeError, match="step"):
        tracker.log("loss", 1.0, step=1.5)
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        tt.plot.MeasurementTracker(decays=(0.5, 2.0))
    with pytest.raises(ValueError, match="nothing to plot"):
        tt.plot.MeasurementTracker().plot()
    tracker.reset()
    assert tracker.names == ()


# ---------------------------------------------------------------------------- output, headless, import
@pytest.mark.parametrize("ext", ["png", "pdf", "svg"])
def test_every_plot_saves_to_a_file(tmp_path, ext):
    tracker = tt.plot.MeasurementTracker()
    tracker.update(loss=1.0)
    makers = {
        "raster": lambda p: tt.plot.spike_raster(torch.ones(3, 3), path=p),
        "line": lambda p: tt.plot.line_plot([1.0, 2.0], path=p),
        "hist": lambda p: tt.plot.histogram([1.0, 2.0], path=p),
        "images": lambda p: tt.plot.image_grid(torch.rand(2, 3, 3), path=p),
        "tracker": lambda p: tracker.plot(path=p),
    }
    for name, make in makers.items():
        path = tmp_path / "nested" / f"{name}.{ext}"
        make(path)
        assert path.stat().st_size > 0
        if ext == "png":
            assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plots_do_not_touch_pyplot_or_print(capsys):
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    tt.plot.spike_raster(torch.ones(3, 3))
    tt.plot.line_plot([1.0, 2.0], smoothing=0.9)
    assert plt.get_fignums() == before
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""


def _run(code: str, env_extra: dict | None = None) -> subprocess.CompletedProcess:
    import os

    # headless, and allowed to cache compiled modules (recompiling torch costs seconds)
    dropped = ("DISPLAY", "MPLBACKEND", "WAYLAND_DISPLAY", "PYTHONDONTWRITEBYTECODE")
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)


def test_headless_the_users_backend_is_left_alone_and_show_uses_pyplot(tmp_path):
    # one interpreter for both checks (starting one costs seconds)
    code = (
        "import matplotlib; matplotlib.use('svg'); import sys; import tracetorch as tt, torch\n"
        f"tt.plot.spike_raster(torch.ones(4, 4), path=r'{tmp_path / 'r.png'}')\n"
        "assert matplotlib.get_backend() == 'svg', matplotlib.get_backend()\n"
        "assert 'matplotlib.pyplot' not in sys.modules\n"
        "import matplotlib.pyplot as plt\n"
        "calls = []\nplt.show = lambda *a, **k: calls.append(1)\n"
        "fig = tt.plot.line_plot([1.0, 2.0], show=True)\n"
        "assert calls == [1] and plt.get_fignums() == [fig.number]\n"
        "assert matplotlib.get_backend() == 'svg'\n"
    )
    res = _run(code)
    assert res.returncode == 0, res.stderr
    assert res.stdout == ""
    assert (tmp_path / "r.png").exists()


def test_missing_matplotlib_is_an_import_error_naming_the_extra():
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'matplotlib' or name.startswith('matplotlib.'):\n"
        "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "import tracetorch as tt\n"
        "for attempt in (lambda: tt.plot, lambda: __import__('tracetorch.plot')):\n"
        "    try:\n"
        "        attempt()\n"
        "    except ImportError as e:\n"
        "        assert type(e) is ImportError, type(e)\n"
        "        assert 'tracetorch-core[plot]' in str(e), str(e)\n"
        "    else:\n"
        "        raise SystemExit('no error')\n"
    )
    res = _run(code)
    assert res.returncode == 0, res.stderr + res.stdout


def test_public_symbols_are_documented():
    import inspect

    for name in tt.plot.__all__:
        obj = getattr(tt.plot, name)
        assert inspect.getdoc(obj), name
        if inspect.isclass(obj):
            for meth_name, meth in inspect.getmembers(obj, inspect.isfunction):
                if not meth_name.startswith("_"):
                    assert inspect.getdoc(meth), f"{name}.{meth_name}"
