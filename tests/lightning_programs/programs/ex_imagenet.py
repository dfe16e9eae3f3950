# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/examples/pytorch/domain_templates/imagenet.py
# (Apache-2.0, Copyright The Lightning AI team)
# Edits (nothing else changed):
#  - torchvision (not installable here): `datasets.ImageFolder` -> a stand-in dataset of 64
#    random 3x32x32 images over 1000 classes (the folder argument unused), `transforms` -> a
#    namespace whose members return the identity, and `get_torchvision_model` (Lightning's helper
#    that imports torchvision) -> a stand-in giving a small CNN named "ResNet";
#  - the CLI runs `fit --model.data_path=unused --model.batch_size=16 --model.workers=0
#    --trainer.max_epochs=2 --trainer.limit_train_batches=3 --trainer.limit_val_batches=2`,
#    then `test` the same way, unless arguments are given (the example trains for 90 epochs);
#    TQDMProgressBar(refresh_rate=10) kept.
"""This example is largely adapted from https://github.com/pytorch/examples/blob/master/imagenet/main.py."""

import os
import sys
from types import SimpleNamespace
from typing import Optional

import torch
import torch.nn.functional as F
import torch.nn.parallel
import torch.optim as optim
import torch.optim.lr_scheduler as lr_scheduler
import torch.utils.data
import torch.utils.data.distributed
from lightning.pytorch import LightningModule
from lightning.pytorch.callbacks import ModelCheckpoint, TQDMProgressBar
from lightning.pytorch.cli import LightningCLI
from lightning.pytorch.strategies import ParallelStrategy
from torch import nn
from torch.utils.data import Dataset
from torchmetrics import Accuracy
from typing_extensions import override


class _ImageFolder(Dataset):  # edit: torchvision stand-ins
    def __init__(self, root, transform=None):
        g = torch.Generator().manual_seed(len(root))
        self.x = torch.randn(64, 3, 32, 32, generator=g)
        self.y = torch.randint(0, 1000, (64,), generator=g)

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i], self.y[i]


def _identity(*args, **kwargs):
    return lambda x: x


datasets = SimpleNamespace(ImageFolder=_ImageFolder)
transforms = SimpleNamespace(
    Normalize=_identity,
    Compose=_identity,
    RandomResizedCrop=_identity,
    RandomHorizontalFlip=_identity,
    ToTensor=_identity,
    Resize=_identity,
    CenterCrop=_identity,
)


class ResNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(3, 8, 3, stride=2), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 1000)
        )

    def forward(self, x):
        return self.net(x)


def get_torchvision_model(arch, weights=None):
    return ResNet()


class ImageNetLightningModel(LightningModule):
    def __init__(
        self,
        data_path: str,
        arch: str = "resnet18",
        weights: Optional[str] = None,
        lr: float = 0.1,
        momentum: float = 0.9,
        weight_decay: float = 1e-4,
        batch_size: int = 256,
        workers: int = 4,
    ):
        super().__init__()
        self.arch = arch
        self.weights = weights
        self.lr = lr
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.data_path = data_path
        self.batch_size = batch_size
        self.workers = workers
        self.model = get_torchvision_model(self.arch, weights=self.weights)
        self.train_dataset: Optional[Dataset] = None
        self.eval_dataset: Optional[Dataset] = None
        # ToDo: this number of classes hall be parsed when the dataset is loaded from folder
        self.train_acc1 = Accuracy(task="multiclass", num_classes=1000, top_k=1)
        self.train_acc5 = Accuracy(task="multiclass", num_classes=1000, top_k=5)
        self.eval_acc1 = Accuracy(task="multiclass", num_classes=1000, top_k=1)
        self.eval_acc5 = Accuracy(task="multiclass", num_classes=1000, top_k=5)

    @override
    def forward(self, x):
        return self.model(x)

    @override
    def training_step(self, batch, batch_idx):
        images, target = batch
        output = self.model(images)
        loss_train = F.cross_entropy(output, target)
        self.log("train_loss", loss_train)
        # update metrics
        self.train_acc1(output, target)
        self.train_acc5(output, target)
        self.log("train_acc1", self.train_acc1, prog_bar=True)
        self.log("train_acc5", self.train_acc5, prog_bar=True)
        return loss_train

    def eval_step(self, batch, batch_idx, prefix: str):
        images, target = batch
        output = self.model(images)
        loss_val = F.cross_entropy(output, target)
        self.log(f"{prefix}_loss", loss_val)
        # update metrics
        self.eval_acc1(output, target)
        self.eval_acc5(output, target)
        self.log(f"{prefix}_acc1", self.eval_acc1, prog_bar=True)
        self.log(f"{prefix}_acc5", self.eval_acc5, prog_bar=True)
        return loss_val

    def validation_step(self, batch, batch_idx):
        return self.eval_step(batch, batch_idx, "val")

    def test_step(self, batch, batch_idx):
        return self.eval_step(batch, batch_idx, "test")

    @override
    def configure_optimizers(self):
        optimizer = optim.SGD(self.parameters(), lr=self.lr, momentum=self.momentum, weight_decay=self.weight_decay)
        scheduler = lr_scheduler.LambdaLR(optimizer, lambda epoch: 0.1 ** (epoch // 30))
        return [optimizer], [scheduler]

    def setup(self, stage: str):
        if isinstance(self.trainer.strategy, ParallelStrategy):
            # When using a single GPU per process and per `DistributedDataParallel`, we need to divide the batch size
            # ourselves based on the total number of GPUs we have
            num_processes = max(1, self.trainer.strategy.num_processes)
            self.batch_size = int(self.batch_size / num_processes)
            self.workers = int(self.workers / num_processes)

        if stage == "fit":
            normalize = transforms.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])
            train_dir = os.path.join(self.data_path, "train")
            self.train_dataset = datasets.ImageFolder(
                train_dir,
                transforms.Compose(
                    [
                        transforms.RandomResizedCrop(224),
                        transforms.RandomHorizontalFlip(),
                        transforms.ToTensor(),
                        normalize,
                    ]
                ),
            )
        # all stages will use the eval dataset
        normalize = transforms.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])
        val_dir = os.path.join(self.data_path, "val")
        self.eval_dataset = datasets.ImageFolder(
            val_dir,
            transforms.Compose([transforms.Resize(256), transforms.CenterCrop(224), transforms.ToTensor(), normalize]),
        )

    def train_dataloader(self):
        return torch.utils.data.DataLoader(
            dataset=self.train_dataset,
            batch_size=self.batch_size,
            shuffle=True,
            num_workers=self.workers,
            pin_memory=True,
        )

    def val_dataloader(self):
        return torch.utils.data.DataLoader(
            self.eval_dataset, batch_size=self.batch_size, num_workers=self.workers, pin_memory=True
        )

    def test_dataloader(self):
        return self.val_dataloader()


if __name__ == "__main__":
    short = len(sys.argv) == 1  # edit: a short fit, then test, by default
    small = ["--model.data_path=unused", "--model.batch_size=16", "--model.workers=0"]
    limits = ["--trainer.max_epochs=2", "--trainer.limit_train_batches=3", "--trainer.limit_val_batches=2"]
    for command in [["fit", *small, *limits], ["test", *small, "--trainer.limit_test_batches=2"]] if short else [None]:
        if command:
            sys.argv[1:] = command
        LightningCLI(
            ImageNetLightningModel,
            trainer_defaults={
                "max_epochs": 90,
                "accelerator": "auto",
                "devices": 1,
                "logger": False,
                "benchmark": True,
                "callbacks": [
                    # the PyTorch example refreshes every 10 batches
                    TQDMProgressBar(refresh_rate=10),
                    # save when the validation top1 accuracy improves
                    ModelCheckpoint(monitor="val_acc1", mode="max"),
                ],
            },
            seed_everything_default=42,
            save_config_kwargs={"overwrite": True},
        )
