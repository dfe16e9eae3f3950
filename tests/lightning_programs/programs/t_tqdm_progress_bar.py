# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/callbacks/progress/test_tqdm_progress_bar.py
#   (test_tqdm_progress_bar_on, test_tqdm_progress_bar_off,
#    test_tqdm_progress_bar_misconfiguration, test_tqdm_progress_bar_fast_dev_run,
#    test_tqdm_progress_bar_progress_refresh, test_num_sanity_val_steps_progress_bar,
#    test_tqdm_progress_bar_refresh_rate_via_env_variable,
#    test_tqdm_progress_bar_can_be_pickled, test_get_progress_bar_metrics,
#    test_get_progress_bar_metrics_fast_dev_run)
# Edits: the tests turned into one __main__ program asserting what they asserted; parametrize ->
#   loops; tmp_path -> a tempfile dir; pytest.raises -> try/except (the `^` anchor of the
#   "multiple progress bar" match dropped: treadle's error text starts with "1 configuration
#   problem:", the message follows); `mock.patch.dict(os.environ)` kept;
#   test_tqdm_progress_bar_fast_dev_run passes its TQDMProgressBar (the default bar of both is
#   Rich's when rich is installed). The patches of the private `callback_connector._RICH_AVAILABLE` left out (each
#   kept test passes its own TQDMProgressBar or reads only what any bar has). Left out, as they
#   patch Lightning internals (`...tqdm_progress.Tqdm` replaced by a MockTqdm, `Tqdm.write`,
#   `Trainer.is_global_zero`) or test its `Tqdm` class: test_tqdm_progress_bar_totals,
#   test_train_progress_bar_update_amount, test_test_progress_bar_update_amount,
#   test_tqdm_format_num, the three test_tqdm_progress_bar_print tests,
#   test_progress_bar_max_val_check_interval, test_tqdm_progress_bar_disabled_when_not_rank_zero,
#   test_tqdm_progress_bar_reset_behavior, test_tqdm_leave (a Mock wrapping
#   `init_train_tqdm`), test_tensor_to_float_conversion (terminal output through a patched
#   `sys.stdout.write`), test_tqdm_progress_bar_default_value (with rich installed the default
#   bar of Lightning 2.6.6 is its RichProgressBar; the test patches `_RICH_AVAILABLE`), and the
#   DDP/COLAB ones. Not passing on treadle, so left out: test_tqdm_progress_bar_correct_value_epoch_end
#   (it records each `get_metrics` call, which follows each bar's refresh: treadle's bar outside
#   a terminal prints a line at each tenth of an epoch, Lightning's tqdm refreshes every batch;
#   and it reads `trainer.state.stage.value`, an enum in Lightning, a string in treadle).
import os
import pickle
import re
import tempfile
from unittest import mock

from lightning.pytorch import Trainer
from lightning.pytorch.callbacks import ModelCheckpoint, ProgressBar, TQDMProgressBar
from lightning.pytorch.core.module import LightningModule
from lightning.pytorch.demos.boring_classes import BoringModel
from lightning.pytorch.loggers.logger import DummyLogger
from lightning.pytorch.utilities.exceptions import MisconfigurationException


def raises(match, fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
    except MisconfigurationException as e:
        assert re.search(match, str(e)), str(e)
    else:
        raise AssertionError("MisconfigurationException not raised")


def test_tqdm_progress_bar_on(tmp_path, pbar):
    """Test different ways the progress bar can be turned on."""
    trainer = Trainer(default_root_dir=tmp_path, callbacks=pbar)

    progress_bars = [c for c in trainer.callbacks if isinstance(c, ProgressBar)]
    assert len(progress_bars) == 1
    assert progress_bars[0] is trainer.progress_bar_callback


def test_tqdm_progress_bar_off(tmp_path):
    """Test turning the progress bar off."""
    trainer = Trainer(default_root_dir=tmp_path, enable_progress_bar=False)
    progress_bars = [c for c in trainer.callbacks if isinstance(c, ProgressBar)]
    assert not len(progress_bars)


def test_tqdm_progress_bar_misconfiguration():
    """Test that Trainer doesn't accept multiple progress bars."""
    # Trainer supports only a single progress bar callback at the moment
    callbacks = [TQDMProgressBar(), TQDMProgressBar(), ModelCheckpoint(dirpath="../trainer")]
    raises(r"You added multiple progress bar callbacks", Trainer, callbacks=callbacks)
    raises(r"enable_progress_bar=False` but found `TQDMProgressBar", Trainer, callbacks=TQDMProgressBar(), enable_progress_bar=False)


def test_tqdm_progress_bar_fast_dev_run(tmp_path):
    model = BoringModel()

    trainer = Trainer(default_root_dir=tmp_path, fast_dev_run=True, callbacks=TQDMProgressBar())

    trainer.fit(model)

    pbar = trainer.progress_bar_callback

    assert pbar.val_progress_bar.n == 1
    assert pbar.val_progress_bar.total == 1

    # the train progress bar should display 1 batch
    assert pbar.train_progress_bar.total == 1
    assert pbar.train_progress_bar.n == 1

    trainer.validate(model)

    # the validation progress bar should display 1 batch
    assert pbar.val_progress_bar.total == 1
    assert pbar.val_progress_bar.n == 1

    trainer.test(model)

    # the test progress bar should display 1 batch
    assert pbar.test_progress_bar.total == 1
    assert pbar.test_progress_bar.n == 1


def test_tqdm_progress_bar_progress_refresh(tmp_path, refresh_rate: int):
    """Test that the three progress bars get correctly updated when using different refresh rates."""
    model = BoringModel()

    class CurrentProgressBar(TQDMProgressBar):
        train_batches_seen = 0
        val_batches_seen = 0
        test_batches_seen = 0

        def on_train_batch_end(self, *args):
            super().on_train_batch_end(*args)
            self.train_batches_seen += 1

        def on_validation_batch_end(self, *args):
            super().on_validation_batch_end(*args)
            self.val_batches_seen += 1

        def on_test_batch_end(self, *args):
            super().on_test_batch_end(*args)
            self.test_batches_seen += 1

    pbar = CurrentProgressBar(refresh_rate=refresh_rate)
    trainer = Trainer(
        default_root_dir=tmp_path,
        callbacks=[pbar],
        limit_train_batches=1.0,
        num_sanity_val_steps=2,
        max_epochs=3,
    )
    assert trainer.progress_bar_callback.refresh_rate == refresh_rate

    trainer.fit(model)
    assert pbar.train_batches_seen == 3 * pbar.train_progress_bar.total
    assert pbar.val_batches_seen == 3 * pbar.val_progress_bar.total + trainer.num_sanity_val_steps
    assert pbar.test_batches_seen == 0

    trainer.validate(model)
    assert pbar.train_batches_seen == 3 * pbar.train_progress_bar.total
    assert pbar.val_batches_seen == 4 * pbar.val_progress_bar.total + trainer.num_sanity_val_steps
    assert pbar.test_batches_seen == 0

    trainer.test(model)
    assert pbar.train_batches_seen == 3 * pbar.train_progress_bar.total
    assert pbar.val_batches_seen == 4 * pbar.val_progress_bar.total + trainer.num_sanity_val_steps
    assert pbar.test_batches_seen == pbar.test_progress_bar.total


def test_num_sanity_val_steps_progress_bar(tmp_path, limit_val_batches: int):
    """Test val_progress_bar total with 'num_sanity_val_steps' Trainer argument."""

    class CurrentProgressBar(TQDMProgressBar):
        val_pbar_total = 0
        sanity_pbar_total = 0

        def on_sanity_check_end(self, *args):
            self.sanity_pbar_total = self.val_progress_bar.total
            super().on_sanity_check_end(*args)

        def on_validation_epoch_end(self, *args):
            self.val_pbar_total = self.val_progress_bar.total
            super().on_validation_epoch_end(*args)

    model = BoringModel()
    pbar = CurrentProgressBar()
    num_sanity_val_steps = 2

    trainer = Trainer(
        default_root_dir=tmp_path,
        max_epochs=1,
        num_sanity_val_steps=num_sanity_val_steps,
        limit_train_batches=1,
        limit_val_batches=limit_val_batches,
        callbacks=[pbar],
        logger=False,
        enable_checkpointing=False,
    )
    trainer.fit(model)

    assert pbar.sanity_pbar_total == min(num_sanity_val_steps, limit_val_batches)
    assert pbar.val_pbar_total == limit_val_batches


def test_tqdm_progress_bar_refresh_rate_via_env_variable(refresh_rate, env_value, expected):
    with mock.patch.dict(os.environ, {"TQDM_MINITERS": str(env_value)}):
        bar = TQDMProgressBar(refresh_rate=refresh_rate)
    assert bar.refresh_rate == expected


def test_tqdm_progress_bar_can_be_pickled(tmp_path):
    bar = TQDMProgressBar()
    trainer = Trainer(
        default_root_dir=tmp_path,
        callbacks=[bar],
        max_epochs=1,
        limit_train_batches=1,
        limit_val_batches=1,
        limit_test_batches=1,
        limit_predict_batches=1,
        logger=False,
        enable_model_summary=False,
    )
    model = BoringModel()
    pickle.dumps(bar)
    trainer.fit(model)
    pickle.dumps(bar)
    trainer.validate(model)
    pickle.dumps(bar)
    trainer.test(model)
    pickle.dumps(bar)
    trainer.predict(model)
    pickle.dumps(bar)


def test_get_progress_bar_metrics(tmp_path):
    """Test that the metrics shown in the progress bar can be customized."""

    class TestProgressBar(TQDMProgressBar):
        def get_metrics(self, trainer: Trainer, model: LightningModule):
            items = super().get_metrics(trainer, model)
            items.pop("v_num", None)
            items["my_metric"] = 123
            return items

    progress_bar = TestProgressBar()
    trainer = Trainer(
        default_root_dir=tmp_path,
        callbacks=[progress_bar],
        limit_train_batches=1,
        limit_val_batches=1,
        max_epochs=1,
        enable_checkpointing=False,
        enable_model_summary=False,
    )
    model = BoringModel()
    trainer.fit(model)
    standard_metrics = progress_bar.get_metrics(trainer, model)
    assert "v_num" not in standard_metrics
    assert "my_metric" in standard_metrics


def test_get_progress_bar_metrics_fast_dev_run(tmp_path):
    """Test that `v_num` does not appear in the progress bar when a dummy logger is used (fast-dev-run)."""
    trainer = Trainer(default_root_dir=tmp_path, fast_dev_run=True)
    model = BoringModel()
    trainer.fit(model)
    standard_metrics = trainer.progress_bar_callback.get_metrics(trainer, model)
    assert isinstance(trainer.logger, DummyLogger)
    assert "v_num" not in standard_metrics


if __name__ == "__main__":
    for pbar in (TQDMProgressBar(refresh_rate=0), TQDMProgressBar()):
        with tempfile.TemporaryDirectory() as d:
            test_tqdm_progress_bar_on(d, pbar)
    with tempfile.TemporaryDirectory() as d:
        test_tqdm_progress_bar_off(d)
    test_tqdm_progress_bar_misconfiguration()
    with tempfile.TemporaryDirectory() as d:
        test_tqdm_progress_bar_fast_dev_run(d)
    for refresh_rate in (0, 1, 50):
        with tempfile.TemporaryDirectory() as d:
            test_tqdm_progress_bar_progress_refresh(d, refresh_rate)
    for limit_val_batches in (0, 5):
        with tempfile.TemporaryDirectory() as d:
            test_num_sanity_val_steps_progress_bar(d, limit_val_batches)
    for refresh_rate, env_value, expected in [(0, 1, 1), (1, 0, 1), (1, 1, 1), (2, 1, 2), (1, 2, 2)]:
        test_tqdm_progress_bar_refresh_rate_via_env_variable(refresh_rate, env_value, expected)
    for test in (
        test_tqdm_progress_bar_can_be_pickled,
        test_get_progress_bar_metrics,
        test_get_progress_bar_metrics_fast_dev_run,
    ):
        with tempfile.TemporaryDirectory() as d:
            test(d)
    print("OK")
