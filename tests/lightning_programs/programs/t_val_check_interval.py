# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/trainer/flags/test_val_check_interval.py
#   (test_val_check_interval, test_val_check_interval_info_message,
#   test_validation_check_interval_exceed_data_length_correct, _wrong,
#   test_val_check_interval_float_with_none_check_val_every_n_epoch: every test of the file)
# (Apache-2.0, Copyright The Lightning AI team)
# Edits: the tests run from a __main__ program (parametrize -> loops over all the values);
#   tmp_path -> a tempfile dir; pytest.raises -> try/except; caplog -> a logging handler on the
#   root logger with every logger's records propagated to it (what Lightning's tests' conftest
#   does for its `caplog`); `trainer.fit_loop.total_batch_idx + 1` -> a count of training
#   batches kept by the model (the same number, without the loop's private counter); the
#   float-with-None message matched on its start (Lightning 2.6.6 adds "or a time-based
#   duration" before "when").
import logging
import tempfile

from lightning.pytorch.demos.boring_classes import BoringModel, RandomDataset, RandomIterableDataset
from lightning.pytorch.trainer.trainer import Trainer
from lightning.pytorch.utilities.exceptions import MisconfigurationException
from torch.utils.data import DataLoader


class _Records(logging.Handler):
    def __init__(self):
        super().__init__(logging.INFO)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())

    @property
    def text(self):
        return "\n".join(self.messages)


def capture_logs():
    """caplog: every record at INFO and above, from any logger."""
    for logger in list(logging.root.manager.loggerDict.values()):
        if isinstance(logger, logging.Logger):
            logger.propagate = True
    handler = _Records()
    logging.root.addHandler(handler)
    logging.root.setLevel(logging.INFO)
    return handler


def test_val_check_interval(tmp_path, max_epochs, denominator):
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
    trainer = Trainer(
        default_root_dir=tmp_path,
        enable_checkpointing=False,
        logger=False,
        max_epochs=max_epochs,
        val_check_interval=1 / denominator,
    )
    trainer.fit(model)

    assert model.train_epoch_calls == max_epochs
    assert model.val_epoch_calls == max_epochs * denominator, (model.val_epoch_calls, max_epochs, denominator)


def test_val_check_interval_info_message(value):
    caplog = capture_logs()
    try:
        Trainer(val_check_interval=value)
        assert f"`Trainer(val_check_interval={value})` was configured" in caplog.text, caplog.text
        message = "configured so validation will run"
        assert message in caplog.text, caplog.text

        caplog.messages.clear()

        # the message should not appear by default
        Trainer()
        assert message not in caplog.text, caplog.text
    finally:
        logging.root.removeHandler(caplog)


def test_validation_check_interval_exceed_data_length_correct(tmp_path, use_infinite_dataset, accumulate_grad_batches):
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
        default_root_dir=tmp_path,
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
    assert sorted(model.validation_called_at_step) == [3, 6, 9, 12], sorted(model.validation_called_at_step)


def test_validation_check_interval_exceed_data_length_wrong(tmp_path):
    trainer = Trainer(
        default_root_dir=tmp_path,
        limit_train_batches=10,
        val_check_interval=100,
        logger=False,
        enable_checkpointing=False,
    )

    model = BoringModel()
    try:
        trainer.fit(model)
    except ValueError as err:
        assert "must be less than or equal to the number of the training batches" in str(err), err
    else:
        raise AssertionError("no ValueError")


def test_val_check_interval_float_with_none_check_val_every_n_epoch():
    """Test that an exception is raised when `val_check_interval` is set to float with
    `check_val_every_n_epoch=None`"""
    try:
        Trainer(
            val_check_interval=0.5,
            check_val_every_n_epoch=None,
        )
    except MisconfigurationException as err:
        assert "`val_check_interval` should be an integer" in str(err), err
        assert "when `check_val_every_n_epoch=None`" in str(err), err
    else:
        raise AssertionError("no MisconfigurationException")


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        for max_epochs in (1, 2, 3):
            for denominator in (1, 3, 4):
                test_val_check_interval(tmp, max_epochs, denominator)
        for value in (1, 1.0):
            test_val_check_interval_info_message(value)
        for use_infinite_dataset in (True, False):
            for accumulate_grad_batches in (1, 2):
                test_validation_check_interval_exceed_data_length_correct(
                    tmp, use_infinite_dataset, accumulate_grad_batches
                )
        test_validation_check_interval_exceed_data_length_wrong(tmp)
        test_val_check_interval_float_with_none_check_val_every_n_epoch()
    print("OK")
