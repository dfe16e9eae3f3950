"""LearningRateMonitor.

Ported from Lightning's ``tests/tests_pytorch/callbacks/test_lr_monitor.py`` (Apache-2.0,
Copyright The Lightning AI team): the behaviour each test checks is Lightning's; the code is
translated to treadle's names (``BoringModel`` from ``boring_model``, treadle's CSV logger).
One translation is of meaning: Lightning's ``global_step`` counts optimizer steps (two per batch
with two optimizers), treadle's counts batches that stepped, so "global_step // 2" becomes
"global_step". Tests marked "treadle" at the end are our own.
"""

from __future__ import annotations

import csv
import os
import re

import pytest
import torch
from boring_model import BoringModel, quiet
from torch import optim

import treadle
from treadle.callbacks import EarlyStopping, LearningRateMonitor


def csv_logger(tmp_path):
    from treadle_plugins.loggers.csv import CSVLogger

    return CSVLogger(tmp_path)


def logged_rows(trainer):
    trainer.logger.save()
    with open(os.path.join(trainer.logger.log_dir, "metrics.csv"), newline="") as f:
        return list(csv.DictReader(f))


def test_lr_monitor_single_lr(tmp_path):
    """Learning rates are extracted and logged for a single lr scheduler."""
    lr_monitor = LearningRateMonitor()
    trainer = treadle.Trainer(
        **quiet(
            tmp_path,
            max_epochs=2,
            limit_val_batches=1,
            limit_train_batches=4,
            callbacks=[lr_monitor],
            logger=csv_logger(tmp_path),
        )
    )
    trainer.fit(BoringModel())

    assert lr_monitor.lrs, "No learning rates logged"
    assert all(v is None for v in lr_monitor.last_momentum_values.values())
    assert all(v is None for v in lr_monitor.last_weight_decay_values.values())
    assert len(lr_monitor.lrs) == len(trainer.lr_scheduler_configs)
    assert list(lr_monitor.lrs) == ["lr-SGD"]
    # treadle: the logger got them, at the start of each epoch (StepLR decays by 10x)
    assert [(r["step"], float(r["lr-SGD"])) for r in logged_rows(trainer) if r["lr-SGD"]] == [
        ("0", 0.1),
        ("4", pytest.approx(0.01)),
    ]


@pytest.mark.parametrize("opt", ["SGD", "Adam"])
def test_lr_monitor_single_lr_with_momentum(tmp_path, opt: str):
    """Learning rates, momentum and weight decay are logged for a single lr scheduler."""

    class LogMomentumModel(BoringModel):
        def configure_optimizers(self):
            opt_kwargs = {"momentum": 0.9} if opt == "SGD" else {"betas": (0.9, 0.999)}
            optimizer = getattr(optim, opt)(self.parameters(), lr=1e-2, **opt_kwargs)
            lr_scheduler = optim.lr_scheduler.OneCycleLR(optimizer, max_lr=1e-2, total_steps=10_000)
            return [optimizer], [lr_scheduler]

    lr_monitor = LearningRateMonitor(log_momentum=True, log_weight_decay=True)
    trainer = treadle.Trainer(
        **quiet(
            tmp_path,
            max_epochs=2,
            limit_val_batches=2,
            limit_train_batches=5,
            log_every_n_steps=1,
            callbacks=[lr_monitor],
            logger=csv_logger(tmp_path),
        )
    )
    trainer.fit(LogMomentumModel())

    assert all(v is not None for v in lr_monitor.last_momentum_values.values())
    assert len(lr_monitor.last_momentum_values) == len(trainer.lr_scheduler_configs)
    assert all(k == f"lr-{opt}-momentum" for k in lr_monitor.last_momentum_values)
    assert all(v is not None for v in lr_monitor.last_weight_decay_values.values())
    assert len(lr_monitor.last_weight_decay_values) == len(trainer.lr_scheduler_configs)
    assert all(k == f"lr-{opt}-weight_decay" for k in lr_monitor.last_weight_decay_values)


def test_log_momentum_no_momentum_optimizer(tmp_path):
    """An optimizer without momentum and log_momentum=True: a warning, and 0 is logged."""

    class LogMomentumModel(BoringModel):
        def configure_optimizers(self):
            optimizer = optim.ASGD(self.parameters(), lr=1e-2)
            return [optimizer], [optim.lr_scheduler.StepLR(optimizer, step_size=1)]

    lr_monitor = LearningRateMonitor(log_momentum=True)
    trainer = treadle.Trainer(
        **quiet(
            tmp_path,
            max_epochs=1,
            limit_val_batches=2,
            limit_train_batches=5,
            log_every_n_steps=1,
            callbacks=[lr_monitor],
            logger=csv_logger(tmp_path),
        )
    )
    with pytest.warns(
        RuntimeWarning,
        match=re.escape(
            "You have set log_momentum=True, but some optimizers do not have momentum. This "
            "will log a value 0 for the momentum."
        ),
    ):
        trainer.fit(LogMomentumModel())

    assert all(v == 0 for v in lr_monitor.last_momentum_values.values())
    assert len(lr_monitor.last_momentum_values) == len(trainer.lr_scheduler_configs)
    assert all(k == "lr-ASGD-momentum" for k in lr_monitor.last_momentum_values)


def test_lr_monitor_no_lr_scheduler_single_lr(tmp_path):
    class CustomBoringModel(BoringModel):
        def configure_optimizers(self):
            return optim.SGD(self.parameters(), lr=0.1)

    lr_monitor = LearningRateMonitor()
    trainer = treadle.Trainer(
        **quiet(
            tmp_path,
            max_epochs=2,
            limit_val_batches=1,
            limit_train_batches=4,
            callbacks=[lr_monitor],
            logger=csv_logger(tmp_path),
        )
    )
    trainer.fit(CustomBoringModel())

    assert lr_monitor.lrs, "No learning rates logged"
    assert len(lr_monitor.lrs) == len(trainer.optimizers)
    assert list(lr_monitor.lrs) == ["lr-SGD"]


def test_lr_monitor_no_logger(tmp_path):
    trainer = treadle.Trainer(
        **quiet(tmp_path, max_epochs=1, callbacks=[LearningRateMonitor()], logger=False)
    )
    with pytest.raises(
        treadle.ConfigurationError,
        match=re.escape(
            "LearningRateMonitor: cannot log learning rates because the Trainer has no logger "
            "(`logger=False`). Pass `logger=True` (CSV) or a logger, or remove the callback."
        ),
    ):
        trainer.fit(BoringModel())


class TwoAdams(BoringModel):
    """Manual optimization with two Adam optimizers (and, optionally, a scheduler each)."""

    def __init__(self, schedulers: bool):
        super().__init__()
        self.automatic_optimization = False
        self.schedulers = schedulers

    def training_step(self, batch, batch_idx):
        opt1, opt2 = self.optimizers()
        for opt in (opt1, opt2):
            loss = self.loss(self.step(batch))
            opt.zero_grad()
            self.manual_backward(loss)
            opt.step()

    def on_train_epoch_end(self):
        if self.schedulers:
            for scheduler in self.lr_schedulers():
                scheduler.step()

    def configure_optimizers(self):
        optimizer1 = optim.Adam(self.parameters(), lr=1e-2)
        optimizer2 = optim.Adam(self.parameters(), lr=1e-2)
        if not self.schedulers:
            return [optimizer1, optimizer2]
        return [optimizer1, optimizer2], [
            optim.lr_scheduler.StepLR(optimizer1, 1, gamma=0.1),
            optim.lr_scheduler.StepLR(optimizer2, 1, gamma=0.1),
        ]


@pytest.mark.parametrize("schedulers", [True, False])
@pytest.mark.parametrize("logging_interval", ["step", "epoch"])
def test_lr_monitor_multi_lrs(tmp_path, logging_interval: str, schedulers: bool):
    """Learning rates of several optimizers, with and without schedulers (Lightning's
    test_lr_monitor_multi_lrs and test_lr_monitor_no_lr_scheduler_multi_lrs)."""
    lr_monitor = LearningRateMonitor(logging_interval=logging_interval)
    log_every_n_steps = 2
    trainer = treadle.Trainer(
        **quiet(
            tmp_path,
            max_epochs=2,
            log_every_n_steps=log_every_n_steps,
            limit_train_batches=7,
            limit_val_batches=1,
            callbacks=[lr_monitor],
            logger=csv_logger(tmp_path),
        )
    )
    trainer.fit(TwoAdams(schedulers))

    assert lr_monitor.lrs, "No learning rates logged"
    assert len(lr_monitor.lrs) == 2
    assert list(lr_monitor.lrs) == ["lr-Adam", "lr-Adam-1"], (
        "Names of learning rates not set correctly"
    )
    if logging_interval == "step":
        expected_number_logged = trainer.global_step // log_every_n_steps
    else:
        expected_number_logged = trainer.max_epochs
    assert all(len(lr) == expected_number_logged for lr in lr_monitor.lrs.values())


def test_lr_monitor_param_groups(tmp_path):
    class CustomModel(BoringModel):
        def __init__(self):
            super().__init__()
            self.hidden = torch.nn.Linear(32, 32)

        def forward(self, x):
            return self.layer(self.hidden(x))

        def configure_optimizers(self):
            param_groups = [
                {"params": list(self.hidden.parameters()), "lr": 0.01},
                {"params": list(self.layer.parameters()), "lr": 0.1},
            ]
            optimizer = optim.Adam(param_groups)
            return [optimizer], [optim.lr_scheduler.StepLR(optimizer, 1, gamma=0.1)]

    lr_monitor = LearningRateMonitor()
    trainer = treadle.Trainer(
        **quiet(
            tmp_path,
            max_epochs=2,
            limit_val_batches=1,
            limit_train_batches=4,
            callbacks=[lr_monitor],
            logger=csv_logger(tmp_path),
        )
    )
    trainer.fit(CustomModel())

    assert len(lr_monitor.lrs) == 2 * len(trainer.lr_scheduler_configs)
    assert list(lr_monitor.lrs) == ["lr-Adam/pg1", "lr-Adam/pg2"]
    assert lr_monitor.lrs["lr-Adam/pg1"] == [0.01, pytest.approx(0.001)]


def test_lr_monitor_custom_name(tmp_path):
    class TestModel(BoringModel):
        def configure_optimizers(self):
            optimizer, [scheduler] = super().configure_optimizers()
            return optimizer, [{"scheduler": scheduler, "name": "my_logging_name"}]

    lr_monitor = LearningRateMonitor()
    trainer = treadle.Trainer(
        **quiet(
            tmp_path,
            max_epochs=2,
            limit_val_batches=1,
            limit_train_batches=4,
            callbacks=[lr_monitor],
            logger=csv_logger(tmp_path),
        )
    )
    trainer.fit(TestModel())
    assert list(lr_monitor.lrs) == ["my_logging_name"]


def test_lr_monitor_custom_pg_name(tmp_path):
    class TestModel(BoringModel):
        def configure_optimizers(self):
            optimizer = torch.optim.SGD(
                [{"params": list(self.layer.parameters()), "name": "linear"}], lr=0.1
            )
            return [optimizer], [torch.optim.lr_scheduler.StepLR(optimizer, step_size=1)]

    lr_monitor = LearningRateMonitor()
    trainer = treadle.Trainer(
        **quiet(
            tmp_path,
            max_epochs=2,
            limit_val_batches=2,
            limit_train_batches=2,
            callbacks=[lr_monitor],
            logger=csv_logger(tmp_path),
        )
    )
    trainer.fit(TestModel())
    assert list(lr_monitor.lrs) == ["lr-SGD/linear"]


def test_lr_monitor_duplicate_custom_pg_names(tmp_path):
    class TestModel(BoringModel):
        def __init__(self):
            super().__init__()
            self.linear_a = torch.nn.Linear(32, 16)
            self.linear_b = torch.nn.Linear(16, 2)

        def forward(self, x):
            return self.linear_b(self.linear_a(x))

        def configure_optimizers(self):
            param_groups = [
                {"params": list(self.linear_a.parameters()), "name": "linear"},
                {"params": list(self.linear_b.parameters()), "name": "linear"},
            ]
            optimizer = torch.optim.SGD(param_groups, lr=0.1)
            return [optimizer], [torch.optim.lr_scheduler.StepLR(optimizer, step_size=1)]

    trainer = treadle.Trainer(
        **quiet(
            tmp_path,
            max_epochs=2,
            limit_val_batches=2,
            limit_train_batches=2,
            callbacks=[LearningRateMonitor()],
            logger=csv_logger(tmp_path),
        )
    )
    with pytest.raises(
        treadle.ConfigurationError,
        match=re.escape(
            "LearningRateMonitor: optimizer SGD has several parameter groups named ['linear']; "
            "give each group a unique `name` (the logged keys would collide)."
        ),
    ):
        trainer.fit(TestModel())


def test_lr_monitor_multiple_param_groups_no_lr_scheduler(tmp_path):
    class TestModel(BoringModel):
        def __init__(self, lr, momentum):
            super().__init__()
            self.lr, self.momentum = lr, momentum
            self.linear_a = torch.nn.Linear(32, 16)
            self.linear_b = torch.nn.Linear(16, 2)

        def forward(self, x):
            return self.linear_b(self.linear_a(x))

        def configure_optimizers(self):
            param_groups = [
                {"params": list(self.linear_a.parameters()), "weight_decay": 0.1},
                {"params": list(self.linear_b.parameters()), "weight_decay": 0.1},
            ]
            return torch.optim.Adam(param_groups, lr=self.lr, betas=self.momentum)

    lr_monitor = LearningRateMonitor(log_momentum=True, log_weight_decay=True)
    trainer = treadle.Trainer(
        **quiet(
            tmp_path,
            max_epochs=2,
            limit_val_batches=2,
            limit_train_batches=2,
            callbacks=[lr_monitor],
            logger=csv_logger(tmp_path),
        )
    )
    lr, momentum, weight_decay = 1e-2, 0.7, 0.1
    trainer.fit(TestModel(lr=lr, momentum=(momentum, 0.999)))

    assert len(lr_monitor.lrs) == len(trainer.optimizers[0].param_groups)
    assert list(lr_monitor.lrs) == ["lr-Adam/pg1", "lr-Adam/pg2"]
    assert list(lr_monitor.last_momentum_values) == ["lr-Adam/pg1-momentum", "lr-Adam/pg2-momentum"]
    assert all(val == momentum for val in lr_monitor.last_momentum_values.values())
    assert list(lr_monitor.last_weight_decay_values) == [
        "lr-Adam/pg1-weight_decay",
        "lr-Adam/pg2-weight_decay",
    ]
    assert all(val == weight_decay for val in lr_monitor.last_weight_decay_values.values())
    assert all(all(val == lr for val in lr_monitor.lrs[key]) for key in lr_monitor.lrs)


def test_lr_monitor_update_callback_metrics(tmp_path):
    """The learning rate is in trainer.callback_metrics, so EarlyStopping can monitor it."""

    class TestModel(BoringModel):
        def configure_optimizers(self):
            optimizer = torch.optim.SGD(self.layer.parameters(), lr=0.1)
            return [optimizer], [torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)]

    monitor_key, stop_threshold, expected_stop_epoch = "lr-SGD", 0.02, 3
    lr_monitor = LearningRateMonitor()
    lr_es = EarlyStopping(
        monitor=monitor_key,
        mode="min",
        stopping_threshold=stop_threshold,
        check_on_train_epoch_end=True,
    )
    trainer = treadle.Trainer(
        **quiet(
            tmp_path,
            callbacks=[lr_monitor, lr_es],
            max_epochs=5,
            limit_val_batches=0,
            limit_train_batches=2,
            logger=csv_logger(tmp_path),
        )
    )
    trainer.fit(TestModel())

    assert monitor_key in trainer.callback_metrics
    assert lr_monitor.lrs[monitor_key] == pytest.approx([0.1, 0.05, 0.025, 0.0125])
    assert trainer.current_epoch - 1 == expected_stop_epoch
    assert lr_es.stopped_epoch == expected_stop_epoch


# -- treadle ----------------------------------------------------------------------------------


def test_step_interval_scheduler_is_logged_every_due_step(tmp_path):
    """A scheduler stepped per batch is logged before each batch due for logging."""

    class StepScheduler(BoringModel):
        def configure_optimizers(self):
            optimizer = torch.optim.SGD(self.parameters(), lr=1.0)
            scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1 / (step + 1))
            return [optimizer], [{"scheduler": scheduler, "interval": "step"}]

    lr_monitor = LearningRateMonitor()
    trainer = treadle.Trainer(
        **quiet(
            tmp_path,
            max_epochs=1,
            limit_train_batches=6,
            log_every_n_steps=2,
            limit_val_batches=0,
            callbacks=[lr_monitor],
            logger=csv_logger(tmp_path),
        )
    )
    trainer.fit(StepScheduler())
    # before batches 1, 3, 5 (global_step + 1 divisible by 2): lr = 1/2, 1/4, 1/6
    assert lr_monitor.lrs["lr-SGD"] == pytest.approx([1 / 2, 1 / 4, 1 / 6])
    assert [(r["step"], float(r["lr-SGD"])) for r in logged_rows(trainer) if r["lr-SGD"]] == [
        ("1", 0.5),
        ("3", 0.25),
        ("5", pytest.approx(1 / 6)),
    ]


def test_logging_interval_is_checked():
    with pytest.raises(
        ValueError,
        match=re.escape(
            "LearningRateMonitor(logging_interval='batch'): `logging_interval` should be 'step', "
            "'epoch' or None."
        ),
    ):
        LearningRateMonitor(logging_interval="batch")
