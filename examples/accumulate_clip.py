"""Automatic optimization with gradient accumulation, gradient clipping and a per-step scheduler.

    python examples/accumulate_clip.py     # 10 epochs, a few seconds on a CPU core
    python examples/accumulate_clip.py --epochs 3 --accumulate 2 --clip 0.5

The Trainer does the work Lightning users know from its arguments:
``accumulate_grad_batches=4`` steps the optimizer once every four batches (and on the last,
shorter group of an epoch), ``gradient_clip_val=10`` clips the gradient norm before each step,
and the ``OneCycleLR`` scheduler returned with ``"interval": "step"`` steps once per optimizer
step. ``OneCycleLR`` raises if it is stepped more often than the ``total_steps`` it was built
for, so a run that finishes shows that the scheduler followed the optimizer, not the batches.

Each epoch prints the mean training loss, the validation loss, the learning rate, the optimizer
steps so far, and the largest gradient norm seen before clipping (``on_before_optimizer_step``
runs before the clip) with how many steps were clipped.
"""

from __future__ import annotations

import argparse
import math
import time

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import treadle


def regression_data(n: int, seed: int = 0, in_dim: int = 8) -> TensorDataset:
    """A noisy nonlinear target with a large scale (so early gradients are large)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, in_dim, generator=g)
    w = torch.randn(in_dim, 1, generator=g)
    y = 5.0 * (torch.tanh(x @ w) + 0.1 * (x**2).sum(1, keepdim=True)) + 0.1 * torch.randn(
        n, 1, generator=g
    )
    return TensorDataset(x, y)


class Regressor(treadle.Module):
    def __init__(self, in_dim: int, lr: float, total_steps: int, clip: float):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(in_dim, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 1)
        )
        self.lr, self.total_steps, self.clip = lr, total_steps, clip

    def forward(self, x):
        return self.net(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = F.mse_loss(self(x), y)
        self.log("loss", loss, on_step=False, on_epoch=True)
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val_loss", F.mse_loss(self(x), y))

    def configure_optimizers(self):
        opt = torch.optim.AdamW(self.parameters(), lr=self.lr, weight_decay=1e-4)
        sched = torch.optim.lr_scheduler.OneCycleLR(
            opt, max_lr=self.lr, total_steps=self.total_steps
        )
        return {
            "optimizer": opt,
            "lr_scheduler": {"scheduler": sched, "interval": "step", "frequency": 1},
        }

    def on_before_optimizer_step(self, optimizer):
        # The accumulated gradient, before the Trainer clips it.
        norm = torch.linalg.vector_norm(
            torch.stack(
                [torch.linalg.vector_norm(p.grad) for p in self.parameters() if p.grad is not None]
            )
        )
        self.log("grad_norm_max", norm, on_step=False, on_epoch=True, reduce_fx="max")
        self.log(
            "clipped_steps",
            (norm > self.clip).float(),
            on_step=False,
            on_epoch=True,
            reduce_fx="sum",
        )

    def on_train_epoch_end(self):
        m = self.trainer.callback_metrics
        lr = self.trainer.optimizers[0].param_groups[0]["lr"]
        self.print(
            f"epoch {self.current_epoch + 1}/{self.trainer.max_epochs}: "
            f"loss={float(m['loss']):.4f} val_loss={float(m['val_loss']):.4f} "
            f"lr={lr:.2e} steps={self.global_step} "
            f"grad_norm_max={float(m['grad_norm_max']):.2f} "
            f"clipped={int(m['clipped_steps'])}",
            flush=True,
        )


def main(argv=None) -> Regressor:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--accumulate", type=int, default=4, help="accumulate_grad_batches")
    parser.add_argument("--clip", type=float, default=10.0, help="gradient_clip_val (norm)")
    parser.add_argument("--lr", type=float, default=1e-2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch intra-op threads (one is fastest for a model this small)",
    )
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    treadle.seed_everything(args.seed)
    data = regression_data(args.samples + args.samples // 4, seed=args.seed)
    train_set, val_set = torch.utils.data.random_split(
        data, [args.samples, args.samples // 4], generator=torch.Generator().manual_seed(args.seed)
    )
    train = DataLoader(train_set, batch_size=args.batch_size, shuffle=True)
    val = DataLoader(val_set, batch_size=256)
    # One optimizer step per `accumulate` batches, plus one for a shorter last group.
    steps_per_epoch = math.ceil(len(train) / args.accumulate)
    model = Regressor(
        in_dim=8, lr=args.lr, total_steps=args.epochs * steps_per_epoch, clip=args.clip
    )
    trainer = treadle.Trainer(
        accelerator="cpu",
        max_epochs=args.epochs,
        accumulate_grad_batches=args.accumulate,
        gradient_clip_val=args.clip,
        gradient_clip_algorithm="norm",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        num_sanity_val_steps=0,
    )
    start = time.perf_counter()
    trainer.fit(model, train, val)
    print(
        f"trained {args.epochs} epochs, {trainer.global_step} optimizer steps "
        f"({steps_per_epoch} per epoch of {len(train)} batches) in "
        f"{time.perf_counter() - start:.1f}s"
    )
    return model


if __name__ == "__main__":
    main()
