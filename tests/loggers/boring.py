"""A tiny model and data for the logger and hyper-parameter tests (Lightning's ``BoringModel``).

Imported by name (``from boring import ...``): pytest puts this folder on ``sys.path``.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import treadle


class BoringModel(treadle.Module):
    """A linear layer on random data; logs its loss every step and each epoch."""

    def __init__(self) -> None:
        super().__init__()
        self.layer = nn.Linear(32, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(x)

    def training_step(self, batch, batch_idx):
        loss = self(batch[0]).sum()
        self.log("train_loss", loss, on_step=True, on_epoch=True)
        return loss

    def validation_step(self, batch, batch_idx):
        self.log("val_loss", self(batch[0]).sum())

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)

    def train_dataloader(self):
        return loader()


def loader(n_batches: int = 4, seed: int = 0) -> DataLoader:
    g = torch.Generator().manual_seed(seed)
    return DataLoader(TensorDataset(torch.randn(n_batches * 2, 32, generator=g)), batch_size=2)


def trainer(tmp_path, **kwargs) -> treadle.Trainer:
    """A quiet CPU Trainer writing under ``tmp_path``; ``kwargs`` override."""
    args = dict(
        accelerator="cpu",
        max_epochs=1,
        enable_progress_bar=False,
        enable_checkpointing=False,
        default_root_dir=str(tmp_path),
        log_every_n_steps=1,
    )
    args.update(kwargs)
    return treadle.Trainer(**args)
