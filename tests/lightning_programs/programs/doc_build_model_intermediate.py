# Source: https://lightning.ai/docs/pytorch/stable/model/build_model_intermediate.html
#   (pytorch-lightning docs/source-pytorch/model/build_model_intermediate.rst; Apache-2.0,
#   Copyright The Lightning AI team).
# Edits: each Trainer the page builds, run on a small model with random tensors; asserted:
#  - `Trainer(max_epochs=10, min_epochs=5, overfit_batches=1)`: 10 epochs of the same one batch;
#  - `Trainer(callbacks=[StochasticWeightAveraging(...)])` (`swa_lrs=1e-2`, `max_epochs=4`):
#    the model holds the averaged weights after fit;
#  - `Trainer(callbacks=[AWSCheckpoints()])`: the page's callback, filled in as one that
#    "uploads" each saved checkpoint (copies it to a folder standing in for the bucket).
#   Left out: the 4-GPU `strategy="deepspeed_stage_2", precision="16-mixed"` Trainer.
import os
import shutil
import tempfile

import torch
from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.callbacks import StochasticWeightAveraging
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

ROOT = tempfile.mkdtemp()
BUCKET = os.path.join(ROOT, "bucket")


class LitModel(LightningModule):
    def __init__(self):
        super().__init__()
        self.layer = nn.Linear(16, 1)
        self.first_batches = []

    def training_step(self, batch, batch_idx):
        x, y = batch
        if batch_idx == 0:
            self.first_batches.append(x[0, 0].item())
        loss = nn.functional.mse_loss(self.layer(x), y)
        self.log("train_loss", loss)
        return loss

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.05)

    def train_dataloader(self):
        g = torch.Generator().manual_seed(0)
        return DataLoader(TensorDataset(torch.randn(64, 16, generator=g), torch.randn(64, 1, generator=g)), batch_size=8, shuffle=True)


# 20+ helpful arguments for rapid idea iteration
model = LitModel()
trainer = Trainer(max_epochs=10, min_epochs=5, overfit_batches=1, default_root_dir=ROOT, enable_progress_bar=False)
trainer.fit(model)
assert trainer.current_epoch == 10 and trainer.global_step == 10
assert len(set(model.first_batches)) == 1  # the same batch every epoch

# access the latest state of the art techniques
model = LitModel()
swa = StochasticWeightAveraging(swa_lrs=1e-2)
trainer = Trainer(callbacks=[swa], max_epochs=4, default_root_dir=ROOT, enable_progress_bar=False)
trainer.fit(model)
assert trainer.global_step == 32
assert swa.n_averaged is not None and int(swa.n_averaged) >= 1


class AWSCheckpoints(Callback):  # filled in: the page names it only
    def __init__(self):
        self.uploaded = []

    def on_save_checkpoint(self, trainer, pl_module, checkpoint):
        checkpoint["uploaded_to"] = BUCKET

    def on_train_epoch_end(self, trainer, pl_module):
        os.makedirs(BUCKET, exist_ok=True)

    def on_fit_end(self, trainer, pl_module):
        path = trainer.checkpoint_callback.best_model_path
        shutil.copy(path, BUCKET)
        self.uploaded.append(os.path.basename(path))


aws = AWSCheckpoints()
trainer = Trainer(callbacks=[aws], max_epochs=2, default_root_dir=ROOT, enable_progress_bar=False)
trainer.fit(LitModel())
assert aws.uploaded == ["epoch=1-step=16.ckpt"]
saved = torch.load(os.path.join(BUCKET, aws.uploaded[0]), weights_only=False)
assert saved["uploaded_to"] == BUCKET and saved["global_step"] == 16
print("doc_build_model_intermediate: ok")
