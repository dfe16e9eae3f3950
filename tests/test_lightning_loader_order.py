"""Where fit() asks for its loaders, steps its epoch-interval schedulers and releases gradients
before validating: Lightning 2.6.6's order.

Each expected list is what the same program gives on Lightning 2.6.6 (run with Lightning's
imports: ``lightning.pytorch`` for ``treadle``), as Lightning's
``tests/tests_pytorch/models/test_hooks.py`` records calls (Apache-2.0, Copyright The
Lightning AI team); the program here records only the calls these rules are about.
"""

from __future__ import annotations

import functools
import re

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

import treadle
from treadle.errors import ConfigurationError


def _data(n=6):
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(n, 4, generator=g), torch.randn(n, 1, generator=g)
    return DataLoader(TensorDataset(x, y), batch_size=2)


class Rec(treadle.Callback):
    def __init__(self, calls):
        self.calls = calls

    def on_fit_start(self, trainer, pl_module):
        self.calls.append("on_fit_start")

    def on_sanity_check_start(self, trainer, pl_module):
        self.calls.append("on_sanity_check_start")

    def on_sanity_check_end(self, trainer, pl_module):
        self.calls.append("on_sanity_check_end")

    def on_train_start(self, trainer, pl_module):
        self.calls.append("on_train_start")

    def on_train_epoch_start(self, trainer, pl_module):
        self.calls.append("on_train_epoch_start")

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.calls.append(f"on_train_batch_end {batch_idx}")

    def on_validation_start(self, trainer, pl_module):
        self.calls.append("on_validation_start")

    def on_train_epoch_end(self, trainer, pl_module):
        self.calls.append("on_train_epoch_end")


class Net(treadle.Module):
    def __init__(self, calls, stepping=False, stop_at=None):
        super().__init__()
        self.layer = torch.nn.Linear(4, 1)
        self.calls, self.stepping, self.stop_at = calls, stepping, stop_at

    def training_step(self, batch, batch_idx):
        x, y = batch
        return torch.nn.functional.mse_loss(self.layer(x), y)

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val_loss", torch.nn.functional.mse_loss(self.layer(x), y))

    def on_train_batch_start(self, batch, batch_idx):
        if batch_idx == self.stop_at:
            return -1
        return None

    def train_dataloader(self):
        self.calls.append("train_dataloader")
        return _data()

    def val_dataloader(self):
        self.calls.append("val_dataloader")
        return _data(4)

    def zero_grad(self, *args, **kwargs):
        self.calls.append("zero_grad")
        return super().zero_grad(*args, **kwargs)

    def on_validation_model_zero_grad(self):
        self.calls.append("on_validation_model_zero_grad")
        return super().on_validation_model_zero_grad()

    def lr_scheduler_step(self, scheduler, metric):
        self.calls.append("lr_scheduler_step")
        scheduler.step()

    def configure_optimizers(self):
        self.calls.append("configure_optimizers")
        opt = torch.optim.SGD(self.parameters(), lr=0.1)
        if self.stepping:
            self.calls.append(f"estimated={self.trainer.estimated_stepping_batches}")
        sched = torch.optim.lr_scheduler.StepLR(opt, 1)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "epoch"}}


def _fit(net_kwargs=None, **kwargs):
    calls: list[str] = []
    args = dict(
        max_epochs=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer = treadle.Trainer(callbacks=[Rec(calls)], **{**args, **kwargs})
    trainer.fit(Net(calls, **(net_kwargs or {})))
    return calls


START = ["configure_optimizers", "on_fit_start", "zero_grad"]
EPOCH = [
    "on_train_epoch_start",
    "on_train_batch_end 0",
    "on_train_batch_end 1",
    "lr_scheduler_step",  # the epoch's last batch, before its validation (Lightning's)
    "on_train_batch_end 2",
]
VALIDATION = ["on_validation_model_zero_grad", "zero_grad", "on_validation_start"]


def test_val_loader_in_the_sanity_check_train_loader_after_it_zero_grad_unless_accumulating():
    calls = _fit(
        limit_val_batches=1,
        num_sanity_val_steps=1,
        accumulate_grad_batches=2,
        val_check_interval=1,
    )
    assert calls == [
        *START,
        "on_sanity_check_start",
        "val_dataloader",
        "on_validation_start",
        "on_sanity_check_end",
        "train_dataloader",
        "on_train_start",
        "on_train_epoch_start",
        "on_train_batch_end 0",
        "on_validation_start",  # inside an accumulation window: gradients kept
        "on_train_batch_end 1",
        *VALIDATION,
        "lr_scheduler_step",
        "on_train_batch_end 2",
        *VALIDATION,  # the epoch's last batch steps: gradients released
        "on_train_epoch_end",
    ]


def test_estimated_stepping_batches_asks_for_the_train_loader_in_configure_optimizers():
    calls = _fit({"stepping": True}, num_sanity_val_steps=0, limit_val_batches=1)
    assert calls == [
        "configure_optimizers",
        "train_dataloader",
        "estimated=3",
        "on_fit_start",
        "zero_grad",
        "val_dataloader",  # no sanity check: before on_train_start (the epoch validates)
        "on_train_start",
        *EPOCH,
        *VALIDATION,
        "on_train_epoch_end",
    ]


def test_limit_val_batches_0_never_asks_for_the_val_loader():
    calls = _fit(limit_val_batches=0, max_epochs=2)
    assert calls == [
        *START,
        "train_dataloader",
        "on_train_start",
        *EPOCH,
        "on_train_epoch_end",
        *EPOCH,
        "on_train_epoch_end",
    ]


def test_the_val_loader_is_asked_for_at_the_first_validation():
    calls = _fit(
        num_sanity_val_steps=0, check_val_every_n_epoch=2, max_epochs=2, limit_val_batches=1
    )
    assert calls == [
        *START,
        "train_dataloader",
        "on_train_start",
        *EPOCH,
        "on_train_epoch_end",
        *EPOCH,
        "on_validation_model_zero_grad",
        "zero_grad",
        "val_dataloader",
        "on_validation_start",
        "on_train_epoch_end",
    ]


def test_minus_one_from_on_train_batch_start_steps_the_epoch_schedulers():
    calls = _fit({"stop_at": 1}, limit_val_batches=0)
    assert calls == [
        *START,
        "train_dataloader",
        "on_train_start",
        "on_train_epoch_start",
        "on_train_batch_end 0",
        "lr_scheduler_step",
        "on_train_epoch_end",
    ]


def test_an_epoch_cut_by_max_steps_does_not_step_the_epoch_schedulers():
    calls = _fit(max_steps=2, limit_val_batches=0)
    assert calls == [
        *START,
        "train_dataloader",
        "on_train_start",
        "on_train_epoch_start",
        "on_train_batch_end 0",
        "on_train_batch_end 1",
        "on_train_epoch_end",
    ]


def test_limit_train_batches_0_never_asks_for_the_train_loader():
    assert _fit(limit_train_batches=0, limit_val_batches=0) == START


@pytest.mark.parametrize("verb", ["validate", "test"])
def test_an_evaluation_with_limit_0_asks_for_no_loader(verb):
    calls: list[str] = []

    class Eval(Net):
        def test_step(self, batch, batch_idx):
            pass

        def test_dataloader(self):
            self.calls.append("test_dataloader")
            return _data()

    trainer = treadle.Trainer(
        logger=False, enable_progress_bar=False, limit_val_batches=0, limit_test_batches=0
    )
    getattr(trainer, verb)(Eval(calls))
    assert calls == ["zero_grad"]


def test_a_train_loader_of_none_is_refused_when_it_is_asked_for():
    calls: list[str] = []

    class NoData(Net):
        def train_dataloader(self):
            self.calls.append("train_dataloader")

    trainer = treadle.Trainer(logger=False, enable_progress_bar=False, max_epochs=1)
    with pytest.raises(
        TypeError,  # as Lightning's
        match=re.escape(
            "An invalid dataloader was returned from `NoData.train_dataloader()`. Found None."
        ),
    ) as info:
        trainer.fit(NoData(calls))
    assert isinstance(info.value, ConfigurationError)
    # asked for after the sanity check (its validation ran)
    assert calls == ["configure_optimizers", "zero_grad", "val_dataloader", "train_dataloader"]


def test_a_datamodule_hook_that_wraps_the_base_method_is_no_override():
    # Lightning's test_trainer_datamodule_hook_system wraps every DataModule method on the
    # instance; `is_overridden` unwraps them, so the Module's batch-transfer hooks still run
    calls: list[str] = []

    def record(name, fn, *args, **kwargs):
        calls.append(f"datamodule.{name}")
        return fn(*args, **kwargs)

    class Data(treadle.DataModule):
        def train_dataloader(self):
            return _data()

    dm = Data()
    for name in ("on_before_batch_transfer", "transfer_batch_to_device", "on_after_batch_transfer"):
        method = getattr(dm, name)
        setattr(dm, name, functools.update_wrapper(functools.partial(record, name, method), method))

    class Model(Net):
        def on_before_batch_transfer(self, batch, dataloader_idx):
            self.calls.append("module.on_before_batch_transfer")
            return batch

    trainer = treadle.Trainer(
        logger=False, enable_progress_bar=False, max_steps=1, limit_val_batches=0
    )
    trainer.fit(Model(calls), datamodule=dm)
    assert "module.on_before_batch_transfer" in calls
    assert not [c for c in calls if c.startswith("datamodule.")]


def test_after_an_exception_no_teardown_of_callbacks_module_or_datamodule():
    # Lightning's _call_and_handle_interrupt: on_exception (callbacks, then the DataModule),
    # the strategy's teardown, the loggers' finalize("failed"); no `teardown` hooks
    calls: list[str] = []

    class CB(treadle.Callback):
        def on_exception(self, trainer, pl_module, exception):
            calls.append("callback.on_exception")

        def teardown(self, trainer, pl_module, stage):
            calls.append("callback.teardown")

    class Data(treadle.DataModule):
        def train_dataloader(self):
            return _data()

        def on_exception(self, exception):
            calls.append("datamodule.on_exception")

        def teardown(self, stage):
            calls.append("datamodule.teardown")

    class Boom(Net):
        def training_step(self, batch, batch_idx):
            raise RuntimeError("boom")

        def teardown(self, stage):
            calls.append("module.teardown")

    trainer = treadle.Trainer(
        logger=False, enable_progress_bar=False, max_epochs=1, callbacks=[CB()]
    )
    with pytest.raises(RuntimeError, match="boom"):
        trainer.fit(Boom([]), datamodule=Data())
    assert calls == ["callback.on_exception", "datamodule.on_exception"]
    trainer.fit(Net([]), datamodule=Data())  # without an exception: every teardown
    assert calls[2:] == ["datamodule.teardown", "callback.teardown"]


def test_estimated_stepping_batches_in_setup_asks_for_the_train_loader_once():
    calls: list[str] = []

    class Early(Net):
        def setup(self, stage):
            self.calls.append(f"estimated={self.trainer.estimated_stepping_batches}")

    trainer = treadle.Trainer(
        logger=False,
        enable_progress_bar=False,
        max_epochs=2,
        accumulate_grad_batches=2,
        limit_val_batches=0,
    )
    trainer.fit(Early(calls))
    # Lightning 2.6.6: ceil(3 batches / 2) * 2 epochs, the loader asked for once
    assert calls[:3] == ["train_dataloader", "estimated=4", "configure_optimizers"]
    assert calls.count("train_dataloader") == 1
