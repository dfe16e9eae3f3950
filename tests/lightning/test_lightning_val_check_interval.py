"""``val_check_interval`` settings Lightning refuses, refused as Lightning does, and
``treadle.loggers.DummyLogger`` (what ``fast_dev_run`` puts in place of the loggers).

Ported behaviour (Copyright The Lightning AI team, Apache-2.0) from Lightning's
``tests/tests_pytorch/trainer/flags/test_val_check_interval.py``
(``test_validation_check_interval_exceed_data_length_wrong``,
``test_val_check_interval_float_with_none_check_val_every_n_epoch``) and ``test_fast_dev_run.py``
(``isinstance(trainer.logger, DummyLogger)``).
"""

from __future__ import annotations

import re

import pytest
from lightning_boring import BoringModel, quiet

import treadle
from treadle.errors import ConfigurationError
from treadle.utilities import MisconfigurationException


def test_int_interval_longer_than_the_epoch_is_refused(tmp_path) -> None:
    trainer = treadle.Trainer(**quiet(tmp_path, limit_train_batches=5, val_check_interval=100))
    with pytest.raises(ValueError) as info:  # Lightning's type; treadle's ConfigurationError is one
        trainer.fit(BoringModel())
    assert isinstance(info.value, ConfigurationError)
    assert info.value.problems == [
        "Trainer: `val_check_interval` (100) must be less than or equal to the number of the "
        "training batches (5). To validate every 100 batches across epochs, set "
        "`check_val_every_n_epoch=None`; to turn validation off, set `limit_val_batches=0`."
    ]


def test_int_interval_across_epochs_is_accepted(tmp_path) -> None:
    """With ``check_val_every_n_epoch=None`` the interval counts batches across epochs."""
    seen = []

    class Model(BoringModel):
        def validation_step(self, batch, batch_idx):
            if batch_idx == 0:
                seen.append(self.trainer.global_step)
            return super().validation_step(batch, batch_idx)

    trainer = treadle.Trainer(
        **quiet(tmp_path, limit_train_batches=4, limit_val_batches=1, max_epochs=3),
        val_check_interval=6,
        check_val_every_n_epoch=None,
        num_sanity_val_steps=0,
    )
    trainer.fit(Model())
    assert seen == [6, 12]


def test_interval_fitting_the_epoch_and_no_validation_are_fine(tmp_path) -> None:
    treadle.Trainer(
        **quiet(tmp_path, limit_train_batches=5, val_check_interval=5, max_epochs=1)
    ).fit(BoringModel())
    no_val = treadle.Trainer(
        **quiet(tmp_path, limit_train_batches=5, val_check_interval=100, max_epochs=1),
        limit_val_batches=0,
    )
    no_val.fit(BoringModel())
    assert no_val.global_step == 5


def test_fraction_with_no_epoch_cadence_is_refused_at_construction() -> None:
    message = (
        "Trainer: `val_check_interval` should be an integer when `check_val_every_n_epoch=None`, "
        "not 0.5 (a fraction of an epoch); pass a number of batches, or set "
        "`check_val_every_n_epoch`."
    )
    with pytest.raises(MisconfigurationException, match=re.escape(message)):
        treadle.Trainer(val_check_interval=0.5, check_val_every_n_epoch=None)
    with pytest.raises(ConfigurationError, match=re.escape(message)):  # the pydantic path too
        treadle.Trainer(val_check_interval=0.5, check_val_every_n_epoch=None, max_epochs=2.0)


def test_dummy_logger_is_public_where_lightning_has_it(tmp_path) -> None:
    from treadle.loggers import DummyLogger, TensorBoardLogger

    trainer = treadle.Trainer(**quiet(tmp_path, logger=TensorBoardLogger(tmp_path), fast_dev_run=2))
    assert isinstance(trainer.logger, DummyLogger)
    trainer.fit(BoringModel())
    assert trainer.logger.experiment.anything("x", 1) is not None  # every call accepted


@pytest.mark.parametrize("value", [1, 1.0])
def test_one_or_whole_epoch_is_said_when_given(caplog, value) -> None:
    """Ported from ``test_val_check_interval.py::test_val_check_interval_info_message``: ``1``
    and ``1.0`` mean one batch and the whole epoch; an INFO line says which, only when given."""
    import logging

    with caplog.at_level(logging.INFO, logger="treadle"):
        treadle.Trainer(val_check_interval=value, limit_train_batches=value)
    said = (
        "validation will run at the end of the training epoch."
        if isinstance(value, float)
        else "validation will run after every batch."
    )
    assert f"`Trainer(val_check_interval={value})` was configured so {said}" in caplog.text
    assert f"`Trainer(limit_train_batches={value})` was configured" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="treadle"):
        treadle.Trainer()
    assert "was configured so" not in caplog.text
