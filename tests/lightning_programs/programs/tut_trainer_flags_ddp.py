# Source: https://github.com/Lightning-AI/tutorials/blob/main/lightning_examples/trainer-flags-gpu/flags.py
#   (Lightning-AI tutorials, "Introduction to Pytorch Lightning Trainer flags"; Apache-2.0,
#   Copyright The Lightning AI team): its data and model cells and the "mocking ddp" cell,
#   split out of tut_trainer_flags.py.
# Edits (nothing else changed): those of tut_trainer_flags.py for these cells (MNIST -> random
#   tensors, sizes, MAX_EPOCHS 3 -> 1, NUM_WORKERS -> 0), and
#   `Trainer(accelerator="ddp_cpu", num_processes=2)` (Lightning 1.x) -> `accelerator="cpu",
#   devices=2, strategy="ddp_fork"`: the Lightning 2 name for DDP on CPU processes that works
#   in a notebook-style file with no `__main__` guard (a spawned process would run every cell
#   again).
import os

import torch
from pytorch_lightning import LightningDataModule, LightningModule, seed_everything, Trainer
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, random_split, Subset, TensorDataset


def MNIST(data_dir, train=True, download=False, transform=None):  # edit: stand-in, random data
    n = 512 if train else 64
    return TensorDataset(torch.randn(n, 1, 28, 28), torch.randint(0, 10, (n,)))


# ------------
# data
# ------------
seed_everything(1234)
PATH_DATASETS = os.environ.get('PATH_DATASETS', '.')
AVAIL_GPUS = min(1, torch.cuda.device_count())
BATCH_SIZE = 16  # edit: was 256 if AVAIL_GPUS else 64
NUM_WORKERS = 0  # edit: was int(os.cpu_count() / 2)
MAX_EPOCHS = 1  # edit: was 3

# Init DataLoader from MNIST Dataset


class MNISTDataModule(LightningDataModule):

    def __init__(self, data_dir: str = PATH_DATASETS, batch_size: int = BATCH_SIZE, num_workers: int = NUM_WORKERS):
        super().__init__()
        self.data_dir = data_dir
        self.batch_size = batch_size
        self.num_workers = num_workers

    def prepare_data(self):
        # download
        MNIST(self.data_dir, train=True, download=True)
        MNIST(self.data_dir, train=False, download=True)

    def setup(self, stage=None):
        # Assign train/val datasets for use in dataloaders
        mnist_full = MNIST(self.data_dir, train=True)
        subset_idxs = list(range(len(mnist_full)))[::4]
        mnist_subset = Subset(mnist_full, subset_idxs)
        self.mnist_train, self.mnist_val = random_split(mnist_subset, [96, 32])  # edit: sizes
        # Assign test dataset for use in dataloader(s)
        self.mnist_test = MNIST(self.data_dir, train=False)

    def train_dataloader(self):
        return DataLoader(self.mnist_train, batch_size=self.batch_size, num_workers=self.num_workers)

    def val_dataloader(self):
        return DataLoader(self.mnist_val, batch_size=self.batch_size, num_workers=self.num_workers)

    def test_dataloader(self):
        return DataLoader(self.mnist_test, batch_size=self.batch_size, num_workers=self.num_workers)


mnist = MNISTDataModule()


class LitAutoEncoder(LightningModule):

    def __init__(self, batch_size=32, lr=1e-3):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(28 * 28, 64), nn.ReLU(), nn.Linear(64, 3))
        self.decoder = nn.Sequential(nn.Linear(3, 64), nn.ReLU(), nn.Linear(64, 28 * 28))
        self.batch_size = batch_size
        self.learning_rate = lr

    def forward(self, x):
        # in lightning, forward defines the prediction/inference actions
        embedding = self.encoder(x)
        return embedding

    def training_step(self, batch, batch_idx):
        x, y = batch
        x = x.view(x.size(0), -1)
        z = self.encoder(x)
        x_hat = self.decoder(z)
        loss = F.mse_loss(x_hat, x)
        self.log('train_loss', loss)
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        x = x.view(x.size(0), -1)
        z = self.encoder(x)
        x_hat = self.decoder(z)
        loss = F.mse_loss(x_hat, x)
        self.log('val_loss', loss)

    def test_step(self, batch, batch_idx):
        x, y = batch
        x = x.view(x.size(0), -1)
        z = self.encoder(x)
        x_hat = self.decoder(z)
        loss = F.mse_loss(x_hat, x)
        self.log('test_loss', loss)

    def configure_optimizers(self):
        optimizer = torch.optim.Adam(self.parameters(), lr=1e-3)
        return optimizer


model = LitAutoEncoder()

# Simulate DDP for debugging on your GPU-less laptop
trainer = Trainer(max_epochs=MAX_EPOCHS, accelerator="cpu", devices=2, strategy="ddp_fork")  # edit: ddp_cpu

trainer.fit(LitAutoEncoder(), datamodule=mnist)
assert trainer.world_size == 2  # edit: an assert
