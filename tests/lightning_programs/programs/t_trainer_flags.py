# Source: https://github.com/Lightning-AI/pytorch-lightning/tree/master/tests/tests_pytorch/trainer/flags
#   test_val_check_interval.py (test_val_check_interval, test_validation_check_interval_exceed_data_length_correct,
#   _wrong, test_val_check_interval_float_with_none_check_val_every_n_epoch),
#   test_min_max_epochs.py (test_min_max_steps_epochs,
#   test_fast_dev_run_no_warning; test_max_epochs_not_set_warning fails on Lightning 2.6.6, whose
#   Trainer(max_epochs=None) keeps None),
#   test_fast_dev_run.py (test_callbacks_and_logger_not_called_with_fastdevrun)
# (Apache-2.0, Copyright The Lightning AI team)
# Edits: the parametrized tests turned into loops in a __main__ program asserting what they
#   asserted, with fewer values (max_epochs 1, 2; denominators 1, 3); tmpdir -> a tempfile dir;
#   pytest.raises/warns -> try/except and warnings.catch_warnings; `unittest.mock.Mock()` put on
#   the callbacks -> a function recording calls; `trainer.fit_loop.total_batch_idx + 1` -> a count
#   of training batches kept by the model; the caplog
#   info-message tests and the Tuner test are left out; the float-with-None message matched on
#   its start (Lightning 2.6.6 words the rest differently).
import os
import tempfile
import warnings

import torch
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint
from lightning.pytorch.demos.boring_classes import BoringModel, RandomDataset, RandomIterableDataset
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.loggers.logger import DummyLogger
from lightning.pytorch.trainer.trainer import Trainer
from lightning.pytorch.utilities.exceptions import MisconfigurationException
from torch.utils.data import DataLoader


def test_val_check_interval(tmpdir, max_epochs, denominator):
    class TestModel(BoringModel):
        def __init__(self):
            super().__init__()
            self.train_epoch_calls = 0
            self.val_epoch_calls = 0

        def on_train_epoch_start(self) -> None:
            self.train_epoch_calls += 1

        def on_validation_epoch_start(self) -> None:
            if not self.trainer.sanity_checking:
                self.val_epoch_calls += 1

    model = TestModel()
    trainer = Trainer(max_epochs=max_epochs, val_check_interval=1 / denominator, default_root_dir=tmpdir)
    trainer.fit(model)

    assert model.train_epoch_calls == max_epochs
    assert model.val_epoch_calls == max_epochs * denominator


def test_validation_check_interval_exceed_data_length_correct(tmpdir, use_infinite_dataset, accumulate_grad_batches):
    data_samples_train = 4
    max_epochs = 3
    max_steps = data_samples_train * max_epochs
    max_opt_steps = max_steps // accumulate_grad_batches

    class TestModel(BoringModel):
        def __init__(self):
            super().__init__()
            self.validation_called_at_step = set()
            self.batches_seen = 0  # edit: in place of trainer.fit_loop.total_batch_idx + 1

        def on_train_batch_end(self, *args):
            self.batches_seen += 1

        def validation_step(self, *args):
            self.validation_called_at_step.add(self.batches_seen)
            return super().validation_step(*args)

        def train_dataloader(self):
            train_ds = (
                RandomIterableDataset(32, count=max_steps + 100)
                if use_infinite_dataset
                else RandomDataset(32, length=data_samples_train)
            )
            return DataLoader(train_ds)

    model = TestModel()
    trainer = Trainer(
        default_root_dir=tmpdir,
        limit_val_batches=1,
        max_steps=max_opt_steps,
        val_check_interval=3,
        check_val_every_n_epoch=None,
        num_sanity_val_steps=0,
        accumulate_grad_batches=accumulate_grad_batches,
    )

    trainer.fit(model)

    assert trainer.current_epoch == 1 if use_infinite_dataset else max_epochs
    assert trainer.global_step == max_opt_steps
    assert sorted(list(model.validation_called_at_step)) == [3, 6, 9, 12]


def test_validation_check_interval_exceed_data_length_wrong(tmpdir):
    trainer = Trainer(
        limit_train_batches=10,
        val_check_interval=100,
        default_root_dir=tmpdir,
    )

    model = BoringModel()
    try:
        trainer.fit(model)
    except ValueError as err:
        assert "must be less than or equal to the number of the training batches" in str(err), err
    else:
        raise AssertionError("no ValueError")


def test_val_check_interval_float_with_none_check_val_every_n_epoch():
    try:
        Trainer(
            val_check_interval=0.5,
            check_val_every_n_epoch=None,
        )
    except MisconfigurationException as err:
        # edit: Lightning 2.6.6 words it "should be an integer or a time-based duration ... when"
        assert "`val_check_interval` should be an integer" in str(err), err
    else:
        raise AssertionError("no MisconfigurationException")


def test_min_max_steps_epochs(tmpdir, min_epochs, max_epochs, min_steps, max_steps):
    """Tests that max_steps can be used without max_epochs."""
    model = BoringModel()

    trainer = Trainer(
        default_root_dir=tmpdir,
        min_epochs=min_epochs,
        max_epochs=max_epochs,
        min_steps=min_steps,
        max_steps=max_steps,
        enable_model_summary=False,
    )
    trainer.fit(model)

    # check training stopped at max_epochs or max_steps
    if trainer.max_steps and not trainer.max_epochs:
        assert trainer.global_step == trainer.max_steps


def test_fast_dev_run_no_warning():
    """Test that no warning is emitted when `fast_dev_run` is set."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Trainer(fast_dev_run=True)
        Trainer(fast_dev_run=1)


def test_callbacks_and_logger_not_called_with_fastdevrun(tmp_path, fast_dev_run):
    """Test that ModelCheckpoint, EarlyStopping and Logger are turned off with fast_dev_run."""

    class FastDevRunModel(BoringModel):
        def __init__(self):
            super().__init__()
            self.training_step_call_count = 0
            self.on_train_epoch_end_call_count = 0
            self.validation_step_call_count = 0
            self.on_validation_epoch_end_call_count = 0
            self.test_step_call_count = 0

        def training_step(self, batch, batch_idx):
            self.log("some_metric", torch.tensor(7.0))
            self.logger.experiment.dummy_log("some_distribution", torch.randn(7) + batch_idx)
            self.training_step_call_count += 1
            return super().training_step(batch, batch_idx)

        def on_train_epoch_end(self):
            self.on_train_epoch_end_call_count += 1

        def validation_step(self, batch, batch_idx):
            self.validation_step_call_count += 1
            return super().validation_step(batch, batch_idx)

        def on_validation_epoch_end(self):
            self.on_validation_epoch_end_call_count += 1

        def test_step(self, batch, batch_idx):
            self.test_step_call_count += 1
            return super().test_step(batch, batch_idx)

    calls = []  # edit: in place of Mock()
    checkpoint_callback = ModelCheckpoint()
    checkpoint_callback.save_checkpoint = lambda *a, **k: calls.append("save_checkpoint")
    early_stopping_callback = EarlyStopping(monitor="foo")
    early_stopping_callback._evaluate_stopping_criteria = lambda *a, **k: calls.append("evaluate")
    trainer_config = {
        "default_root_dir": tmp_path,
        "fast_dev_run": fast_dev_run,
        "val_check_interval": 2,
        "logger": TensorBoardLogger(tmp_path),
        "log_every_n_steps": 1,
        "callbacks": [checkpoint_callback, early_stopping_callback],
    }

    def _make_fast_dev_run_assertions(trainer, model):
        # check the call count for train/val/test step/epoch
        assert model.training_step_call_count == fast_dev_run
        assert model.on_train_epoch_end_call_count == 1
        assert model.validation_step_call_count == 0 if model.validation_step is None else fast_dev_run
        assert model.on_validation_epoch_end_call_count == 0 if model.validation_step is None else 1
        assert model.test_step_call_count == fast_dev_run

        # check trainer arguments
        assert trainer.max_steps == fast_dev_run
        assert trainer.num_sanity_val_steps == 0
        assert trainer.max_epochs == 1
        assert trainer.val_check_interval == 1.0
        assert trainer.check_val_every_n_epoch == 1

        # there should be no logger with fast_dev_run
        assert isinstance(trainer.logger, DummyLogger)

        # checkpoint callback should not have been called with fast_dev_run
        assert trainer.checkpoint_callback == checkpoint_callback
        assert calls == []
        assert not os.path.exists(checkpoint_callback.dirpath)

        # early stopping should not have been called with fast_dev_run
        assert trainer.early_stopping_callback == early_stopping_callback

    train_val_step_model = FastDevRunModel()
    trainer = Trainer(**trainer_config)
    trainer.fit(train_val_step_model)
    trainer.test(train_val_step_model)

    assert trainer.state.finished, f"Training failed with {trainer.state}"
    _make_fast_dev_run_assertions(trainer, train_val_step_model)

    # -----------------------
    # also called once with no val step
    # -----------------------
    train_step_only_model = FastDevRunModel()
    train_step_only_model.validation_step = None

    trainer = Trainer(**trainer_config)
    trainer.fit(train_step_only_model)
    trainer.test(train_step_only_model)

    assert trainer.state.finished, f"Training failed with {trainer.state}"
    _make_fast_dev_run_assertions(trainer, train_step_only_model)


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        for max_epochs in (1, 2):
            for denominator in (1, 3):
                test_val_check_interval(tmp, max_epochs, denominator)
        for use_infinite_dataset in (True, False):
            for accumulate_grad_batches in (1, 2):
                test_validation_check_interval_exceed_data_length_correct(
                    tmp, use_infinite_dataset, accumulate_grad_batches
                )
        test_validation_check_interval_exceed_data_length_wrong(tmp)
        test_val_check_interval_float_with_none_check_val_every_n_epoch()
        for args in [
            (None, 3, None, -1),
            (None, None, None, 20),
            (None, 3, None, 20),
            (None, None, 10, 20),
            (1, 3, None, -1),
            (1, None, None, 20),
            (None, 3, 10, -1),
        ]:
            test_min_max_steps_epochs(tmp, *args)
        test_fast_dev_run_no_warning()
        for fast_dev_run in (1, 4):
            test_callbacks_and_logger_not_called_with_fastdevrun(tmp, fast_dev_run)
    print("OK")
