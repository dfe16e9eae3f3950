# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/callbacks/progress/test_rich_progress_bar.py
#   (test_rich_progress_bar, test_rich_progress_bar_with_refresh_rate (the counts of
#    `Progress.update` calls), test_rich_progress_bar_correct_value_epoch_end)
# What differs on treadle, by design (docs/migration.md 7): outside a terminal treadle's
#   RichProgressBar prints plain lines and makes no rich `Progress` (these tests run with the
#   output in a pipe, as published), and on a terminal it updates its rich tasks when a redraw is
#   due, not at every `refresh_rate`-th batch, so the number of `Progress.update` and
#   `get_metrics` calls is not Lightning's. A strict xfail in tests/test_lightning_programs.py;
#   the rest of the file is t_rich_progress_bar.py, which passes.
# Edits: the tests turned into one __main__ program asserting what they asserted; parametrize ->
#   loops; tmpdir -> a tempfile dir; RunIf(rich=True) dropped; `mock.patch(...Progress.update)`
#   and `mock.patch.object(progress, "update", wraps=...)` -> a counting wrapper around rich's
#   own `rich.progress.Progress.update` (the call of `on_train_start` before `fit()`, there only
#   to make the Progress to patch, dropped); `trainer.state.fn`/`trainer.state.stage` recorded
#   as their names (a Lightning enum's `.value`; treadle's are strings); the expected counts of
#   test_rich_progress_bar_with_refresh_rate are Lightning 2.6.6's (one update a batch, one more
#   after a validation), not master's.
import tempfile
from collections import defaultdict

import rich.progress
from torch.utils.data import DataLoader

from lightning.pytorch import Trainer
from lightning.pytorch.callbacks import RichProgressBar
from lightning.pytorch.demos.boring_classes import BoringModel, RandomDataset, RandomIterableDataset
from lightning.pytorch.loggers import CSVLogger


class counting:
    """Count the calls of rich's Progress.update, which still runs."""

    def __enter__(self):
        self.call_count = 0
        self.original = rich.progress.Progress.update
        original = self.original

        def counted(progress, *args, **kwargs):
            self.call_count += 1
            return original(progress, *args, **kwargs)

        rich.progress.Progress.update = counted
        return self

    def __exit__(self, *exc):
        rich.progress.Progress.update = self.original


def value(state):
    """The state's name: a Lightning enum's value, or treadle's string."""
    return getattr(state, "value", state)


def test_rich_progress_bar(tmpdir, dataset):
    class TestModel(BoringModel):
        def train_dataloader(self):
            return DataLoader(dataset=dataset)

        def val_dataloader(self):
            return DataLoader(dataset=dataset)

        def test_dataloader(self):
            return DataLoader(dataset=dataset)

        def predict_dataloader(self):
            return DataLoader(dataset=dataset)

    trainer = Trainer(
        default_root_dir=tmpdir,
        num_sanity_val_steps=0,
        limit_train_batches=1,
        limit_val_batches=1,
        limit_test_batches=1,
        limit_predict_batches=1,
        max_epochs=1,
        callbacks=RichProgressBar(),
    )
    model = TestModel()

    with counting() as mocked:
        trainer.fit(model)
    # 2 for main progress bar and 1 for val progress bar
    assert mocked.call_count == 3

    with counting() as mocked:
        trainer.validate(model)
    assert mocked.call_count == 1

    with counting() as mocked:
        trainer.test(model)
    assert mocked.call_count == 1

    with counting() as mocked:
        trainer.predict(model)
    assert mocked.call_count == 1


def test_rich_progress_bar_with_refresh_rate(tmpdir, refresh_rate, train_batches, val_batches, expected_call_count):
    model = BoringModel()
    trainer = Trainer(
        default_root_dir=tmpdir,
        num_sanity_val_steps=0,
        limit_train_batches=train_batches,
        limit_val_batches=val_batches,
        max_epochs=1,
        callbacks=RichProgressBar(refresh_rate=refresh_rate),
    )

    with counting() as progress_update:
        trainer.fit(model)
        assert progress_update.call_count == expected_call_count


def test_rich_progress_bar_correct_value_epoch_end(tmpdir):
    """Rich counterpart to test_tqdm_progress_bar::test_tqdm_progress_bar_correct_value_epoch_end."""

    class MockedProgressBar(RichProgressBar):
        calls = defaultdict(list)

        def get_metrics(self, trainer, pl_module):
            items = super().get_metrics(trainer, model)
            del items["v_num"]
            # this is equivalent to mocking `set_postfix` as this method gets called every time
            self.calls[value(trainer.state.fn)].append(
                (value(trainer.state.stage), trainer.current_epoch, trainer.global_step, items)
            )
            return items

    class MyModel(BoringModel):
        def training_step(self, batch, batch_idx):
            self.log("a", self.global_step, prog_bar=True, on_step=False, on_epoch=True, reduce_fx=max)
            return super().training_step(batch, batch_idx)

        def validation_step(self, batch, batch_idx):
            self.log("b", self.global_step, prog_bar=True, on_step=False, on_epoch=True, reduce_fx=max)
            return super().validation_step(batch, batch_idx)

        def test_step(self, batch, batch_idx):
            self.log("c", self.global_step, prog_bar=True, on_step=False, on_epoch=True, reduce_fx=max)
            return super().test_step(batch, batch_idx)

    model = MyModel()
    pbar = MockedProgressBar()
    trainer = Trainer(
        default_root_dir=tmpdir,
        limit_train_batches=2,
        limit_val_batches=2,
        limit_test_batches=2,
        max_epochs=2,
        enable_model_summary=False,
        enable_checkpointing=False,
        log_every_n_steps=1,
        callbacks=pbar,
        logger=CSVLogger(tmpdir),
    )

    trainer.fit(model)
    assert pbar.calls["fit"] == [
        ("sanity_check", 0, 0, {"b": 0}),
        ("train", 0, 1, {}),
        ("train", 0, 2, {}),
        ("validate", 0, 2, {"b": 2}),  # validation end
        # epoch end over, `on_epoch=True` metrics are computed
        ("train", 0, 2, {"a": 1, "b": 2}),  # training epoch end
        ("train", 1, 3, {"a": 1, "b": 2}),
        ("train", 1, 4, {"a": 1, "b": 2}),
        ("validate", 1, 4, {"a": 1, "b": 4}),  # validation end
        ("train", 1, 4, {"a": 3, "b": 4}),  # training epoch end
    ], pbar.calls["fit"]

    trainer.validate(model, verbose=False)
    assert pbar.calls["validate"] == []

    trainer.test(model, verbose=False)
    assert pbar.calls["test"] == []


if __name__ == "__main__":
    for dataset in (RandomDataset(32, 64), RandomIterableDataset(32, 64)):
        with tempfile.TemporaryDirectory() as tmp:
            test_rich_progress_bar(tmp, dataset)
    # Lightning 2.6.6's counts (master's test expects fewer: there `refresh_rate` is in
    # batches; in 2.6.6 it is redraws per second and the tasks are updated at every batch):
    # one update a batch, and one more at the end of a validation
    for refresh_rate, train_batches, val_batches in [
        (3, 6, 6), (4, 6, 6), (7, 6, 6), (1, 2, 3), (1, 0, 0),
        (3, 1, 0), (3, 1, 1), (3, 5, 0), (3, 5, 2), (6, 5, 2),
    ]:  # fmt: skip
        expected_call_count = train_batches + val_batches + (1 if val_batches else 0)
        with tempfile.TemporaryDirectory() as tmp:
            test_rich_progress_bar_with_refresh_rate(tmp, refresh_rate, train_batches, val_batches, expected_call_count)
    with tempfile.TemporaryDirectory() as tmp:
        test_rich_progress_bar_correct_value_epoch_end(tmp)
    print("t_rich_progress_bar_differences: all passed")
