# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/examples/pytorch/basics/profiler_example.py
# (Apache-2.0, Copyright The Lightning AI team)
# Edits (nothing else changed):
#  - CIFAR10 (a download through torchvision, not installable here) -> random 3x32x32 tensors
#    (64 train, 32 val) with random labels; the torchvision transform goes with it;
#  - get_torchvision_model("resnet18", weights="DEFAULT") (a download) -> a small conv net
#    with 10 outputs, built from the same `name` argument's place;
#  - trainer_defaults: limit_train_batches/limit_val_batches 15 -> 4, accelerator "gpu" ->
#    "cpu"
#  - trainer_defaults "profiler": PyTorchProfiler() -> "pytorch" (the same profiler by name): on
#    Lightning 2.6.6 with jsonargparse 4.x the instance fails as is ("Subclass types require as
#    default either a dict with class_path or a lazy instance").
"""This script will generate 2 traces: one for `training_step` and one for `validation_step`.

The traces can be visualized in 2 ways:

* With Chrome:
    1. Open Chrome and copy/paste this url: `chrome://tracing/`.
    2. Once tracing opens, click on `Load` at the top-right and load one of the generated traces.
* With PyTorch Tensorboard Profiler (Instructions are here: https://github.com/pytorch/kineto/tree/master/tb_plugin)
    1. pip install tensorboard torch-tb-profiler
    2. tensorboard --logdir={FOLDER}

"""

import torch
from lightning.pytorch import LightningDataModule, LightningModule, cli_lightning_logo
from lightning.pytorch.cli import LightningCLI
from lightning.pytorch.profilers.pytorch import PyTorchProfiler
from torch.utils.data import TensorDataset


def get_torchvision_model(name, weights=None):  # edit: a small stand-in, no download
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(4),
        torch.nn.Flatten(),
        torch.nn.Linear(8 * 16, 10),
    )


def random_cifar10(n):  # edit: random tensors in place of the download
    return TensorDataset(torch.rand(n, 3, 32, 32), torch.randint(0, 10, (n,)))


class ModelToProfile(LightningModule):
    def __init__(self, name: str = "resnet18", automatic_optimization: bool = True):
        super().__init__()
        self.model = get_torchvision_model(name, weights="DEFAULT")
        self.criterion = torch.nn.CrossEntropyLoss()
        self.automatic_optimization = automatic_optimization
        self.training_step = (
            self.automatic_optimization_training_step
            if automatic_optimization
            else self.manual_optimization_training_step
        )

    def automatic_optimization_training_step(self, batch, batch_idx):
        inputs, labels = batch
        outputs = self.model(inputs)
        loss = self.criterion(outputs, labels)
        self.log("train_loss", loss)
        return loss

    def manual_optimization_training_step(self, batch, batch_idx):
        opt = self.optimizers()
        opt.zero_grad()
        inputs, labels = batch
        outputs = self.model(inputs)
        loss = self.criterion(outputs, labels)
        self.log("train_loss", loss)
        self.manual_backward(loss)
        opt.step()

    def validation_step(self, batch, batch_idx):
        inputs, labels = batch
        outputs = self.model(inputs)
        loss = self.criterion(outputs, labels)
        self.log("val_loss", loss)

    def predict_step(self, batch, batch_idx, dataloader_idx: int = None):
        inputs = batch[0]
        return self.model(inputs)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.001, momentum=0.9)


class CIFAR10DataModule(LightningDataModule):
    def train_dataloader(self, *args, **kwargs):
        trainset = random_cifar10(64)
        return torch.utils.data.DataLoader(trainset, batch_size=2, shuffle=True, num_workers=0)

    def val_dataloader(self, *args, **kwargs):
        valset = random_cifar10(32)
        return torch.utils.data.DataLoader(valset, batch_size=2, shuffle=True, num_workers=0)


def cli_main():
    cli = LightningCLI(
        ModelToProfile,
        CIFAR10DataModule,
        save_config_kwargs={"overwrite": True},
        trainer_defaults={
            "profiler": "pytorch",
            "max_epochs": 1,
            "limit_train_batches": 4,
            "limit_val_batches": 4,
            "accelerator": "cpu",
        },
        run=False,
    )
    cli.trainer.fit(cli.model, datamodule=cli.datamodule)


if __name__ == "__main__":
    cli_lightning_logo()
    cli_main()
