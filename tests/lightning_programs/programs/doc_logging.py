# Source: https://lightning.ai/docs/pytorch/stable/extensions/logging.html
#   (pytorch-lightning docs/source-pytorch/extensions/logging.rst; Apache-2.0,
#   Copyright The Lightning AI team)
# Edits: the page's snippets joined into one program with a small model over random tensors:
#  - the default logger's folder, `TensorBoardLogger(save_dir="logs/")`, a list of loggers
#    (CSVLogger + TensorBoardLogger: LitLogger/Comet/MLflow/Neptune/W&B/VisualDL need their own
#    packages or accounts);
#  - `self.log`/`log_dict` with the page's options (on_step/on_epoch/prog_bar/logger,
#    reduce_fx, batch_size) and its table of defaults per hook, read back through the page's
#    custom `MyLogger` (its `pass` bodies record what they get); `_step`/`_epoch` keys
#    monitored by ModelCheckpoint; `log_every_n_steps=k`;
#  - manual logging through `self.logger.experiment` (add_histogram; add_image/add_figure need
#    an image/matplotlib); the CustomProgressBar without `v_num`; console logging set up as the
#    page shows (it names Lightning's logger, so it only matters on Lightning);
#  - the "hyper_parameters" checkpoint key and `log_hyperparams(self.hparams, {...})` with
#    `default_hp_metric=False`; asserts on what the page says happens.
import logging
import os

import torch
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch import loggers as pl_loggers
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.callbacks.progress import TQDMProgressBar
from lightning.pytorch.loggers.logger import Logger, rank_zero_experiment
from lightning.pytorch.utilities import rank_zero_only
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


def loader(n=16, batch_size=4):
    g = torch.Generator().manual_seed(n)
    return DataLoader(TensorDataset(torch.randn(n, 4, generator=g), torch.randn(n, 1, generator=g)), batch_size=batch_size)


class MyLogger(Logger):
    def __init__(self):
        super().__init__()
        self.rows = []
        self.params = None
        self.saved = 0
        self.status = None

    @property
    def name(self):
        return "MyLogger"

    @property
    def version(self):
        # Return the experiment version, int or str.
        return "0.1"

    @rank_zero_only
    def log_hyperparams(self, params):
        # params is an argparse.Namespace
        # your code to record hyperparameters goes here
        self.params = params

    @rank_zero_only
    def log_metrics(self, metrics, step):
        # metrics is a dictionary of metric names and values
        # your code to record metrics goes here
        self.rows.append((step, dict(metrics)))

    @rank_zero_only
    def save(self):
        # Optional. Any code necessary to save logger data goes here
        self.saved += 1

    @rank_zero_only
    def finalize(self, status):
        # Optional. Any code that needs to be run after training
        # finishes goes here
        self.status = status

    def keys(self):
        return {k for _, m in self.rows for k in m}


class Base(LightningModule):
    def __init__(self, lr=0.1):
        super().__init__()
        self.save_hyperparameters()
        self.layer = nn.Linear(4, 1)

    def loss(self, batch):
        x, y = batch
        return nn.functional.mse_loss(self.layer(x), y)

    def training_step(self, batch, batch_idx):
        return self.loss(batch)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)


# --- Supported loggers
# Automatically logs to a directory (by default ``lightning_logs/``)
trainer = Trainer(max_epochs=1, enable_progress_bar=False)
trainer.fit(Base(), loader())
assert trainer.logger.log_dir == os.path.join(os.getcwd(), "lightning_logs", "version_0"), trainer.logger.log_dir
assert os.path.isdir("lightning_logs/version_0")

tb_logger = pl_loggers.TensorBoardLogger(save_dir="logs/")
trainer = Trainer(logger=tb_logger, max_epochs=1, enable_progress_bar=False)
trainer.fit(Base(), loader())
assert os.path.isdir("logs/lightning_logs/version_0") and trainer.log_dir == tb_logger.log_dir

csv_logger = pl_loggers.CSVLogger(save_dir="logs/")
tb_logger = pl_loggers.TensorBoardLogger(save_dir="logs/")
trainer = Trainer(logger=[csv_logger, tb_logger], max_epochs=1, enable_progress_bar=False, log_every_n_steps=1)
trainer.fit(Base(), loader())
assert trainer.logger is csv_logger and trainer.loggers == [csv_logger, tb_logger]
assert csv_logger.log_dir == os.path.join("logs", "lightning_logs", "version_1"), csv_logger.log_dir
assert tb_logger.log_dir == os.path.join("logs", "lightning_logs", "version_2"), tb_logger.log_dir
assert os.path.isfile(os.path.join(csv_logger.log_dir, "hparams.yaml"))
assert os.path.dirname(trainer.checkpoint_callback.best_model_path) == os.path.join(csv_logger.log_dir, "checkpoints")


# --- Automatic logging: the defaults per hook (the page's table)
class Where(Base):
    def on_train_start(self):
        self.log("train_start", 1.0)

    def on_train_epoch_start(self):
        self.log("train_epoch_start", 1.0)

    def on_before_backward(self, loss):
        self.log("before_backward", 1.0)

    def on_before_optimizer_step(self, optimizer):
        self.log("before_optimizer_step", 1.0)

    def on_train_batch_end(self, outputs, batch, batch_idx):
        self.log("train_batch_end", 1.0)

    def training_step(self, batch, batch_idx):
        loss = self.loss(batch)
        self.log("my_metric", loss)
        # or a dict to log all metrics at once with individual plots
        self.log_dict({"acc": 1.0 - loss, "recall": 0.5})
        self.log("my_loss", loss, on_step=True, on_epoch=True, prog_bar=True, logger=True)
        self.log("peak", float(batch_idx), on_step=False, on_epoch=True, reduce_fx="max")
        self.log("total", 1.0, on_step=False, on_epoch=True, reduce_fx="sum")
        return loss

    def on_train_epoch_end(self):
        self.log("train_epoch_end", 1.0)

    def validation_step(self, batch, batch_idx):
        # uses `batch_size=10`
        self.log("val_loss", float(batch_idx), batch_size=10 if batch_idx == 0 else 30)
        self.log("val_batch_idx_mean", float(batch_idx))

    def on_validation_epoch_end(self):
        self.log("val_epoch_end", 2.0)


k = 2
my_logger = MyLogger()
trainer = Trainer(
    logger=my_logger,
    log_every_n_steps=k,
    max_epochs=2,
    num_sanity_val_steps=0,
    enable_progress_bar=False,
    callbacks=[ModelCheckpoint(monitor="my_loss_epoch", dirpath="ckpts")],
)
trainer.fit(Where(), loader(), loader(8))
step_keys = {"my_metric", "acc", "recall", "my_loss_step", "before_backward", "before_optimizer_step", "train_batch_end"}
epoch_keys = {"train_start", "train_epoch_start", "train_epoch_end", "my_loss_epoch", "peak", "total", "val_loss", "val_batch_idx_mean", "val_epoch_end"}
assert my_logger.keys() == step_keys | epoch_keys | {"epoch"}, my_logger.keys() ^ (step_keys | epoch_keys)
# step metrics every k=2 optimizer steps (4 batches an epoch, 2 epochs); the validation's and
# the epoch's at the last step of each epoch, each in a row of its own
STEP = sorted(step_keys | {"epoch"})
VAL = ["epoch", "val_batch_idx_mean", "val_epoch_end", "val_loss"]
EPOCH = sorted(epoch_keys - set(VAL) | {"epoch"})
rows = [(step, sorted(metrics)) for step, metrics in my_logger.rows]
assert rows == [
    (1, STEP), (3, STEP), (3, VAL), (3, EPOCH),
    (5, STEP), (7, STEP), (7, VAL), (7, [k for k in EPOCH if k != "train_start"]),
], rows
assert [metrics["epoch"] for _, metrics in my_logger.rows] == [0, 0, 0, 0, 1, 1, 1, 1]
m = trainer.callback_metrics
assert m["peak"] == 3.0 and m["total"] == 4.0, (m["peak"], m["total"])
assert m["val_loss"] == 0.75, m["val_loss"]  # (0 * 10 + 1 * 30) / 40: weighted by batch_size
assert m["val_batch_idx_mean"] == 0.5
assert {"my_loss_step", "my_loss_epoch"} <= set(trainer.progress_bar_metrics)
assert m["my_loss"] == m["my_loss_epoch"]
assert os.path.basename(trainer.checkpoint_callback.best_model_path).startswith("epoch="), trainer.checkpoint_callback.best_model_path
assert my_logger.params is not None and my_logger.params["lr"] == 0.1, my_logger.params
assert my_logger.status == "success" and my_logger.saved >= 1, (my_logger.status, my_logger.saved)


# --- Manual logging of non-scalar artifacts
class Histogram(Base):
    def training_step(self, batch, batch_idx):
        # the logger you used (in this case tensorboard)
        tensorboard = self.logger.experiment
        tensorboard.add_histogram("weights", self.layer.weight, self.global_step)
        return super().training_step(batch, batch_idx)


trainer = Trainer(max_epochs=1, enable_progress_bar=False)
trainer.fit(Histogram(), loader())
assert any(f.startswith("events.out.tfevents") for f in os.listdir(trainer.logger.log_dir))


# --- Modifying the progress bar
class CustomProgressBar(TQDMProgressBar):
    def get_metrics(self, *args, **kwargs):
        # don't show the version number
        items = super().get_metrics(*args, **kwargs)
        items.pop("v_num", None)
        return items


model = Where()
trainer = Trainer(max_epochs=1, limit_val_batches=0)
trainer.fit(model, loader())
assert "v_num" in trainer.progress_bar_callback.get_metrics(trainer, model)
bar = CustomProgressBar()
trainer = Trainer(max_epochs=1, callbacks=[bar], limit_val_batches=0)
trainer.fit(model, loader())
assert trainer.progress_bar_callback is bar
items = bar.get_metrics(trainer, model)
assert "v_num" not in items and "my_loss_step" in items, items


# --- Configure console logging
# configure logging at the root level of Lightning
logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)

# configure logging on module level, redirect to file
logger = logging.getLogger("lightning.pytorch.core")
logger.addHandler(logging.FileHandler("core.log"))


# --- Logging hyperparameters
filepath = trainer.checkpoint_callback.best_model_path
lightning_checkpoint = torch.load(filepath, map_location=lambda storage, loc: storage)
hyperparams = lightning_checkpoint["hyper_parameters"]
assert hyperparams == {"lr": 0.1}, hyperparams


class HpMetrics(Base):
    # Using custom or multiple metrics (default_hp_metric=False)
    def on_train_start(self):
        self.logger.log_hyperparams(self.hparams, {"hp/metric_1": 0, "hp/metric_2": 0})

    def validation_step(self, batch, batch_idx):
        self.log("hp/metric_1", 1.0)
        self.log("hp/metric_2", 2.0)


trainer = Trainer(logger=pl_loggers.TensorBoardLogger("hp_logs", default_hp_metric=False), max_epochs=1, enable_progress_bar=False)
trainer.fit(HpMetrics(), loader(), loader(8))
assert trainer.callback_metrics["hp/metric_2"] == 2.0
with open(os.path.join(trainer.logger.log_dir, "hparams.yaml")) as f:
    assert "lr: 0.1" in f.read()
print("OK")
