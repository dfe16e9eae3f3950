# treadle port of Lightning's examples/pytorch/basics/autoencoder.py
# (https://github.com/Lightning-AI/pytorch-lightning, Apache-2.0, Copyright The Lightning AI team),
# rewritten for treadle. Imports mapped name for name (`LightningModule` -> `treadle.Module`,
# `LightningDataModule` -> `treadle.DataModule`, `lightning.pytorch.callbacks` ->
# `treadle.callbacks`, `LightningCLI` -> `treadle.cli.CLI`, `rank_zero_only` from
# `treadle.loggers`); the MNIST download becomes random low-rank images (`num_samples` added to
# the DataModule); the image-grid callback saves tensors instead of PNGs (no torchvision).
"""MNIST autoencoder example, driven by the CLI.

To run: python autoencoder.py --trainer.max_epochs=50
CI runs: python autoencoder.py --trainer.max_epochs 2 --trainer.limit_train_batches 10 --data.num_samples 1000
"""

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset, random_split

from treadle import DataModule as LightningDataModule
from treadle import Module as LightningModule
from treadle import Trainer, callbacks
from treadle.cli import CLI as LightningCLI
from treadle.loggers import rank_zero_only


def random_mnist(n: int, seed: int) -> TensorDataset:
    """treadle: ``n`` 1x28x28 images in [0, 1] made from 3 hidden numbers each, dummy labels."""
    basis = torch.randn(3, 28 * 28, generator=torch.Generator().manual_seed(0))
    g = torch.Generator().manual_seed(seed)
    images = torch.sigmoid(torch.randn(n, 3, generator=g) @ basis).view(n, 1, 28, 28)
    return TensorDataset(images, torch.randint(0, 10, (n,), generator=g))


class ImageSampler(callbacks.Callback):
    """Saves originals and reconstructions of a few validation images at each epoch's end
    (treadle: as ``.pt`` tensors; Lightning's example writes PNG grids with torchvision)."""

    def __init__(self, num_samples: int = 3) -> None:
        super().__init__()
        self.num_samples = num_samples

    @rank_zero_only
    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        images, _ = next(
            iter(DataLoader(trainer.datamodule.mnist_val, batch_size=self.num_samples))
        )
        images_flattened = images.view(images.size(0), -1)

        # generate images
        with torch.no_grad():
            pl_module.eval()
            images_generated = pl_module(images_flattened.to(pl_module.device))
            pl_module.train()

        if trainer.current_epoch == 0:
            torch.save(images, f"grid_ori_{trainer.current_epoch}.pt")
        torch.save(
            images_generated.reshape(images.shape).cpu(),
            f"grid_generated_{trainer.current_epoch}.pt",
        )


class LitAutoEncoder(LightningModule):
    def __init__(self, hidden_dim: int = 64, learning_rate: float = 10e-3):
        super().__init__()
        self.save_hyperparameters()
        self.encoder = nn.Sequential(
            nn.Linear(28 * 28, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, 3)
        )
        self.decoder = nn.Sequential(
            nn.Linear(3, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, 28 * 28)
        )

    def forward(self, x):
        z = self.encoder(x)
        return self.decoder(z)

    def training_step(self, batch, batch_idx):
        return self._common_step(batch, batch_idx, "train")

    def validation_step(self, batch, batch_idx):
        self._common_step(batch, batch_idx, "val")

    def test_step(self, batch, batch_idx):
        self._common_step(batch, batch_idx, "test")

    def predict_step(self, batch, batch_idx, dataloader_idx=None):
        x = self._prepare_batch(batch)
        return self(x)

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=self.hparams.learning_rate)

    def _prepare_batch(self, batch):
        x, _ = batch
        return x.view(x.size(0), -1)

    def _common_step(self, batch, batch_idx, stage: str):
        x = self._prepare_batch(batch)
        loss = F.mse_loss(x, self(x))
        self.log(f"{stage}_loss", loss, on_step=True)
        return loss


class MyDataModule(LightningDataModule):
    def __init__(self, batch_size: int = 32, num_samples: int = 60000):
        super().__init__()
        dataset = random_mnist(num_samples - num_samples // 6, seed=1)
        self.mnist_test = random_mnist(num_samples // 6, seed=2)
        n_val = len(dataset) // 11
        self.mnist_train, self.mnist_val = random_split(
            dataset, [len(dataset) - n_val, n_val], generator=torch.Generator().manual_seed(42)
        )
        self.batch_size = batch_size

    def train_dataloader(self):
        return DataLoader(self.mnist_train, batch_size=self.batch_size)

    def val_dataloader(self):
        return DataLoader(self.mnist_val, batch_size=self.batch_size)

    def test_dataloader(self):
        return DataLoader(self.mnist_test, batch_size=self.batch_size)

    def predict_dataloader(self):
        return DataLoader(self.mnist_test, batch_size=self.batch_size)


def cli_main():
    cli = LightningCLI(
        LitAutoEncoder,
        MyDataModule,
        seed_everything_default=1234,
        run=False,  # used to de-activate automatic fitting.
        trainer_defaults={"callbacks": ImageSampler(), "max_epochs": 10},
        save_config_kwargs={"overwrite": True},
    )
    cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    cli.trainer.test(ckpt_path="best", datamodule=cli.datamodule)
    predictions = cli.trainer.predict(ckpt_path="best", datamodule=cli.datamodule)
    print(predictions[0])
    print(
        f"predicted {sum(len(p) for p in predictions)} images of {predictions[0].shape[1]} pixels"
    )


if __name__ == "__main__":
    cli_main()
