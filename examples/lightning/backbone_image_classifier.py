# treadle port of Lightning's examples/pytorch/basics/backbone_image_classifier.py
# (https://github.com/Lightning-AI/pytorch-lightning, Apache-2.0, Copyright The Lightning AI team),
# rewritten for treadle. Imports mapped name for name (`LightningModule` -> `treadle.Module`,
# `LightningDataModule` -> `treadle.DataModule`, `LightningCLI` -> `treadle.cli.CLI`); the MNIST
# download becomes random "digits" (a fixed pattern per class plus noise; `num_samples` added to
# the DataModule).
"""MNIST backbone image classifier example, driven by the CLI.

To run: python backbone_image_classifier.py --trainer.max_epochs=50
CI runs: python backbone_image_classifier.py --trainer.max_epochs 2 --data.num_samples 1200
"""

from typing import Optional

import torch
from torch.nn import functional as F
from torch.utils.data import DataLoader, TensorDataset, random_split

from treadle import DataModule as LightningDataModule
from treadle import Module as LightningModule
from treadle.cli import CLI as LightningCLI


def random_mnist(n: int, seed: int) -> TensorDataset:
    """treadle: ``n`` 1x28x28 images of 10 classes, a fixed pattern per class plus noise."""
    patterns = torch.rand(10, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 10, (n,), generator=g)
    return TensorDataset(patterns[labels] + 0.5 * torch.rand(n, 1, 28, 28, generator=g), labels)


class Backbone(torch.nn.Module):
    def __init__(self, hidden_dim=128):
        super().__init__()
        self.l1 = torch.nn.Linear(28 * 28, hidden_dim)
        self.l2 = torch.nn.Linear(hidden_dim, 10)

    def forward(self, x):
        x = x.view(x.size(0), -1)
        x = torch.relu(self.l1(x))
        return torch.relu(self.l2(x))


class LitClassifier(LightningModule):
    def __init__(self, backbone: Optional[Backbone] = None, learning_rate: float = 0.0001):
        super().__init__()
        self.save_hyperparameters(ignore=["backbone"])
        if backbone is None:
            backbone = Backbone()
        self.backbone = backbone

    def forward(self, x):
        # use forward for inference/predictions
        return self.backbone(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        y_hat = self(x)
        loss = F.cross_entropy(y_hat, y)
        self.log("train_loss", loss, on_epoch=True)
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        y_hat = self(x)
        loss = F.cross_entropy(y_hat, y)
        self.log("valid_loss", loss, on_step=True)

    def test_step(self, batch, batch_idx):
        x, y = batch
        y_hat = self(x)
        loss = F.cross_entropy(y_hat, y)
        self.log("test_loss", loss)

    def predict_step(self, batch, batch_idx, dataloader_idx=None):
        x, _ = batch
        return self(x)

    def configure_optimizers(self):
        # self.hparams available because we called self.save_hyperparameters()
        return torch.optim.Adam(self.parameters(), lr=self.hparams.learning_rate)


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
        LitClassifier,
        MyDataModule,
        seed_everything_default=1234,
        save_config_kwargs={"overwrite": True},
        run=False,
    )
    cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    test_results = cli.trainer.test(ckpt_path="best", datamodule=cli.datamodule)
    predictions = cli.trainer.predict(ckpt_path="best", datamodule=cli.datamodule)
    print(predictions[0])
    accuracy = (
        (torch.cat(predictions).argmax(-1) == cli.datamodule.mnist_test.tensors[1]).float().mean()
    )
    print(f"test_loss={test_results[0]['test_loss']:.4f} predict accuracy={accuracy:.3f}")


if __name__ == "__main__":
    cli_main()
