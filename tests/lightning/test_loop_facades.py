"""``trainer.fit_loop``, ``validate_loop``, ``test_loop``, ``predict_loop`` (treadle._loop_facades):
Lightning 2.6.6's loop objects, worked out from ``trainer.state`` when read.

Every expected value below is what Lightning 2.6.6 printed for the same program (run with
``lightning.pytorch`` imports in place of treadle's); a progress tracker is written as
``(ready, started, processed, completed)`` and a ``Progress`` as ``(current, total)``.

Ported from Lightning's suite (Copyright The Lightning AI team, Apache-2.0):
``tests_pytorch/loops/test_training_loop.py::test_on_train_batch_start_return_minus_one``,
``::test_should_stop_early_stopping_conditions_met``, ``::test_fit_loop_done_log_messages`` (on a
real Trainer, without the log messages) and
``tests_pytorch/trainer/flags/test_val_check_interval.py::
test_validation_check_interval_exceed_data_length_correct``.
"""

from __future__ import annotations

import re

import pytest
import torch
from lightning_boring import BoringModel, quiet
from torch.utils.data import DataLoader, TensorDataset

import treadle
from treadle.demos.boring_classes import RandomDataset, RandomIterableDataset


def prog(progress):
    c, t = progress.current, progress.total
    return (c.ready, c.started, c.processed, c.completed), (
        t.ready,
        t.started,
        t.processed,
        t.completed,
    )


def zeros():
    return (0, 0, 0, 0), (0, 0, 0, 0)


class Tiny(treadle.Module):
    def __init__(self):
        super().__init__()
        self.layer = torch.nn.Linear(2, 1)

    def training_step(self, batch, batch_idx):
        return self.layer(batch[0]).sum()

    def validation_step(self, batch, batch_idx, dataloader_idx=0):
        self.log("v", self.layer(batch[0]).sum())

    def test_step(self, batch, batch_idx):
        self.log("t", self.layer(batch[0]).sum())

    def predict_step(self, batch, batch_idx):
        return self.layer(batch[0])

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def loader(n=4):
    """``n`` batches of 2."""
    return DataLoader(TensorDataset(torch.randn(2 * n, 2)), batch_size=2)


class Recorder(treadle.Callback):
    """What the loop objects read in the hooks a program reads them in."""

    def __init__(self):
        self.rows = []

    def on_train_epoch_start(self, trainer, pl_module):
        fl = trainer.fit_loop
        self.rows.append(
            (
                "tes",
                prog(fl.epoch_progress),
                prog(fl.epoch_loop.batch_progress),
                fl.total_batch_idx,
                fl.batch_idx,
            )
        )

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        fl = trainer.fit_loop
        el = fl.epoch_loop
        self.rows.append(
            (
                "tbe",
                batch_idx,
                prog(fl.epoch_progress),
                prog(el.batch_progress),
                fl.total_batch_idx,
                fl.batch_idx,
                el.batch_idx,
                el.total_batch_idx,
                el.automatic_optimization.optim_progress.optimizer_steps,
                trainer.global_step,
            )
        )

    def on_train_epoch_end(self, trainer, pl_module):
        fl = trainer.fit_loop
        self.rows.append(
            (
                "tee",
                prog(fl.epoch_progress),
                prog(fl.epoch_loop.batch_progress),
                fl.total_batch_idx,
                fl.batch_idx,
                fl.done,
            )
        )

    def _val_loop(self, trainer):
        return (
            trainer.fit_loop.epoch_loop.val_loop
            if trainer.state.fn == "fit"
            else trainer.validate_loop
        )

    def on_validation_epoch_start(self, trainer, pl_module):
        self.rows.append(
            ("ves", trainer.sanity_checking, prog(self._val_loop(trainer).batch_progress))
        )

    def on_validation_batch_end(
        self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0
    ):
        loop = self._val_loop(trainer)
        self.rows.append(
            (
                "vbe",
                trainer.sanity_checking,
                batch_idx,
                prog(loop.batch_progress),
                loop is trainer.validate_loop,
            )
        )

    def on_test_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0):
        self.rows.append(("xbe", batch_idx, prog(trainer.test_loop.batch_progress)))

    def on_predict_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0):
        self.rows.append(("pbe", batch_idx, prog(trainer.predict_loop.batch_progress)))


def summary(trainer):
    fl = trainer.fit_loop
    el = fl.epoch_loop
    return {
        "epoch": prog(fl.epoch_progress),
        "batch": prog(el.batch_progress),
        "idx": (fl.total_batch_idx, fl.batch_idx, el.batch_idx, el.total_batch_idx),
        "done": fl.done,
        "limits": (
            fl.max_epochs,
            fl.min_epochs,
            fl.max_steps,
            fl.min_steps,
            el.max_steps,
            el.min_steps,
        ),
        "steps": (
            el.automatic_optimization.optim_progress.optimizer_steps,
            trainer.global_step,
            trainer.current_epoch,
        ),
        "val": prog(el.val_loop.batch_progress),
        "validate": prog(trainer.validate_loop.batch_progress),
        "test": prog(trainer.test_loop.batch_progress),
        "predict": prog(trainer.predict_loop.batch_progress),
    }


def make_trainer(tmp_path, recorder, **kwargs):
    args = {"max_epochs": 2, "num_sanity_val_steps": 2, "limit_val_batches": 3, **kwargs}
    return treadle.Trainer(callbacks=[recorder], **quiet(tmp_path, **args))


# fit of 2 epochs x 4 batches (3 validation batches, a sanity check of 2), then validate, test
# and predict on the same Trainer: Lightning 2.6.6 printed each of these rows and values
# fmt: off
FIT_ROWS = [
    ("ves", True, zeros()),
    ("vbe", True, 0, ((1, 1, 1, 0), (1, 1, 1, 0)), False),
    ("vbe", True, 1, ((2, 2, 2, 1), (2, 2, 2, 1)), False),
    ("tes", ((1, 0, 0, 0), (1, 0, 0, 0)), zeros(), -1, -1),
    ("tbe", 0, ((1, 1, 0, 0), (1, 1, 0, 0)), ((1, 1, 1, 0), (1, 1, 1, 0)), 0, 0, 0, 0, 1, 1),
    ("tbe", 1, ((1, 1, 0, 0), (1, 1, 0, 0)), ((2, 2, 2, 1), (2, 2, 2, 1)), 1, 1, 1, 1, 2, 2),
    ("tbe", 2, ((1, 1, 0, 0), (1, 1, 0, 0)), ((3, 3, 3, 2), (3, 3, 3, 2)), 2, 2, 2, 2, 3, 3),
    ("tbe", 3, ((1, 1, 0, 0), (1, 1, 0, 0)), ((4, 4, 4, 3), (4, 4, 4, 3)), 3, 3, 3, 3, 4, 4),
    ("ves", False, zeros()),
    ("vbe", False, 0, ((1, 1, 1, 0), (1, 1, 1, 0)), False),
    ("vbe", False, 1, ((2, 2, 2, 1), (2, 2, 2, 1)), False),
    ("vbe", False, 2, ((3, 3, 3, 2), (3, 3, 3, 2)), False),
    ("tee", ((1, 1, 1, 0), (1, 1, 1, 0)), ((4, 4, 4, 4), (4, 4, 4, 4)), 3, 3, False),
    ("tes", ((2, 1, 1, 1), (2, 1, 1, 1)), ((4, 4, 4, 4), (4, 4, 4, 4)), 3, 3),
    ("tbe", 0, ((2, 2, 1, 1), (2, 2, 1, 1)), ((1, 1, 1, 0), (5, 5, 5, 4)), 4, 0, 0, 4, 5, 5),
    ("tbe", 1, ((2, 2, 1, 1), (2, 2, 1, 1)), ((2, 2, 2, 1), (6, 6, 6, 5)), 5, 1, 1, 5, 6, 6),
    ("tbe", 2, ((2, 2, 1, 1), (2, 2, 1, 1)), ((3, 3, 3, 2), (7, 7, 7, 6)), 6, 2, 2, 6, 7, 7),
    ("tbe", 3, ((2, 2, 1, 1), (2, 2, 1, 1)), ((4, 4, 4, 3), (8, 8, 8, 7)), 7, 3, 3, 7, 8, 8),
    ("ves", False, zeros()),
    ("vbe", False, 0, ((1, 1, 1, 0), (1, 1, 1, 0)), False),
    ("vbe", False, 1, ((2, 2, 2, 1), (2, 2, 2, 1)), False),
    ("vbe", False, 2, ((3, 3, 3, 2), (3, 3, 3, 2)), False),
    ("tee", ((2, 2, 2, 1), (2, 2, 2, 1)), ((4, 4, 4, 4), (8, 8, 8, 8)), 7, 3, True),
]
# fmt: on
ALL_THREE = ((3, 3, 3, 3), (3, 3, 3, 3))
AFTER_FIT = {
    "epoch": ((2, 2, 2, 2), (2, 2, 2, 2)),
    "batch": ((4, 4, 4, 4), (8, 8, 8, 8)),
    "idx": (7, 3, 3, 7),
    "done": True,
    "limits": (2, 0, -1, None, -1, None),
    "steps": (8, 8, 2),
    "val": ALL_THREE,
    "validate": zeros(),
    "test": zeros(),
    "predict": zeros(),
}


def test_fit_validate_test_predict_progress_as_lightning(tmp_path):
    torch.manual_seed(0)
    recorder = Recorder()
    trainer = make_trainer(tmp_path, recorder)
    assert summary(trainer) == {  # before any run
        **AFTER_FIT,
        "epoch": zeros(),
        "batch": zeros(),
        "idx": (-1, -1, -1, -1),
        "done": False,
        "limits": (2, None, -1, None, -1, None),
        "steps": (0, 0, 0),
        "val": zeros(),
    }
    model = Tiny()
    trainer.fit(model, loader(4), loader(3))
    assert recorder.rows == FIT_ROWS
    assert summary(trainer) == AFTER_FIT

    recorder.rows.clear()
    trainer.validate(model, loader(3))
    assert recorder.rows == [
        ("ves", False, zeros()),
        ("vbe", False, 0, ((1, 1, 1, 0), (1, 1, 1, 0)), True),
        ("vbe", False, 1, ((2, 2, 2, 1), (2, 2, 2, 1)), True),
        ("vbe", False, 2, ((3, 3, 3, 2), (3, 3, 3, 2)), True),
    ]
    assert summary(trainer) == {**AFTER_FIT, "validate": ALL_THREE}

    recorder.rows.clear()
    trainer.test(model, loader(2))
    assert recorder.rows == [
        ("xbe", 0, ((1, 1, 1, 0), (1, 1, 1, 0))),
        ("xbe", 1, ((2, 2, 2, 1), (2, 2, 2, 1))),
    ]
    after_test = {**AFTER_FIT, "validate": ALL_THREE, "test": ((2, 2, 2, 2), (2, 2, 2, 2))}
    assert summary(trainer) == after_test

    recorder.rows.clear()
    predictions = trainer.predict(model, loader(3))
    assert recorder.rows == [
        ("pbe", 0, ((1, 1, 1, 0), (1, 1, 1, 0))),
        ("pbe", 1, ((2, 2, 2, 1), (2, 2, 2, 1))),
        ("pbe", 2, ((3, 3, 3, 2), (3, 3, 3, 2))),
    ]
    assert summary(trainer) == {**after_test, "predict": ALL_THREE}
    loop = trainer.predict_loop
    assert loop.return_predictions is True
    assert len(loop.predictions) == 3 and loop.predictions[0].shape == (2, 1)
    assert all(a is b for a, b in zip(loop.predictions, predictions))
    trainer.predict(model, loader(3), return_predictions=False)
    assert (
        trainer.predict_loop.predictions == [] and trainer.predict_loop.return_predictions is False
    )


def test_loop_objects_are_kept_and_distinct(tmp_path):
    trainer = treadle.Trainer(**quiet(tmp_path))
    assert trainer.fit_loop is trainer.fit_loop
    assert trainer.fit_loop.epoch_loop.val_loop is not trainer.validate_loop  # as Lightning
    assert trainer.validate_loop is not trainer.test_loop is not trainer.predict_loop
    assert trainer.predict_loop.predictions == []


def test_validations_inside_an_epoch_and_several_loaders(tmp_path):
    # val_check_interval=2 over 4 batches, two validation loaders of 2 and 1 batches: the val
    # loop's total adds up the epoch's validations and starts again with the next epoch
    rows = []

    class EpochEnds(Recorder):
        def on_validation_epoch_end(self, trainer, pl_module):
            val_loop = trainer.fit_loop.epoch_loop.val_loop
            rows.append(
                (trainer.sanity_checking, prog(val_loop.batch_progress), val_loop.max_batches)
            )

    recorder = EpochEnds()
    trainer = make_trainer(tmp_path, recorder, val_check_interval=2, num_sanity_val_steps=1)
    trainer.fit(Tiny(), loader(4), [loader(2), loader(1)])
    three = ((3, 3, 3, 3), (3, 3, 3, 3))
    six = ((3, 3, 3, 3), (6, 6, 6, 6))
    assert rows == [
        (True, ((2, 2, 2, 2), (2, 2, 2, 2)), [1, 1]),
        (False, three, [2, 1]),
        (False, six, [2, 1]),
    ] + [
        (False, three, [2, 1]),
        (False, six, [2, 1]),
    ]
    validation_batches = [r[3] for r in recorder.rows if r[0] == "vbe" and not r[1]]
    assert (
        validation_batches
        == [
            ((1, 1, 1, 0), (1, 1, 1, 0)),
            ((2, 2, 2, 1), (2, 2, 2, 1)),
            ((3, 3, 3, 2), (3, 3, 3, 2)),  # the second loader's first batch
            ((1, 1, 1, 0), (4, 4, 4, 3)),
            ((2, 2, 2, 1), (5, 5, 5, 4)),
            ((3, 3, 3, 2), (6, 6, 6, 5)),
        ]
        * 2
    )
    assert prog(trainer.fit_loop.epoch_loop.val_loop.batch_progress) == six
    assert trainer.fit_loop.epoch_loop.val_loop.num_dataloaders == 2


def test_max_steps_stops_mid_epoch(tmp_path):
    recorder = Recorder()
    trainer = make_trainer(tmp_path, recorder, max_epochs=None, max_steps=6, limit_val_batches=0)
    trainer.fit(Tiny(), loader(4))
    ends = [r for r in recorder.rows if r[0] == "tee"]
    assert ends == [
        ("tee", ((1, 1, 1, 0), (1, 1, 1, 0)), ((4, 4, 4, 4), (4, 4, 4, 4)), 3, 3, False),
        ("tee", ((2, 2, 2, 1), (2, 2, 2, 1)), ((2, 2, 2, 2), (6, 6, 6, 6)), 5, 1, True),
    ]
    assert prog(trainer.fit_loop.epoch_progress) == ((2, 2, 2, 2), (2, 2, 2, 2))
    assert prog(trainer.fit_loop.epoch_loop.batch_progress) == ((2, 2, 2, 2), (6, 6, 6, 6))
    assert (
        trainer.fit_loop.done and trainer.fit_loop.max_epochs == -1 and trainer.current_epoch == 2
    )


def test_resume_mid_epoch_counts_on(tmp_path):
    ckpt = str(tmp_path / "mid.ckpt")

    class Save(treadle.Callback):
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            if trainer.current_epoch == 1 and batch_idx == 1:
                trainer.save_checkpoint(ckpt)

    treadle.Trainer(callbacks=[Save()], **quiet(tmp_path, max_epochs=2, limit_val_batches=0)).fit(
        Tiny(), loader(4)
    )
    recorder = Recorder()
    trainer = make_trainer(tmp_path, recorder, max_epochs=3, limit_val_batches=0)
    trainer.fit(Tiny(), loader(4), ckpt_path=ckpt)
    # fmt: off
    assert [r for r in recorder.rows if r[0] == "tbe"] == [
        ("tbe", 2, ((2, 2, 1, 1), (2, 2, 1, 1)), ((3, 3, 3, 2), (7, 7, 7, 6)), 6, 2, 2, 6, 7, 7),
        ("tbe", 3, ((2, 2, 1, 1), (2, 2, 1, 1)), ((4, 4, 4, 3), (8, 8, 8, 7)), 7, 3, 3, 7, 8, 8),
        ("tbe", 0, ((3, 3, 2, 2), (3, 3, 2, 2)), ((1, 1, 1, 0), (9, 9, 9, 8)), 8, 0, 0, 8, 9, 9),
        ("tbe", 1, ((3, 3, 2, 2), (3, 3, 2, 2)), ((2, 2, 2, 1), (10, 10, 10, 9)), 9, 1, 1, 9, 10, 10),
        ("tbe", 2, ((3, 3, 2, 2), (3, 3, 2, 2)), ((3, 3, 3, 2), (11, 11, 11, 10)), 10, 2, 2, 10, 11, 11),
        ("tbe", 3, ((3, 3, 2, 2), (3, 3, 2, 2)), ((4, 4, 4, 3), (12, 12, 12, 11)), 11, 3, 3, 11, 12, 12),
    ]
    # fmt: on
    assert prog(trainer.fit_loop.epoch_progress) == ((3, 3, 3, 3), (3, 3, 3, 3))
    assert prog(trainer.fit_loop.epoch_loop.batch_progress) == ((4, 4, 4, 4), (12, 12, 12, 12))


def test_max_epochs_set_on_the_loop_then_resumed(tmp_path):
    # Lightning's documented recipe: raise max_epochs, then fit again from the checkpoint
    model = Tiny()
    trainer = make_trainer(tmp_path, Recorder())
    trainer.fit(model, loader(4), loader(3))
    ckpt = str(tmp_path / "done.ckpt")
    trainer.save_checkpoint(ckpt)

    recorder = Recorder()
    fresh = make_trainer(tmp_path, recorder, max_epochs=4)
    fresh.fit_loop.max_epochs = 3
    assert (fresh.max_epochs, fresh.fit_loop.max_epochs, fresh.config.max_epochs) == (3, 3, 3)
    fresh.fit(Tiny(), loader(4), loader(3), ckpt_path=ckpt)
    # Lightning's rows in the resumed epoch (its sanity check's val totals carry the
    # checkpoint's 3: treadle's start at 0, so those rows are left out)
    # fmt: off
    assert [r for r in recorder.rows if not (r[0] in ("ves", "vbe") and r[1])] == [
        ("tes", ((3, 2, 2, 2), (3, 2, 2, 2)), ((4, 4, 4, 4), (8, 8, 8, 8)), 7, 3),
        ("tbe", 0, ((3, 3, 2, 2), (3, 3, 2, 2)), ((1, 1, 1, 0), (9, 9, 9, 8)), 8, 0, 0, 8, 9, 9),
        ("tbe", 1, ((3, 3, 2, 2), (3, 3, 2, 2)), ((2, 2, 2, 1), (10, 10, 10, 9)), 9, 1, 1, 9, 10, 10),
        ("tbe", 2, ((3, 3, 2, 2), (3, 3, 2, 2)), ((3, 3, 3, 2), (11, 11, 11, 10)), 10, 2, 2, 10, 11, 11),
        ("tbe", 3, ((3, 3, 2, 2), (3, 3, 2, 2)), ((4, 4, 4, 3), (12, 12, 12, 11)), 11, 3, 3, 11, 12, 12),
        ("ves", False, zeros()),
        ("vbe", False, 0, ((1, 1, 1, 0), (1, 1, 1, 0)), False),
        ("vbe", False, 1, ((2, 2, 2, 1), (2, 2, 2, 1)), False),
        ("vbe", False, 2, ((3, 3, 3, 2), (3, 3, 3, 2)), False),
        ("tee", ((3, 3, 3, 2), (3, 3, 3, 2)), ((4, 4, 4, 4), (12, 12, 12, 12)), 11, 3, True),
    ]
    # fmt: on
    expected = {
        **AFTER_FIT,
        "epoch": ((3, 3, 3, 3), (3, 3, 3, 3)),
        "batch": ((4, 4, 4, 4), (12, 12, 12, 12)),
        "idx": (11, 3, 3, 11),
        "limits": (3, 0, -1, None, -1, None),
        "steps": (12, 12, 3),
    }
    assert summary(fresh) == expected

    # the same on the Trainer that ran: a later fit() honours the new max_epochs
    trainer.fit_loop.max_epochs = 3
    trainer.fit(model, loader(4), loader(3), ckpt_path=ckpt)
    assert summary(trainer) == expected


def test_limits_set_through_the_loop_reach_the_config(tmp_path):
    trainer = treadle.Trainer(**quiet(tmp_path, max_epochs=5))
    fit_loop = trainer.fit_loop
    fit_loop.min_epochs = 2
    fit_loop.epoch_loop.max_steps = 7  # Lightning's way (its fit_loop.max_steps has no setter)
    fit_loop.min_steps = 3  # treadle also takes these on fit_loop itself
    assert (trainer.min_epochs, trainer.max_steps, trainer.min_steps) == (2, 7, 3)
    assert (fit_loop.max_steps, fit_loop.epoch_loop.min_steps) == (7, 3)
    fit_loop.max_steps = -1
    trainer.fit(BoringModel())
    assert trainer.current_epoch == 5 and trainer.fit_loop.min_epochs == 2
    with pytest.raises(
        ValueError,
        match=re.escape("`trainer.fit_loop.max_epochs = -2`: expected an int >= -1 or None."),
    ):
        fit_loop.max_epochs = -2
    with pytest.raises(
        ValueError,
        match=re.escape("`trainer.fit_loop.epoch_loop.max_steps = None`: expected an int >= -1."),
    ):
        fit_loop.max_steps = None


def test_max_steps_set_on_the_loop_stops_the_next_fit(tmp_path):
    trainer = treadle.Trainer(**quiet(tmp_path, max_epochs=3, limit_val_batches=0))
    trainer.fit_loop.epoch_loop.max_steps = 5
    trainer.fit(BoringModel())  # 8 batches an epoch
    assert (trainer.global_step, trainer.current_epoch) == (5, 1)


def test_current_epoch_set_through_epoch_progress(tmp_path):
    # programs set Lightning's current_epoch this way before validate()
    seen = []

    class Model(BoringModel):
        def on_validation_epoch_end(self):
            seen.append(self.current_epoch)

    trainer = treadle.Trainer(**quiet(tmp_path))
    trainer.fit_loop.epoch_progress.current.completed = 4
    trainer.validate(Model())
    assert seen == [4] and trainer.current_epoch == 4
    assert prog(trainer.fit_loop.epoch_progress) == ((4, 4, 4, 4), (4, 4, 4, 4))


def test_read_only_values_and_internals_say_what_to_read(tmp_path):
    trainer = treadle.Trainer(**quiet(tmp_path))
    with pytest.raises(
        AttributeError, match=re.escape("`completed` of this treadle progress tracker is read-only")
    ):
        trainer.fit_loop.epoch_loop.batch_progress.current.completed = 3
    with pytest.raises(
        AttributeError,
        match=re.escape("`trainer.fit_loop.total_batch_idx` is read-only in treadle"),
    ):
        trainer.fit_loop.total_batch_idx = 3
    with pytest.raises(
        AttributeError,
        match=re.escape(
            "`trainer.fit_loop._skip_backward` is Lightning's and treadle has none: "
            "treadle keeps no loop internals"
        ),
    ):
        trainer.fit_loop._skip_backward  # noqa: B018 (the read raises)
    with pytest.raises(
        AttributeError,
        match=re.escape("Read `trainer.state` (epoch, global_step, batch_idx, stage) for the rest"),
    ):
        trainer.validate_loop._data_fetcher  # noqa: B018 (the read raises)
    with pytest.raises(
        AttributeError,
        match=re.escape(
            "`trainer.fit_loop.restarting` is Lightning's and treadle has none: "
            "a resumed run is not marked"
        ),
    ):
        trainer.fit_loop.restarting  # noqa: B018 (the read raises)
    with pytest.raises(
        AttributeError,
        match=re.escape(
            "`trainer.test_loop.predictions`: only `trainer.predict_loop` has `predictions`, "
            "as in Lightning."
        ),
    ):
        trainer.test_loop.predictions  # noqa: B018 (the read raises)
    with pytest.raises(
        AttributeError,
        match=re.escape(
            "`trainer.fit_loop.epoch_loop.val_loop.verbose` is Lightning's and treadle has "
            "none: it cannot be set."
        ),
    ):
        trainer.fit_loop.epoch_loop.val_loop.verbose = False


def test_setup_data_asks_for_the_training_loader_during_fit(tmp_path):
    counts = []

    class Model(BoringModel):
        def configure_optimizers(self):
            self.trainer.fit_loop.setup_data()
            counts.append(self.trainer.num_training_batches)
            self.trainer.fit_loop.setup_data()  # asked for once
            return super().configure_optimizers()

    trainer = treadle.Trainer(**quiet(tmp_path, max_steps=1))
    with pytest.raises(
        RuntimeError,
        match=re.escape(
            "`trainer.fit_loop.setup_data()` asks for the training loader of a running `fit()`"
        ),
    ):
        trainer.fit_loop.setup_data()
    trainer.fit(Model())
    assert counts == [8] and trainer.fit_loop.max_batches == 8


# -- ported -------------------------------------------------------------------------------------


# Ported from tests/tests_pytorch/loops/test_training_loop.py::test_on_train_batch_start_return_minus_one
@pytest.mark.parametrize(("max_epochs", "batch_idx_"), [(2, 5), (3, 8), (4, 12)])
def test_on_train_batch_start_return_minus_one(tmp_path, max_epochs, batch_idx_):
    class CurrentModel(BoringModel):
        def on_train_batch_start(self, batch, batch_idx):
            return -1 if batch_idx == batch_idx_ else None

        def train_dataloader(self):
            return DataLoader(RandomDataset(32, 80), batch_size=8)  # 10 batches

    trainer = treadle.Trainer(**quiet(tmp_path, max_epochs=max_epochs, limit_train_batches=10))
    trainer.fit(CurrentModel())
    if batch_idx_ > trainer.num_training_batches - 1:
        assert trainer.fit_loop.batch_idx == trainer.num_training_batches - 1
        assert trainer.global_step == trainer.num_training_batches * max_epochs
    else:
        assert trainer.fit_loop.batch_idx == batch_idx_
        assert trainer.global_step == batch_idx_ * max_epochs


# Ported from tests/tests_pytorch/loops/test_training_loop.py::
# test_should_stop_early_stopping_conditions_met (fit_loop.done; Lightning's optimizer-step
# counter set by hand is trainer.global_step here)
@pytest.mark.parametrize(
    ("min_epochs", "min_steps", "current_epoch", "fit_loop_done"),
    [
        (4, None, 100, True),
        (4, None, 3, False),
        (4, 10, 3, False),
        (None, 10, 4, True),
        (4, None, 4, True),
        (4, 10, 4, True),
    ],
)
def test_should_stop_early_stopping_conditions_met(
    tmp_path, min_epochs, min_steps, current_epoch, fit_loop_done
):
    trainer = treadle.Trainer(
        **quiet(
            tmp_path,
            min_epochs=min_epochs,
            min_steps=min_steps,
            limit_val_batches=0,
            max_epochs=100,
        )
    )
    trainer.fit_loop.max_batches = 10
    trainer.should_stop = True
    trainer.global_step = current_epoch * trainer.num_training_batches
    trainer.fit_loop.epoch_progress.current.processed = current_epoch
    assert trainer.fit_loop.done is fit_loop_done


# Ported from tests/tests_pytorch/loops/test_training_loop.py::test_fit_loop_done_log_messages
# (a real Trainer in place of the Mock; treadle logs no messages, so only `done` is checked)
def test_fit_loop_done_conditions(tmp_path):
    trainer = treadle.Trainer(**quiet(tmp_path, max_epochs=1))
    fit_loop = trainer.fit_loop
    fit_loop.max_batches = 5
    assert not fit_loop.done
    fit_loop.max_batches = 0
    assert fit_loop.done
    fit_loop.max_batches = 5
    trainer.global_step = 10
    fit_loop.epoch_loop.max_steps = 10
    assert fit_loop.done
    fit_loop.epoch_loop.max_steps = 20
    fit_loop.epoch_progress.current.processed = 3
    fit_loop.max_epochs = 3
    trainer.should_stop = True
    assert fit_loop.done
    fit_loop.max_epochs = 5
    fit_loop.epoch_loop.min_steps = 0
    assert fit_loop.done
    fit_loop.epoch_loop.min_steps = 100
    assert not fit_loop.done


# Ported from tests/tests_pytorch/trainer/flags/test_val_check_interval.py::
# test_validation_check_interval_exceed_data_length_correct
@pytest.mark.parametrize("use_infinite_dataset", [True, False])
@pytest.mark.parametrize("accumulate_grad_batches", [1, 2])
def test_validation_check_interval_exceed_data_length_correct(
    tmp_path, use_infinite_dataset, accumulate_grad_batches
):
    data_samples_train = 4
    max_epochs = 3
    max_steps = data_samples_train * max_epochs
    max_opt_steps = max_steps // accumulate_grad_batches

    class TestModel(BoringModel):
        def __init__(self):
            super().__init__()
            self.validation_called_at_step = set()

        def validation_step(self, *args):
            self.validation_called_at_step.add(self.trainer.fit_loop.total_batch_idx + 1)
            return super().validation_step(*args)

        def train_dataloader(self):
            train_ds = (
                RandomIterableDataset(32, count=max_steps + 100)
                if use_infinite_dataset
                else RandomDataset(32, length=data_samples_train)
            )
            return DataLoader(train_ds)

    model = TestModel()
    trainer = treadle.Trainer(
        **quiet(
            tmp_path,
            limit_val_batches=1,
            max_steps=max_opt_steps,
            val_check_interval=3,
            check_val_every_n_epoch=None,
            num_sanity_val_steps=0,
            accumulate_grad_batches=accumulate_grad_batches,
        )
    )
    trainer.fit(model)
    assert trainer.current_epoch == (1 if use_infinite_dataset else max_epochs)
    assert trainer.global_step == max_opt_steps
    assert sorted(model.validation_called_at_step) == [3, 6, 9, 12]
