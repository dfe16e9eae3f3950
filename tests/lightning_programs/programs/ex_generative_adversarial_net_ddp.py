# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/examples/pytorch/domain_templates/generative_adversarial_net_ddp.py
# (Apache-2.0, Copyright The Lightning AI team)
# Edits (nothing else changed):
#  - MNISTDataModule (lightning.pytorch.demos.mnist_datamodule, a download) -> a DataModule of
#    128 random 1x28x28 images in [-1, 1] (train and val) under the same name;
#  - torchvision (not installable here; `_TORCHVISION_AVAILABLE` is False) -> a stand-in with
#    `utils.make_grid` (5 lines) and `utils.save_image` (torch.save) when it is missing;
#  - `MultiModelDDPStrategy` (not in Lightning 2.6.6: the example is newer) -> the example's own
#    first alternative, `DDPStrategy(find_unused_parameters=True)`, and so the submodules'
#    `.module` (each one wrapped in DDP by MultiModelDDPStrategy) -> the submodule itself;
#  - Trainer(accelerator="auto", devices=[0, 1, 2, 3], max_epochs=100) -> accelerator="cpu",
#    devices=2 (2 CPU processes, gloo), max_epochs=2;
#  - checks at the end: rank 0 saved the epoch-1 image grid and logged both losses.
"""To run this template just do: python generative_adversarial_net.py.

After a few epochs, launch TensorBoard to see the images being generated at every batch:

tensorboard --logdir default

"""
import math
from argparse import ArgumentParser, Namespace

import torch
import torch.nn as nn
import torch.nn.functional as F

# ! TESTING
import os
import sys

sys.path.append(os.path.join(os.getcwd(), "src"))  # noqa: E402
# ! TESTING

from lightning.pytorch import LightningDataModule, cli_lightning_logo
from lightning.pytorch.core import LightningModule
from lightning.pytorch.trainer import Trainer
from lightning.pytorch.utilities.imports import _TORCHVISION_AVAILABLE
from lightning.pytorch.strategies.ddp import DDPStrategy
from torch.utils.data import DataLoader, TensorDataset

if _TORCHVISION_AVAILABLE:
    import torchvision
else:  # edit: a stand-in for the two functions used

    class torchvision:  # noqa: N801
        class utils:  # noqa: N801
            @staticmethod
            def make_grid(imgs, nrow=8):
                n, c, h, w = imgs.shape
                rows = math.ceil(n / nrow)
                grid = imgs.new_zeros(c, rows * h, nrow * w)
                for i, img in enumerate(imgs):
                    grid[:, (i // nrow) * h : (i // nrow + 1) * h, (i % nrow) * w : (i % nrow + 1) * w] = img
                return grid

            @staticmethod
            def save_image(grid, path):
                torch.save(grid, path)


class MNISTDataModule(LightningDataModule):  # edit: random images in place of the download
    def __init__(self, batch_size: int = 32):
        super().__init__()
        self.batch_size = batch_size

    def setup(self, stage):
        g = torch.Generator().manual_seed(0)
        self.images = TensorDataset(torch.rand(128, 1, 28, 28, generator=g) * 2 - 1, torch.randint(0, 10, (128,), generator=g))

    def train_dataloader(self):
        return DataLoader(self.images, batch_size=self.batch_size)

    def val_dataloader(self):
        return DataLoader(self.images, batch_size=self.batch_size)


class Generator(nn.Module):
    """
    >>> Generator(img_shape=(1, 8, 8))  # doctest: +ELLIPSIS +NORMALIZE_WHITESPACE
    Generator(
      (model): Sequential(...)
    )
    """

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
            nn.Linear(1024, int(math.prod(img_shape))),
            nn.Tanh(),
        )

    def forward(self, z):
        img = self.model(z)
        return img.view(img.size(0), *self.img_shape)


class Discriminator(nn.Module):
    """
    >>> Discriminator(img_shape=(1, 28, 28))  # doctest: +ELLIPSIS +NORMALIZE_WHITESPACE
    Discriminator(
      (model): Sequential(...)
    )
    """

    def __init__(self, img_shape):
        super().__init__()

        self.model = nn.Sequential(
            nn.Linear(int(math.prod(img_shape)), 512),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(512, 256),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(256, 1),
        )

    def forward(self, img):
        img_flat = img.view(img.size(0), -1)
        return self.model(img_flat)


class GAN(LightningModule):
    """
    >>> GAN(img_shape=(1, 8, 8))  # doctest: +ELLIPSIS +NORMALIZE_WHITESPACE
    GAN(
      (generator): Generator(
        (model): Sequential(...)
      )
      (discriminator): Discriminator(
        (model): Sequential(...)
      )
    )
    """

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

        # ! TESTING
        self.save_path = "pl_test_multi_gpu"
        os.makedirs(self.save_path, exist_ok=True)

    def forward(self, z):
        return self.generator(z)

    @staticmethod
    def adversarial_loss(y_hat, y):
        return F.binary_cross_entropy_with_logits(y_hat, y)

    def training_step(self, batch):
        imgs, _ = batch

        opt_g, opt_d = self.optimizers()

        # sample noise
        z = torch.randn(imgs.shape[0], self.hparams.latent_dim)
        z = z.type_as(imgs)

        # Train generator
        # ground truth result (ie: all fake)
        # put on GPU because we created this tensor inside training_loop
        valid = torch.ones(imgs.size(0), 1)
        valid = valid.type_as(imgs)

        self.toggle_optimizer(opt_g)
        # adversarial loss is binary cross-entropy
        g_loss = self.adversarial_loss(self.discriminator(self(z)), valid)
        opt_g.zero_grad()
        self.manual_backward(g_loss)
        opt_g.step()
        self.untoggle_optimizer(opt_g)

        # Train discriminator
        # Measure discriminator's ability to classify real from generated samples
        # how well can it label as real?
        valid = torch.ones(imgs.size(0), 1)
        valid = valid.type_as(imgs)

        self.toggle_optimizer(opt_d)
        real_loss = self.adversarial_loss(self.discriminator(imgs), valid)

        # how well can it label as fake?
        fake = torch.zeros(imgs.size(0), 1)
        fake = fake.type_as(imgs)

        fake_loss = self.adversarial_loss(self.discriminator(self(z).detach()), fake)

        # discriminator loss is the average of these
        d_loss = (real_loss + fake_loss) / 2

        opt_d.zero_grad()
        self.manual_backward(d_loss)
        opt_d.step()
        self.untoggle_optimizer(opt_d)

        self.log_dict({"d_loss": d_loss, "g_loss": g_loss})

    def configure_optimizers(self):
        lr = self.hparams.lr
        b1 = self.hparams.b1
        b2 = self.hparams.b2

        opt_g = torch.optim.Adam(self.generator.parameters(), lr=lr, betas=(b1, b2))
        opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=lr, betas=(b1, b2))
        return opt_g, opt_d

    # ! TESTING
    def on_train_epoch_start(self):
        if self.trainer.is_global_zero:
            print("GEN: ", self.generator.model[0].bias[:10])  # edit: .generator.module.model
            print("DISC: ", self.discriminator.model[0].bias[:10])  # edit: no .module

    # ! TESTING
    def validation_step(self, batch, batch_idx):
        pass

    # ! TESTING
    @torch.no_grad()
    def on_validation_epoch_end(self):
        if self.current_epoch % 5:
            self.generator.eval(), self.discriminator.eval()

            z = self.validation_z.type_as(self.generator.model[0].weight)  # edit: no .module
            sample_imgs = self(z)

            if self.trainer.is_global_zero:
                grid = torchvision.utils.make_grid(sample_imgs)
                torchvision.utils.save_image(grid, os.path.join(self.save_path, f"epoch_{self.current_epoch}.png"))

            self.generator.train(), self.discriminator.train()


def main(args: Namespace) -> None:
    model = GAN(lr=args.lr, b1=args.b1, b2=args.b2, latent_dim=args.latent_dim)

    # ! `MultiModelDDPStrategy` is critical for multi-gpu training
    # ! Otherwise, it will not work with multiple models.
    # ! There are two ways to run training codes with previous `DDPStrategy`;
    # ! 1) activate `find_unused_parameters=True`, 2) change from self.manual_backward(loss) to loss.backward()
    # ! Neither of them is desirable.
    dm = MNISTDataModule()
    trainer = Trainer(
        accelerator="cpu",  # edit: "auto"
        devices=2,  # edit: [0, 1, 2, 3]
        strategy=DDPStrategy(find_unused_parameters=True),  # edit: MultiModelDDPStrategy()
        max_epochs=2,  # edit: 100
    )

    trainer.fit(model, dm)
    if trainer.is_global_zero:  # edit: checks
        assert os.path.isfile(os.path.join(model.save_path, "epoch_1.png"))
        assert {"d_loss", "g_loss"} <= set(trainer.callback_metrics)


if __name__ == "__main__":
    cli_lightning_logo()
    parser = ArgumentParser()

    # Hyperparameters
    parser.add_argument("--lr", type=float, default=0.0002, help="adam: learning rate")
    parser.add_argument("--b1", type=float, default=0.5, help="adam: decay of first order momentum of gradient")
    parser.add_argument("--b2", type=float, default=0.999, help="adam: decay of second order momentum of gradient")
    parser.add_argument("--latent_dim", type=int, default=100, help="dimensionality of the latent space")
    args = parser.parse_args()

    main(args)
