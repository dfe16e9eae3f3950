# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/callbacks/test_stochastic_weight_avg.py
#   (test_swa_resume_training_from_checkpoint,
#    test_swa_resume_training_from_checkpoint_custom_scheduler; the file's other tests are
#    t_stochastic_weight_avg.py, split off for time; this program keeps the whole file's
#    helpers, the other tests' functions unused)
# Edits: the tests turned into one __main__ program asserting what they asserted; parametrize ->
#   loops; tmpdir -> a tempfile dir; pytest.raises/warns -> try/except and
#   warnings.catch_warnings; the caplog check of the "Swapping scheduler" info line dropped (the
#   log text); `mock.patch.object(Strategy, "backward", ...)` -> a count of
#   `torch.Tensor.backward` calls (as in test_backward_calls.py). Left out, as Lightning
#   internals: asserts on `trainer.fit_loop._skip_backward`, `fit_loop.restarting` (the first
#   epoch is read at `on_train_start`), the private `_swa_scheduler`, `_average_model` and the
#   constructor's private attributes (test_swa_callback_initial_state, test_swa_deepcopy); the
#   GPU, DDP and sharded-strategy variants; the scheduler-step test's "epoch" case (the same run
#   as test_swa_callback's defaults).
import os
import re
import tempfile
import warnings
from pathlib import Path
from typing import Optional
from unittest import mock

import torch
from torch import nn
from torch.optim.lr_scheduler import LambdaLR
from torch.optim.swa_utils import SWALR
from torch.utils.data import DataLoader

from lightning.pytorch import Trainer
from lightning.pytorch.callbacks import StochasticWeightAveraging
from lightning.pytorch.demos.boring_classes import BoringModel, RandomDataset, RandomIterableDataset
from lightning.pytorch.utilities.exceptions import MisconfigurationException

BACKWARD_CALLS = [0]
_backward = torch.Tensor.backward


def _counting_backward(self, *args, **kwargs):
    BACKWARD_CALLS[0] += 1
    return _backward(self, *args, **kwargs)


def _backward_patch():
    BACKWARD_CALLS[0] = 0
    return mock.patch.object(torch.Tensor, "backward", _counting_backward)


class SwaTestModel(BoringModel):
    def __init__(
        self, batchnorm: bool = True, interval: str = "epoch", iterable_dataset: bool = False, crash_on_epoch=None
    ):
        super().__init__()
        layers = [nn.Linear(32, 32)]
        if batchnorm:
            layers.append(nn.BatchNorm1d(32))
        layers += [nn.ReLU(), nn.Linear(32, 2)]
        self.layer = nn.Sequential(*layers)
        self.interval = interval
        self.iterable_dataset = iterable_dataset
        self.crash_on_epoch = crash_on_epoch

    def training_step(self, batch, batch_idx):
        if self.crash_on_epoch and self.trainer.current_epoch >= self.crash_on_epoch:
            raise Exception("SWA crash test")
        return super().training_step(batch, batch_idx)

    def train_dataloader(self):
        dset_cls = RandomIterableDataset if self.iterable_dataset else RandomDataset
        dset = dset_cls(32, 64)
        return DataLoader(dset, batch_size=2)

    def configure_optimizers(self):
        optimizer = torch.optim.SGD(self.layer.parameters(), lr=0.1)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {
                "scheduler": torch.optim.lr_scheduler.StepLR(optimizer, step_size=1),
                "interval": self.interval,
            },
        }


class SwaTestCallback(StochasticWeightAveraging):
    update_parameters_calls: int = 0
    transfer_weights_calls: int = 0
    # Record the first epoch, as if we are resuming from a checkpoint this may not be equal to 0
    first_epoch: Optional[int] = None

    def update_parameters(self, *args, **kwargs):
        self.update_parameters_calls += 1
        return StochasticWeightAveraging.update_parameters(*args, **kwargs)

    def transfer_weights(self, *args, **kwargs):
        self.transfer_weights_calls += 1
        return StochasticWeightAveraging.transfer_weights(*args, **kwargs)

    def on_train_start(self, trainer, pl_module):
        super().on_train_start(trainer, pl_module)
        self.first_epoch = trainer.current_epoch

    def on_train_epoch_start(self, trainer, *args):
        super().on_train_epoch_start(trainer, *args)
        if self.swa_start <= trainer.current_epoch:
            assert isinstance(trainer.lr_scheduler_configs[0].scheduler, SWALR)
            assert trainer.lr_scheduler_configs[0].interval == "epoch"
            assert trainer.lr_scheduler_configs[0].frequency == 1

    def on_train_epoch_end(self, trainer, *args):
        super().on_train_epoch_end(trainer, *args)
        if self.swa_start <= trainer.current_epoch <= self.swa_end:
            swa_epoch = trainer.current_epoch - self.swa_start
            assert self.n_averaged == swa_epoch + 1
        elif trainer.current_epoch > self.swa_end:
            assert self.n_averaged == self._max_epochs - self.swa_start

    def on_train_end(self, trainer, pl_module):
        super().on_train_end(trainer, pl_module)

        # make sure these are correctly set again
        assert trainer.accumulate_grad_batches == 2
        assert trainer.num_training_batches == 5

        # check backward call count. the batchnorm update epoch should not backward
        assert BACKWARD_CALLS[0] == ((trainer.max_epochs - self.first_epoch) * trainer.limit_train_batches)

        # check call counts
        first_swa_epoch = max(self.first_epoch, self.swa_start)
        assert self.update_parameters_calls == trainer.max_epochs - first_swa_epoch
        assert self.transfer_weights_calls == 1


def train_with_swa(tmpdir, batchnorm=True, strategy="auto", accelerator="cpu", devices=1, interval="epoch",
                   iterable_dataset=False):
    model = SwaTestModel(batchnorm=batchnorm, interval=interval, iterable_dataset=iterable_dataset)
    swa_start = 2
    max_epochs = 5
    swa_callback = SwaTestCallback(swa_epoch_start=swa_start, swa_lrs=0.1)
    assert swa_callback.update_parameters_calls == 0
    assert swa_callback.transfer_weights_calls == 0

    trainer = Trainer(
        default_root_dir=tmpdir,
        enable_progress_bar=False,
        enable_model_summary=False,
        max_epochs=max_epochs,
        limit_train_batches=5,
        limit_val_batches=0,
        callbacks=[swa_callback],
        accumulate_grad_batches=2,
        strategy=strategy,
        accelerator=accelerator,
        devices=devices,
    )

    with _backward_patch():
        trainer.fit(model)

    # check the model is the expected
    assert trainer.lightning_module == model


def test_swa_warns(tmpdir):
    model = SwaTestModel(interval="step")
    trainer = Trainer(default_root_dir=tmpdir, fast_dev_run=True, callbacks=StochasticWeightAveraging(swa_lrs=1e-2))
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        trainer.fit(model)
    assert any("SWA is currently only supported" in str(w.message) for w in record), [str(w.message) for w in record]


def test_swa_raises():
    for kwargs, match in [
        (dict(swa_epoch_start=0, swa_lrs=0.1), ">0 integer or a float between 0 and 1"),
        (dict(swa_epoch_start=1.5, swa_lrs=0.1), ">0 integer or a float between 0 and 1"),
        (dict(swa_epoch_start=-1, swa_lrs=0.1), ">0 integer or a float between 0 and 1"),
        (dict(swa_epoch_start=5, swa_lrs=[0.2, 1]), "positive float, or a list of positive floats"),
    ]:
        try:
            StochasticWeightAveraging(**kwargs)
        except MisconfigurationException as e:
            assert re.search(match, str(e)), str(e)
        else:
            raise AssertionError(f"MisconfigurationException not raised for {kwargs}")


def test_swa_multiple_lrs(tmpdir):
    swa_lrs = [0.123, 0.321]

    class TestModel(BoringModel):
        def __init__(self):
            super().__init__()
            self.layer1 = torch.nn.Linear(32, 32)
            self.layer2 = torch.nn.Linear(32, 2)
            self.on_train_epoch_start_called = False

        def forward(self, x):
            x = self.layer1(x)
            x = self.layer2(x)
            return x

        def configure_optimizers(self):
            params = [{"params": self.layer1.parameters(), "lr": 0.1}, {"params": self.layer2.parameters(), "lr": 0.2}]
            return torch.optim.Adam(params)

        def on_train_epoch_start(self):
            optimizer = trainer.optimizers[0]
            assert [pg["lr"] for pg in optimizer.param_groups] == [0.1, 0.2]
            assert [pg["initial_lr"] for pg in optimizer.param_groups] == swa_lrs
            assert [pg["swa_lr"] for pg in optimizer.param_groups] == swa_lrs
            self.on_train_epoch_start_called = True

    model = TestModel()
    swa_callback = StochasticWeightAveraging(swa_lrs=swa_lrs)
    trainer = Trainer(
        default_root_dir=tmpdir,
        callbacks=swa_callback,
        fast_dev_run=1,
    )
    trainer.fit(model)
    assert model.on_train_epoch_start_called


def _swa_resume_training_from_checkpoint(tmpdir, model, resume_model, ddp=False):
    swa_start = 3
    trainer_kwargs = {
        "default_root_dir": tmpdir,
        "max_epochs": 5,
        "accelerator": "cpu",
        "strategy": "ddp_spawn" if ddp else "auto",
        "devices": 2 if ddp else 1,
        "limit_train_batches": 5,
        "limit_val_batches": 0,
        "accumulate_grad_batches": 2,
        "enable_progress_bar": False,
        "logger": False,
    }
    trainer = Trainer(callbacks=SwaTestCallback(swa_epoch_start=swa_start, swa_lrs=0.1), **trainer_kwargs)

    with _backward_patch():
        try:
            trainer.fit(model)
        except Exception as e:
            assert re.search("SWA crash test", str(e)), str(e)
        else:
            raise AssertionError("the crash did not happen")

    checkpoint_dir = Path(tmpdir) / "checkpoints"
    checkpoint_files = os.listdir(checkpoint_dir)
    assert len(checkpoint_files) == 1
    ckpt_path = str(checkpoint_dir / checkpoint_files[0])

    trainer = Trainer(callbacks=SwaTestCallback(swa_epoch_start=swa_start, swa_lrs=0.1), **trainer_kwargs)

    with _backward_patch():
        trainer.fit(resume_model, ckpt_path=ckpt_path)


class CustomSchedulerModel(SwaTestModel):
    def configure_optimizers(self):
        optimizer = torch.optim.SGD(self.layer.parameters(), lr=0.1)

        def lr_lambda(current_step: int):
            return 0.1

        scheduler = LambdaLR(optimizer, lr_lambda, -1)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {
                "scheduler": scheduler,
                "interval": self.interval,
            },
        }


if __name__ == "__main__":
    for crash_on_epoch in (1, 3):
        # test_swa_resume_training_from_checkpoint
        with tempfile.TemporaryDirectory() as d:
            _swa_resume_training_from_checkpoint(d, SwaTestModel(crash_on_epoch=crash_on_epoch), SwaTestModel())
        # test_swa_resume_training_from_checkpoint_custom_scheduler
        with tempfile.TemporaryDirectory() as d:
            _swa_resume_training_from_checkpoint(
                d, CustomSchedulerModel(crash_on_epoch=crash_on_epoch), CustomSchedulerModel()
            )
    print("OK")
