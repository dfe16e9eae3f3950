# Source: https://lightning.ai/docs/pytorch/stable/extensions/callbacks_state.html and
#   extensions/plugins.html (pytorch-lightning docs/source-pytorch/extensions/callbacks_state.rst,
#   plugins.rst) with the "Custom Checkpoint IO Plugin" example plugins.rst links to
#   (common/checkpointing_expert.rst as published before the page moved to distributed
#   checkpoints: `CustomCheckpointIO`, passed to the Trainer and to `SingleDeviceStrategy`) and
#   `AsyncCheckpointIO` from the plugins list (Apache-2.0, Copyright The Lightning AI team).
# Edits: the snippets joined into one program with a small model on random data:
#  - the two `Counter` callbacks with `state_key`: the checkpoint's "callbacks" entries as the
#    page shows them (2 epochs of 16 batches -> 32 batches, 2 epochs), restored on a resume;
#  - the custom `CheckpointIO`'s `...` bodies filled in (torch.save/load to the path, recorded);
#    `ModelCheckpoint(save_last=True)` (`load_checkpoint` takes `weights_only=None` too:
#    Lightning 2.6.6 passes it, the page's signature fails there);
#  - the `SingleDeviceStrategy(device, checkpoint_io=...)` part (a resume through the plugin)
#    moved to doc_extensions_strategy.py;
#  - `AsyncCheckpointIO()` in `plugins=`, its files written when fit returns;
#  - precision plugins and cluster environments left out (named, not shown, on the page; 16-bit
#    needs a GPU).
# treadle: runs mapped (`treadle.plugins`: a `CheckpointIO` in `plugins=[...]` writes, reads and
#   removes the run's checkpoint files through treadle's checkpoint hooks).
import os

import torch
from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.plugins import CheckpointIO
from lightning.pytorch.plugins.io import AsyncCheckpointIO
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


# -- Save Callback state --
class Counter(Callback):
    def __init__(self, what="epochs", verbose=True):
        self.what = what
        self.verbose = verbose
        self.state = {"epochs": 0, "batches": 0}

    @property
    def state_key(self):
        # note: we do not include `verbose` here on purpose
        return self._generate_state_key(what=self.what)

    def on_train_epoch_end(self, *args, **kwargs):
        if self.what == "epochs":
            self.state["epochs"] += 1

    def on_train_batch_end(self, *args, **kwargs):
        if self.what == "batches":
            self.state["batches"] += 1

    def load_state_dict(self, state_dict):
        self.state.update(state_dict)

    def state_dict(self):
        return self.state.copy()


# two callbacks of the same type are being used
t = trainer(callbacks=[Counter(what="epochs"), Counter(what="batches")], max_epochs=2, default_root_dir="counters")
t.fit(MyModel())
t.save_checkpoint("counters.ckpt")
checkpoint = torch.load("counters.ckpt", weights_only=False)
assert checkpoint["callbacks"]["Counter{'what': 'batches'}"] == {"batches": 32, "epochs": 0}, checkpoint["callbacks"]
assert checkpoint["callbacks"]["Counter{'what': 'epochs'}"] == {"batches": 0, "epochs": 2}, checkpoint["callbacks"]
counters = [Counter(what="epochs", verbose=False), Counter(what="batches")]
trainer(callbacks=counters, max_epochs=3).fit(MyModel(), ckpt_path="counters.ckpt")
assert counters[0].state == {"batches": 0, "epochs": 3} and counters[1].state == {"batches": 48, "epochs": 0}, counters


# -- CheckpointIO Plugins --
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


custom_checkpoint_io = CustomCheckpointIO()

# Either pass into the Trainer object
model = MyModel()
t = trainer(
    plugins=[custom_checkpoint_io],
    callbacks=ModelCheckpoint(save_last=True),
    max_epochs=2,
    default_root_dir="custom",
)
t.fit(model)
saves = [name for kind, name in custom_checkpoint_io.calls if kind == "save"]
assert "last.ckpt" in saves and "epoch=1-step=32.ckpt" in saves, custom_checkpoint_io.calls
assert ("remove", "epoch=0-step=16.ckpt") in custom_checkpoint_io.calls, custom_checkpoint_io.calls
assert t.strategy.checkpoint_io is custom_checkpoint_io

# AsyncCheckpointIO: saves in a thread, all done when fit returns
async_ckpt_io = AsyncCheckpointIO()
t = trainer(plugins=[async_ckpt_io], max_epochs=1, default_root_dir="async")
t.fit(MyModel())
assert t.strategy.checkpoint_io is async_ckpt_io
assert os.listdir("async/checkpoints") == ["epoch=0-step=16.ckpt"], os.listdir("async/checkpoints")
assert torch.load("async/checkpoints/epoch=0-step=16.ckpt", weights_only=False)["global_step"] == 16
print("extensions pages: ok")
