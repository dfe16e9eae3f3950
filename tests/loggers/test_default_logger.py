"""``Trainer(logger=True)``, the default: Lightning's choice of logger.

Lightning (``trainer/connectors/logger_connector``) uses ``TensorBoardLogger(save_dir=
default_root_dir)`` when ``tensorboard`` or ``tensorboardX`` is installed and ``CSVLogger``
otherwise; programs written for it call ``self.logger.experiment.add_image(...)`` on the default.
"""

from __future__ import annotations

import sys

import pytest

import treadle
from treadle.loggers import CSVLogger, TensorBoardLogger


def test_default_logger_is_tensorboard_where_it_is_installed(tmp_path):
    pytest.importorskip("tensorboard")
    trainer = treadle.Trainer(default_root_dir=tmp_path, enable_progress_bar=False)
    assert [type(lg) for lg in trainer.loggers] == [TensorBoardLogger]
    assert trainer.logger.save_dir == str(tmp_path)
    assert trainer.logger.log_dir == str(tmp_path / "lightning_logs" / "version_0")
    assert hasattr(trainer.logger.experiment, "add_image")  # a SummaryWriter


def test_default_logger_is_csv_without_tensorboard(tmp_path, monkeypatch):
    # neither package importable: find_spec fails for a name whose sys.modules entry is None
    monkeypatch.setitem(sys.modules, "tensorboard", None)
    monkeypatch.setitem(sys.modules, "tensorboardX", None)
    trainer = treadle.Trainer(default_root_dir=tmp_path, enable_progress_bar=False)
    assert [type(lg) for lg in trainer.loggers] == [CSVLogger]
    assert trainer.logger.log_dir == str(tmp_path / "lightning_logs" / "version_0")


def test_csv_by_name_still_selects_csv(tmp_path):
    trainer = treadle.Trainer(default_root_dir=tmp_path, logger="csv", enable_progress_bar=False)
    assert [type(lg) for lg in trainer.loggers] == [CSVLogger]
