# Source: https://github.com/Lightning-AI/tutorials/blob/main/lightning_examples/augmentation_kornia/augmentation.py
# (Apache-2.0, Copyright The Lightning AI team; adapted from Kornia's tutorials)
# The tutorial's DataAugmentation (kornia.augmentation in an nn.Sequential), Preprocess
# (kornia's image_to_tensor per sample) and CoolSystem (the batched augmentation in
# on_after_batch_transfer while self.trainer.training, torchmetrics Accuracy objects logged,
# CosineAnnealingLR over trainer.max_epochs, prepare_data and the dataloaders on the module),
# show_batch, the fit with a CSVLogger and the metrics.csv read back, as the tutorial runs them.
# Edits (nothing else changed):
#  - CIFAR10 (torchvision, a download of PIL images) -> random 32x32x3 uint8 arrays (what
#    np.array gives of a CIFAR10 PIL image) through the same transform: 64 train, 32 test;
#  - torchvision.models.resnet18(pretrained=True) (torchvision is not installable here, and a
#    download) -> a small stand-in with resnet's attribute names and 1000 outputs;
#    torchvision.utils.make_grid -> a 5-line make_grid;
#  - max_epochs 10 -> 2;
#  - plots and display dropped (matplotlib/seaborn/IPython): show_batch builds the two images
#    without drawing them; pandas (not installed) -> csv.DictReader for metrics.csv.
import csv
import os

import lightning as L
import numpy as np
import torch
import torch.nn as nn
import torchmetrics
from kornia import image_to_tensor, tensor_to_image
from kornia.augmentation import ColorJitter, RandomChannelShuffle, RandomHorizontalFlip, RandomThinPlateSpline
from lightning.pytorch.loggers import CSVLogger
from torch import Tensor
from torch.nn import functional as F
from torch.utils.data import DataLoader, Dataset


class CIFAR10(Dataset):  # edit: random HxWxC uint8 images for the download
    def __init__(self, root, train=True, download=False, transform=None):
        n = 64 if train else 32
        g = torch.Generator().manual_seed(0 if train else 1)
        self.images = torch.randint(0, 256, (n, 32, 32, 3), dtype=torch.uint8, generator=g).numpy()
        self.targets = torch.randint(0, 10, (n,), generator=g).tolist()
        self.transform = transform

    def __len__(self):
        return len(self.targets)

    def __getitem__(self, index):
        img = self.images[index]
        if self.transform is not None:
            img = self.transform(img)
        return img, self.targets[index]


def resnet18(pretrained=False):  # edit: a small stand-in with resnet's children
    model = nn.Module()
    model.conv1 = nn.Conv2d(3, 8, 3, stride=2, padding=1, bias=False)
    model.bn1 = nn.BatchNorm2d(8)
    model.relu = nn.ReLU(inplace=True)
    model.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
    model.layer1 = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU())
    model.layer2 = nn.Sequential(nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.BatchNorm2d(16), nn.ReLU())
    model.layer3 = nn.Sequential(nn.Conv2d(16, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU())
    model.layer4 = nn.Sequential(nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.BatchNorm2d(32), nn.ReLU())
    model.avgpool = nn.AdaptiveAvgPool2d((1, 1))
    model.fc = nn.Linear(32, 1000)
    names = ["conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4", "avgpool"]
    model.forward = lambda x: model.fc(torch.flatten(nn.Sequential(*(getattr(model, n) for n in names))(x), 1))
    return model


def make_grid(images, nrow=8):  # edit: torchvision.utils.make_grid without padding
    b, c, h, w = images.shape
    rows = (b + nrow - 1) // nrow
    grid = torch.zeros(rows * nrow, c, h, w, dtype=images.dtype, device=images.device)
    grid[:b] = images
    return grid.view(rows, nrow, c, h, w).permute(2, 0, 3, 1, 4).reshape(c, rows * h, nrow * w)


class DataAugmentation(nn.Module):
    """Module to perform data augmentation using Kornia on torch tensors."""

    def __init__(self, apply_color_jitter: bool = False) -> None:
        super().__init__()
        self._apply_color_jitter = apply_color_jitter

        self.transforms = nn.Sequential(
            RandomHorizontalFlip(p=0.75),
            RandomChannelShuffle(p=0.75),
            RandomThinPlateSpline(p=0.75),
        )

        self.jitter = ColorJitter(0.5, 0.5, 0.5, 0.5)

    @torch.no_grad()  # disable gradients for effiency
    def forward(self, x: Tensor) -> Tensor:
        x_out = self.transforms(x)  # BxCxHxW
        if self._apply_color_jitter:
            x_out = self.jitter(x_out)
        return x_out


class Preprocess(nn.Module):
    """Module to perform pre-process using Kornia on torch tensors."""

    @torch.no_grad()  # disable gradients for effiency
    def forward(self, x) -> Tensor:
        x_tmp: np.ndarray = np.array(x)  # HxWxC
        x_out: Tensor = image_to_tensor(x_tmp, keepdim=True)  # CxHxW
        return x_out.float() / 255.0


class CoolSystem(L.LightningModule):
    def __init__(self):
        super().__init__()
        # not the best model: expereiment yourself
        self.model = resnet18(pretrained=True)  # edit: torchvision.models.resnet18
        self.preprocess = Preprocess()  # per sample transforms
        self.transform = DataAugmentation()  # per batch augmentation_kornia
        self.train_accuracy = torchmetrics.Accuracy(task="multiclass", num_classes=1000)
        self.val_accuracy = torchmetrics.Accuracy(task="multiclass", num_classes=1000)

    def forward(self, x):
        return self.model(x)

    def compute_loss(self, y_hat, y):
        return F.cross_entropy(y_hat, y)

    def show_batch(self, win_size=(10, 10)):
        def _to_vis(data):
            return tensor_to_image(make_grid(data, nrow=8))  # edit: torchvision.utils.make_grid

        # get a batch from the training set: try with `val_datlaoader` :)
        imgs, labels = next(iter(self.train_dataloader()))
        imgs_aug = self.transform(imgs)  # apply transforms
        # edit: the two images built, not drawn (plt.figure/plt.imshow dropped)
        return _to_vis(imgs), _to_vis(imgs_aug)

    def on_after_batch_transfer(self, batch, dataloader_idx):
        x, y = batch
        if self.trainer.training:
            x = self.transform(x)  # => we perform GPU/Batched data augmentation
        return x, y

    def training_step(self, batch, batch_idx):
        x, y = batch
        y_hat = self(x)
        loss = self.compute_loss(y_hat, y)
        self.train_accuracy.update(y_hat, y)
        self.log("train_loss", loss, prog_bar=False)
        self.log("train_acc", self.train_accuracy, prog_bar=False)
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        y_hat = self(x)
        loss = self.compute_loss(y_hat, y)
        self.val_accuracy.update(y_hat, y)
        self.log("valid_loss", loss, prog_bar=False)
        self.log("valid_acc", self.val_accuracy, prog_bar=True)

    def configure_optimizers(self):
        optimizer = torch.optim.AdamW(self.model.parameters(), lr=1e-4)
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, self.trainer.max_epochs, 0)
        return [optimizer], [scheduler]

    def prepare_data(self):
        CIFAR10(os.getcwd(), train=True, download=True, transform=self.preprocess)
        CIFAR10(os.getcwd(), train=False, download=True, transform=self.preprocess)

    def train_dataloader(self):
        dataset = CIFAR10(os.getcwd(), train=True, download=True, transform=self.preprocess)
        loader = DataLoader(dataset, batch_size=32)
        return loader

    def val_dataloader(self):
        dataset = CIFAR10(os.getcwd(), train=False, download=True, transform=self.preprocess)
        loader = DataLoader(dataset, batch_size=32)
        return loader


# init model
model = CoolSystem()

vis, vis_aug = model.show_batch(win_size=(14, 14))
print("show_batch:", vis.shape, vis_aug.shape)

# Initialize a trainer
trainer = L.Trainer(
    accelerator="auto",
    devices=1,
    max_epochs=2,  # edit: 10
    logger=CSVLogger(save_dir="logs/"),
)

# Train the model ⚡
trainer.fit(model)

with open(f"{trainer.logger.log_dir}/metrics.csv") as f:  # edit: pd.read_csv
    metrics = list(csv.DictReader(f))
for row in metrics:
    del row["step"]
print(metrics[:5])
