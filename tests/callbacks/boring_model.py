"""Lightning's ``BoringModel`` for the ported callback tests, as a ``treadle.Module``.

Lightning's ``lightning.pytorch.demos.boring_classes.BoringModel``: one ``Linear(32, 2)``, MSE
against ones, SGD(lr=0.1) with ``StepLR(step_size=1)``, random data. Smaller here (8 batches
of 8 for training, 4 for validation) so each fit runs in well under a second on two cores.
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

    def step(self, batch):
        return self(batch)

    def training_step(self, batch, batch_idx):
        return {"loss": self.loss(self.step(batch))}

    def validation_step(self, batch, batch_idx):
        return {"x": self.loss(self.step(batch))}

    def test_step(self, batch, batch_idx):  # (Lightning's BoringModel has one too)
        return {"y": self.loss(self.step(batch))}

    def configure_optimizers(self):
        optimizer = torch.optim.SGD(self.parameters(), lr=0.1)
        return [optimizer], [torch.optim.lr_scheduler.StepLR(optimizer, step_size=1)]

    def train_dataloader(self):
        return DataLoader(RandomDataset(32, 64), batch_size=8)

    def val_dataloader(self):
        return DataLoader(RandomDataset(32, 32, seed=1), batch_size=8)


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


def unless_installed(module) -> list:
    """``[module]`` for ``Trainer(plugins=...)``, or ``[]`` once an installed entry point of the
    ``treadle`` group already loads it (a plugin cannot be registered twice). The callbacks'
    entry points are new; the tests pass before and after the package is reinstalled."""
    from importlib.metadata import entry_points

    loaded = {ep.value.split(":")[0] for ep in entry_points(group="treadle")}
    return [] if module.__name__ in loaded else [module]
