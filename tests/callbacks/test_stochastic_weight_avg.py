"""StochasticWeightAveraging.

Ported from Lightning's ``tests/tests_pytorch/callbacks/test_stochastic_weight_avg.py``
(Apache-2.0, Copyright The Lightning AI team): the behaviour each test checks is Lightning's;
the code is translated to treadle's names and made smaller. Lightning counts
``Strategy.backward`` calls through ``mock.patch`` and reads ``trainer.fit_loop._skip_backward``
(its extra BatchNorm epoch); treadle updates BatchNorm in ``on_train_end`` instead of an extra
epoch (docs/migration.md), so those checks become: no training batch runs after the last epoch,
and the BatchNorm statistics are those of the averaged weights. The DDP, GPU and sharded
variants are not ported (CPU, one process here). Tests marked "treadle" at the end are our own.
"""

from __future__ import annotations

import logging
import re

import pytest
import torch
from boring_model import BoringModel, RandomDataset, quiet
from torch import nn
from torch.optim.lr_scheduler import LambdaLR
from torch.optim.swa_utils import SWALR
from torch.utils.data import DataLoader

import treadle
from treadle.callbacks import ModelCheckpoint, StochasticWeightAveraging
from treadle.utilities import MisconfigurationException


def test_swa_callback_initial_state():
    swa = StochasticWeightAveraging(
        swa_lrs=0.01,
        swa_epoch_start=0.1,
        annealing_epochs=1,
        annealing_strategy="linear",
        avg_fn=sum,
    )
    assert swa._swa_lrs == 0.01
    assert swa._swa_epoch_start == 0.1
    assert swa._annealing_epochs == 1
    assert swa._annealing_strategy == "linear"
    assert swa._avg_fn == sum
    assert swa._average_model is None


class SwaTestModel(BoringModel):
    def __init__(self, batchnorm=True, interval="epoch", crash_on_epoch=None):
        super().__init__()
        layers = [nn.Linear(32, 32)]
        if batchnorm:
            layers.append(nn.BatchNorm1d(32))
        layers += [nn.ReLU(), nn.Linear(32, 2)]
        self.layer = nn.Sequential(*layers)
        self.interval = interval
        self.crash_on_epoch = crash_on_epoch
        self.batches_per_epoch: dict[int, int] = {}

    def training_step(self, batch, batch_idx):
        if self.crash_on_epoch and self.trainer.current_epoch >= self.crash_on_epoch:
            raise Exception("SWA crash test")
        if torch.is_grad_enabled():  # a training batch (the BatchNorm pass runs without grad)
            epoch = self.trainer.current_epoch
            self.batches_per_epoch[epoch] = self.batches_per_epoch.get(epoch, 0) + 1
        return super().training_step(batch, batch_idx)

    def train_dataloader(self):
        return DataLoader(RandomDataset(32, 64), batch_size=2)

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
    first_epoch: int | None = None

    def update_parameters(self, *args, **kwargs):
        self.update_parameters_calls += 1
        return StochasticWeightAveraging.update_parameters(*args, **kwargs)

    def transfer_weights(self, *args, **kwargs):
        self.transfer_weights_calls += 1
        return StochasticWeightAveraging.transfer_weights(*args, **kwargs)

    def on_train_epoch_start(self, trainer, *args):
        super().on_train_epoch_start(trainer, *args)
        if self.first_epoch is None:
            self.first_epoch = trainer.current_epoch
        if self.swa_start <= trainer.current_epoch:
            assert isinstance(trainer.lr_scheduler_configs[0].scheduler, SWALR)
            assert trainer.lr_scheduler_configs[0].interval == "epoch"
            assert trainer.lr_scheduler_configs[0].frequency == 1

    def on_train_epoch_end(self, trainer, *args):
        super().on_train_epoch_end(trainer, *args)
        if self.swa_start <= trainer.current_epoch <= self.swa_end:
            swa_epoch = trainer.current_epoch - self.swa_start
            assert self.n_averaged == swa_epoch + 1
            assert self._swa_scheduler is not None
            # stepped once when made, then at the end of each epoch (before this hook)
            assert self._swa_scheduler._step_count == swa_epoch + 2

    def on_train_end(self, trainer, pl_module):
        super().on_train_end(trainer, pl_module)
        assert trainer.accumulate_grad_batches == 2
        assert trainer.num_training_batches == 5
        # every training batch trained (none after the last epoch: the BatchNorm pass is not)
        assert pl_module.batches_per_epoch == {
            e: trainer.num_training_batches for e in range(self.first_epoch, trainer.max_epochs)
        }
        first_swa_epoch = max(self.first_epoch, self.swa_start)
        assert self.update_parameters_calls == trainer.max_epochs - first_swa_epoch
        assert self.transfer_weights_calls == 1


def train_with_swa(tmp_path, batchnorm=True, interval="epoch"):
    model = SwaTestModel(batchnorm=batchnorm, interval=interval)
    swa_callback = SwaTestCallback(swa_epoch_start=2, swa_lrs=0.1)
    trainer = treadle.Trainer(
        **quiet(
            tmp_path,
            max_epochs=5,
            limit_train_batches=5,
            limit_val_batches=0,
            accumulate_grad_batches=2,
        ),
        callbacks=[swa_callback],
    )
    trainer.fit(model)
    assert trainer.lightning_module is model
    assert swa_callback.transfer_weights_calls == 1


@pytest.mark.parametrize("batchnorm", [True, False])
def test_swa_callback(tmp_path, batchnorm):
    train_with_swa(tmp_path, batchnorm=batchnorm)


def test_swa_callback_scheduler_step(tmp_path):
    with pytest.warns(UserWarning, match="SWA is currently only supported every epoch"):
        train_with_swa(tmp_path, interval="step")


def test_swa_warns(tmp_path, caplog):
    model = SwaTestModel(interval="step")
    trainer = treadle.Trainer(
        **quiet(tmp_path, fast_dev_run=True), callbacks=StochasticWeightAveraging(swa_lrs=1e-2)
    )
    with (
        caplog.at_level(level=logging.INFO),
        pytest.warns(UserWarning, match="SWA is currently only supported"),
    ):
        trainer.fit(model)
    assert "Swapping scheduler `StepLR` for `SWALR`" in caplog.text


def test_swa_raises():
    message = re.escape(
        "StochasticWeightAveraging: swa_epoch_start should be a >0 integer or a float between "
        "0 and 1."
    )
    with pytest.raises(MisconfigurationException, match=message):
        StochasticWeightAveraging(swa_epoch_start=0, swa_lrs=0.1)
    with pytest.raises(MisconfigurationException, match=message):
        StochasticWeightAveraging(swa_epoch_start=1.5, swa_lrs=0.1)
    with pytest.raises(MisconfigurationException, match=message):
        StochasticWeightAveraging(swa_epoch_start=-1, swa_lrs=0.1)
    with pytest.raises(
        MisconfigurationException,
        match=re.escape(
            "StochasticWeightAveraging(swa_lrs=[0.2, 1]): The `swa_lrs` should a positive float, "
            "or a list of positive floats"
        ),
    ):
        StochasticWeightAveraging(swa_epoch_start=5, swa_lrs=[0.2, 1])


def test_swa_deepcopy(tmp_path):
    """The average is a copy of the Module without its Trainer (nor a copy of it)."""

    class TestSWA(StochasticWeightAveraging):
        setup_called = False

        def setup(self, trainer, pl_module, stage) -> None:
            super().setup(trainer, pl_module, stage)
            assert self._average_model.train_dataloader is not pl_module.train_dataloader
            assert self._average_model.train_dataloader.__self__ == self._average_model
            assert self._average_model._trainer is None
            self.setup_called = True

    swa = TestSWA(swa_lrs=1e-2)
    trainer = treadle.Trainer(**quiet(tmp_path, fast_dev_run=True), callbacks=swa)
    trainer.fit(BoringModel(), train_dataloaders=DataLoader(RandomDataset(32, 2)))
    assert swa.setup_called


def test_swa_multiple_lrs(tmp_path):
    swa_lrs = [0.123, 0.321]

    class TestModel(BoringModel):
        def __init__(self):
            super().__init__()
            self.layer1 = torch.nn.Linear(32, 32)
            self.layer2 = torch.nn.Linear(32, 2)
            self.on_train_epoch_start_called = False

        def forward(self, x):
            return self.layer2(self.layer1(x))

        def configure_optimizers(self):
            params = [
                {"params": self.layer1.parameters(), "lr": 0.1},
                {"params": self.layer2.parameters(), "lr": 0.2},
            ]
            return torch.optim.Adam(params)

        def on_train_epoch_start(self):
            optimizer = self.trainer.optimizers[0]
            assert [pg["lr"] for pg in optimizer.param_groups] == [0.1, 0.2]
            assert [pg["initial_lr"] for pg in optimizer.param_groups] == swa_lrs
            assert [pg["swa_lr"] for pg in optimizer.param_groups] == swa_lrs
            self.on_train_epoch_start_called = True

    model = TestModel()
    trainer = treadle.Trainer(
        **quiet(tmp_path, fast_dev_run=1), callbacks=StochasticWeightAveraging(swa_lrs=swa_lrs)
    )
    trainer.fit(model)
    assert model.on_train_epoch_start_called


class CustomSchedulerModel(SwaTestModel):
    def configure_optimizers(self):
        optimizer = torch.optim.SGD(self.layer.parameters(), lr=0.1)
        scheduler = LambdaLR(optimizer, lambda step: 0.1, -1)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": self.interval},
        }


@pytest.mark.parametrize("model_class", [SwaTestModel, CustomSchedulerModel])
@pytest.mark.parametrize("crash_on_epoch", [1, 3])
def test_swa_resume_training_from_checkpoint(tmp_path, model_class, crash_on_epoch):
    """A run that crashed resumes from its last epoch-end checkpoint, SWA state included
    (the custom scheduler: Lightning's issue 11665, the saved SWALR state must not be loaded
    into the Module's own scheduler)."""

    def trainer_for(callback):
        checkpoint = ModelCheckpoint(dirpath=tmp_path / "checkpoints")
        kwargs = quiet(
            tmp_path,
            max_epochs=5,
            limit_train_batches=5,
            limit_val_batches=0,
            accumulate_grad_batches=2,
            enable_checkpointing=True,
        )
        return treadle.Trainer(**kwargs, callbacks=[callback, checkpoint])

    trainer = trainer_for(SwaTestCallback(swa_epoch_start=3, swa_lrs=0.1))
    with pytest.raises(Exception, match="SWA crash test"):
        trainer.fit(model_class(crash_on_epoch=crash_on_epoch))
    files = list((tmp_path / "checkpoints").iterdir())
    assert len(files) == 1
    callback = SwaTestCallback(swa_epoch_start=3, swa_lrs=0.1)
    trainer = trainer_for(callback)
    trainer.fit(model_class(), ckpt_path=str(files[0]))
    assert callback.n_averaged == 3  # epochs 2, 3 and 4 (counted from 0)


# -- treadle ------------------------------------------------------------------------------------


class Snapshots(treadle.Callback):
    """The Module's parameters at each training epoch's start (before SWA averages them)."""

    def __init__(self):
        self.at_start = {}

    def on_train_epoch_start(self, trainer, pl_module):
        self.at_start[trainer.current_epoch] = [p.detach().clone() for p in pl_module.parameters()]


@pytest.mark.parametrize("batchnorm", [False, True])
def test_final_weights_are_the_average_of_the_epoch_starts(tmp_path, batchnorm):
    """treadle: from swa_epoch_start on, the weights at each epoch's start are averaged (as
    Lightning's: the last epoch's own training is not), and the Module ends with the average;
    with BatchNorm, its statistics are recomputed over the training data with those weights."""
    torch.manual_seed(0)
    model = SwaTestModel(batchnorm=batchnorm)
    snapshots = Snapshots()
    trainer = treadle.Trainer(
        **quiet(tmp_path, max_epochs=5, limit_train_batches=4, limit_val_batches=0),
        callbacks=[snapshots, StochasticWeightAveraging(swa_lrs=0.05, swa_epoch_start=3)],
    )
    trainer.fit(model)
    for i, p in enumerate(model.parameters()):
        expected = torch.stack([snapshots.at_start[e][i] for e in (2, 3, 4)]).mean(0)
        torch.testing.assert_close(p.detach(), expected)
    if batchnorm:
        bn = model.layer[1]
        assert bn.momentum == 0.1  # put back
        assert bn.num_batches_tracked == 4
        with torch.no_grad():  # the mean of the 4 batches' means, through the first layer
            batches = [model.layer[0](b) for b, _ in zip(model.train_dataloader(), range(4))]
        expected_mean = torch.stack([b.mean(0) for b in batches]).mean(0)
        torch.testing.assert_close(bn.running_mean, expected_mean)


def test_swa_matches_lightning_on_a_seeded_run(tmp_path):
    """treadle: the program this test runs gave these values on Lightning 2.6.6 (torch 2.13
    CPU): same learning rates, same count, same final weights."""
    torch.manual_seed(7)

    class Model(treadle.Module):
        def __init__(self):
            super().__init__()
            self.net = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 1))

        def forward(self, x):
            return self.net(x)

        def training_step(self, batch, batch_idx):
            x, y = batch
            return nn.functional.mse_loss(self(x), y)

        def configure_optimizers(self):
            opt = torch.optim.SGD(self.parameters(), lr=0.1, momentum=0.9)
            return [opt], [torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)]

    g = torch.Generator().manual_seed(3)
    x = torch.randn(64, 8, generator=g)
    y = x.sum(1, keepdim=True) + 0.1 * torch.randn(64, 1, generator=g)
    loader = DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=16)
    model = Model()
    swa = StochasticWeightAveraging(swa_lrs=0.05, swa_epoch_start=2, annealing_epochs=2)
    lrs = []

    class LR(treadle.Callback):
        def on_train_epoch_start(self, trainer, pl_module):
            lrs.append(round(trainer.optimizers[0].param_groups[0]["lr"], 6))

    trainer = treadle.Trainer(**quiet(tmp_path, max_epochs=5), callbacks=[swa, LR()])
    trainer.fit(model, loader)
    assert lrs == [0.1, 0.05, 0.05, 0.05, 0.05]
    assert int(swa.n_averaged) == 4
    assert (trainer.current_epoch, trainer.global_step) == (5, 20)
    lightning = {
        "net.0.weight": [-0.11912185698747635, -0.5749171376228333, -0.25149664282798767],
        "net.0.bias": [0.4070151746273041, 0.1224859431385994, -0.20232808589935303],
        "net.2.weight": [-0.5331648588180542, -0.12782861292362213, 0.5497109889984131],
        "net.2.bias": [0.2586628198623657],
    }
    for name, values in lightning.items():
        got = model.state_dict()[name].flatten()[: len(values)]
        torch.testing.assert_close(got, torch.tensor(values), rtol=1e-5, atol=1e-6)


def test_swa_state_in_checkpoints(tmp_path):
    """treadle: the average, its count and SWALR's state are saved under the callback's key."""
    trainer = treadle.Trainer(
        **quiet(tmp_path, max_epochs=3, limit_train_batches=2, limit_val_batches=0),
        callbacks=[StochasticWeightAveraging(swa_lrs=0.05, swa_epoch_start=2)],
    )
    trainer.fit(SwaTestModel(batchnorm=False))
    trainer.save_checkpoint(tmp_path / "c.ckpt")
    state = torch.load(tmp_path / "c.ckpt", weights_only=True)["callbacks"][
        "StochasticWeightAveraging"
    ]
    assert state["n_averaged"] == 2
    assert state["latest_update_epoch"] == 2
    assert state["scheduler_state"]["_step_count"] == 3
    assert set(state["average_model_state"]) == {
        "layer.0.weight",
        "layer.0.bias",
        "layer.2.weight",
        "layer.2.bias",
    }


def test_swa_refuses_two_optimizers(tmp_path):
    class Two(BoringModel):
        def configure_optimizers(self):
            return [
                torch.optim.SGD(self.parameters(), lr=0.1),
                torch.optim.SGD(self.parameters(), lr=0.1),
            ]

        def training_step(self, batch, batch_idx):
            return None

    trainer = treadle.Trainer(
        **quiet(tmp_path, max_epochs=1), callbacks=[StochasticWeightAveraging(swa_lrs=0.1)]
    )
    with pytest.raises(
        treadle.ConfigurationError,
        match=re.escape(
            "StochasticWeightAveraging: SWA currently works with 1 `optimizer` "
            "(configure_optimizers returned 2)."
        ),
    ):
        trainer.fit(Two())
