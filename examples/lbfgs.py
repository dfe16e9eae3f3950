"""Manual optimization with ``torch.optim.LBFGS`` and a closure, as in the guide.

    python examples/lbfgs.py               # 10 epochs, a few seconds on a CPU core
    python examples/lbfgs.py --epochs 5

A small MLP fits ``y = sin(3x)`` on ``[-1, 1]`` from the whole data set at once (one batch per
epoch, as LBFGS wants). ``training_step`` is the guide's "Use Closure for LBFGS-like
Optimizers" example: the closure does forward, ``zero_grad`` and ``manual_backward`` and
``opt.step(closure=closure)`` lets LBFGS call it as often as its line search needs. Each epoch
prints the training loss before and after its step, the validation loss, and how many times
LBFGS evaluated the closure.

LBFGS needs a closure on every step, so it cannot run under ``precision="16-mixed"`` or a
DeepSpeed strategy; treadle refuses those set-ups before training (a ``ConfigurationError``).
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


def sine_data(n: int, seed: int = 0, noise: float = 0.02) -> TensorDataset:
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 1, generator=g) * 2 - 1
    return TensorDataset(x, torch.sin(3 * x) + noise * torch.randn(n, 1, generator=g))


class SineFit(treadle.Module):
    def __init__(self, hidden: int = 32, max_iter: int = 20):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(1, hidden),
            nn.Tanh(),
            nn.Linear(hidden, hidden),
            nn.Tanh(),
            nn.Linear(hidden, 1),
        )
        self.max_iter = max_iter
        self.automatic_optimization = False

    def forward(self, x):
        return self.net(x)

    def compute_loss(self, batch):
        x, y = batch
        return F.mse_loss(self(x), y)

    def configure_optimizers(self):
        return torch.optim.LBFGS(
            self.parameters(),
            lr=1.0,
            max_iter=self.max_iter,
            history_size=20,
            line_search_fn="strong_wolfe",
        )

    def training_step(self, batch, batch_idx):
        opt = self.optimizers()
        calls = []

        def closure():
            loss = self.compute_loss(batch)
            opt.zero_grad()
            self.manual_backward(loss)
            calls.append(loss.detach())
            return loss

        opt.step(closure=closure)

        with torch.no_grad():
            after = self.compute_loss(batch)
        self.log_dict(
            {"loss_before": calls[0], "loss": after, "closure_calls": float(len(calls))},
            on_step=False,
            on_epoch=True,
        )

    def validation_step(self, batch, batch_idx):
        self.log("val_loss", self.compute_loss(batch))

    def on_train_epoch_end(self):
        m = self.trainer.callback_metrics
        self.print(
            f"epoch {self.current_epoch + 1}/{self.trainer.max_epochs}: "
            f"loss {float(m['loss_before']):.6f} -> {float(m['loss']):.6f} "
            f"val_loss={float(m['val_loss']):.6f} "
            f"closure_calls={int(m['closure_calls'])}",
            flush=True,
        )


def main(argv=None) -> SineFit:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--samples", type=int, default=512)
    parser.add_argument("--max-iter", type=int, default=20, help="LBFGS iterations per step")
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
    train = sine_data(args.samples, seed=args.seed)
    val = sine_data(args.samples // 4, seed=args.seed + 1)
    model = SineFit(max_iter=args.max_iter)
    trainer = treadle.Trainer(
        accelerator="cpu",
        max_epochs=args.epochs,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        num_sanity_val_steps=0,
    )
    start = time.perf_counter()
    trainer.fit(
        model, DataLoader(train, batch_size=len(train)), DataLoader(val, batch_size=len(val))
    )
    final = float(trainer.callback_metrics["val_loss"])
    print(
        f"trained {args.epochs} epochs in {time.perf_counter() - start:.1f}s; "
        f"final val_loss={final:.6f} (rmse {math.sqrt(final):.4f})"
    )
    return model


if __name__ == "__main__":
    main()
