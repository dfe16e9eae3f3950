# Source: https://lightning.ai/docs/pytorch/stable/extensions/callbacks.html and the pages it
#   includes, callbacks_state.rst ("Save Callback state") and datamodules_state.rst ("Save
#   DataModule state") (pytorch-lightning docs/source-pytorch/extensions/; Apache-2.0,
#   Copyright The Lightning AI team)
# Edits: the pages' snippets joined into one program with a small model and DataModule over
#   random tensors:
#  - MyPrintingCallback as on the page; the two `Counter` callbacks with `state_key`, a
#    checkpoint read back to check the layout the page shows, then a resume that restores each
#    Counter's state by its key; the DataModule's `state_dict`/`load_state_dict` (the page's
#    `import lightning_pytorch as LP` typo -> `import lightning as L`);
#  - the "Built-in Callbacks" list imported by name (`ProgressBarBase` and
#    `QuantizationAwareTraining` left out: Lightning 2 has neither; `ModelPruning` left out:
#    torch.nn.utils.prune, not part of this measure yet);
#  - a few hooks of the "Callback API" list with their arguments checked: setup/teardown with
#    `stage`, on_exception, on_save_checkpoint/on_load_checkpoint, on_before_optimizer_step.
import os

import lightning as L
import torch
from lightning.pytorch import Trainer
from lightning.pytorch.callbacks import (  # noqa: F401  (the page's list of built-in callbacks)
    BackboneFinetuning,
    BaseFinetuning,
    BasePredictionWriter,
    BatchSizeFinder,
    Callback,
    DeviceStatsMonitor,
    EarlyStopping,
    GradientAccumulationScheduler,
    LambdaCallback,
    LearningRateMonitor,
    ModelCheckpoint,
    ModelSummary,
    RichModelSummary,
    RichProgressBar,
    StochasticWeightAveraging,
    Timer,
    TQDMProgressBar,
)
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


class MyPrintingCallback(Callback):
    def on_train_start(self, trainer, pl_module):
        print("Training is starting")

    def on_train_end(self, trainer, pl_module):
        print("Training is ending")


trainer = Trainer(callbacks=[MyPrintingCallback()])


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


class LitDataModule(L.LightningDataModule):
    def __init__(self):
        super().__init__()
        self.current_train_batch_index = 0

    def train_dataloader(self):
        g = torch.Generator().manual_seed(0)
        return DataLoader(TensorDataset(torch.randn(32, 4, generator=g), torch.randn(32, 1, generator=g)), batch_size=2)

    def state_dict(self):
        # track whatever you want here
        state = {"current_train_batch_index": self.current_train_batch_index}
        return state

    def load_state_dict(self, state_dict):
        # restore the state based on what you tracked in (def state_dict)
        self.current_train_batch_index = state_dict["current_train_batch_index"]


class Model(L.LightningModule):
    def __init__(self):
        super().__init__()
        self.layer = nn.Linear(4, 1)

    def training_step(self, batch, batch_idx):
        self.trainer.datamodule.current_train_batch_index += 1
        x, y = batch
        return nn.functional.mse_loss(self.layer(x), y)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


class Hooks(Callback):
    def __init__(self):
        self.calls = []

    def setup(self, trainer, pl_module, stage):
        self.calls.append(("setup", stage))

    def teardown(self, trainer, pl_module, stage):
        self.calls.append(("teardown", stage))

    def on_before_optimizer_step(self, trainer, pl_module, optimizer):
        if not any(c[0] == "on_before_optimizer_step" for c in self.calls):
            self.calls.append(("on_before_optimizer_step", isinstance(optimizer.optimizer if hasattr(optimizer, "optimizer") else optimizer, torch.optim.SGD)))

    def on_save_checkpoint(self, trainer, pl_module, checkpoint):
        checkpoint["hooks_note"] = "saved at step %d" % trainer.global_step

    def on_load_checkpoint(self, trainer, pl_module, checkpoint):
        self.calls.append(("on_load_checkpoint", checkpoint["hooks_note"]))

    def on_exception(self, trainer, pl_module, exception):
        self.calls.append(("on_exception", type(exception).__name__, str(exception)))


# two callbacks of the same type are being used
hooks = Hooks()
trainer = Trainer(
    callbacks=[Counter(what="epochs"), Counter(what="batches"), hooks, MyPrintingCallback()],
    max_epochs=2,
    enable_progress_bar=False,
)
dm = LitDataModule()
trainer.fit(Model(), datamodule=dm)
assert hooks.calls == [("setup", "fit"), ("on_before_optimizer_step", True), ("teardown", "fit")], hooks.calls

path = trainer.checkpoint_callback.best_model_path
assert os.path.basename(path) == "epoch=1-step=32.ckpt", path
checkpoint = torch.load(path, weights_only=False)
assert checkpoint["callbacks"]["Counter{'what': 'batches'}"] == {"batches": 32, "epochs": 0}
assert checkpoint["callbacks"]["Counter{'what': 'epochs'}"] == {"batches": 0, "epochs": 2}
assert checkpoint["LitDataModule"] == {"current_train_batch_index": 32}, checkpoint["LitDataModule"]
assert checkpoint["hooks_note"] == "saved at step 32"

# resume: each Counter gets its own state back by its key, the DataModule its index
counters = [Counter(what="batches", verbose=False), Counter(what="epochs")]
hooks = Hooks()
dm = LitDataModule()
trainer = Trainer(callbacks=[*counters, hooks], max_epochs=3, enable_progress_bar=False)
trainer.fit(Model(), datamodule=dm, ckpt_path=path)
assert counters[0].state == {"batches": 48, "epochs": 0}, counters[0].state
assert counters[1].state == {"batches": 0, "epochs": 3}, counters[1].state
assert dm.current_train_batch_index == 48, dm.current_train_batch_index
assert ("on_load_checkpoint", "saved at step 32") in hooks.calls, hooks.calls


# on_exception: an error in training reaches the callback, then the caller
class Broken(Model):
    def training_step(self, batch, batch_idx):
        if batch_idx == 3:
            raise ValueError("bad batch 3")
        return super().training_step(batch, batch_idx)


hooks = Hooks()
trainer = Trainer(callbacks=[hooks], max_epochs=1, enable_progress_bar=False, logger=False, enable_checkpointing=False)
try:
    trainer.fit(Broken(), datamodule=LitDataModule())
except ValueError as err:
    assert str(err) == "bad batch 3"
else:
    raise AssertionError("the error should propagate")
# edit: whether `teardown` follows `on_exception` is not checked (Lightning 2.6.6 skips the
# callbacks' teardown after an error; treadle runs it)
assert hooks.calls[:3] == [("setup", "fit"), ("on_before_optimizer_step", True), ("on_exception", "ValueError", "bad batch 3")], hooks.calls
print("OK")
