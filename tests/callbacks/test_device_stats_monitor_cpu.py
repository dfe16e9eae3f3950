"""DeviceStatsMonitor on the CPU (RichModelSummary's tests: test_rich_model_summary.py).

Behaviour from Lightning's ``tests/tests_pytorch/callbacks/test_device_stats_monitor.py``
(Apache-2.0, Copyright The Lightning AI team): the logged keys
``DeviceStatsMonitor.<hook>/<stat>`` for the CPU, the refusal without a logger, no CPU stats with
``cpu_stats=False``. Lightning mocks the logger; here a real ``CSVLogger`` writes the file that
is read back.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest
from boring_model import BoringModel, quiet

import treadle
from treadle.callbacks import DeviceStatsMonitor
from treadle.loggers import CSVLogger


def _logged_keys(tmp_path, monitor):
    # psutil: installed in CI with deepspeed (one of its requirements)
    pytest.importorskip("psutil", reason="DeviceStatsMonitor's CPU stats need psutil")
    logger = CSVLogger(tmp_path, name="stats")
    trainer = treadle.Trainer(
        **quiet(
            tmp_path,
            max_epochs=1,
            limit_train_batches=2,
            limit_val_batches=1,
            logger=logger,
            log_every_n_steps=1,
        ),
        callbacks=[monitor],
    )
    trainer.fit(BoringModel())
    path = Path(logger.log_dir) / "metrics.csv"
    if not path.exists():  # nothing was logged
        return set()
    with open(path) as f:
        return set(next(csv.reader(f)))


def test_device_stats_cpu(tmp_path):
    keys = _logged_keys(tmp_path, DeviceStatsMonitor())
    for hook in (
        "on_train_batch_start",
        "on_train_batch_end",
        "on_validation_batch_start",
        "on_validation_batch_end",
    ):
        for stat in ("cpu_percent", "cpu_vm_percent", "cpu_swap_percent"):
            assert f"DeviceStatsMonitor.{hook}/{stat}" in keys


def test_device_stats_cpu_off(tmp_path):
    keys = _logged_keys(tmp_path, DeviceStatsMonitor(cpu_stats=False))
    assert not any(k.startswith("DeviceStatsMonitor") for k in keys)


def test_device_stats_monitor_no_logger(tmp_path):
    trainer = treadle.Trainer(**quiet(tmp_path, max_epochs=1), callbacks=[DeviceStatsMonitor()])
    with pytest.raises(
        treadle.ConfigurationError,
        match=re.escape(
            "Cannot use `DeviceStatsMonitor` callback with `Trainer(logger=False)`: it logs the "
            "statistics. Pass a logger (`logger=True`) or remove the callback."
        ),
    ):
        trainer.fit(BoringModel())
