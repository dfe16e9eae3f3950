# Source: https://lightning.ai/docs/pytorch/stable/visualize/logging_advanced.html and
#   https://lightning.ai/docs/pytorch/stable/visualize/logging_intermediate.html
#   (pytorch-lightning docs/source-pytorch/visualize/logging_advanced.rst,
#   logging_intermediate.rst; Apache-2.0, Copyright The Lightning AI team)
# Edits: the pages' snippets joined into one program with a small classifier on random tensors,
#   its logged values read back through a recording `Logger` subclass (`name`, `version`,
#   `log_dir`, `log_hyperparams`, `log_metrics`, all `@rank_zero_only`):
#  - the CustomProgressBar subclasses `TQDMProgressBar` (the page imports `Tqdm` from
#    `lightning.pytorch.callbacks.progress`, which Lightning 2.6.6 does not export, and a tqdm
#    has no `get_metrics`);
#  - `log_every_n_steps=k`; TensorBoardLogger's `max_queue`/`flush_secs`;
#  - each `self.log` option of the page (`add_dataloader_idx` with two validation loaders,
#    `batch_size`, `enable_graph`, `logger`, `on_epoch`, `on_step`, `prog_bar`,
#    `rank_zero_only` under `if self.trainer.global_rank == 0`, `reduce_fx`, `sync_dist`), the
#    `_step`/`_epoch` pair and the page's tables of defaults (LightningModule and Callback
#    hooks), asserted on what reaches the logger;
#  - the page's torchmetrics `MyAccuracy` (its `_input_format`, not a Metric method, written in:
#    argmax of the logits), logged as an object;
#  - `s3://` -> a local `save_dir`; `self.logger.experiment.add_histogram` on TensorBoard (no
#    image/figure without an image library); `save_hyperparameters`; the model topology through
#    `self.logger.log_graph(self, prototype_array)` (the page calls `log_graph` on
#    `self.logger.experiment`, a SummaryWriter, which has `add_graph` instead).
import os

import torch
import torchmetrics
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch import loggers as pl_loggers
from lightning.pytorch.callbacks import Callback, TQDMProgressBar
from lightning.pytorch.loggers import Logger, TensorBoardLogger
from lightning.pytorch.utilities import rank_zero_only
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from torchmetrics import Metric


def loader(n=32, batch_size=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return DataLoader(
        TensorDataset(torch.randn(n, 8, generator=g), torch.randint(0, 3, (n,), generator=g)), batch_size=batch_size
    )


class RecordingLogger(Logger):
    def __init__(self, root):
        super().__init__()
        self.root = root
        self.rows = []
        self.params = []

    @property
    def name(self):
        return "recording"

    @property
    def version(self):
        return 3

    @property
    def log_dir(self):
        return os.path.join(self.root, self.name, f"version_{self.version}")

    @rank_zero_only
    def log_hyperparams(self, params):
        self.params.append(dict(params))

    @rank_zero_only
    def log_metrics(self, metrics, step):
        self.rows.append((step, dict(metrics)))

    def keys(self):
        return {k for _, m in self.rows for k in m}

    def values(self, key):
        return [(s, m[key]) for s, m in self.rows if key in m]


class CustomProgressBar(TQDMProgressBar):
    def get_metrics(self, *args, **kwargs):
        # don't show the version number
        items = super().get_metrics(*args, **kwargs)
        items.pop("v_num", None)
        self.shown = dict(items)
        return items


class MyAccuracy(Metric):
    def __init__(self, dist_sync_on_step=False):
        # call `self.add_state`for every internal state that is needed for the metrics computations
        # dist_reduce_fx indicates the function that should be used to reduce
        # state from multiple processes
        super().__init__(dist_sync_on_step=dist_sync_on_step)

        self.add_state("correct", default=torch.tensor(0), dist_reduce_fx="sum")
        self.add_state("total", default=torch.tensor(0), dist_reduce_fx="sum")

    def _input_format(self, preds, target):
        return preds.argmax(dim=-1), target

    def update(self, preds: torch.Tensor, target: torch.Tensor):
        # update metric states
        preds, target = self._input_format(preds, target)
        assert preds.shape == target.shape

        self.correct += torch.sum(preds == target)
        self.total += target.numel()

    def compute(self):
        # compute final result
        return self.correct.float() / self.total


class LitModel(LightningModule):
    def __init__(self, learning_rate=0.1, another_parameter="abc", *args, **kwargs):
        super().__init__()
        self.save_hyperparameters()
        self.net = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))
        # 1. initialize the metric
        self.accuracy = MyAccuracy()

    def forward(self, x):
        return self.net(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        preds = self(x)
        loss = nn.functional.cross_entropy(preds, y)

        # 2. compute the metric
        self.accuracy(preds, y)

        # 3. log it
        self.log("train_acc_step", self.accuracy)

        self.log("default_train", loss)  # on_step=True, on_epoch=False
        self.log("both", loss, on_step=True, on_epoch=True)
        self.log("bar", loss, prog_bar=True)
        self.log("not_to_logger", loss, logger=False)
        self.log("max_of_epoch", float(batch_idx), on_step=False, on_epoch=True, reduce_fx=torch.max)
        self.log("sized", float(batch_idx), on_step=False, on_epoch=True, batch_size=32)
        self.log("graph", loss, enable_graph=True)
        self.log("synced", loss, sync_dist=False)
        # If you call `self.log` on rank 0 only, you need to set `rank_zero_only=True`
        if self.trainer.global_rank == 0:
            self.log("rank0", loss, rank_zero_only=True)
        tensorboard = self.logger.experiment if isinstance(self.logger, TensorBoardLogger) else None
        if tensorboard is not None:
            tensorboard.add_histogram("weights", self.net[0].weight, self.global_step)
        return loss

    def validation_step(self, batch, batch_idx, dataloader_idx=0):
        x, y = batch
        loss = nn.functional.cross_entropy(self(x), y)
        self.log("val_loss", loss)  # on_step=False, on_epoch=True
        if dataloader_idx == 0:
            self.log("val_named", loss, add_dataloader_idx=False)
        self.log("val_step_too", loss, on_step=True)

    def test_step(self, batch, batch_idx):
        x, y = batch
        self.log("test_loss", nn.functional.cross_entropy(self(x), y))

    def on_train_start(self):
        if isinstance(self.logger, TensorBoardLogger):
            prototype_array = torch.Tensor(32, 8)
            self.logger.log_graph(self, prototype_array)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.hparams.learning_rate)


class LogsInHooks(Callback):
    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        pl_module.log("cb_train_batch_end", 1.0)

    def on_train_epoch_end(self, trainer, pl_module):
        pl_module.log("cb_train_epoch_end", 2.0)

    def on_validation_epoch_end(self, trainer, pl_module):
        pl_module.log("cb_val_epoch_end", 3.0)


if __name__ == "__main__":
    # Modify logging frequency
    k = 10
    logger = RecordingLogger("rec")
    bar = CustomProgressBar()
    trainer = Trainer(
        log_every_n_steps=k,
        logger=logger,
        max_epochs=2,
        callbacks=[bar, LogsInHooks()],
        enable_checkpointing=False,
    )
    # a logger of one's own: trainer.log_dir is its save_dir (None here), its log_dir its own
    assert trainer.log_dir is None, trainer.log_dir
    assert trainer.logger.log_dir == os.path.join("rec", "recording", "version_3")
    model = LitModel()
    trainer.fit(model, loader(96), [loader(16, seed=1), loader(16, seed=2)])
    assert logger.params == [{"learning_rate": 0.1, "another_parameter": "abc"}], logger.params
    steps = [s for s, _ in logger.values("default_train")]
    assert steps == [9, 19], steps  # every k=10 of 24 steps
    keys = logger.keys()
    # on_step/on_epoch defaults, the _step/_epoch pair, logger=False
    assert {"train_acc_step", "both_step", "both_epoch", "bar", "max_of_epoch", "sized", "rank0"} <= keys, keys
    assert "both" not in keys and "not_to_logger" not in keys and "default_train_epoch" not in keys
    assert "not_to_logger" in trainer.callback_metrics
    # validation: epoch only by default, one key per dataloader, add_dataloader_idx=False
    assert {"val_loss/dataloader_idx_0", "val_loss/dataloader_idx_1", "val_named"} <= keys, keys
    assert "val_step_too_step/dataloader_idx_0" in keys and "val_step_too_epoch/dataloader_idx_1" in keys, keys
    # reduce_fx=torch.max over the epoch's batch_idx
    assert [v for _, v in logger.values("max_of_epoch")] == [11.0, 11.0], logger.values("max_of_epoch")
    # callbacks: batch-end hooks on_step, epoch-end hooks on_epoch
    assert "cb_train_batch_end" in keys and "cb_train_epoch_end" in keys and "cb_val_epoch_end" in keys, keys
    # prog_bar: the bar shows it, without the version number
    assert "bar" in bar.shown and "v_num" not in bar.shown and "default_train" not in bar.shown, bar.shown

    # Modify flushing frequency, track artifacts, hyperparameters and the model topology
    logger = TensorBoardLogger(save_dir="tb", max_queue=10, flush_secs=120)
    logger = TensorBoardLogger(save_dir="tb", max_queue=100)
    logger = TensorBoardLogger(save_dir="tb", max_queue=1)
    tensorboard = pl_loggers.TensorBoardLogger(save_dir="")
    trainer = Trainer(logger=tensorboard, max_epochs=1, enable_checkpointing=False)
    model = LitModel()
    trainer.fit(model, loader(), loader(16, seed=1))
    assert trainer.log_dir == os.path.join("lightning_logs", "version_0"), trainer.log_dir
    files = os.listdir(trainer.log_dir)
    assert "hparams.yaml" in files and any(f.startswith("events.out.tfevents") for f in files), files
    (res,) = trainer.test(model, dataloaders=loader(16), verbose=False)
    assert set(res) == {"test_loss"}, res
    print("OK")
