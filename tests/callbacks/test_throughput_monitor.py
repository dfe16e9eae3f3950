"""ThroughputMonitor and its Throughput computation.

Behaviour from Lightning's ``tests/tests_pytorch/callbacks/test_throughput_monitor.py`` and
``tests/tests_fabric/utilities/test_throughput.py`` (Apache-2.0, Copyright The Lightning AI
team): the rates over the window, the global rates with several processes, the refusal of
values that do not grow, the ``flops_per_batch`` warning, and which rows are logged at which
step. Lightning mocks the logger; here a real ``CSVLogger`` writes the rows that are read back.
The expected rows are what Lightning 2.6.6 wrote for the same run.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest
from boring_model import BoringModel, RandomDataset, quiet
from torch.utils.data import DataLoader

import treadle
from treadle.loggers import CSVLogger
from treadle_plugins.callbacks.throughput_monitor import Throughput, ThroughputMonitor


def test_throughput_rates_over_the_window():
    throughput = Throughput(window_size=2, world_size=2, available_flops=50)
    throughput.update(time=1.0, batches=1, samples=2, lengths=4, flops=10)
    assert throughput.compute() == {"time": 1.0, "batches": 1, "samples": 2, "lengths": 4}
    throughput.update(time=3.0, batches=3, samples=6, lengths=12, flops=10)
    assert throughput.compute() == {
        "time": 3.0,
        "batches": 3,
        "samples": 6,
        "lengths": 12,
        "device/batches_per_sec": 1.0,
        "device/samples_per_sec": 2.0,
        "batches_per_sec": 2.0,
        "samples_per_sec": 4.0,
        "device/items_per_sec": 4.0,
        "items_per_sec": 8.0,
        "device/flops_per_sec": 5.0,  # 10 per device since the window's first update, in 2 s
        "flops_per_sec": 10.0,
        "device/mfu": 0.1,
    }
    throughput.reset()
    throughput.update(time=0.5, batches=1, samples=1)
    assert throughput.compute() == {"time": 0.5, "batches": 1, "samples": 1}


def test_throughput_refuses_values_that_do_not_grow():
    throughput = Throughput()
    throughput.update(time=1.0, batches=1, samples=1)
    with pytest.raises(
        ValueError, match=re.escape("Expected the value to increase, last: 1.0, current: 1.0")
    ):
        throughput.update(time=1.0, batches=2, samples=2)
    with pytest.raises(
        ValueError, match=re.escape("Expected samples (1) to be greater or equal than batches (2)")
    ):
        Throughput().update(time=1.0, batches=2, samples=1)
    with pytest.raises(
        ValueError,
        match=re.escape(
            "Throughput(world_size=1, window_size=1): world_size must be >= 1 and window_size >= 2 "
            "(rates compare the window's first and last update)."
        ),
    ):
        Throughput(window_size=1)


class Model(BoringModel):
    def train_dataloader(self):
        return DataLoader(RandomDataset(32, 64), batch_size=4)

    def val_dataloader(self):
        return DataLoader(RandomDataset(32, 64, seed=1), batch_size=4)

    def test_dataloader(self):
        return DataLoader(RandomDataset(32, 64, seed=2), batch_size=4)


def test_rows_and_steps_as_lightning(tmp_path):
    logger = CSVLogger(tmp_path, name="tp")
    monitor = ThroughputMonitor(batch_size_fn=lambda b: b.size(0), window_size=2)
    trainer = treadle.Trainer(
        **quiet(
            tmp_path,
            max_epochs=2,
            limit_train_batches=4,
            limit_val_batches=3,
            limit_test_batches=3,
            log_every_n_steps=2,
            num_sanity_val_steps=0,
            logger=logger,
        ),
        callbacks=[monitor],
    )
    model = Model()
    with pytest.warns(UserWarning, match="you need to define a `flops_per_batch` attribute"):
        trainer.fit(model)
    trainer.test(model, verbose=False)
    rows = []
    with open(Path(logger.log_dir) / "metrics.csv") as f:
        for row in csv.DictReader(f):
            stages = {k.split("/")[0] for k, v in row.items() if v != "" and "/" in k}
            stage = stages & {"train", "validate", "test"}
            if stage:
                (name,) = stage
                rows.append((int(row["step"]), name, int(float(row[f"{name}/samples"]))))
    assert rows == [
        (1, "train", 8),
        (3, "train", 16),
        (2, "validate", 8),
        (5, "train", 24),
        (7, "train", 32),
        (2, "validate", 8),
        (2, "test", 8),
    ]


def test_flops_rates_from_the_module(tmp_path):
    logger = CSVLogger(tmp_path, name="tp")

    class WithFlops(Model):
        flops_per_batch = 1000

    trainer = treadle.Trainer(
        **quiet(
            tmp_path,
            max_epochs=1,
            limit_train_batches=4,
            limit_val_batches=0,
            logger=logger,
            log_every_n_steps=1,
        ),
        callbacks=[ThroughputMonitor(batch_size_fn=len, window_size=2)],
    )
    trainer.fit(WithFlops())
    with open(Path(logger.log_dir) / "metrics.csv") as f:
        header = next(csv.reader(f))
    assert "train/device/flops_per_sec" in header


class KeywordLogger(treadle.loggers.Logger):
    """Takes ``metrics``/``step`` by name only, as Lightning's logger connector passes them."""

    name, version = "kw", 0

    def __init__(self):
        self.calls = []

    def log_metrics(self, *, metrics, step):
        self.calls.append((dict(metrics), step))

    def log_hyperparams(self, params, *args, **kwargs):
        pass


# Ported from Lightning's test_throughput_monitor_fit and test_throughput_monitor_eval
# (tests/tests_pytorch/callbacks/test_throughput_monitor.py, Apache-2.0, Copyright The
# Lightning AI team): the training rows carry the epoch and the step of the latest optimizer
# step; a second validate() on the same Trainer goes on counting ("the step doesnt repeat").
def test_logged_by_name_with_the_epoch_and_eval_steps_going_on(tmp_path):
    logger = KeywordLogger()
    monitor = ThroughputMonitor(batch_size_fn=lambda b: 3, window_size=3, separator="|")
    trainer = treadle.Trainer(
        **quiet(tmp_path, max_steps=2, log_every_n_steps=1, limit_val_batches=0, logger=logger),
        callbacks=[monitor],
    )
    with pytest.warns(UserWarning, match="flops_per_batch"):
        trainer.fit(Model())
    assert [(m["train|batches"], m["epoch"], step) for m, step in logger.calls] == [
        (1, 0, 0),
        (2, 0, 1),
    ]
    logger.calls.clear()
    trainer = treadle.Trainer(
        **quiet(tmp_path, limit_val_batches=6, log_every_n_steps=3, logger=logger),
        callbacks=[monitor],
    )
    trainer.validate(Model(), verbose=False)
    trainer.validate(Model(), verbose=False)
    assert [(m["validate|batches"], "epoch" in m, step) for m, step in logger.calls] == [
        (3, False, 3),
        (6, False, 6),
        (9, False, 9),
        (12, False, 12),
    ]
