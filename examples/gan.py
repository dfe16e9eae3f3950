"""The guide's ``SimpleGAN`` (manual optimization, two optimizers), trained on the CPU.

    python examples/gan.py                 # 10 epochs (1280 steps), 5-10 s on one CPU core
    python examples/gan.py --epochs 3

The data are 2-D points from a mixture of eight Gaussians on a ring (a classic GAN toy: a
generator that collapses onto a few modes is easy to see). ``training_step`` is the guide's
with ``LightningModule`` -> ``treadle.Module``; only its ``log_dict`` call also asks for epoch
means (``on_epoch=True``). The guide leaves ``Generator``, ``Discriminator``, ``criterion`` and
``_Z`` to the reader, so they are defined here, and the optimizers use Adam with the usual GAN
settings (``lr=1e-3``, ``betas=(0.5, 0.999)``) instead of the guide's ``lr=1e-5``, so that a
few epochs show something. Each epoch prints the epoch means of ``d_loss`` and ``g_loss`` and
how the samples look: how many of the eight modes they reach and the share of samples within
four standard deviations of a mode. Ten epochs reach all eight modes.

One torch thread is the default (``--threads``): for a model this small more threads only
add synchronisation, and on a busy machine they can make it many times slower.
"""

from __future__ import annotations

import argparse
import math
import time

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, TensorDataset

import treadle

N_MODES, RADIUS, STD = 8, 2.0, 0.05
LATENT = 8


def ring_of_gaussians(n: int, seed: int = 0) -> TensorDataset:
    """``n`` points ``X`` from eight Gaussians on a circle, with their mode index."""
    g = torch.Generator().manual_seed(seed)
    modes = torch.randint(N_MODES, (n,), generator=g)
    angle = modes.float() * (2 * math.pi / N_MODES)
    centers = RADIUS * torch.stack([angle.cos(), angle.sin()], dim=1)
    return TensorDataset(centers + STD * torch.randn(n, 2, generator=g), modes)


def mode_centers() -> Tensor:
    angle = torch.arange(N_MODES).float() * (2 * math.pi / N_MODES)
    return RADIUS * torch.stack([angle.cos(), angle.sin()], dim=1)


class Generator(nn.Module):
    def __init__(self, hidden: int = 128):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(LATENT, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, 2),
        )

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z)


class Discriminator(nn.Module):
    """Returns logits (the criterion is ``BCEWithLogitsLoss``)."""

    def __init__(self, hidden: int = 128):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(2, hidden),
            nn.LeakyReLU(0.2),
            nn.Linear(hidden, hidden),
            nn.LeakyReLU(0.2),
            nn.Linear(hidden, 1),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class SimpleGAN(treadle.Module):
    def __init__(self, lr: float = 1e-3):
        super().__init__()
        self.G = Generator()
        self.D = Discriminator()
        self.criterion = nn.BCEWithLogitsLoss()
        self.lr = lr
        # The latent distribution's parameters are buffers, so they follow the module's device.
        self.register_buffer("z_loc", torch.zeros(LATENT))
        self.register_buffer("z_scale", torch.ones(LATENT))
        self._epoch_start = 0.0

        # Important: This property activates manual optimization.
        self.automatic_optimization = False

    @property
    def _Z(self) -> torch.distributions.Distribution:
        return torch.distributions.Normal(self.z_loc, self.z_scale)

    def sample_z(self, n) -> Tensor:
        sample = self._Z.sample((n,))
        return sample

    def sample_G(self, n) -> Tensor:
        z = self.sample_z(n)
        return self.G(z)

    def training_step(self, batch, batch_idx):
        # Implementation follows the PyTorch tutorial:
        # https://pytorch.org/tutorials/beginner/dcgan_faces_tutorial.html
        g_opt, d_opt = self.optimizers()

        X, _ = batch
        batch_size = X.shape[0]

        real_label = torch.ones((batch_size, 1), device=self.device)
        fake_label = torch.zeros((batch_size, 1), device=self.device)

        g_X = self.sample_G(batch_size)

        ##########################
        # Optimize Discriminator #
        ##########################
        d_x = self.D(X)
        errD_real = self.criterion(d_x, real_label)

        d_z = self.D(g_X.detach())
        errD_fake = self.criterion(d_z, fake_label)

        errD = errD_real + errD_fake

        d_opt.zero_grad()
        self.manual_backward(errD)
        d_opt.step()

        ######################
        # Optimize Generator #
        ######################
        d_z = self.D(g_X)
        errG = self.criterion(d_z, real_label)

        g_opt.zero_grad()
        self.manual_backward(errG)
        g_opt.step()

        # The guide logs per step; on_epoch=True adds the epoch means printed below.
        self.log_dict({"g_loss": errG, "d_loss": errD}, prog_bar=True, on_step=True, on_epoch=True)

    def configure_optimizers(self):
        g_opt = torch.optim.Adam(self.G.parameters(), lr=self.lr, betas=(0.5, 0.999))
        d_opt = torch.optim.Adam(self.D.parameters(), lr=self.lr, betas=(0.5, 0.999))
        return g_opt, d_opt

    # -- reporting -----------------------------------------------------------------------------

    def on_train_epoch_start(self):
        self._epoch_start = time.perf_counter()

    @torch.no_grad()
    def sample_quality(self, n: int = 2000) -> tuple:
        """(modes reached, share of samples within 4 std of a mode center)."""
        dist = torch.cdist(self.sample_G(n), mode_centers().to(self.device))
        nearest, mode = dist.min(dim=1)
        good = nearest < 4 * STD
        return int(mode[good].unique().numel()), float(good.float().mean())

    def on_train_epoch_end(self):
        metrics = self.trainer.callback_metrics
        modes, near = self.sample_quality()
        self.print(
            f"epoch {self.current_epoch + 1}/{self.trainer.max_epochs}: "
            f"d_loss={float(metrics['d_loss_epoch']):.4f} "
            f"g_loss={float(metrics['g_loss_epoch']):.4f} "
            f"modes={modes}/{N_MODES} near_mode={near:.3f} "
            f"({time.perf_counter() - self._epoch_start:.1f}s)",
            flush=True,
        )


def main(argv=None) -> SimpleGAN:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--samples", type=int, default=16384, help="training points")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=1e-3)
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
    loader = DataLoader(
        ring_of_gaussians(args.samples, seed=args.seed), batch_size=args.batch_size, shuffle=True
    )
    model = SimpleGAN(lr=args.lr)
    trainer = treadle.Trainer(
        accelerator="cpu",
        max_epochs=args.epochs,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
    )
    start = time.perf_counter()
    trainer.fit(model, loader)
    print(
        f"trained {args.epochs} epochs ({trainer.global_step} steps) in "
        f"{time.perf_counter() - start:.1f}s"
    )
    return model


if __name__ == "__main__":
    main()
