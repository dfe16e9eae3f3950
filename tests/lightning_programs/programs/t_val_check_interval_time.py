# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/trainer/flags/test_val_check_interval.py
#   (test_time_based_val_check_interval, test_time_and_epoch_gated_val_check: the time-based
#   tests of the file, Lightning 2.6) and the doctest of `_parse_time_interval_seconds`
#   (src/lightning/pytorch/trainer/setup.py), with `trainer.val_check_batch` as
#   `fit_loop.setup_data` sets it.
# (Apache-2.0, Copyright The Lightning AI team)
# Edits: the tests run from a __main__ program (parametrize -> loops); tmp_path -> a tempfile
#   dir; `patch("time.monotonic", side_effect=fake_time)` -> real time: `training_step` sleeps
#   (0.1 s to 1 s) and the intervals are a few tenths of a second (the string form's 1 s is its
#   smallest), so which batches validate does not hang on the machine's speed: a batch that
#   sleeps at least the interval always validates, and between validations the batches leave
#   0.15 s of slack; the gated cases' rows -> rows of the same kinds (timer only, epoch gating
#   with the timer shorter than an epoch, and longer than the run) with 2-3 batches an epoch;
#   `val_loop.batch_progress.total.completed` -> the validations the model records per epoch,
#   and the (epoch, batch) after which each ran; the parser's doctest -> the intervals the
#   Trainer reads, checked by their effect (an hour never validates; a zero duration and a
#   malformed string are refused: Lightning 2.6.6 takes a zero one, treadle refuses it, so only
#   the malformed string is run here); `trainer.val_check_batch` checked before and after fit
#   for int, float, default and time-based intervals.
import tempfile
import time
from datetime import timedelta

from lightning.pytorch.demos.boring_classes import BoringModel
from lightning.pytorch.trainer.trainer import Trainer
from lightning.pytorch.utilities.exceptions import MisconfigurationException


class TimedModel(BoringModel):
    """Sleeps `sleep` seconds in each training step; records each validation of fit."""

    def __init__(self, sleep):
        super().__init__()
        self.sleep = sleep
        self.validated_at = []  # (epoch, batch_idx of the batch before it)
        self.last_batch = None

    def training_step(self, batch, batch_idx):
        time.sleep(self.sleep)
        self.last_batch = (self.current_epoch, batch_idx)
        return super().training_step(batch, batch_idx)

    def on_validation_epoch_start(self):
        if not self.trainer.sanity_checking:
            self.validated_at.append(self.last_batch)


def quiet(tmp, **kwargs):
    return dict(
        default_root_dir=tmp,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        **kwargs,
    )


def test_time_based_val_check_interval(tmp):
    # every step sleeps at least the interval: every step validates
    for interval, sleep, steps, every in [
        ("00:00:00:01", 1.0, 2, 1),
        ({"seconds": 0.1}, 0.1, 4, 1),
        (timedelta(seconds=0.1), 0.1, 4, None),
    ]:
        trainer = Trainer(
            **quiet(tmp),
            max_epochs=1,
            max_steps=steps,
            limit_val_batches=1,
            val_check_interval=interval,
            check_val_every_n_epoch=every,
        )
        assert trainer.val_check_batch is None
        model = TimedModel(sleep)
        trainer.fit(model)
        assert model.validated_at == [(0, i) for i in range(steps)], (interval, model.validated_at)
        assert trainer.val_check_batch is None  # time-based: no batch count


def test_time_and_epoch_gated_val_check(tmp):
    # 0.2 s a batch, 0.35 s between validations: every second batch since the last validation
    interval = {"milliseconds": 350}
    rows = [
        # timer only: the epoch's last batch validates only when the time is up
        (1, interval, 3, 3, 0.2, [(0, 1), (1, 0), (1, 2), (2, 1)]),
        # epoch gating: the time passes in epoch 0, so epoch 1 validates after its first batch
        (2, timedelta(milliseconds=350), 2, 4, 0.2, [(1, 0), (3, 0)]),
        # the timer is longer than the run: never, not even at an epoch's end
        (2, "00:01:00:00", 2, 4, 0.0, []),
    ]
    for every, value, per_epoch, epochs, sleep, expected in rows:
        model = TimedModel(sleep)
        trainer = Trainer(
            **quiet(tmp),
            max_epochs=epochs,
            limit_train_batches=per_epoch,
            limit_val_batches=1,
            num_sanity_val_steps=0,
            val_check_interval=value,
            check_val_every_n_epoch=every,
        )
        trainer.fit(model)
        assert model.validated_at == expected, (every, value, model.validated_at, expected)
        assert trainer.current_epoch == epochs


def test_malformed_time_interval_is_refused():
    for value in ["01:02:03", "aa:bb:cc:dd"]:
        try:
            Trainer(val_check_interval=value, logger=False)
        except MisconfigurationException as err:
            assert "val_check_interval" in str(err) and "DD:HH:MM:SS" in str(err), err
        else:
            raise AssertionError(f"{value!r} was accepted")


def test_val_check_batch(tmp):
    for interval, expected in [(3, 3), (0.25, 2), (None, 10), (1.0, 10)]:
        trainer = Trainer(
            **quiet(tmp), max_epochs=1, limit_train_batches=10, val_check_interval=interval
        )
        assert trainer.val_check_batch is None  # before fit
        trainer.fit(BoringModel())
        assert trainer.val_check_batch == expected, (interval, trainer.val_check_batch)


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        test_time_based_val_check_interval(tmp)
        test_time_and_epoch_gated_val_check(tmp)
        test_malformed_time_interval_is_refused()
        test_val_check_batch(tmp)
    print("ok")
