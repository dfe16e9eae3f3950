# treadle port of Lightning's examples/pytorch/domain_templates/generative_adversarial_net.py
# (https://github.com/Lightning-AI/pytorch-lightning, Apache-2.0, Copyright The Lightning AI team),
# rewritten for treadle. Imports mapped name for name (`LightningModule` -> `treadle.Module`,
# `Trainer` -> `treadle.Trainer`, `LightningDataModule` -> `treadle.DataModule`); Lightning's
# MNISTDataModule (a download) becomes a DataModule of random 28x28 "digits"; torchvision's
# make_grid becomes a few lines (torchvision is not a treadle dependency). Changes beyond the
# imports are marked "treadle:".
"""A GAN with manual optimization: two optimizers stepped in one training_step.

Run: ``python examples/lightning/generative_adversarial_net.py [--fast]``, then
``tensorboard --logdir lightning_logs`` to see the images generated at each epoch's end.
"""

import os
from argparse import ArgumentParser, Namespace

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from treadle import DataModule as LightningDataModule
from treadle import Module as LightningModule
from treadle import Trainer


class MNISTDataModule(LightningDataModule):
    """treadle: stands in for ``lightning.pytorch.demos.mnist_datamodule.MNISTDataModule``:
    random images made of a few strokes, in [-1, 1] like the normalized digits."""

    def __init__(self, batch_size: int = 32, num_samples: int = 60000):
        super().__init__()
        self.batch_size = batch_size
        self.num_samples = num_samples

    def setup(self, stage: str) -> None:
        g = torch.Generator().manual_seed(0)
        strokes = (torch.rand(10, 1, 28, 28, generator=g) > 0.8).float()
        labels = torch.randint(0, 10, (self.num_samples,), generator=g)
        images = (
            strokes[labels] * 2 - 1 + 0.1 * torch.randn(self.num_samples, 1, 28, 28, generator=g)
        )
        self.mnist_train = TensorDataset(images.clamp(-1, 1), labels)

    def train_dataloader(self):
        return DataLoader(self.mnist_train, batch_size=self.batch_size, shuffle=True)


def make_grid(images: torch.Tensor, nrow: int = 8) -> torch.Tensor:
    """treadle: torchvision.utils.make_grid without padding: (B, C, H, W) -> (C, H', W')."""
    b, c, h, w = images.shape
    rows = (b + nrow - 1) // nrow
    grid = torch.zeros(rows * nrow, c, h, w, dtype=images.dtype)
    grid[:b] = images
    return grid.view(rows, nrow, c, h, w).permute(2, 0, 3, 1, 4).reshape(c, rows * h, nrow * w)


class Generator(nn.Module):
    def __init__(self, latent_dim: int = 100, img_shape: tuple = (1, 28, 28)):
        super().__init__()
        self.img_shape = img_shape

        def block(in_feat, out_feat, normalize=True):
            layers = [nn.Linear(in_feat, out_feat)]
            if normalize:
                layers.append(nn.BatchNorm1d(out_feat, 0.8))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            return layers

        self.model = nn.Sequential(
            *block(latent_dim, 128, normalize=False),
            *block(128, 256),
            *block(256, 512),
            *block(512, 1024),
            nn.Linear(1024, int(np.prod(img_shape))),
            nn.Tanh(),
        )

    def forward(self, z):
        img = self.model(z)
        return img.view(img.size(0), *self.img_shape)


class Discriminator(nn.Module):
    def __init__(self, img_shape):
        super().__init__()
        self.model = nn.Sequential(
            nn.Linear(int(np.prod(img_shape)), 512),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(512, 256),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(256, 1),
        )

    def forward(self, img):
        return self.model(img.view(img.size(0), -1))


class GAN(LightningModule):
    def __init__(
        self,
        img_shape: tuple = (1, 28, 28),
        lr: float = 0.0002,
        b1: float = 0.5,
        b2: float = 0.999,
        latent_dim: int = 100,
    ):
        super().__init__()
        self.save_hyperparameters()
        self.automatic_optimization = False

        # networks
        self.generator = Generator(latent_dim=self.hparams.latent_dim, img_shape=img_shape)
        self.discriminator = Discriminator(img_shape=img_shape)

        self.validation_z = torch.randn(8, self.hparams.latent_dim)
        self.example_input_array = torch.zeros(2, self.hparams.latent_dim)

    def forward(self, z):
        return self.generator(z)

    @staticmethod
    def adversarial_loss(y_hat, y):
        return F.binary_cross_entropy_with_logits(y_hat, y)

    def training_step(self, batch):
        imgs, _ = batch
        opt_g, opt_d = self.optimizers()

        # sample noise
        z = torch.randn(imgs.shape[0], self.hparams.latent_dim).type_as(imgs)

        # train the generator: make the discriminator say "real" to generated images
        valid = torch.ones(imgs.size(0), 1).type_as(imgs)
        self.toggle_optimizer(opt_g)
        g_loss = self.adversarial_loss(self.discriminator(self(z)), valid)
        opt_g.zero_grad()
        self.manual_backward(g_loss)
        opt_g.step()
        self.untoggle_optimizer(opt_g)

        # train the discriminator: real images are real, generated ones fake
        self.toggle_optimizer(opt_d)
        real_loss = self.adversarial_loss(self.discriminator(imgs), valid)
        fake = torch.zeros(imgs.size(0), 1).type_as(imgs)
        fake_loss = self.adversarial_loss(self.discriminator(self(z).detach()), fake)
        d_loss = (real_loss + fake_loss) / 2
        opt_d.zero_grad()
        self.manual_backward(d_loss)
        opt_d.step()
        self.untoggle_optimizer(opt_d)

        self.log_dict({"d_loss": d_loss, "g_loss": g_loss})

    def configure_optimizers(self):
        lr, b1, b2 = self.hparams.lr, self.hparams.b1, self.hparams.b2
        opt_g = torch.optim.Adam(self.generator.parameters(), lr=lr, betas=(b1, b2))
        opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=lr, betas=(b1, b2))
        return opt_g, opt_d

    def on_train_epoch_end(self):
        z = self.validation_z.type_as(self.generator.model[0].weight)

        # log sampled images
        sample_imgs = self(z)
        grid = make_grid(sample_imgs.detach().cpu())
        for logger in self.loggers:
            logger.experiment.add_image("generated_images", grid, self.current_epoch)


def main(args: Namespace) -> None:
    # 1 INIT LIGHTNING MODEL
    model = GAN(lr=args.lr, b1=args.b1, b2=args.b2, latent_dim=args.latent_dim)

    # 2 INIT TRAINER
    # treadle: the default logger is TensorBoard where it is installed (CSV otherwise), as in
    # Lightning; it is named here so that a missing tensorboard is an error with the install
    # command; `accelerator="gpu"` becomes "auto" so that the example runs anywhere.
    dm = MNISTDataModule(num_samples=640 if args.fast else 60000)
    trainer = Trainer(
        accelerator="auto",
        devices=1,
        logger="tensorboard",
        max_epochs=2 if args.fast else None,
        default_root_dir=os.getcwd(),
    )

    # 3 START TRAINING
    trainer.fit(model, dm)
    print(
        f"trained {trainer.current_epoch} epochs, global_step={trainer.global_step}, "
        f"d_loss={float(trainer.callback_metrics['d_loss']):.4f} "
        f"g_loss={float(trainer.callback_metrics['g_loss']):.4f}"
    )


if __name__ == "__main__":
    parser = ArgumentParser()
    # Hyperparameters
    parser.add_argument("--lr", type=float, default=0.0002, help="adam: learning rate")
    parser.add_argument(
        "--b1", type=float, default=0.5, help="adam: decay of first order momentum of gradient"
    )
    parser.add_argument(
        "--b2", type=float, default=0.999, help="adam: decay of second order momentum of gradient"
    )
    parser.add_argument(
        "--latent_dim", type=int, default=100, help="dimensionality of the latent space"
    )
    parser.add_argument("--fast", action="store_true", help="treadle: 640 images, 2 epochs")
    main(parser.parse_args())
