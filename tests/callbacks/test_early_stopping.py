"""EarlyStopping.

Ported from Lightning's ``tests/tests_pytorch/callbacks/test_early_stopping.py`` (Apache-2.0,
Copyright The Lightning AI team): the behaviour each test checks is Lightning's; the code is
translated to treadle's names, Lightning's ``BoringModel`` is ``boring_model.BoringModel``, and
tests that patched ``_evaluate_stopping_criteria`` with mocks log real metric values instead.
Tests marked "treadle" at the end are our own.
"""

from __future__ import annotations

import logging
import pickle
import re

import pytest
import torch
from boring_model import BoringModel, quiet

import treadle
from treadle.callbacks import EarlyStopping, EarlyStoppingReason, ModelCheckpoint


def test_early_stopping_state_key():
    early_stopping = EarlyStopping(monitor="val_loss")
    assert early_stopping.state_key == "EarlyStopping{'monitor': 'val_loss', 'mode': 'min'}"


class RestoredBeforeTraining(Exception):
    pass


class EarlyStoppingTestRestore(EarlyStopping):
    def __init__(self, expected_state, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.expected_state = expected_state
        self.saved_states = []  # the state after each epoch's check

    def on_train_start(self, trainer, pl_module):
        if self.expected_state:
            assert self.state_dict() == self.expected_state
            raise RestoredBeforeTraining  # (Lightning's test ends here with an error too)

    def on_train_epoch_end(self, trainer, pl_module):
        super().on_train_epoch_end(trainer, pl_module)
        self.saved_states.append(self.state_dict().copy())


class TrainLossModel(BoringModel):
    def training_step(self, batch, batch_idx):
        out = super().training_step(batch, batch_idx)
        self.log("train_loss", out["loss"], on_epoch=True, on_step=False)
        return out


def test_resume_early_stopping_from_checkpoint(tmp_path):
    """Lightning issues 1463 and 1464: the state is saved with the checkpoint and restored."""
    treadle.seed_everything(42)
    model = TrainLossModel()
    checkpoint_callback = ModelCheckpoint(dirpath=tmp_path, monitor="train_loss", save_top_k=1)
    early_stop_callback = EarlyStoppingTestRestore(None, monitor="train_loss")
    trainer = treadle.Trainer(
        **quiet(
            tmp_path,
            callbacks=[early_stop_callback, checkpoint_callback],
            num_sanity_val_steps=0,
            max_epochs=4,
        )
    )
    trainer.fit(model)
    assert len(early_stop_callback.saved_states) == 4

    checkpoint_filepath = checkpoint_callback.kth_best_model_path
    checkpoint = torch.load(checkpoint_filepath, weights_only=True)
    early_stop_callback_state = early_stop_callback.saved_states[checkpoint["epoch"]]
    es_name = "EarlyStoppingTestRestore{'monitor': 'train_loss', 'mode': 'min'}"
    assert checkpoint["callbacks"][es_name] == early_stop_callback_state

    # the state is reloaded before training starts (the assertion is in the callback)
    early_stop_callback = EarlyStoppingTestRestore(early_stop_callback_state, monitor="train_loss")
    new_trainer = treadle.Trainer(**quiet(tmp_path, max_epochs=5, callbacks=[early_stop_callback]))
    with pytest.raises(RestoredBeforeTraining):
        new_trainer.fit(TrainLossModel(), ckpt_path=checkpoint_filepath)


def test_early_stopping_no_extraneous_invocations(tmp_path):
    """The check runs once per epoch (at the training epoch's end by default), no more."""
    checks = []

    class CountingEarlyStopping(EarlyStopping):
        def _run_early_stopping_check(self, trainer):
            checks.append(trainer.current_epoch)
            super()._run_early_stopping_check(trainer)

    early_stop_callback = CountingEarlyStopping(monitor="train_loss")
    trainer = treadle.Trainer(
        **quiet(
            tmp_path,
            callbacks=[early_stop_callback],
            limit_train_batches=4,
            limit_val_batches=4,
            max_epochs=4,
        )
    )
    trainer.fit(TrainLossModel())
    assert checks == [0, 1, 2, 3]


@pytest.mark.parametrize(
    ("loss_values", "patience", "expected_stop_epoch"),
    [([6, 5, 5, 5, 5, 5], 3, 4), ([6, 5, 4, 4, 3, 3], 1, 3), ([6, 5, 6, 5, 5, 5], 3, 4)],
)
def test_early_stopping_patience(tmp_path, loss_values, patience, expected_stop_epoch):
    """Early stopping is not triggered before patience is exhausted."""

    class ModelOverrideValidationReturn(BoringModel):
        validation_return_values = torch.tensor(loss_values)

        def on_validation_epoch_end(self):
            self.log("test_val_loss", self.validation_return_values[self.current_epoch])

    early_stop_callback = EarlyStopping(monitor="test_val_loss", patience=patience, verbose=True)
    trainer = treadle.Trainer(
        **quiet(tmp_path, callbacks=[early_stop_callback], num_sanity_val_steps=0, max_epochs=10)
    )
    trainer.fit(ModelOverrideValidationReturn())
    assert trainer.current_epoch - 1 == expected_stop_epoch


@pytest.mark.parametrize("validation_step_none", [True, False])
@pytest.mark.parametrize(
    ("loss_values", "patience", "expected_stop_epoch"),
    [([6, 5, 5, 5, 5, 5], 3, 4), ([6, 5, 4, 4, 3, 3], 1, 3), ([6, 5, 6, 5, 5, 5], 3, 4)],
)
def test_early_stopping_patience_train(
    tmp_path, validation_step_none, loss_values, patience, expected_stop_epoch
):
    """The same on a training metric, with and without validation.

    Lightning's test logs the value in ``on_train_epoch_end``; treadle does not show such a
    value to callbacks yet (see ``test_metric_logged_in_module_on_train_epoch_end``), so it is
    logged as an epoch mean from ``training_step`` here.
    """

    class ModelOverrideTrainReturn(BoringModel):
        train_return_values = torch.tensor(loss_values)

        def training_step(self, batch, batch_idx):
            self.log("train_loss", self.train_return_values[self.current_epoch], on_epoch=True)
            return super().training_step(batch, batch_idx)

    model = ModelOverrideTrainReturn()
    if validation_step_none:  # as Lightning's test: validation off (a None loader is refused)
        model.validation_step = None
    early_stop_callback = EarlyStopping(
        monitor="train_loss", patience=patience, verbose=True, check_on_train_epoch_end=True
    )
    trainer = treadle.Trainer(
        **quiet(tmp_path, callbacks=[early_stop_callback], num_sanity_val_steps=0, max_epochs=10)
    )
    trainer.fit(model)
    assert trainer.current_epoch - 1 == expected_stop_epoch


def test_pickling(tmp_path):
    early_stopping = EarlyStopping(monitor="train_loss")
    treadle.Trainer(**quiet(tmp_path, callbacks=[early_stopping], max_epochs=2)).fit(
        TrainLossModel()
    )
    loaded = pickle.loads(pickle.dumps(early_stopping))
    assert vars(loaded).keys() == vars(early_stopping).keys()
    assert loaded.state_dict() == early_stopping.state_dict()


def test_early_stopping_no_val_step(tmp_path):
    """Without validation, early stopping works on training metrics."""

    class NoValidation(TrainLossModel):
        validation_step = None  # (Lightning refuses a val_dataloader() returning None)

    stopping = EarlyStopping(
        monitor="train_loss", min_delta=0.1, patience=0, check_on_train_epoch_end=True
    )
    trainer = treadle.Trainer(**quiet(tmp_path, callbacks=[stopping], max_epochs=10))
    trainer.fit(NoValidation())
    assert trainer.current_epoch < trainer.max_epochs - 1


@pytest.mark.parametrize(
    ("stopping_threshold", "divergence_threshold", "losses", "expected_epoch"),
    [
        (None, None, [8, 4, 2, 3, 4, 5, 8, 10], 5),
        (2.9, None, [9, 8, 7, 6, 5, 6, 4, 3, 2, 1], 8),
        (None, 15.9, [9, 4, 2, 16, 32, 64], 3),
    ],
)
def test_early_stopping_thresholds(
    tmp_path, stopping_threshold, divergence_threshold, losses, expected_epoch
):
    class CurrentModel(BoringModel):
        def on_validation_epoch_end(self):
            self.log("abc", losses[self.current_epoch])

    early_stopping = EarlyStopping(
        monitor="abc",
        stopping_threshold=stopping_threshold,
        divergence_threshold=divergence_threshold,
    )
    trainer = treadle.Trainer(
        **quiet(
            tmp_path,
            callbacks=[early_stopping],
            limit_train_batches=2,
            limit_val_batches=1,
            max_epochs=20,
        )
    )
    trainer.fit(CurrentModel())
    assert trainer.current_epoch - 1 == expected_epoch, "early_stopping failed"


@pytest.mark.parametrize("stop_value", [torch.tensor(torch.inf), torch.tensor(torch.nan)])
def test_early_stopping_on_non_finite_monitor(tmp_path, stop_value):
    losses = [4, 3, stop_value, 2, 1]
    expected_stop_epoch = 2

    class CurrentModel(BoringModel):
        def on_validation_epoch_end(self):
            self.log("val_loss", losses[self.current_epoch])

    early_stopping = EarlyStopping(monitor="val_loss", check_finite=True)
    trainer = treadle.Trainer(
        **quiet(
            tmp_path,
            callbacks=[early_stopping],
            limit_train_batches=2,
            limit_val_batches=1,
            max_epochs=10,
        )
    )
    trainer.fit(CurrentModel())
    assert trainer.current_epoch - 1 == expected_stop_epoch
    assert early_stopping.stopped_epoch == expected_stop_epoch


def test_early_stopping_mode_options():
    with pytest.raises(
        ValueError,
        match=re.escape("EarlyStopping(mode='unknown_option'): `mode` can be 'min' or 'max'."),
    ):
        EarlyStopping(monitor="foo", mode="unknown_option")


class EarlyStoppingModel(BoringModel):
    def __init__(self, expected_end_epoch: int, early_stop_on_train: bool):
        super().__init__()
        self.expected_end_epoch = expected_end_epoch
        self.early_stop_on_train = early_stop_on_train
        self.end_epoch = None

    def _epoch_end(self) -> None:
        losses = [8, 4, 2, 3, 4, 5, 8, 10]
        self.log("abc", torch.tensor(losses[self.current_epoch]))
        self.log("cba", torch.tensor(0))

    def training_step(self, batch, batch_idx):  # Lightning: in on_train_epoch_end (see above)
        if self.early_stop_on_train:
            self._epoch_end()
        return super().training_step(batch, batch_idx)

    def on_validation_epoch_end(self):
        if not self.early_stop_on_train:
            self._epoch_end()

    def on_train_end(self) -> None:
        self.end_epoch = self.trainer.current_epoch - 1


_ES_CHECK = {"check_on_train_epoch_end": True}
_ES_CHECK_P3 = {"patience": 3, "check_on_train_epoch_end": True}


@pytest.mark.parametrize(
    ("callbacks", "expected_stop_epoch", "check_on_train_epoch_end"),
    [
        ([EarlyStopping("abc"), EarlyStopping("cba", patience=3)], 3, False),
        ([EarlyStopping("cba", patience=3), EarlyStopping("abc")], 3, False),
        ([EarlyStopping("abc", **_ES_CHECK), EarlyStopping("cba", **_ES_CHECK_P3)], 3, True),
        ([EarlyStopping("cba", **_ES_CHECK_P3), EarlyStopping("abc", **_ES_CHECK)], 3, True),
    ],
)
def test_multiple_early_stopping_callbacks(
    tmp_path, callbacks, expected_stop_epoch, check_on_train_epoch_end
):
    """With several early stopping callbacks, the run stops when any of them says so."""
    model = EarlyStoppingModel(expected_stop_epoch, check_on_train_epoch_end)
    trainer = treadle.Trainer(
        **quiet(
            tmp_path, callbacks=callbacks, limit_train_batches=2, limit_val_batches=1, max_epochs=20
        )
    )
    trainer.fit(model)
    assert model.end_epoch == expected_stop_epoch


@pytest.mark.parametrize(
    "case",
    {
        "val_check_interval": {
            "val_check_interval": 0.25,
            "limit_train_batches": 8,
            "max_epochs": 10,
        },
        "check_val_every_n_epoch": {"check_val_every_n_epoch": 2, "max_epochs": 5},
    }.items(),
)
def test_check_on_train_epoch_end_smart_handling(tmp_path, case):
    """Validation more than once an epoch, or not every epoch: the check follows validation.

    Lightning patched the criteria to say (no, yes); a metric that stays at 1 with
    ``patience=1`` says the same: the first check improves on inf, the second does not.
    """

    class TestModel(BoringModel):
        def validation_step(self, batch, batch_idx):
            self.log("foo", 1.0)
            return super().validation_step(batch, batch_idx)

    checks = []

    class CountingEarlyStopping(EarlyStopping):
        def _run_early_stopping_check(self, trainer):
            checks.append(trainer.global_step)
            super()._run_early_stopping_check(trainer)

    case, kwargs = case
    trainer = treadle.Trainer(
        **quiet(
            tmp_path,
            limit_val_batches=1,
            num_sanity_val_steps=0,
            callbacks=[CountingEarlyStopping(monitor="foo", patience=1)],
            **kwargs,
        )
    )
    trainer.fit(TestModel())
    assert len(checks) == 2
    if case == "val_check_interval":
        assert trainer.global_step == 2 * int(8 * 0.25)
    else:
        assert trainer.current_epoch == 2 * 2


def test_early_stopping_log_info(tmp_path, caplog):
    """In a single process the message has no rank prefix."""

    class HighLoss(BoringModel):
        def on_validation_epoch_end(self):
            self.log("val_loss", 10.0)

    with caplog.at_level(logging.INFO):
        treadle.Trainer(
            **quiet(
                tmp_path,
                max_epochs=5,
                callbacks=[EarlyStopping("val_loss", patience=1, verbose=True)],
            )
        ).fit(HighLoss())
    messages = [
        r.getMessage()
        for r in caplog.records
        if r.name == "treadle_plugins.callbacks.early_stopping"
    ]
    assert messages == [
        "Metric val_loss improved. New best score: 10.000",
        "Monitored metric val_loss did not improve in the last 1 records. Best score: 10.000. "
        "Signaling Trainer to stop.",
    ]


class ModelWithLosses(BoringModel):
    def __init__(self, losses, after):
        super().__init__()
        self.epoch_losses, self.after = losses, after

    def on_validation_epoch_end(self):
        epoch = self.current_epoch
        self.log(
            "val_loss", self.epoch_losses[epoch] if epoch < len(self.epoch_losses) else self.after
        )


@pytest.mark.parametrize(
    ("losses", "after", "es_kwargs", "max_epochs", "expected_reason", "message", "should_stop"),
    [
        (
            [10.0],
            10.0,
            {"patience": 2},
            10,
            EarlyStoppingReason.PATIENCE_EXHAUSTED,
            "did not improve",
            True,
        ),
        (
            [5.0, 3.0, 1.0, 0.5],
            0.1,
            {"stopping_threshold": 0.6},
            10,
            EarlyStoppingReason.STOPPING_THRESHOLD,
            "Stopping threshold reached",
            True,
        ),
        (
            [1.0, 2.0, 5.0, 10.0],
            15.0,
            {"divergence_threshold": 8.0},
            10,
            EarlyStoppingReason.DIVERGENCE_THRESHOLD,
            "Divergence threshold reached",
            True,
        ),
        (
            [1.0, 0.5, float("nan")],
            float("nan"),
            {"check_finite": True},
            10,
            EarlyStoppingReason.NON_FINITE_METRIC,
            "is not finite",
            True,
        ),
        (
            [5.0, 4.0, 3.0, 2.0, 1.0],
            0.1,
            {"patience": 3},
            3,
            EarlyStoppingReason.NOT_STOPPED,
            None,
            False,
        ),
    ],
)
def test_early_stopping_reasons(
    tmp_path, losses, after, es_kwargs, max_epochs, expected_reason, message, should_stop
):
    early_stopping = EarlyStopping(monitor="val_loss", verbose=True, **es_kwargs)
    trainer = treadle.Trainer(**quiet(tmp_path, callbacks=[early_stopping], max_epochs=max_epochs))
    trainer.fit(ModelWithLosses(losses, after))
    assert early_stopping.stopping_reason == expected_reason
    if message is None:
        assert early_stopping.stopping_reason_message is None
    else:
        assert message in early_stopping.stopping_reason_message
    assert (early_stopping.stopped_epoch > 0) == should_stop
    assert trainer.should_stop == should_stop

    # the reason survives a state_dict round trip, and an old state without it loads
    restored = EarlyStopping(monitor="val_loss")
    restored.load_state_dict(early_stopping.state_dict())
    assert restored.stopping_reason == expected_reason
    assert restored.stopping_reason_message == early_stopping.stopping_reason_message
    restored.load_state_dict(
        {"wait_count": 2, "stopped_epoch": 5, "best_score": torch.tensor(0.5), "patience": 3}
    )
    assert restored.stopping_reason == EarlyStoppingReason.NOT_STOPPED
    assert restored.stopping_reason_message is None


# -- treadle ----------------------------------------------------------------------------------


def test_missing_metric_is_an_error_naming_the_logged_ones(tmp_path):
    with pytest.raises(
        RuntimeError,
        match=re.escape(
            "Early stopping conditioned on metric `val_acc` which is not available. Pass in or "
            "modify your `EarlyStopping` callback to use any of the following: `train_loss`"
        ),
    ):
        treadle.Trainer(**quiet(tmp_path, callbacks=[EarlyStopping("val_acc")])).fit(
            TrainLossModel()
        )


def test_missing_metric_with_strict_false_skips_the_check(tmp_path):
    early_stopping = EarlyStopping("val_acc", strict=False, patience=1)
    trainer = treadle.Trainer(**quiet(tmp_path, callbacks=[early_stopping], max_epochs=3))
    trainer.fit(TrainLossModel())
    assert trainer.current_epoch == 3
    assert early_stopping.wait_count == 0


def test_no_check_in_sanity_check_or_validate(tmp_path):
    """Only fit() checks: not the sanity check, not trainer.validate()."""

    class LogsInValidation(BoringModel):
        def validation_step(self, batch, batch_idx):
            self.log("val_loss", 1.0)

    early_stopping = EarlyStopping("val_loss", patience=0, check_on_train_epoch_end=False)
    trainer = treadle.Trainer(
        **quiet(tmp_path, callbacks=[early_stopping], max_epochs=1, num_sanity_val_steps=2)
    )
    model = LogsInValidation()
    trainer.validate(model)
    assert early_stopping.best_score == torch.tensor(float("inf"))
    trainer.fit(model)
    assert early_stopping.best_score == 1.0
    assert early_stopping.wait_count == 0


def test_max_mode_and_min_delta(tmp_path):
    """mode="max": an increase of at most min_delta is no improvement."""

    class Accuracy(BoringModel):
        def on_validation_epoch_end(self):
            self.log("acc", [0.5, 0.7, 0.74, 0.75, 0.9][self.current_epoch])

    early_stopping = EarlyStopping("acc", mode="max", min_delta=0.06, patience=2)
    trainer = treadle.Trainer(
        **quiet(tmp_path, callbacks=[early_stopping], max_epochs=5, limit_train_batches=1)
    )
    trainer.fit(Accuracy())
    assert early_stopping.best_score == pytest.approx(0.7)
    assert early_stopping.stopped_epoch == 3
    assert trainer.current_epoch == 4


def test_two_instances_keep_their_own_state_in_a_checkpoint(tmp_path):
    class TwoMetrics(BoringModel):
        def on_validation_epoch_end(self):
            self.log("a", [3.0, 2.0, 2.5][self.current_epoch])
            self.log("b", [1.0, 1.0, 1.0][self.current_epoch])

    first, second = EarlyStopping("a", patience=5), EarlyStopping("b", mode="max", patience=5)
    trainer = treadle.Trainer(**quiet(tmp_path, callbacks=[first, second], max_epochs=3))
    trainer.fit(TwoMetrics())
    trainer.save_checkpoint(tmp_path / "two.ckpt")
    saved = torch.load(tmp_path / "two.ckpt", weights_only=True)["callbacks"]
    assert saved["EarlyStopping{'monitor': 'a', 'mode': 'min'}"]["wait_count"] == 1
    assert saved["EarlyStopping{'monitor': 'b', 'mode': 'max'}"]["wait_count"] == 2


def test_metric_logged_in_module_on_train_epoch_end(tmp_path):
    """Lightning's own test_early_stopping_patience_train logs this way."""

    class LogsAtEpochEnd(BoringModel):
        def on_train_epoch_end(self):
            self.log("train_loss", [6.0, 5.0, 5.0, 5.0][self.current_epoch])

    early_stopping = EarlyStopping("train_loss", patience=1, check_on_train_epoch_end=True)
    trainer = treadle.Trainer(**quiet(tmp_path, callbacks=[early_stopping], max_epochs=4))
    trainer.fit(LogsAtEpochEnd())
    assert early_stopping.stopped_epoch == 2
