# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/callbacks/test_rich_model_summary.py
#   (test_rich_model_summary_callback, test_rich_summary_tuples)
# Edits: the tests turned into one __main__ program asserting what they asserted; RunIf(rich=True)
#   dropped (rich is installed on both sides). test_rich_summary_tuples: the summary is drawn by
#   a `fit()` with `RichModelSummary()` instead of by calling `RichModelSummary.summarize` on the
#   private `summarize(model)._get_summary_data()` (and master's call with `training_modes=[True]`
#   fails on Lightning 2.6.6, whose `summarize` takes `total_training_modes` and `total_flops`);
#   `mock.patch("rich.console.Console.print"/"rich.table.Table.add_row")` -> recording wrappers
#   around rich's own methods (the table is still drawn); the expected row is Lightning 2.6.6's,
#   with its FLOPs column ("512  "). Left out: test_rich_progress_bar_import_error (patches the
#   private `_RICH_AVAILABLE`).
import tempfile
from typing import Any

import rich.console
import rich.table
import torch

from lightning.pytorch import Trainer
from lightning.pytorch.callbacks import RichModelSummary, RichProgressBar
from lightning.pytorch.demos.boring_classes import BoringModel


def test_rich_model_summary_callback():
    trainer = Trainer(callbacks=RichProgressBar())

    assert any(isinstance(cb, RichModelSummary) for cb in trainer.callbacks)
    assert isinstance(trainer.progress_bar_callback, RichProgressBar)


class recording:
    """Record the calls of a method of a rich class, the method still running."""

    def __init__(self, cls, name):
        self.cls, self.name = cls, name
        self.call_args_list = []

    def __enter__(self):
        self.original = getattr(self.cls, self.name)
        original = self.original

        def recorded(obj, *args, **kwargs):
            self.call_args_list.append(((obj, *args), kwargs))
            return original(obj, *args, **kwargs)

        setattr(self.cls, self.name, recorded)
        return self

    def __exit__(self, *exc):
        setattr(self.cls, self.name, self.original)

    @property
    def call_count(self):
        return len(self.call_args_list)


def test_rich_summary_tuples(tmpdir):
    """Ensure that tuples are converted into string, and print is called correctly."""
    model_summary = RichModelSummary()

    class TestModel(BoringModel):
        @property
        def example_input_array(self) -> Any:
            return torch.randn(4, 32)

    model = TestModel()
    trainer = Trainer(
        default_root_dir=tmpdir,
        fast_dev_run=True,
        callbacks=[model_summary],
        enable_progress_bar=False,
        logger=False,
    )
    with recording(rich.table.Table, "add_row") as mock_table_add_row:
        with recording(rich.console.Console, "print") as mock_console:
            trainer.fit(model)

    # ensure that summary was logged + the breakdown of model parameters
    assert mock_console.call_count == 2
    # assert that the input summary data was converted correctly
    args, _ = mock_table_add_row.call_args_list[0]
    assert args[1:] == ("0", "layer", "Linear", "66  ", "train", "512  ", "[4, 32]", "[4, 2]"), args[1:]


if __name__ == "__main__":
    test_rich_model_summary_callback()
    with tempfile.TemporaryDirectory() as tmp:
        test_rich_summary_tuples(tmp)
    print("t_rich_model_summary: all passed")
