# Source: https://lightning.ai/docs/pytorch/stable/tuning/profiler_basic.html
#   (pytorch-lightning docs/source-pytorch/tuning/profiler_basic.rst; Apache-2.0, Copyright The
#   Lightning AI team)
# Edits: the page's `profiler="simple"` report for a `BoringModel` that overrides only
#   `training_step` and `configure_optimizers`, with the rows the page shows for LightningModule
#   hooks it does not override (`[LightningModule]BoringModel.optimizer_step`, `.on_train_start`,
#   `.on_fit_start`); the report is read from `trainer.profiler.summary()`. Split out of
#   `doc_profiler.py` when treadle timed only the hooks a Module overrides; it times the
#   inherited defaults too since lprog34.
import torch
from lightning.pytorch import LightningModule, Trainer
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


class BoringModel(LightningModule):
    def __init__(self):
        super().__init__()
        self.layer = nn.Linear(8, 1)

    def training_step(self, batch, batch_idx):
        x, y = batch
        return nn.functional.mse_loss(self.layer(x), y)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


if __name__ == "__main__":
    g = torch.Generator().manual_seed(0)
    data = DataLoader(TensorDataset(torch.randn(32, 8, generator=g), torch.randn(32, 1, generator=g)), batch_size=8)
    trainer = Trainer(profiler="simple", max_epochs=1, logger=False, enable_checkpointing=False)
    trainer.fit(BoringModel(), data)
    out = trainer.profiler.summary()
    for action in (
        "[LightningModule]BoringModel.optimizer_step",
        "[LightningModule]BoringModel.on_train_start",
        "[LightningModule]BoringModel.on_fit_start",
    ):
        assert action in out, action
    print("OK")
