"""Worker for test_ddp.py: trains one step with DistributedDataParallel on CPU (gloo).

Run as a script: ``python ddp_worker.py OUT_DIR WORLD_SIZE``; with WORLD_SIZE 0 it runs
the single-process reference on the whole batch. Each rank writes its gradients and
final states to OUT_DIR.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
import torch.distributed as dist
import tracetorch as tt
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP
from tracetorch import rnn, snn

T, BATCH, IN = 6, 8, 5


class Net(tt.Model):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(IN, 12)
        self.lif = snn.SLIB(12, spike_fn="heaviside_atan")
        self.ssm = rnn.SelectiveSSM(12, 7, 4)
        self.fc2 = nn.Linear(7, 3)
        self.out = snn.LI(3)

    def forward(self, x):
        return self.out(self.fc2(self.ssm(self.lif(self.fc1(x)))))


def data():
    g = torch.Generator().manual_seed(1)
    return torch.randn(T, BATCH, IN, generator=g) * 2, torch.randn(BATCH, 3, generator=g)


def train_step(module, core: Net, x, y):
    core.zero_states()  # inside the training loop, as users do
    loss = 0.0
    for t in range(T):
        loss = loss + ((module(x[t]) - y) ** 2).mean()
    loss.backward()
    return loss


def run(rank: int, world: int, out: str) -> None:
    torch.manual_seed(0)
    core = Net()
    x, y = data()
    if world:
        dist.init_process_group("gloo", init_method=f"file://{out}/store", rank=rank, world_size=world)
        module = DDP(core)
        per = BATCH // world
        x, y = x[:, rank * per : (rank + 1) * per], y[rank * per : (rank + 1) * per]
    else:
        module = core
    train_step(module, core, x, y)
    grads = {n: p.grad.detach().clone() for n, p in core.named_parameters()}
    torch.save({"grads": grads, "states": core.save_states()}, Path(out) / f"rank{rank}_of{world}.pt")
    if world:
        dist.barrier()
        dist.destroy_process_group()


if __name__ == "__main__":
    out_dir, world_size = sys.argv[1], int(sys.argv[2])
    torch.set_num_threads(1)
    if world_size == 0:
        run(0, 0, out_dir)
    else:
        torch.multiprocessing.spawn(run, args=(world_size, out_dir), nprocs=world_size, join=True)
