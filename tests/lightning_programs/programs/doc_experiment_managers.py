# Source: https://lightning.ai/docs/pytorch/stable/visualize/experiment_managers.html with the
#   page it includes, visualize/supported_exp_managers.rst, and visualize/loggers.rst
#   (pytorch-lightning docs/source-pytorch/visualize/; Apache-2.0, Copyright The Lightning AI
#   team)
# Edits: the TensorBoard parts and "Use multiple exp managers" joined around a small model on
#   random tensors, each Trainer fitted and the event files read back with tensorboard's
#   EventAccumulator:
#  - `TensorBoardLogger()` -> `TensorBoardLogger(save_dir="tb_logs")` (`save_dir` is required in
#    Lightning 2.6.6);
#  - `self.logger.experiment` used in `training_step` and in another hook: `add_image` of one
#    3x28x28 image, `add_images` for the page's batch `torch.Tensor(32, 3, 28, 28)` (`add_image`
#    takes one image: the page's call fails on tensorboard), `add_histogram` of the weights;
#  - several loggers: `WandbLogger` (not installed) -> `CSVLogger`; the page's
#    `self.loggers.experiment[0]` (a list has no `experiment`) -> `self.loggers[0].experiment`.
#   Left out: `add_figure` (matplotlib is not installed with the reference Lightning), Comet,
#   MLflow (loggers.rst's `checkpoint_artifact_path_prefix`), Neptune and W&B (not installed).
import csv
import glob
import os

import torch
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch import loggers as pl_loggers
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


def loader():
    g = torch.Generator().manual_seed(0)
    return DataLoader(TensorDataset(torch.randn(16, 8, generator=g), torch.randn(16, 1, generator=g)), batch_size=4)


class LitModel(LightningModule):
    def __init__(self):
        super().__init__()
        self.layer = nn.Linear(8, 1)

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = nn.functional.mse_loss(self.layer(x), y)
        self.log("train_loss", loss)
        if batch_idx == 0:
            tensorboard = self.logger.experiment
            tensorboard.add_image("one_image", torch.rand(3, 28, 28), self.global_step)
            tensorboard.add_histogram("weights", self.layer.weight, self.global_step)
        return loss

    def on_train_epoch_end(self):  # any_lightning_module_function_or_hook
        tensorboard_logger = self.logger.experiment
        fake_images = torch.rand(32, 3, 28, 28)
        tensorboard_logger.add_images("generated_images", fake_images, 0)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def tags(log_dir):
    (event_file,) = glob.glob(os.path.join(log_dir, "events.out.tfevents.*"))
    acc = EventAccumulator(event_file, size_guidance={"images": 0, "histograms": 0, "scalars": 0})
    acc.Reload()
    return acc.Tags(), acc


# -- Manage Experiments: TensorBoard --
tensorboard = pl_loggers.TensorBoardLogger(save_dir="tb_logs")
trainer = Trainer(logger=tensorboard, max_epochs=2, enable_progress_bar=False, enable_model_summary=False,
                  enable_checkpointing=False, log_every_n_steps=1)
trainer.fit(LitModel(), loader())
assert trainer.logger is tensorboard and tensorboard.log_dir == os.path.join("tb_logs", "lightning_logs", "version_0")
found, acc = tags(tensorboard.log_dir)
assert {"one_image", "generated_images"} <= set(found["images"]), found
assert "weights" in found["histograms"] and "train_loss" in found["scalars"], found
assert len(acc.Images("one_image")) == 2  # one per epoch
# one per epoch at the page's step 0: the 32 images in a grid of 8 x 4
assert [(e.step, e.width, e.height) for e in acc.Images("generated_images")] == [(0, 224, 112)] * 2


# -- Use multiple exp managers --
class MyModule(LitModel):
    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = nn.functional.mse_loss(self.layer(x), y)
        self.log("train_loss", loss)
        return loss

    def on_train_epoch_end(self):
        tensorboard_logger = self.loggers[0].experiment
        csv_logger = self.loggers[1].experiment
        fake_images = torch.rand(32, 3, 28, 28)
        tensorboard_logger.add_images("generated_images", fake_images, self.current_epoch)
        csv_logger.log_metrics({"images_mean": fake_images.mean().item()}, self.global_step)


logger1 = TensorBoardLogger(save_dir="multi")
logger2 = CSVLogger(save_dir="multi")
trainer = Trainer(logger=[logger1, logger2], max_epochs=2, enable_progress_bar=False, enable_model_summary=False,
                  enable_checkpointing=False, log_every_n_steps=1)
trainer.fit(MyModule(), loader())
assert trainer.loggers == [logger1, logger2] and trainer.logger is logger1
found, acc = tags(logger1.log_dir)
assert len(acc.Images("generated_images")) == 2 and "train_loss" in found["scalars"], found
with open(os.path.join(logger2.log_dir, "metrics.csv")) as f:
    rows = list(csv.DictReader(f))
assert sum(1 for r in rows if r["train_loss"]) == 8, rows  # 2 epochs of 4 steps, logged every step
assert sum(1 for r in rows if r["images_mean"]) == 2, rows  # one per epoch, by the experiment
print("experiment managers: ok")
