# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/examples/pytorch/xpu/mnist_sample.py
# (Apache-2.0, Copyright The Lightning AI team)
# Edits (nothing else changed):
#  - MNISTDataModule (lightning.pytorch.demos.mnist_datamodule, a download) -> a DataModule of
#    random 1x28x28 images with labels (256 train, 64 val, 64 test) under the same name;
#  - trainer_defaults accelerator="gpu", devices=2 (Intel XPUs) -> accelerator="cpu", devices=1
#    (the example runs on the CPU here); a tempfile dir as the Trainer's default_root_dir.
import tempfile

import torch
from lightning.pytorch import LightningDataModule, LightningModule
from lightning.pytorch.cli import LightningCLI
from torch.nn import functional as F
from torch.utils.data import DataLoader, TensorDataset


class MNISTDataModule(LightningDataModule):  # edit: random images in place of the download
    def __init__(self, batch_size: int = 32):
        super().__init__()
        self.batch_size = batch_size

    def setup(self, stage):
        g = torch.Generator().manual_seed(0)

        def images(n):
            return TensorDataset(torch.randn(n, 1, 28, 28, generator=g), torch.randint(0, 10, (n,), generator=g))

        self.train_set, self.val_set, self.test_set = images(256), images(64), images(64)

    def train_dataloader(self):
        return DataLoader(self.train_set, batch_size=self.batch_size, shuffle=True)

    def val_dataloader(self):
        return DataLoader(self.val_set, batch_size=self.batch_size)

    def test_dataloader(self):
        return DataLoader(self.test_set, batch_size=self.batch_size)


class LitClassifier(LightningModule):
    def __init__(self):
        super().__init__()
        self.l1 = torch.nn.Linear(28 * 28, 10)

    def forward(self, x):
        return torch.relu(self.l1(x.view(x.size(0), -1)))

    def training_step(self, batch, batch_idx):
        x, y = batch
        return F.cross_entropy(self(x), y)

    def validation_step(self, batch, batch_idx):
        x, y = batch
        probs = self(x)
        acc = self.accuracy(probs, y)
        self.log("val_acc", acc)

    def test_step(self, batch, batch_idx):
        x, y = batch
        logits = self(x)
        acc = self.accuracy(logits, y)
        self.log("test_acc", acc)

    @staticmethod
    def accuracy(logits, y):
        return torch.sum(torch.eq(torch.argmax(logits, -1), y).to(torch.float32)) / len(y)

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=0.02)


if __name__ == "__main__":
    cli = LightningCLI(
        LitClassifier,
        MNISTDataModule,
        trainer_defaults={
            "accelerator": "cpu",  # edit: "gpu" (XPU), devices=2
            "devices": 1,
            "max_epochs": 1,
            "default_root_dir": tempfile.mkdtemp(),  # edit
        },
        run=False,
        save_config_kwargs={"overwrite": True},
    )

    # Run the model ⚡
    cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    cli.trainer.validate(cli.model, datamodule=cli.datamodule)
    cli.trainer.test(cli.model, datamodule=cli.datamodule)
    assert cli.trainer.current_epoch == 1 and cli.trainer.global_step == 8  # edit: checks
    assert "test_acc" in cli.trainer.callback_metrics
