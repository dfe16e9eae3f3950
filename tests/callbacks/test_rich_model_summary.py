"""RichModelSummary.

Ported from Lightning's tests/tests_pytorch/callbacks/test_rich_model_summary.py (Apache-2.0,
Copyright The Lightning AI team), with treadle's names. Lightning mocks ``Console.print`` and
``Table.add_row``; here rich prints into pytest's captured stdout, which is read back, and
``Table.add_row`` is wrapped (it still runs) to read the rows the summary hands to rich.
"""

from __future__ import annotations

import re
import sys
from unittest import mock

import pytest
import torch
from boring_model import BoringModel, quiet

import treadle
from treadle.callbacks import ModelSummary, RichModelSummary, RichProgressBar, TQDMProgressBar
from treadle_plugins.callbacks.model_summary import summarize

pytest.importorskip("rich", reason="RichModelSummary draws with rich (the [rich] extra)")


class WithExample(BoringModel):
    @property
    def example_input_array(self):
        return torch.randn(4, 32)


# Ported from test_rich_model_summary.py::test_rich_model_summary_callback
def test_rich_model_summary_callback(monkeypatch):
    t = treadle.Trainer(callbacks=RichProgressBar(), logger=False, enable_checkpointing=False)
    assert [type(c) for c in t.callbacks if isinstance(c, ModelSummary)] == [RichModelSummary]
    assert isinstance(t.progress_bar_callback, RichProgressBar)
    # without a RichProgressBar, and the default bar not rich's: the plain one
    monkeypatch.setenv("TREADLE_PROGRESS_BAR", "plain")
    t = treadle.Trainer(logger=False, enable_checkpointing=False)
    assert [type(c) for c in t.callbacks if isinstance(c, ModelSummary)] == [ModelSummary]
    t = treadle.Trainer(callbacks=RichProgressBar(), enable_model_summary=False, logger=False)
    assert not any(isinstance(c, ModelSummary) for c in t.callbacks)


def _summaries(trainer):
    return [type(c) for c in trainer.callbacks if isinstance(c, ModelSummary)]


# Ported from tests/tests_pytorch/trainer/connectors/test_rich_integration.py::
# test_rich_available_defaults_rich_progress_and_summary (Lightning patches its private
# _RICH_AVAILABLE; here rich is installed, and TREADLE_PROGRESS_BAR picks the default bar)
@pytest.mark.parametrize("choice", ["", "auto", "rich"])
def test_rich_installed_makes_rich_the_default_summary(monkeypatch, choice):
    monkeypatch.setenv("TREADLE_PROGRESS_BAR", choice)
    t = treadle.Trainer(logger=False, enable_checkpointing=False)
    assert isinstance(t.progress_bar_callback, RichProgressBar)
    assert _summaries(t) == [RichModelSummary]
    # a user's non-rich bar leaves the summary rich's, as Lightning's (it looks at rich only)
    t = treadle.Trainer(callbacks=TQDMProgressBar(), logger=False, enable_checkpointing=False)
    assert _summaries(t) == [RichModelSummary]
    # a user's summary is kept, whatever its kind; none with enable_model_summary=False
    mine = ModelSummary()
    t = treadle.Trainer(callbacks=mine, logger=False, enable_checkpointing=False)
    assert [c for c in t.callbacks if isinstance(c, ModelSummary)] == [mine]
    t = treadle.Trainer(enable_model_summary=False, logger=False, enable_checkpointing=False)
    assert _summaries(t) == []


# Ported from tests/tests_pytorch/trainer/connectors/test_rich_integration.py::
# test_no_rich_defaults_tqdm_and_model_summary (no rich bar chosen: the plain summary)
@pytest.mark.parametrize("choice", ["tqdm", "plain"])
def test_a_bar_other_than_rich_keeps_the_plain_default_summary(monkeypatch, choice):
    monkeypatch.setenv("TREADLE_PROGRESS_BAR", choice)
    t = treadle.Trainer(logger=False, enable_checkpointing=False)
    assert not isinstance(t.progress_bar_callback, RichProgressBar)
    assert _summaries(t) == [ModelSummary]


def test_rich_not_installed_keeps_the_plain_default_summary(monkeypatch):
    monkeypatch.setitem(sys.modules, "rich", None)  # rich as if not installed
    t = treadle.Trainer(logger=False, enable_checkpointing=False)
    assert not isinstance(t.progress_bar_callback, RichProgressBar)
    assert _summaries(t) == [ModelSummary]


# Ported from test_rich_model_summary.py::test_rich_progress_bar_import_error (Lightning
# monkeypatches its private _RICH_AVAILABLE; here rich is hidden as if not installed)
def test_rich_model_summary_import_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "rich", None)
    with pytest.raises(
        ModuleNotFoundError, match=re.escape("`RichModelSummary` requires `rich` to be installed.")
    ):
        RichModelSummary()


# Ported from test_rich_model_summary.py::test_rich_summary_tuples
def test_rich_summary_tuples(capsys):
    from rich.table import Table

    summary_data = summarize(WithExample())._get_summary_data()
    with mock.patch.object(Table, "add_row", autospec=True, side_effect=Table.add_row) as add_row:
        RichModelSummary.summarize(
            summary_data=summary_data,
            total_parameters=1,
            trainable_parameters=1,
            model_size=1,
            total_training_modes={"train": 1, "eval": 0},
            total_flops=0,
        )
    # the rows converted to strings, as Lightning 2.6.6 hands them to rich
    args, _ = add_row.call_args_list[0]
    assert args[1:] == ("0", "layer", "Linear", "66  ", "train", "512  ", "[4, 32]", "[4, 2]")
    assert args_of(add_row)[1:] == [
        "[bold]Trainable params[/]: 1         ",
        "[bold]Non-trainable params[/]: 0         ",
        "[bold]Total params[/]: 1         ",
        "[bold]Total estimated model params size (MB)[/]: 1.000     ",
        "[bold]Modules in train mode[/]: 1",
        "[bold]Modules in eval mode[/]: 0",
        "[bold]Total FLOPs[/]: 0  ",
    ]
    out = capsys.readouterr().out
    header = re.search(r"┃ +┃ Name +┃ Type +┃ Params ┃ Mode +┃ FLOPs ┃ In sizes ┃ Out sizes ┃", out)
    assert header, out
    assert re.search(
        r"│ 0 │ layer │ Linear │ +66 │ train │ +512 │ +\[4, 32\] │ +\[4, 2\] │", out
    ), out


def args_of(add_row) -> list:
    return [
        call.args[1] if len(call.args) == 2 else call.args[1:] for call in add_row.call_args_list
    ]


def test_rich_model_summary_prints_the_table_once(tmp_path, capsys):
    trainer = treadle.Trainer(
        **quiet(
            tmp_path,
            max_epochs=1,
            limit_train_batches=1,
            limit_val_batches=0,
            enable_model_summary=True,
        ),
        callbacks=[RichModelSummary()],
    )
    assert isinstance(RichModelSummary(), ModelSummary)
    trainer.fit(BoringModel())
    out = capsys.readouterr().out
    assert out.count("Trainable params") == 1  # the default ModelSummary is not added
    assert re.search(r"│ 0 .*│ layer .*│ Linear .*│ +66 .*│ train", out), out
    assert "Total estimated model params size (MB): 0.000" in out
    assert re.search(r"Modules in train mode: \d+", out), out


def test_rich_model_summary_max_depth_zero_prints_nothing(tmp_path, capsys):
    trainer = treadle.Trainer(
        **quiet(tmp_path, max_epochs=1, limit_train_batches=1, limit_val_batches=0),
        callbacks=[RichModelSummary(max_depth=0)],
    )
    trainer.fit(BoringModel())
    assert "Trainable params" not in capsys.readouterr().out


def test_rich_model_summary_header_style_and_totals(capsys):
    from rich.table import Table

    with mock.patch.object(Table, "__init__", autospec=True, side_effect=Table.__init__) as init:
        RichModelSummary(header_style="bold red").summarize(
            summarize(WithExample())._get_summary_data(),
            1234567,
            1000,
            4.9,
            {"train": 1, "eval": 0},
            12345678,
            header_style="bold red",
        )
    assert init.call_args_list[0].kwargs["header_style"] == "bold red"
    out = capsys.readouterr().out
    for line in (
        "Trainable params: 1.0 K",
        "Non-trainable params: 1.2 M",
        "Total params: 1.2 M",
        "Total estimated model params size (MB): 4.900",
        "Total FLOPs: 12.3 M",
    ):
        assert line in out, out
