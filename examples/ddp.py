"""Data-parallel training on the CPU: ``strategy="ddp", devices=2`` (two processes, gloo).

    python examples/ddp.py                 # 5 epochs on 2 processes
    python examples/ddp.py --epochs 2 --devices 2

Needs the ``ddp`` strategy plugin (treadle_plugins.strategies, in progress at the time of
writing): ``treadle plugins`` lists ``strategy 'ddp'`` when it is installed; until then the
Trainer refuses ``strategy="ddp"`` with a ``ConfigurationError`` listing the strategies that are.

Started as a plain ``python examples/ddp.py``, the script becomes rank 0 and the strategy
re-runs the same command line for the other ranks (as Lightning does), so everything that
starts the run stays under ``if __name__ == "__main__":``. It also joins a ``torchrun`` launch:
``torchrun --nproc-per-node 2 examples/ddp.py``. Each rank gets its half of every epoch through
a ``DistributedSampler``, gradients are averaged across ranks, ``self.log(..., sync_dist=True)``
averages the logged values, and rank 0 prints one line per epoch. At the end every rank prints
a checksum of its weights: they are equal, since the ranks stay in sync.
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import treadle


def regression_data(n: int, seed: int = 0, in_dim: int = 8) -> TensorDataset:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, in_dim, generator=g)
    w = torch.randn(in_dim, 1, generator=g)
    return TensorDataset(x, torch.tanh(x @ w) + 0.05 * torch.randn(n, 1, generator=g))


class Regressor(treadle.Module):
    def __init__(self, in_dim: int = 8, lr: float = 0.05):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(in_dim, 32), nn.ReLU(), nn.Linear(32, 1))
        self.lr = lr

    def forward(self, x):
        return self.net(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = F.mse_loss(self(x), y)
        self.log("loss", loss, on_step=False, on_epoch=True, sync_dist=True)
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val_loss", F.mse_loss(self(x), y), sync_dist=True)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.lr, momentum=0.9)

    def on_train_epoch_end(self):
        m = self.trainer.callback_metrics
        self.print(
            f"epoch {self.current_epoch + 1}/{self.trainer.max_epochs}: "
            f"loss={float(m['loss']):.4f} val_loss={float(m['val_loss']):.4f} "
            f"steps={self.global_step} world_size={self.trainer.world_size}",
            flush=True,
        )


def main(argv=None) -> Regressor:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--devices", type=int, default=2)
    parser.add_argument("--samples", type=int, default=2048)
    parser.add_argument("--batch-size", type=int, default=32, help="per process")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    torch.set_num_threads(1)  # one thread per process: the processes share the cores
    treadle.seed_everything(args.seed)  # every rank starts from the same weights
    data = regression_data(args.samples + args.samples // 4, seed=args.seed)
    train_set, val_set = torch.utils.data.random_split(
        data, [args.samples, args.samples // 4], generator=torch.Generator().manual_seed(args.seed)
    )
    model = Regressor()
    trainer = treadle.Trainer(
        accelerator="cpu",
        strategy="ddp",
        devices=args.devices,
        max_epochs=args.epochs,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        num_sanity_val_steps=0,
    )
    start = time.perf_counter()
    trainer.fit(
        model,
        DataLoader(train_set, batch_size=args.batch_size, shuffle=True),
        DataLoader(val_set, batch_size=256),
    )
    checksum = sum(float(p.detach().double().sum()) for p in model.parameters())
    print(
        f"rank {trainer.global_rank}/{trainer.world_size}: weights checksum {checksum:.10f} "
        f"after {trainer.global_step} steps in {time.perf_counter() - start:.1f}s",
        flush=True,
    )
    return model


if __name__ == "__main__":
    main()
