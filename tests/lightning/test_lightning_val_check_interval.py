"""``val_check_interval`` settings Lightning refuses, refused as Lightning does, and
``treadle.loggers.DummyLogger`` (what ``fast_dev_run`` puts in place of the loggers).

Ported behaviour (Copyright The Lightning AI team, Apache-2.0) from Lightning's
``tests/tests_pytorch/trainer/flags/test_val_check_interval.py``
(``test_validation_check_interval_exceed_data_length_wrong``,
``test_val_check_interval_float_with_none_check_val_every_n_epoch``) and ``test_fast_dev_run.py``
(``isinstance(trainer.logger, DummyLogger)``); the time-based ``val_check_interval`` of
Lightning 2.6 (``test_time_based_val_check_interval``, ``test_time_and_epoch_gated_val_check``
with real sleeps for its fake clock) and ``trainer.val_check_batch``.
"""

from __future__ import annotations

import re
import time
from datetime import timedelta

import pytest
import torch
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
        "not 0.5 (a fraction of an epoch); pass a number of batches or a time interval "
        "('DD:HH:MM:SS', a `datetime.timedelta` or a dict of its arguments), or set "
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


# -- a time-based val_check_interval (Lightning 2.6) -----------------------------------------


class _Timed(BoringModel):
    """Sleeps ``sleep`` seconds in each training step; records after which (epoch, batch) each
    validation of fit ran."""

    def __init__(self, sleep: float = 0.0) -> None:
        super().__init__()
        self.sleep, self.validated_at, self.last = sleep, [], None

    def training_step(self, batch, batch_idx):
        time.sleep(self.sleep)
        self.last = (self.current_epoch, batch_idx)
        return super().training_step(batch, batch_idx)

    def on_validation_epoch_start(self) -> None:
        if not self.trainer.sanity_checking:
            self.validated_at.append(self.last)


_FIVE_MINUTES = timedelta(minutes=5)


@pytest.mark.parametrize(
    "value", ["00:00:05:00", "0:0:4:60", {"minutes": 5}, {"seconds": 300.0}, _FIVE_MINUTES]
)
@pytest.mark.parametrize("pydantic_path", [False, True])
def test_time_interval_forms_are_read_as_a_timedelta(value, pydantic_path) -> None:
    """Ported from Lightning's ``_parse_time_interval_seconds`` doctest: the three forms
    (``max_epochs=2.0`` sends the arguments through pydantic's ``TrainerConfig``)."""
    extra = {"max_epochs": 2.0} if pydantic_path else {}
    trainer = treadle.Trainer(val_check_interval=value, logger=False, **extra)
    assert trainer.val_check_interval == _FIVE_MINUTES
    assert type(trainer.config.val_check_interval) is timedelta
    assert trainer.val_check_batch is None


_FORMS = (
    "A time-based interval is a 'DD:HH:MM:SS' string (days:hours:minutes:seconds, each an "
    "int), a `datetime.timedelta`, or a dict of `datetime.timedelta` arguments (days, seconds, "
    "microseconds, milliseconds, minutes, hours, weeks); e.g. '00:00:05:00', "
    "`timedelta(minutes=5)` or {'minutes': 5} for five minutes."
)
_ZERO = (
    "a duration must be longer than zero (to validate after every batch, pass "
    "`val_check_interval=1`)"
)


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("01:02:03", "it has 3 fields, not 4"),
        ("1:2:3:4:5", "it has 5 fields, not 4"),
        ("aa:bb:cc:dd", "each field must be an int"),
        ("00:00:00:1.5", "each field must be an int"),
        ("5m", "it has 1 fields, not 4"),
        ({"mins": 5, "hours": 1}, "unknown `datetime.timedelta` argument(s): mins"),
        ({"minutes": "5"}, "not a number: the value of minutes"),
        ({"minutes": True}, "not a number: the value of minutes"),
        ("00:00:00:00", _ZERO),
        ("00:00:00:-30", _ZERO),
        (timedelta(0), _ZERO),
        ({"minutes": -1}, _ZERO),
        ({}, _ZERO),
        ({"days": 10**9}, "it is longer than a `datetime.timedelta` can hold"),
    ],
)
@pytest.mark.parametrize("pydantic_path", [False, True])
def test_bad_time_intervals_are_refused(value, why, pydantic_path) -> None:
    extra = {"max_epochs": 2.0} if pydantic_path else {}
    with pytest.raises(ConfigurationError) as info:
        treadle.Trainer(val_check_interval=value, **extra)
    assert info.value.problems == [
        f"TrainerConfig: `Trainer(val_check_interval={value!r})`: Value error, "
        f"`val_check_interval={value!r}` is not a valid time interval: {why}. {_FORMS}"
    ]
    assert isinstance(info.value, MisconfigurationException)  # what Lightning raises


def test_a_value_of_no_accepted_kind_names_them_all() -> None:
    with pytest.raises(ConfigurationError) as info:
        treadle.Trainer(val_check_interval=[1])
    assert info.value.problems == [
        "TrainerConfig: `Trainer(val_check_interval=[1])`: Input should be an int (a number of "
        "batches), a float in (0.0, 1.0] (a fraction of the epoch) or a time interval: a "
        "'DD:HH:MM:SS' string (days:hours:minutes:seconds, each an int), a "
        "`datetime.timedelta`, or a dict of `datetime.timedelta` arguments (days, seconds, "
        "microseconds, milliseconds, minutes, hours, weeks); e.g. `val_check_interval=0.25` "
        "or '00:00:05:00'."
    ]


def test_time_interval_is_allowed_without_epoch_cadence(tmp_path) -> None:
    """As Lightning: ``check_val_every_n_epoch=None`` takes a time-based interval (a fraction
    is refused, above); every batch that sleeps the interval validates."""
    model = _Timed(sleep=0.05)
    trainer = treadle.Trainer(
        **quiet(tmp_path, max_steps=3, limit_val_batches=1, num_sanity_val_steps=0),
        val_check_interval={"milliseconds": 50},
        check_val_every_n_epoch=None,
    )
    trainer.fit(model)
    assert model.validated_at == [(0, 0), (0, 1), (0, 2)]


def test_time_interval_never_up_validates_not_even_at_the_epoch_end(tmp_path) -> None:
    """Ported from ``test_val_check_interval.py::test_time_and_epoch_gated_val_check`` (the
    "timer longer than epoch" row): the epoch's last batch validates only when the time is
    up; with no validation, ``ModelCheckpoint`` (which saves after validation in this mode)
    writes nothing and ``EarlyStopping`` (which checks after it) never asks for its metric
    (Lightning 2.6.6's fails here: it reads ``trainer.val_check_interval``, unset)."""
    from treadle.callbacks import EarlyStopping, ModelCheckpoint

    model = _Timed()
    checkpoints = ModelCheckpoint(dirpath=tmp_path / "ckpt", save_top_k=-1)
    stopping = EarlyStopping(monitor="val_loss")
    trainer = treadle.Trainer(
        **quiet(tmp_path, max_epochs=2, limit_train_batches=3, enable_checkpointing=True),
        num_sanity_val_steps=0,
        val_check_interval="00:01:00:00",
        callbacks=[checkpoints, stopping],
    )
    trainer.fit(model)
    assert model.validated_at == []
    assert trainer.current_epoch == 2
    assert not (tmp_path / "ckpt").exists()


def test_time_interval_restarts_after_each_validation_and_saves_there(tmp_path) -> None:
    """0.2 s a batch, 0.35 s apart: every second batch since the last validation, across the
    epoch's end; each validation saves a checkpoint (none at an epoch's end)."""
    from treadle.callbacks import ModelCheckpoint

    model = _Timed(sleep=0.2)
    checkpoints = ModelCheckpoint(dirpath=tmp_path, save_top_k=-1, filename="{epoch}-{step}")
    trainer = treadle.Trainer(
        **quiet(tmp_path, max_epochs=2, limit_train_batches=3, enable_checkpointing=True),
        limit_val_batches=1,
        num_sanity_val_steps=0,
        val_check_interval=timedelta(milliseconds=350),
        callbacks=[checkpoints],
    )
    trainer.fit(model)
    assert model.validated_at == [(0, 1), (1, 0), (1, 2)]
    assert sorted(p.name for p in tmp_path.glob("*.ckpt")) == [
        "epoch=0-step=2.ckpt",
        "epoch=1-step=4.ckpt",
        "epoch=1-step=6.ckpt",
    ]


def test_time_interval_with_epoch_gating_validates_at_the_next_validating_epoch(tmp_path):
    """Lightning's ``check_val_every_n_epoch`` docstring: time that passed in an epoch that does
    not validate makes the next one validate after its first batch."""
    model = _Timed(sleep=0.2)
    trainer = treadle.Trainer(
        **quiet(tmp_path, max_epochs=4, limit_train_batches=2, limit_val_batches=1),
        num_sanity_val_steps=0,
        val_check_interval={"milliseconds": 350},
        check_val_every_n_epoch=2,
    )
    trainer.fit(model)
    assert model.validated_at == [(1, 0), (3, 0)]


def test_fast_dev_run_turns_a_time_interval_off(tmp_path) -> None:
    """As Lightning's ``_init_debugging_flags``: validation at the (one-batch) epoch's end."""
    model = _Timed()
    trainer = treadle.Trainer(**quiet(tmp_path), val_check_interval="00:01:00:00", fast_dev_run=1)
    assert trainer.val_check_interval == 1.0
    trainer.fit(model)
    assert model.validated_at == [(0, 0)]
    assert trainer.val_check_batch == 1


# -- trainer.val_check_batch ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("interval", "expected"), [(3, 3), (0.25, 2), (0.1, 1), (None, 8), (1.0, 8)]
)
def test_val_check_batch_is_lightnings(tmp_path, interval, expected) -> None:
    """As Lightning's ``fit_loop.setup_data``: None before fit, then the int, or the fraction of
    the epoch's batches (at least 1); kept after fit."""
    trainer = treadle.Trainer(
        **quiet(tmp_path, max_epochs=1, limit_val_batches=1), val_check_interval=interval
    )
    assert trainer.val_check_batch is None
    seen = []

    class Model(BoringModel):
        def on_train_start(self) -> None:
            seen.append(self.trainer.val_check_batch)

    trainer.fit(Model())
    assert seen == [expected]
    assert trainer.val_check_batch == expected


def test_val_check_batch_without_a_length_and_without_batches(tmp_path) -> None:
    class Stream(torch.utils.data.IterableDataset):
        def __iter__(self):
            return iter(torch.randn(4, 32))

    trainer = treadle.Trainer(**quiet(tmp_path, max_epochs=1, limit_val_batches=1))
    trainer.fit(BoringModel(), torch.utils.data.DataLoader(Stream(), batch_size=2))
    assert trainer.val_check_batch == float("inf")
    none = treadle.Trainer(**quiet(tmp_path, max_epochs=1, limit_train_batches=0))
    none.fit(BoringModel())
    assert none.val_check_batch is None  # as Lightning: nothing to count
