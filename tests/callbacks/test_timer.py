"""Timer.

Ported from Lightning's ``tests/tests_pytorch/callbacks/test_timer.py`` (Apache-2.0, Copyright
The Lightning AI team): the behaviour each test checks is Lightning's; the code is translated
to treadle's names. Lightning's ``test_timer_time_remaining`` patched ``time.monotonic``; here
the Timer runs in a real fit with real (short) sleeps instead. ``Trainer(max_time=...)`` is not
a treadle argument yet, so ``test_trainer_flag`` is not ported. Tests marked "treadle" at the
end are our own.
"""

from __future__ import annotations

import logging
import re
import time
from datetime import timedelta

import pytest
import torch
from boring_model import BoringModel, quiet

import treadle
from treadle.callbacks import LambdaCallback, ModelCheckpoint, Timer
from treadle.demos import BoringModel as DemoBoringModel


@pytest.mark.parametrize(
    ("duration", "expected"),
    [
        (None, None),
        ("00:00:00:22", timedelta(seconds=22)),
        ("12:34:56:65", timedelta(days=12, hours=34, minutes=56, seconds=65)),
        (timedelta(weeks=52, milliseconds=1), timedelta(weeks=52, milliseconds=1)),
        ({"weeks": 52, "days": 1}, timedelta(weeks=52, days=1)),
    ],
)
def test_timer_parse_duration(duration, expected):
    timer = Timer(duration=duration)
    assert (timer.time_remaining() == expected is None) or (
        timer.time_remaining() == expected.total_seconds()
    )


def test_timer_interval_choice():
    Timer(duration=timedelta(), interval="step")
    Timer(duration=timedelta(), interval="epoch")
    with pytest.raises(
        ValueError,
        match=re.escape(
            "Unsupported parameter value `Timer(interval='invalid')`. Possible choices are: "
            "'step', 'epoch'."
        ),
    ):
        Timer(duration=timedelta(), interval="invalid")


def test_timer_time_remaining(tmp_path):
    """The timer tracks the elapsed and remaining time."""
    timer = Timer(duration=timedelta(seconds=10))
    assert timer.time_remaining() == 10
    assert timer.time_elapsed() == 0
    assert timer.start_time() is None

    class Slow(BoringModel):
        def training_step(self, batch, batch_idx):
            time.sleep(0.05)
            return super().training_step(batch, batch_idx)

    seen = []
    probe = LambdaCallback(
        on_train_batch_end=lambda *_: seen.append((timer.time_elapsed(), timer.time_remaining()))
    )
    treadle.Trainer(
        **quiet(
            tmp_path,
            max_epochs=1,
            limit_train_batches=3,
            limit_val_batches=0,
            callbacks=[timer, probe],
        )
    ).fit(Slow())
    assert timer.start_time() is not None
    assert timer.end_time() >= timer.start_time()
    elapsed = [e for e, _ in seen]
    assert elapsed == sorted(elapsed)
    assert elapsed[0] >= 0.05
    # (the two calls read the clock one after the other: on a loaded machine microseconds apart)
    assert all(e + r == pytest.approx(10, abs=0.05) for e, r in seen)


def test_timer_stops_training(tmp_path, caplog):
    """The timer stops training before max_epochs."""
    timer = Timer(duration=timedelta(milliseconds=100))
    trainer = treadle.Trainer(**quiet(tmp_path, max_epochs=1000, callbacks=[timer]))
    with caplog.at_level(logging.INFO):
        trainer.fit(BoringModel())
    assert trainer.global_step > 1
    assert trainer.current_epoch < 999
    assert "Time limit reached." in caplog.text
    assert "Signaling Trainer to stop." in caplog.text


@pytest.mark.parametrize("interval", ["step", "epoch"])
def test_timer_zero_duration_stops_at_the_first_check(tmp_path, interval):
    """With no time at all, the Timer asks to stop at its first check (on_fit_start), so the
    fit loop does not start: no on_train_start (as in Lightning)."""
    timer = Timer(duration=timedelta(0), interval=interval)
    at_fit_end, train_started = [], []
    probe = LambdaCallback(
        on_fit_end=lambda trainer, _: at_fit_end.append(trainer.should_stop),
        on_train_start=lambda *_: train_started.append(True),
    )
    trainer = treadle.Trainer(**quiet(tmp_path, max_epochs=5, callbacks=[timer, probe]))
    trainer.fit(BoringModel())
    assert at_fit_end == [True]
    assert train_started == []
    assert trainer.current_epoch == 0


@pytest.mark.parametrize("interval", ["step", "epoch"])
def test_timer_zero_duration_stop(tmp_path, interval):
    """Lightning's test: the timer stops training immediately after the first check."""
    timer = Timer(duration=timedelta(0), interval=interval)
    trainer = treadle.Trainer(**quiet(tmp_path, callbacks=[timer]))
    trainer.fit(BoringModel())
    assert trainer.global_step == 0
    assert trainer.current_epoch == 0


def test_timer_resume_training(tmp_path):
    """The timer resumes together with the Trainer: its elapsed time is in the checkpoint."""
    timer = Timer(duration=timedelta(milliseconds=200))
    checkpoint_callback = ModelCheckpoint(dirpath=tmp_path, save_top_k=-1)
    trainer = treadle.Trainer(
        **quiet(tmp_path, max_epochs=100, callbacks=[timer, checkpoint_callback])
    )
    trainer.fit(BoringModel())
    assert not timer._offset
    assert timer.time_remaining() <= 0
    assert trainer.current_epoch < 99

    # resume (with a depleted timer): the offset is restored and the first check says stop
    timer = Timer(duration=timedelta(milliseconds=200))
    at_fit_end = []
    probe = LambdaCallback(on_fit_end=lambda trainer, _: at_fit_end.append(trainer.should_stop))
    trainer = treadle.Trainer(**quiet(tmp_path, callbacks=[timer, probe]))
    trainer.fit(BoringModel(), ckpt_path=checkpoint_callback.best_model_path)
    assert timer._offset > 0
    assert at_fit_end == [True]
    resumed_at = torch.load(checkpoint_callback.best_model_path, weights_only=True)["global_step"]
    assert trainer.global_step == resumed_at  # no batch ran after the resume


def test_timer_track_stages(tmp_path):
    """The timer tracks time for training, validation, test (and predict)."""
    timer = Timer()
    trainer = treadle.Trainer(**quiet(tmp_path, max_steps=5, callbacks=[timer]))
    model = DemoBoringModel()  # with test and predict loaders
    trainer.fit(model)
    assert timer.time_elapsed() == timer.time_elapsed("train") > 0
    assert timer.time_elapsed("validate") > 0
    assert timer.time_elapsed("test") == 0
    trainer.test(model)
    assert timer.time_elapsed("test") > 0
    assert timer.time_elapsed("predict") == 0
    trainer.predict(model)
    assert timer.time_elapsed("predict") > 0


# -- treadle ----------------------------------------------------------------------------------


def test_bad_duration_and_stage_are_named():
    with pytest.raises(
        ValueError,
        match=re.escape(
            "Timer(duration='12:00') cannot be converted into a duration. Expected the "
            "DD:HH:MM:SS format, e.g. '00:12:00:00' for 12 hours."
        ),
    ):
        Timer(duration="12:00")
    with pytest.raises(
        ValueError,
        match=re.escape(
            "Timer: unknown stage 'training'; choose one of train, sanity_check, validate, test, "
            "predict."
        ),
    ):
        Timer().time_elapsed("training")


def test_epoch_interval_checks_only_at_epoch_ends(tmp_path):
    class Slow(BoringModel):
        def training_step(self, batch, batch_idx):
            time.sleep(0.03)
            return super().training_step(batch, batch_idx)

    timer = Timer(duration=timedelta(milliseconds=50), interval="epoch")
    trainer = treadle.Trainer(
        **quiet(
            tmp_path, max_epochs=10, limit_train_batches=4, limit_val_batches=0, callbacks=[timer]
        )
    )
    trainer.fit(Slow())
    assert (trainer.current_epoch, trainer.global_step) == (1, 4)  # the whole first epoch ran
