# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/callbacks/test_timer.py
#   (test_timer_parse_duration, test_timer_stops_training, test_timer_zero_duration_stop,
#    test_timer_track_stages)
# Edits: the tests turned into one __main__ program asserting what they asserted; tmpdir -> a
#   tempfile dir; the caplog assertions on the log text dropped (Lightning's logger does not
#   propagate to the root logger outside its test suite's conftest).
import tempfile
from datetime import timedelta

from lightning.pytorch import Trainer
from lightning.pytorch.callbacks import Timer
from lightning.pytorch.demos.boring_classes import BoringModel


def test_timer_parse_duration():
    for duration, expected in [
        (None, None),
        ("00:00:00:22", timedelta(seconds=22)),
        ("12:34:56:65", timedelta(days=12, hours=34, minutes=56, seconds=65)),
        (timedelta(weeks=52, milliseconds=1), timedelta(weeks=52, milliseconds=1)),
        (dict(weeks=52, days=1), timedelta(weeks=52, days=1)),
    ]:
        timer = Timer(duration=duration)
        assert (timer.time_remaining() == expected is None) or (timer.time_remaining() == expected.total_seconds())


def test_timer_stops_training(tmpdir):
    model = BoringModel()
    duration = timedelta(milliseconds=100)
    timer = Timer(duration=duration)
    trainer = Trainer(default_root_dir=tmpdir, max_epochs=1000, callbacks=[timer])
    trainer.fit(model)
    assert trainer.global_step > 1
    assert trainer.current_epoch < 999


def test_timer_zero_duration_stop(tmpdir, interval):
    model = BoringModel()
    duration = timedelta(0)
    timer = Timer(duration=duration, interval=interval)
    trainer = Trainer(default_root_dir=tmpdir, callbacks=[timer])
    trainer.fit(model)
    assert trainer.global_step == 0
    assert trainer.current_epoch == 0


def test_timer_track_stages(tmpdir):
    model = BoringModel()
    timer = Timer()
    trainer = Trainer(default_root_dir=tmpdir, max_steps=5, callbacks=[timer])
    trainer.fit(model)
    assert timer.time_elapsed() == timer.time_elapsed("train") > 0
    assert timer.time_elapsed("validate") > 0
    assert timer.time_elapsed("test") == 0
    trainer.test(model)
    assert timer.time_elapsed("test") > 0


if __name__ == "__main__":
    test_timer_parse_duration()
    with tempfile.TemporaryDirectory() as d:
        test_timer_stops_training(d)
    for interval in ("step", "epoch"):
        with tempfile.TemporaryDirectory() as d:
            test_timer_zero_duration_stop(d, interval)
    with tempfile.TemporaryDirectory() as d:
        test_timer_track_stages(d)
    print("OK")
