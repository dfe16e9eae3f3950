# Source: https://lightning.ai/docs/pytorch/stable/common/remote_fs.html
#   (pytorch-lightning docs/source-pytorch/common/remote_fs.rst; Apache-2.0, Copyright The
#   Lightning AI team).
# Edits: the snippets joined around a small model on random tensors, each `s3://my_bucket/...`
#   path -> a `file://` URL of a local temporary folder (no cloud store here); asserted:
#  - `Trainer(default_root_dir="file://...")`: logs and checkpoints written under the folder;
#  - `TensorBoardLogger(save_dir="file://...")`: its event files under the folder;
#  - `trainer.fit(model, ckpt_path="file://.../classifier.ckpt")` with `max_steps=3`: resumed
#    from the checkpoint's step;
#  - `fsspec.registry.known_implementations` lists `file` (printed as the page does).
#   S3/GCS/Azure/HDFS left out (their packages and a store are needed).
import glob
import os
import tempfile

import torch
from fsspec.registry import known_implementations
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.loggers import TensorBoardLogger
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

tmpdir = tempfile.mkdtemp()
BUCKET = "file://" + tmpdir  # edit: "s3://my_bucket"


class LitModel(LightningModule):
    def __init__(self):
        super().__init__()
        self.layer = nn.Linear(8, 1)

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = nn.functional.mse_loss(self.layer(x), y)
        self.log("loss", loss)
        return loss

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)

    def train_dataloader(self):
        return DataLoader(TensorDataset(torch.randn(16, 8), torch.randn(16, 1)), batch_size=8)


model = LitModel()
# `default_root_dir` is the default path used for logs and checkpoints
trainer = Trainer(default_root_dir=f"{BUCKET}/data/", max_epochs=1, enable_progress_bar=False)
trainer.fit(model)
ckpts = glob.glob(os.path.join(tmpdir, "data", "**", "*.ckpt"), recursive=True)
assert ckpts, os.listdir(tmpdir)
assert glob.glob(os.path.join(tmpdir, "data", "lightning_logs", "version_0", "*"))

logger = TensorBoardLogger(save_dir=f"{BUCKET}/logs/")
trainer = Trainer(logger=logger, max_epochs=1, enable_progress_bar=False, default_root_dir=tmpdir)
trainer.fit(model)
assert glob.glob(os.path.join(tmpdir, "logs", "lightning_logs", "version_0", "events.out.tfevents.*"))

# resume from a checkpoint at a file:// URL
os.makedirs(os.path.join(tmpdir, "ckpts"))
trainer = Trainer(max_steps=1, default_root_dir=tmpdir, logger=False, enable_progress_bar=False)
trainer.fit(LitModel())
trainer.save_checkpoint(f"{BUCKET}/ckpts/classifier.ckpt")
assert os.path.isfile(os.path.join(tmpdir, "ckpts", "classifier.ckpt"))

trainer = Trainer(default_root_dir=tmpdir, max_steps=3, enable_progress_bar=False)
trainer.fit(model, ckpt_path=f"{BUCKET}/ckpts/classifier.ckpt")
assert trainer.global_step == 3

print(known_implementations)
assert "file" in known_implementations
print("doc_remote_fs: ok")
