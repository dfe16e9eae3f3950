"""RichProgressBar.

Ported from Lightning's tests/tests_pytorch/callbacks/progress/test_rich_progress_bar.py
(Apache-2.0, Copyright The Lightning AI team), with treadle's names. Lightning's tests run in
pytest, whose stdout is not a terminal, and still read ``progress.tasks``; treadle prints plain
lines there, so these tests draw the bars on a terminal the way a user forces one:
``console_kwargs={"force_terminal": True, "file": ...}``. Where Lightning mocks its own
``Progress.update`` to count calls, the tests read the public effect: each task's
``completed``/``total``/``visible`` (``rich.progress.Progress.tasks``) or what was drawn.

Left out, as private details: ``test_rich_progress_bar_import_error`` (monkeypatches
Lightning's ``_RICH_AVAILABLE``; treadle asks for rich only on a terminal, pinned in
test_progress_bar.py), ``test_rich_progress_bar_colab_light_theme_update`` (Lightning's private
``_detect_light_colab_theme``), ``test_rich_progress_bar_padding`` (calls the private
``_get_train_description``; the padding is pinned here through the task's description),
``test_rich_progress_bar_reset_bars`` (calls hooks with a ``Mock`` trainer and sets ids by
hand; the reset between stages is pinned here with real runs) and the exact update counts of
``test_rich_progress_bar_with_refresh_rate`` and ``test_rich_progress_bar_correct_value_epoch_end``:
Lightning 2.6.6 updates the task at every batch and calls ``get_metrics`` each time (its
``refresh_rate`` only sets the redraw rate, per second), treadle counts batches and updates the
task when a redraw is due (docs/callbacks.md), so the counts depend on the clock; what a user
sees at the end (counts, totals, visibility, metrics) is the same and pinned here.
"""

from __future__ import annotations

import io
import pickle
import re

import pytest
import torch
from boring_model import BoringModel, RandomDataset, quiet
from torch.utils.data import DataLoader, IterableDataset

import treadle
from treadle.callbacks import ProgressBar, RichModelSummary, RichProgressBar, RichProgressBarTheme
from treadle.loggers import CSVLogger

pytest.importorskip("rich", reason="RichProgressBar draws with rich (the [rich] extra)")


def terminal_bar(**kwargs) -> RichProgressBar:
    """A bar drawn as on a terminal, into a string."""
    console = {"force_terminal": True, "file": io.StringIO(), "width": 120}
    return RichProgressBar(console_kwargs=console, **kwargs)


def drawn(bar: RichProgressBar) -> str:
    return bar._console_kwargs["file"].getvalue()


def bars(bar: RichProgressBar) -> list[tuple[str, float, float | None, bool]]:
    return [(t.description, t.completed, t.total, t.visible) for t in bar.progress.tasks]


class RandomIterable(IterableDataset):
    def __init__(self, size: int, count: int) -> None:
        self.data = RandomDataset(size, count)

    def __iter__(self):
        return iter(self.data)


class EveryStageModel(BoringModel):
    def __init__(self, dataset=None) -> None:
        super().__init__()
        self.dataset = dataset if dataset is not None else RandomDataset(32, 64)

    def _loader(self):
        return DataLoader(self.dataset)

    train_dataloader = val_dataloader = test_dataloader = predict_dataloader = _loader

    def test_step(self, batch, batch_idx):
        self.log("test_loss", self.loss(self(batch)))

    def predict_step(self, batch, batch_idx, dataloader_idx=0):
        return self(batch)


def trainer(tmp_path, bar, **kwargs) -> treadle.Trainer:
    return treadle.Trainer(**quiet(tmp_path, enable_progress_bar=True, **kwargs), callbacks=[bar])


# Ported from test_rich_progress_bar.py::test_rich_progress_bar_callback
def test_rich_progress_bar_callback():
    t = treadle.Trainer(callbacks=RichProgressBar(), logger=False, enable_checkpointing=False)
    assert len([c for c in t.callbacks if isinstance(c, ProgressBar)]) == 1
    assert isinstance(t.progress_bar_callback, RichProgressBar)


# Ported from test_rich_progress_bar.py::test_rich_progress_bar_refresh_rate_enabled
def test_rich_progress_bar_refresh_rate_enabled():
    bar = RichProgressBar(refresh_rate=1)
    assert bar.is_enabled and not bar.is_disabled
    bar = RichProgressBar(refresh_rate=0)
    assert not bar.is_enabled and bar.is_disabled
    assert RichProgressBar().refresh_rate == 100  # Lightning's default: redraws per second


def test_rich_progress_bar_refresh_rate_must_be_a_whole_number():
    with pytest.raises(
        ValueError,
        match=re.escape(
            "`RichProgressBar(refresh_rate=0.5)`: give a whole number >= 0 (redraws per second, "
            "at most; 0 disables the bar)."
        ),
    ):
        RichProgressBar(refresh_rate=0.5)


# Ported from test_rich_progress_bar.py::test_rich_progress_bar (the counts, read from the tasks)
@pytest.mark.parametrize("iterable", [False, True], ids=["map", "iterable"])
def test_rich_progress_bar_every_stage(tmp_path, iterable):
    dataset = RandomIterable(32, 64) if iterable else RandomDataset(32, 64)
    model = EveryStageModel(dataset)
    bar = terminal_bar()
    t = trainer(
        tmp_path,
        bar,
        num_sanity_val_steps=0,
        limit_train_batches=1,
        limit_val_batches=1,
        limit_test_batches=1,
        limit_predict_batches=1,
        max_epochs=1,
    )
    t.fit(model)
    # the training bar stays; the validation bar is hidden once validation ends
    assert bars(bar) == [("Epoch 0/0 ", 1, 1, True), ("Validation", 1, 1, False)]
    t.validate(model, verbose=False)
    assert bars(bar) == [("Validation", 1, 1, True)]
    t.test(model, verbose=False)
    assert bars(bar) == [("Testing", 1, 1, True)]
    t.predict(model)
    assert bars(bar) == [("Predicting", 1, 1, True)]
    assert bar.progress.live.is_started is False  # stopped at the end of each stage


def test_rich_progress_bar_unknown_length_shows_dashes(tmp_path):
    bar = terminal_bar()
    t = trainer(tmp_path, bar, num_sanity_val_steps=0, limit_val_batches=0, max_epochs=1)
    t.fit(EveryStageModel(RandomIterable(32, 3)))
    assert bars(bar) == [("Epoch 0/0 ", 3, None, True)]
    assert "3/--" in drawn(bar)


# Ported from test_rich_progress_bar.py::test_rich_progress_bar_custom_theme (Lightning mocks
# its column classes; here the built columns are read)
def test_rich_progress_bar_custom_theme(tmp_path):
    theme = RichProgressBarTheme(
        description="green",
        progress_bar="red",
        progress_bar_finished="blue",
        progress_bar_pulse="yellow",
        batch_progress="cyan",
        time="magenta",
        processing_speed="bold",
        metrics="underline",
    )
    bar = terminal_bar(theme=theme)
    trainer(tmp_path, bar, max_epochs=1, limit_train_batches=1, limit_val_batches=0).fit(
        BoringModel()
    )
    assert bar.theme is theme
    label, progress, counts, times, speed, metrics = bar.progress.columns
    assert label.style == theme.description
    assert progress.complete_style == theme.progress_bar
    assert progress.finished_style == theme.progress_bar_finished
    assert progress.pulse_style == theme.progress_bar_pulse
    assert counts.style == theme.batch_progress
    assert times.style == theme.time
    assert speed.style == theme.processing_speed
    assert metrics.style == theme.metrics


def test_rich_progress_bar_default_theme_is_lightnings():
    assert RichProgressBar().theme == RichProgressBarTheme(
        description="",
        progress_bar="#6206E0",
        progress_bar_finished="#6206E0",
        progress_bar_pulse="#6206E0",
        batch_progress="",
        time="dim",
        processing_speed="dim underline",
        metrics="italic",
        metrics_text_delimiter=" ",
        metrics_format=".3f",
    )


# Ported from test_rich_progress_bar.py::test_rich_progress_bar_keyboard_interrupt (Lightning
# mocks Progress.stop; here the Progress's live display is read)
def test_rich_progress_bar_keyboard_interrupt(tmp_path):
    class Interrupted(BoringModel):
        def training_step(self, batch, batch_idx):
            if batch_idx == 1:
                raise KeyboardInterrupt
            return super().training_step(batch, batch_idx)

    bar = terminal_bar()
    with pytest.raises(SystemExit):  # as Lightning 2.6's: a clean exit after Ctrl-C
        trainer(tmp_path, bar, fast_dev_run=3).fit(Interrupted())
    assert bar.progress is not None
    assert bar.progress.live.is_started is False


# Ported from test_rich_progress_bar.py::test_rich_progress_bar_keyboard_interrupt (Lightning's
# case: the interruption in the model's `on_train_start`, before any bar opened)
def test_rich_progress_bar_stopped_when_interrupted_before_the_first_bar(tmp_path):
    class Interrupted(BoringModel):
        def on_train_start(self):
            raise KeyboardInterrupt

    bar = terminal_bar()
    with pytest.raises(SystemExit):
        trainer(tmp_path, bar, fast_dev_run=True).fit(Interrupted())
    assert bar.progress is not None  # made at on_train_start, as Lightning's
    assert bar.progress.tasks == []
    assert bar.progress.live.is_started is False


# Ported from test_rich_progress_bar.py::test_rich_progress_bar_configure_columns
def test_rich_progress_bar_configure_columns(tmp_path):
    from rich.progress import TextColumn

    custom_column = TextColumn("[progress.description]Testing Rich!")

    class CustomRichProgressBar(RichProgressBar):
        def configure_columns(self, trainer):
            return [custom_column]

    bar = CustomRichProgressBar(console_kwargs={"force_terminal": True, "file": io.StringIO()})
    trainer(tmp_path, bar, fast_dev_run=1).fit(BoringModel())
    assert bar.progress.columns[0] is custom_column
    assert len(bar.progress.columns) == 2  # and the metrics
    assert "Testing Rich!" in bar._console_kwargs["file"].getvalue()


# Ported from test_rich_progress_bar.py::test_rich_progress_bar_leave (Lightning counts
# Progress.reset calls: 0 with leave=True, 3 without; here what stays on the screen is read)
@pytest.mark.parametrize("leave", [True, False])
def test_rich_progress_bar_leave(tmp_path, leave):
    bar = terminal_bar(leave=leave)
    t = trainer(
        tmp_path,
        bar,
        num_sanity_val_steps=0,
        limit_train_batches=1,
        limit_val_batches=0,
        max_epochs=4,
    )
    t.fit(BoringModel())
    # one bar, reset for each epoch; with leave, a new one each epoch, the old ones left above
    assert bars(bar) == [("Epoch 3/3 ", 1, 1, True)]
    out = drawn(bar)
    assert out.count("\n") == (4 if leave else 1)  # the lines left on the screen
    last_lines = out.split("\n")
    assert all(f"Epoch {i}/3" in out for i in range(4))
    if leave:
        assert [f"Epoch {i}/3" in last_lines[i].rsplit("\r", 1)[-1] for i in range(4)] == [True] * 4


# Ported from test_rich_progress_bar.py::test_rich_progress_bar_refresh_rate_disabled and
# ::test_rich_progress_bar_disabled (Lightning mocks Progress; here nothing is built or drawn)
@pytest.mark.parametrize("how", ["refresh_rate=0", "disable()"])
def test_rich_progress_bar_disabled(tmp_path, how):
    if how == "disable()":
        bar = terminal_bar()
        bar.disable()
    else:
        bar = terminal_bar(refresh_rate=0)
    assert bar.is_disabled
    model = EveryStageModel()
    t = trainer(
        tmp_path,
        bar,
        limit_train_batches=2,
        limit_val_batches=2,
        limit_test_batches=2,
        limit_predict_batches=2,
        max_epochs=1,
    )
    t.fit(model)
    t.validate(model, verbose=False)
    t.test(model, verbose=False)
    t.predict(model)
    assert bar.progress is None
    assert drawn(bar) == ""
    for name in ("train", "val_sanity", "val", "test", "predict"):
        assert getattr(bar, f"{name}_progress_bar_id") is None


# Ported from test_rich_progress_bar.py::test_rich_progress_bar_with_refresh_rate (the tasks'
# counts; the update counts are left out, see the module's docstring)
@pytest.mark.parametrize(
    ("refresh_rate", "train_batches", "val_batches"),
    [(3, 6, 4), (4, 6, 4), (7, 6, 4), (1, 2, 3), (1, 0, 0), (3, 1, 0), (3, 1, 1), (3, 5, 0)]
    + [(3, 5, 2), (6, 5, 2)],
)
def test_rich_progress_bar_with_refresh_rate(tmp_path, refresh_rate, train_batches, val_batches):
    bar = terminal_bar(refresh_rate=refresh_rate)
    t = trainer(
        tmp_path,
        bar,
        num_sanity_val_steps=0,
        limit_train_batches=train_batches,
        limit_val_batches=val_batches,
        max_epochs=1,
    )
    t.fit(BoringModel())
    if train_batches == 0:
        assert bar.progress is None  # no epoch ran: nothing drawn
        return
    expected = [("Epoch 0/0 ", train_batches, train_batches, True)]
    if val_batches > 0:
        expected.append(("Validation", val_batches, val_batches, False))
    assert bars(bar) == expected


# Ported from test_rich_progress_bar.py::test_rich_progress_bar_num_sanity_val_steps
@pytest.mark.parametrize("limit_val_batches", [1, 5])
def test_rich_progress_bar_num_sanity_val_steps(tmp_path, limit_val_batches):
    model = EveryStageModel()
    bar = terminal_bar()
    t = trainer(
        tmp_path,
        bar,
        num_sanity_val_steps=3,
        limit_train_batches=1,
        limit_val_batches=limit_val_batches,
        max_epochs=1,
    )
    t.fit(model)
    steps = min(3, limit_val_batches)
    assert bars(bar)[0] == ("Sanity Checking", steps, steps, False)
    assert bar.val_sanity_progress_bar_id == 0


# Ported from test_rich_progress_bar.py::test_rich_progress_bar_counter_with_val_check_interval
def test_rich_progress_bar_counter_with_val_check_interval(tmp_path):
    bar = terminal_bar()
    t = trainer(
        tmp_path,
        bar,
        val_check_interval=2,
        max_epochs=1,
        limit_train_batches=7,
        limit_val_batches=4,
    )
    model = EveryStageModel()
    t.fit(model)
    assert bar.train_progress_bar_id == 1
    assert bars(bar)[1] == ("Epoch 0/0 ", 7, 7, True)
    assert bars(bar)[2] == ("Validation", 4, 4, False)
    # one new validation bar per validation run (batches 2, 4, 6), the previous ones hidden
    assert bars(bar)[2:] == [("Validation", 4, 4, False)] * 3
    assert bar.val_progress_bar_id == 4
    t.validate(model, verbose=False)
    # a new stage starts a new Progress: its bars and ids are reset
    assert bars(bar) == [("Validation", 4, 4, True)]
    assert (bar.train_progress_bar_id, bar.val_progress_bar_id) == (None, 0)


# Ported from test_rich_progress_bar.py::test_rich_progress_bar_metric_display_task_id
# (Lightning reads the metrics column's private render cache; here the column renders each task)
def test_rich_progress_bar_metric_display_task_id(tmp_path):
    class CustomModel(BoringModel):
        def training_step(self, batch, batch_idx):
            res = super().training_step(batch, batch_idx)
            self.log("train_loss", res["loss"], prog_bar=True)
            return res

    bar = terminal_bar()
    # not fast_dev_run, as Lightning's test: Lightning 2.6.6 shows no v_num under it (no logger)
    t = treadle.Trainer(
        **quiet(
            tmp_path,
            enable_progress_bar=True,
            max_epochs=1,
            limit_train_batches=1,
            limit_val_batches=1,
            log_every_n_steps=1,
            logger=CSVLogger(tmp_path),
        ),
        callbacks=[bar],
    )
    t.fit(CustomModel())
    column = bar.progress.columns[-1]
    train = bar.progress.tasks[bar.train_progress_bar_id]
    val = bar.progress.tasks[bar.val_progress_bar_id]
    for key in ("v_num", "train_loss"):
        assert key in column.render(train).plain
        assert key not in column.render(val).plain


# Ported from test_rich_progress_bar.py::test_rich_progress_bar_correct_value_epoch_end (the
# metrics shown once each epoch ends; see the module's docstring for the calls)
def test_rich_progress_bar_correct_value_epoch_end(tmp_path):
    class MyModel(EveryStageModel):
        def training_step(self, batch, batch_idx):
            self.log(
                "a", self.global_step, prog_bar=True, on_step=False, on_epoch=True, reduce_fx=max
            )
            return super().training_step(batch, batch_idx)

        def validation_step(self, batch, batch_idx):
            self.log(
                "b", self.global_step, prog_bar=True, on_step=False, on_epoch=True, reduce_fx=max
            )
            return super().validation_step(batch, batch_idx)

    shown = []

    class Recording(RichProgressBar):
        def on_train_epoch_end(self, trainer, pl_module):
            super().on_train_epoch_end(trainer, pl_module)
            column, train = (
                self.progress.columns[-1],
                self.progress.tasks[self.train_progress_bar_id],
            )
            shown.append(column.render(train).plain)

    bar = Recording(console_kwargs={"force_terminal": True, "file": io.StringIO()})
    t = trainer(tmp_path, bar, limit_train_batches=2, limit_val_batches=2, max_epochs=2)
    t.fit(MyModel())
    # as Lightning's: the epoch's `a` and the last validation's `b` (order aside: treadle's
    # progress_bar_metrics keep the order the values were computed in)
    assert [dict(re.findall(r"(\w+): (\S+)", text)) for text in shown] == [
        {"a": "1.000", "b": "2.000"},
        {"a": "3.000", "b": "4.000"},
    ]
    metrics = bar.get_metrics(t, t.lightning_module)
    assert metrics == {"a": 3.0, "b": 4.0}
    assert all(type(v) is float for v in metrics.values())  # as Lightning's: tensors as numbers


def test_rich_progress_bar_metrics_format_and_delimiter(tmp_path):
    class Logs(BoringModel):
        def training_step(self, batch, batch_idx):
            self.log("x", torch.tensor(0.123456), prog_bar=True)
            self.log("name", 7, prog_bar=True)
            return super().training_step(batch, batch_idx)

    theme = RichProgressBarTheme(metrics_text_delimiter=" | ", metrics_format=".1e")
    bar = terminal_bar(theme=theme)
    trainer(tmp_path, bar, fast_dev_run=1).fit(Logs())
    text = bar.progress.columns[-1].render(bar.progress.tasks[bar.train_progress_bar_id]).plain
    assert text == "x: 1.2e-01 | name: 7.0e+00"


# Ported from test_rich_progress_bar.py::test_rich_progress_bar_can_be_pickled
def test_rich_progress_bar_can_be_pickled(tmp_path):
    bar = terminal_bar()
    bar._console_kwargs.pop("file")  # a StringIO pickles, but a user's console file need not
    bar._console_kwargs["file"] = io.StringIO()
    t = trainer(
        tmp_path,
        bar,
        max_epochs=1,
        limit_train_batches=1,
        limit_val_batches=1,
        limit_test_batches=1,
        limit_predict_batches=1,
    )
    model = EveryStageModel()
    pickle.dumps(bar)
    t.fit(model)
    assert bar.progress is not None
    copy = pickle.loads(pickle.dumps(bar))
    assert copy.progress is None and copy.is_enabled
    t.validate(model, verbose=False)
    pickle.dumps(bar)
    t.test(model, verbose=False)
    pickle.dumps(bar)
    t.predict(model)
    pickle.dumps(bar)


def test_rich_progress_bar_in_a_log_file_prints_lines_and_draws_no_progress(tmp_path, capsys):
    bar = RichProgressBar()  # pytest's stdout is not a terminal
    trainer(tmp_path, bar, max_epochs=1, limit_train_batches=2, limit_val_batches=0).fit(
        BoringModel()
    )
    assert bar.progress is None and bar.train_progress_bar_id is None
    assert "Epoch 0: 2/2 (100%)" in capsys.readouterr().out


def test_rich_progress_bar_brings_rich_model_summary():
    # Ported from test_rich_model_summary.py::test_rich_model_summary_callback
    t = treadle.Trainer(callbacks=RichProgressBar(), logger=False, enable_checkpointing=False)
    assert any(isinstance(c, RichModelSummary) for c in t.callbacks)
    assert isinstance(t.progress_bar_callback, RichProgressBar)
