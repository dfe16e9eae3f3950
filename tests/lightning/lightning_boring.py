"""Lightning's ``BoringModel`` and ``BoringDataModule`` (``lightning.pytorch.demos.boring_classes``)
as treadle classes, for the tests ported from Lightning's suite into ``tests/lightning``.

Smaller than Lightning's (64 training samples in batches of 8) so each fit runs in well under a
second on two cores.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

import treadle


class RandomDataset(Dataset):
    def __init__(self, size: int, length: int, seed: int = 0) -> None:
        self.data = torch.randn(length, size, generator=torch.Generator().manual_seed(seed))

    def __getitem__(self, index):
        return self.data[index]

    def __len__(self) -> int:
        return len(self.data)


class BoringModel(treadle.Module):
    def __init__(self) -> None:
        super().__init__()
        self.layer = nn.Linear(32, 2)

    def forward(self, x):
        return self.layer(x)

    def loss(self, preds):
        return nn.functional.mse_loss(preds, torch.ones_like(preds))

    def training_step(self, batch, batch_idx):
        return {"loss": self.loss(self(batch))}

    def validation_step(self, batch, batch_idx):
        loss = self.loss(self(batch))
        self.log("val_loss", loss)
        return {"x": loss}

    def test_step(self, batch, batch_idx):
        self.log("test_loss", self.loss(self(batch)))

    def configure_optimizers(self):
        optimizer = torch.optim.SGD(self.parameters(), lr=0.1)
        return [optimizer], [torch.optim.lr_scheduler.StepLR(optimizer, step_size=1)]

    def train_dataloader(self):
        return DataLoader(RandomDataset(32, 64), batch_size=8)

    def val_dataloader(self):
        return DataLoader(RandomDataset(32, 32, seed=1), batch_size=8)

    def test_dataloader(self):
        return DataLoader(RandomDataset(32, 32, seed=2), batch_size=8)

    def predict_dataloader(self):
        return DataLoader(RandomDataset(32, 16, seed=3), batch_size=8)


class BoringDataModule(treadle.DataModule):
    """Lightning's ``BoringDataModule``: random splits made in ``setup``."""

    def __init__(self) -> None:
        super().__init__()
        self.random_full = RandomDataset(32, 64 * 4)

    def setup(self, stage: str) -> None:
        if stage == "fit":
            self.random_train = torch.utils.data.Subset(self.random_full, range(64))
        if stage in ("fit", "validate"):
            self.random_val = torch.utils.data.Subset(self.random_full, range(64, 64 * 2))
        if stage == "test":
            self.random_test = torch.utils.data.Subset(self.random_full, range(64 * 2, 64 * 3))
        if stage == "predict":
            self.random_predict = torch.utils.data.Subset(self.random_full, range(64 * 3, 64 * 4))

    def train_dataloader(self):
        return DataLoader(self.random_train, batch_size=8)

    def val_dataloader(self):
        return DataLoader(self.random_val, batch_size=8)

    def test_dataloader(self):
        return DataLoader(self.random_test, batch_size=8)

    def predict_dataloader(self):
        return DataLoader(self.random_predict, batch_size=8)


def quiet(tmp_path, **kwargs):
    """Trainer arguments for a quiet CPU run; ``kwargs`` override them. Checkpointing is off
    unless a checkpoint callback is given (off with one is refused, as Lightning)."""
    callbacks = kwargs.get("callbacks") or []
    callbacks = callbacks if isinstance(callbacks, (list, tuple)) else [callbacks]
    return {
        "accelerator": "cpu",
        "default_root_dir": str(tmp_path),
        "logger": False,
        "enable_progress_bar": False,
        "enable_checkpointing": any(isinstance(c, treadle.callbacks.Checkpoint) for c in callbacks),
        "enable_model_summary": False,
        **kwargs,
    }
