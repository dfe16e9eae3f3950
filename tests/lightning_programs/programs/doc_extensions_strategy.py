# Source: https://lightning.ai/docs/pytorch/stable/extensions/plugins.html (pytorch-lightning
#   docs/source-pytorch/extensions/plugins.rst) with the "Custom Checkpoint IO Plugin" example it
#   links to (common/checkpointing_expert.rst as published before the page moved to distributed
#   checkpoints: `CustomCheckpointIO` passed to `SingleDeviceStrategy`) (Apache-2.0, Copyright
#   The Lightning AI team).
# Edits: the part of doc_extensions.py that passes the custom `CheckpointIO` to a
#   `SingleDeviceStrategy` object, split out; the `...` bodies filled in (torch.save/load,
#   recorded; `load_checkpoint` takes `weights_only=None`, which Lightning 2.6.6 passes); the
#   checkpoint it resumes from written first by a run with the plugin in `plugins=[...]`; a
#   small model on random data.
# treadle: an expected failure (tests/test_lightning_programs.py): strategies are chosen by name,
#   and `treadle.strategies` has no `SingleDeviceStrategy` class taking a `checkpoint_io`
#   (docs/migration.md, "Imports and names" 3); `Trainer(plugins=[CustomCheckpointIO()])` is the
#   treadle way (doc_extensions.py).
import os

import torch
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.plugins import CheckpointIO
from lightning.pytorch.strategies import SingleDeviceStrategy
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


class MyModel(LightningModule):
    def __init__(self):
        super().__init__()
        self.layer = nn.Linear(4, 1)

    def training_step(self, batch, batch_idx):
        x, y = batch
        return nn.functional.mse_loss(self.layer(x), y)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01)

    def train_dataloader(self):
        g = torch.Generator().manual_seed(0)
        return DataLoader(TensorDataset(torch.randn(32, 4, generator=g), torch.randn(32, 1, generator=g)), batch_size=2)


def trainer(**kwargs):
    return Trainer(enable_progress_bar=False, enable_model_summary=False, logger=False, **kwargs)


class CustomCheckpointIO(CheckpointIO):
    def __init__(self):
        self.calls = []

    def save_checkpoint(self, checkpoint, path, storage_options=None):
        self.calls.append(("save", os.path.basename(path)))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        torch.save(checkpoint, path)

    def load_checkpoint(self, path, storage_options=None, weights_only=None):
        self.calls.append(("load", os.path.basename(path)))
        return torch.load(path, weights_only=False)

    def remove_checkpoint(self, path):
        self.calls.append(("remove", os.path.basename(path)))
        os.remove(path)


# a checkpoint to resume from, written through the plugin
t = trainer(
    plugins=[CustomCheckpointIO()],
    callbacks=ModelCheckpoint(save_last=True),
    max_epochs=2,
    default_root_dir="custom",
)
t.fit(MyModel())

# or pass into Strategy
custom_checkpoint_io = CustomCheckpointIO()
model = MyModel()
device = torch.device("cpu")
t = trainer(
    strategy=SingleDeviceStrategy(device, checkpoint_io=custom_checkpoint_io),
    callbacks=ModelCheckpoint(save_last=True),
    max_epochs=3,
    default_root_dir="custom",
)
t.fit(model, ckpt_path="custom/checkpoints/last.ckpt")
assert custom_checkpoint_io.calls[0] == ("load", "last.ckpt"), custom_checkpoint_io.calls
assert t.current_epoch == 3 and t.global_step == 48
print("extensions pages, strategy part: ok")
