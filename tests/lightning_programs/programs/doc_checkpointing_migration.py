# Source: https://lightning.ai/docs/pytorch/stable/common/checkpointing_migration.html
#   (pytorch-lightning docs/source-pytorch/common/checkpointing_migration.rst; Apache-2.0,
#   Copyright The Lightning AI team)
# Edits: an "old" checkpoint made in the program: a small model trained for 2 epochs of 4
#   batches, its checkpoint cut down to the keys a Lightning 1.5 checkpoint had (`epoch`,
#   `global_step`, `state_dict`, `optimizer_states`, `lr_schedulers`) and stamped
#   `"pytorch-lightning_version": "1.5.9"`; asserted: `trainer.fit(model, ckpt_path=...)`
#   resumes it (at global step 8, with the saved weights; the epoch it resumes at is not
#   asserted: Lightning 2.6.6's 1.6 migration sets `epoch_progress.current.completed` to the
#   checkpoint's epoch, 2, as its docstring says, but its loop then restarts the count from
#   `processed`, 0, while treadle resumes at epoch 2), `LitModel.load_from_checkpoint`
#   loads its weights, neither changes the file; `python -m <lightning>.utilities.
#   upgrade_checkpoint` on the file and on a folder (the page's `lightning_pytorch` module
#   path -> the installed package's, taken from the imported module's `__name__`, so the
#   command runs the mapped package too) upgrades them in place (the Lightning version and a
#   `.bak` copy; `legacy_pytorch-lightning_version` holds the old one).
import os
import subprocess
import sys
import tempfile

import torch
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.utilities import upgrade_checkpoint
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

ROOT = tempfile.mkdtemp()
COMMON = dict(default_root_dir=ROOT, logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0)


class LitModel(LightningModule):
    def __init__(self):
        super().__init__()
        self.layer = nn.Linear(4, 1)
        self.starts = []

    def training_step(self, batch, batch_idx):
        x, y = batch
        return nn.functional.mse_loss(self.layer(x), y)

    def on_train_start(self):
        self.starts.append((self.current_epoch, self.global_step, self.layer.weight.detach().clone()))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


loader = DataLoader(TensorDataset(torch.randn(16, 4), torch.randn(16, 1)), batch_size=4)
model = LitModel()
trainer = Trainer(max_epochs=2, **COMMON)
trainer.fit(model, loader)
new_path = os.path.join(ROOT, "new.ckpt")
trainer.save_checkpoint(new_path)
new = torch.load(new_path, weights_only=False)
old = {key: new[key] for key in ("epoch", "global_step", "state_dict", "optimizer_states", "lr_schedulers")}
old["pytorch-lightning_version"] = "1.5.9"
os.makedirs(os.path.join(ROOT, "old"))
path = os.path.join(ROOT, "old", "checkpoint.ckpt")
torch.save(old, path)
saved_weight = model.layer.weight.detach().clone()

# Resume training from an old checkpoint
trainer = Trainer(max_epochs=3, **COMMON)
model = LitModel()
trainer.fit(model, loader, ckpt_path=path)
epoch, step, weight = model.starts[0]
assert step == 8, model.starts
assert torch.equal(weight, saved_weight)
assert trainer.current_epoch == 3

# or by loading the state directly into your model
model = LitModel.load_from_checkpoint(path)
assert torch.equal(model.layer.weight, saved_weight)
assert torch.load(path, weights_only=False)["pytorch-lightning_version"] == "1.5.9"  # not modified

# Upgrade checkpoint files permanently
module = upgrade_checkpoint.__name__  # lightning.pytorch.utilities.upgrade_checkpoint
subprocess.run([sys.executable, "-m", module, path], check=True, capture_output=True)
upgraded = torch.load(path, weights_only=False)
assert upgraded["pytorch-lightning_version"] != "1.5.9"
assert upgraded["legacy_pytorch-lightning_version"] == "1.5.9"
assert upgraded["loops"]["fit_loop"]["epoch_progress"]["current"]["completed"] == 2
assert torch.load(os.path.join(ROOT, "old", "checkpoint.bak"), weights_only=False)["pytorch-lightning_version"] == "1.5.9"

# or a folder with multiple files
for name in ("a.ckpt", "b.ckpt"):
    torch.save(old, os.path.join(ROOT, "old", name))
subprocess.run([sys.executable, "-m", module, os.path.join(ROOT, "old")], check=True, capture_output=True)
for name in ("a", "b"):
    assert torch.load(os.path.join(ROOT, "old", name + ".ckpt"), weights_only=False)["legacy_pytorch-lightning_version"] == "1.5.9"
    assert os.path.exists(os.path.join(ROOT, "old", name + ".bak"))
print("checkpointing migration: the old checkpoint resumed, loaded and upgraded")
