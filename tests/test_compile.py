"""torch.compile: every layer traces with zero graph breaks; compiled training equals eager."""

from __future__ import annotations

import pytest
import torch
import tracetorch as tt
from torch import nn
from tracetorch import rnn, snn

SPIKING = [
    n
    for n in snn.__all__
    if isinstance(getattr(snn, n), type) and issubclass(getattr(snn, n), snn.Layer) and n not in ("Layer", "LeakyLayer")
]
WIDTH = 6


def make_layer(name: str) -> tt.Layer:
    cls = getattr(snn, name)
    if cls.config.spiking:
        return cls(WIDTH, spike_fn="heaviside_atan", quant_fn="round")
    return cls(WIDTH)


class AllLayers(tt.Model):
    """One model holding every spiking and recurrent layer, chained."""

    def __init__(self):
        super().__init__()
        self.spiking = nn.ModuleList(make_layer(n) for n in SPIKING)
        self.recurrent = nn.ModuleList(
            [
                rnn.SimpleRNN(WIDTH, WIDTH),
                rnn.LSTM(WIDTH, WIDTH),
                rnn.GRU(WIDTH, WIDTH),
                rnn.SelectiveSSM(WIDTH, WIDTH, 3),
            ]
        )
        self.mix = nn.Linear(WIDTH, WIDTH)

    def forward(self, x):
        for layer in self.spiking:
            x = self.mix(layer(x)) + x
        for layer in self.recurrent:
            x = layer(x)
        return x


def test_all_32_spiking_layers_are_covered():
    assert len(SPIKING) == 32


def test_a_step_of_every_layer_has_no_graph_breaks_including_lazy_states_and_zeroing():
    model = AllLayers()

    def two_sequences(xs):
        model.zero_states()  # lazy creation happens inside the traced region
        y = model(xs[0]) + model(xs[1])
        model.zero_states()
        return y + model(xs[2])

    explanation = torch._dynamo.explain(two_sequences)(torch.randn(3, 2, WIDTH))
    assert explanation.graph_break_count == 0, explanation.break_reasons
    assert explanation.graph_count == 1


@pytest.mark.parametrize("backend", ["aot_eager", pytest.param("inductor", marks=pytest.mark.slow)])
def test_a_compiled_training_loop_gives_the_eager_losses(backend):
    torch.manual_seed(0)

    class Net(tt.Model):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 8)
            self.lif = snn.DSLIB(8, spike_fn="heaviside_fast_sigmoid")
            self.lstm = rnn.LSTM(8, 8)
            self.out = snn.LI(8)

        def forward(self, x):
            return self.out(self.lstm(self.lif(self.fc(x))))

    eager = Net()
    compiled_model = Net()
    compiled_model.load_state_dict(eager.state_dict())
    xs, target = torch.randn(5, 3, 4), torch.randn(3, 8)

    def make_step(model):
        opt = torch.optim.SGD(model.parameters(), lr=0.05)

        def loss_fn(xs):
            model.zero_states()
            loss = 0.0
            for t in range(xs.shape[0]):
                loss = loss + ((model(xs[t]) - target) ** 2).mean()
            return loss

        return opt, loss_fn

    opt_e, loss_e = make_step(eager)
    opt_c, loss_c = make_step(compiled_model)
    loss_c = torch.compile(loss_c, backend=backend, fullgraph=True)
    for _ in range(3):
        le, lc = loss_e(xs), loss_c(xs)
        assert torch.allclose(le, lc, atol=1e-5, rtol=1e-5)
        for opt, loss in ((opt_e, le), (opt_c, lc)):
            opt.zero_grad()
            loss.backward()
            opt.step()
    for (n, a), b in zip(eager.named_parameters(), compiled_model.parameters()):
        assert torch.allclose(a, b, atol=1e-5), n
