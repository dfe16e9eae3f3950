# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/callbacks/progress/test_rich_progress_bar.py
#   (test_rich_progress_bar_callback, test_rich_progress_bar_refresh_rate_enabled,
#    test_rich_progress_bar_custom_theme, test_rich_progress_bar_keyboard_interrupt,
#    test_rich_progress_bar_configure_columns, test_rich_progress_bar_leave,
#    test_rich_progress_bar_refresh_rate_disabled, test_rich_progress_bar_with_refresh_rate
#    (the bars' final counts), test_rich_progress_bar_num_sanity_val_steps,
#    test_rich_progress_bar_counter_with_val_check_interval, test_rich_progress_bar_can_be_pickled,
#    test_rich_progress_bar_disabled)
# Edits: the tests turned into one __main__ program asserting what they asserted; parametrize ->
#   loops; tmpdir -> a tempfile dir; RunIf(rich=True) dropped (rich is installed on both sides);
#   `ProgressBarBase` -> `ProgressBar` (its Lightning 2 name). Where a test reads
#   `progress_bar.progress` (rich's `Progress`) the bar is made with
#   `console_kwargs={"force_terminal": True}`: the program's output is a pipe, and treadle draws
#   rich bars only on a terminal (docs/migration.md 7; Lightning draws them either way).
#   `mock.patch("...rich_progress.Progress.update"/"reset"/"stop")` -> counting wrappers
#   around rich's own `rich.progress.Progress` methods (the same class Lightning's patch
#   reaches); test_rich_progress_bar_custom_theme reads the styles off the bar's columns after
#   a run instead of patching Lightning's column classes; test_rich_progress_bar_configure_columns
#   fits one batch instead of calling the private `_init_progress(Mock())`;
#   test_rich_progress_bar_disabled checks that no `Progress` was made (`progress is None`)
#   instead of patching the private `CustomProgress`; the KeyboardInterrupt of
#   test_rich_progress_bar_keyboard_interrupt ends `fit()` with SystemExit on both (Lightning:
#   1, treadle: 130; migration.md 7), caught here. The counts of `Progress.update` calls
#   (test_rich_progress_bar, test_rich_progress_bar_with_refresh_rate) and
#   test_rich_progress_bar_correct_value_epoch_end are t_rich_progress_bar_differences.py.
#   Left out, as they patch or call Lightning internals: test_rich_progress_bar_import_error
#   (`_RICH_AVAILABLE`), test_rich_progress_bar_colab_light_theme_update
#   (`_detect_light_colab_theme`), test_rich_progress_bar_metric_display_task_id (the metrics
#   column's `_renderable_cache`), test_rich_progress_bar_padding (`_get_train_description` on
#   a Mock trainer), test_rich_progress_bar_reset_bars (hooks called with Mock trainers).
import pickle
import tempfile

import rich.progress
from torch.utils.data import DataLoader

from lightning.pytorch import Trainer
from lightning.pytorch.callbacks import ProgressBar, RichProgressBar
from lightning.pytorch.callbacks.progress.rich_progress import RichProgressBarTheme
from lightning.pytorch.demos.boring_classes import BoringModel

TERMINAL = {"force_terminal": True}


class counting:
    """Count the calls of a method of rich's Progress, the method still running."""

    def __init__(self, name):
        self.name = name
        self.call_count = 0

    def __enter__(self):
        self.original = getattr(rich.progress.Progress, self.name)
        original = self.original

        def counted(progress, *args, **kwargs):
            self.call_count += 1
            return original(progress, *args, **kwargs)

        setattr(rich.progress.Progress, self.name, counted)
        return self

    def __exit__(self, *exc):
        setattr(rich.progress.Progress, self.name, self.original)


def test_rich_progress_bar_callback():
    trainer = Trainer(callbacks=RichProgressBar())

    progress_bars = [c for c in trainer.callbacks if isinstance(c, ProgressBar)]

    assert len(progress_bars) == 1
    assert isinstance(trainer.progress_bar_callback, RichProgressBar)


def test_rich_progress_bar_refresh_rate_enabled():
    progress_bar = RichProgressBar(refresh_rate=1)
    assert progress_bar.is_enabled
    assert not progress_bar.is_disabled
    progress_bar = RichProgressBar(refresh_rate=0)
    assert not progress_bar.is_enabled
    assert progress_bar.is_disabled


def test_rich_progress_bar_custom_theme(tmpdir):
    """Test to ensure that custom theme styles are used."""
    theme = RichProgressBarTheme()

    progress_bar = RichProgressBar(theme=theme, console_kwargs=TERMINAL)
    trainer = Trainer(default_root_dir=tmpdir, fast_dev_run=True, callbacks=progress_bar, logger=False)
    trainer.fit(BoringModel())

    assert progress_bar.theme == theme
    columns = progress_bar.progress.columns
    assert columns[1].complete_style == theme.progress_bar
    assert columns[1].finished_style == theme.progress_bar_finished
    assert columns[2].style == theme.batch_progress
    assert columns[3].style == theme.time
    assert columns[4].style == theme.processing_speed


def test_rich_progress_bar_keyboard_interrupt(tmpdir):
    """Test to ensure that when the user keyboard interrupts, we close the progress bar."""

    class TestModel(BoringModel):
        def on_train_start(self) -> None:
            raise KeyboardInterrupt

    model = TestModel()

    with counting("stop") as mock_progress_stop:
        progress_bar = RichProgressBar(console_kwargs=TERMINAL)
        trainer = Trainer(
            default_root_dir=tmpdir,
            fast_dev_run=True,
            callbacks=progress_bar,
        )
        try:
            trainer.fit(model)
        except SystemExit:
            pass
    assert mock_progress_stop.call_count == 1


def test_rich_progress_bar_configure_columns(tmpdir):
    from rich.progress import TextColumn

    custom_column = TextColumn("[progress.description]Testing Rich!")

    class CustomRichProgressBar(RichProgressBar):
        def configure_columns(self, trainer):
            return [custom_column]

    progress_bar = CustomRichProgressBar(console_kwargs=TERMINAL)
    trainer = Trainer(default_root_dir=tmpdir, fast_dev_run=True, callbacks=progress_bar, logger=False)
    trainer.fit(BoringModel())

    assert progress_bar.progress.columns[0] == custom_column
    assert len(progress_bar.progress.columns) == 2


def test_rich_progress_bar_leave(tmpdir, leave, reset_call_count):
    # Calling `reset` means continuing on the same progress bar.
    model = BoringModel()

    with counting("reset") as mock_progress_reset:
        progress_bar = RichProgressBar(leave=leave, console_kwargs=TERMINAL)
        trainer = Trainer(
            default_root_dir=tmpdir,
            num_sanity_val_steps=0,
            limit_train_batches=1,
            limit_val_batches=0,
            max_epochs=4,
            callbacks=progress_bar,
            logger=False,
            enable_checkpointing=False,
            enable_model_summary=False,
        )
        trainer.fit(model)
    assert mock_progress_reset.call_count == reset_call_count


def test_rich_progress_bar_refresh_rate_disabled(tmpdir):
    with counting("update") as progress_update:
        trainer = Trainer(
            default_root_dir=tmpdir,
            fast_dev_run=4,
            callbacks=RichProgressBar(refresh_rate=0),
        )
        trainer.fit(BoringModel())
    assert progress_update.call_count == 0


def test_rich_progress_bar_with_refresh_rate(tmpdir, refresh_rate, train_batches, val_batches):
    model = BoringModel()
    trainer = Trainer(
        default_root_dir=tmpdir,
        num_sanity_val_steps=0,
        limit_train_batches=train_batches,
        limit_val_batches=val_batches,
        max_epochs=1,
        callbacks=RichProgressBar(refresh_rate=refresh_rate, console_kwargs=TERMINAL),
    )
    trainer.fit(model)

    if train_batches > 0:
        fit_main_bar = trainer.progress_bar_callback.progress.tasks[0]
        assert fit_main_bar.completed == train_batches
        assert fit_main_bar.total == train_batches
        assert fit_main_bar.visible
    if val_batches > 0:
        fit_val_bar = trainer.progress_bar_callback.progress.tasks[1]
        assert fit_val_bar.completed == val_batches
        assert fit_val_bar.total == val_batches
        assert not fit_val_bar.visible


def test_rich_progress_bar_num_sanity_val_steps(tmpdir, limit_val_batches):
    model = BoringModel()

    progress_bar = RichProgressBar(console_kwargs=TERMINAL)
    num_sanity_val_steps = 3

    trainer = Trainer(
        default_root_dir=tmpdir,
        num_sanity_val_steps=num_sanity_val_steps,
        limit_train_batches=1,
        limit_val_batches=limit_val_batches,
        max_epochs=1,
        callbacks=progress_bar,
    )

    trainer.fit(model)
    assert progress_bar.progress.tasks[0].completed == min(num_sanity_val_steps, limit_val_batches)
    assert progress_bar.progress.tasks[0].total == min(num_sanity_val_steps, limit_val_batches)


def test_rich_progress_bar_counter_with_val_check_interval(tmpdir):
    """Test the completed and total counter for rich progress bar when using val_check_interval."""
    progress_bar = RichProgressBar(console_kwargs=TERMINAL)
    model = BoringModel()
    trainer = Trainer(
        default_root_dir=tmpdir,
        val_check_interval=2,
        max_epochs=1,
        limit_train_batches=7,
        limit_val_batches=4,
        callbacks=[progress_bar],
    )
    trainer.fit(model)

    fit_train_progress_bar = progress_bar.progress.tasks[1]
    assert fit_train_progress_bar.completed == 7
    assert fit_train_progress_bar.total == 7

    fit_val_bar = progress_bar.progress.tasks[2]
    assert fit_val_bar.completed == 4
    assert fit_val_bar.total == 4

    trainer.validate(model)
    val_bar = progress_bar.progress.tasks[0]
    assert val_bar.completed == 4
    assert val_bar.total == 4


def test_rich_progress_bar_can_be_pickled():
    bar = RichProgressBar()
    trainer = Trainer(
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


def test_rich_progress_bar_disabled(tmpdir):
    """Test that in a disabled bar there are no updates and no internal progress objects."""
    bar = RichProgressBar()
    bar.disable()
    assert bar.is_disabled

    model = BoringModel()
    trainer = Trainer(
        default_root_dir=tmpdir,
        limit_train_batches=2,
        limit_val_batches=2,
        limit_test_batches=2,
        limit_predict_batches=2,
        max_epochs=1,
        enable_model_summary=False,
        enable_checkpointing=False,
        callbacks=[bar],
    )

    with counting("update") as progress_update:
        trainer.fit(model)
        trainer.validate(model)
        trainer.test(model)
        trainer.predict(model)

    assert progress_update.call_count == 0
    assert bar.progress is None
    assert bar.train_progress_bar_id is None
    assert bar.val_sanity_progress_bar_id is None
    assert bar.val_progress_bar_id is None
    assert bar.test_progress_bar_id is None
    assert bar.predict_progress_bar_id is None


if __name__ == "__main__":
    test_rich_progress_bar_callback()
    test_rich_progress_bar_refresh_rate_enabled()
    with tempfile.TemporaryDirectory() as tmp:
        test_rich_progress_bar_custom_theme(tmp)
    with tempfile.TemporaryDirectory() as tmp:
        test_rich_progress_bar_keyboard_interrupt(tmp)
    with tempfile.TemporaryDirectory() as tmp:
        test_rich_progress_bar_configure_columns(tmp)
    for leave, reset_call_count in [(True, 0), (False, 3)]:
        with tempfile.TemporaryDirectory() as tmp:
            test_rich_progress_bar_leave(tmp, leave, reset_call_count)
    with tempfile.TemporaryDirectory() as tmp:
        test_rich_progress_bar_refresh_rate_disabled(tmp)
    for refresh_rate, train_batches, val_batches in [
        (3, 6, 6), (4, 6, 6), (7, 6, 6), (1, 2, 3), (1, 0, 0),
        (3, 1, 0), (3, 1, 1), (3, 5, 0), (3, 5, 2), (6, 5, 2),
    ]:  # fmt: skip
        with tempfile.TemporaryDirectory() as tmp:
            test_rich_progress_bar_with_refresh_rate(tmp, refresh_rate, train_batches, val_batches)
    for limit_val_batches in (1, 5):
        with tempfile.TemporaryDirectory() as tmp:
            test_rich_progress_bar_num_sanity_val_steps(tmp, limit_val_batches)
    with tempfile.TemporaryDirectory() as tmp:
        test_rich_progress_bar_counter_with_val_check_interval(tmp)
    test_rich_progress_bar_can_be_pickled()
    with tempfile.TemporaryDirectory() as tmp:
        test_rich_progress_bar_disabled(tmp)
    print("t_rich_progress_bar: all passed")
