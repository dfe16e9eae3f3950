# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/loggers/test_all.py
#   (test_loggers_fit_test_all, test_loggers_pickle_all, test_logger_reset_correctly,
#    test_logger_initialization, test_logger_with_prefix_all, test_logger_default_name)
# Edits: the CSV and TensorBoard loggers only (Comet, MLflow, Neptune and W&B are external
#   services the test mocks); the tests turned into one __main__ program asserting what they
#   asserted; parametrize -> loops; tmpdir -> a tempfile dir. test_logger_with_prefix_all and
#   test_logger_default_name replaced `SummaryWriter` by a Mock: here the real writer, its
#   `add_scalar` recorded. test_logger_initialization ran `ddp_spawn` on 2 CPU processes and read
#   the private `_experiment`: here one process (rank 0: the experiment is made by `setup`, and is
#   no DummyExperiment), `logger.experiment` read in `setup` in place of `_experiment`.
#   Left out: the custom logger without an experiment (it checked nothing on one process).
import pickle
import tempfile

import torch

from lightning.pytorch import Callback, Trainer
from lightning.pytorch.demos.boring_classes import BoringModel
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
from lightning.pytorch.loggers.logger import DummyExperiment
from lightning.pytorch.tuner.tuning import Tuner

LOGGER_CLASSES = (CSVLogger, TensorBoardLogger)


def test_loggers_fit_test(tmpdir, logger_class):
    """Verify the basic functionality of the loggers."""

    class CustomModel(BoringModel):
        def training_step(self, batch, batch_idx):
            loss = self.step(batch)
            self.log("train_some_val", loss)
            return {"loss": loss}

        def on_validation_epoch_end(self):
            self.log_dict({"early_stop_on": torch.tensor(1), "val_loss": torch.tensor(0.5)})

        def on_test_epoch_end(self):
            self.log("test_loss", torch.tensor(2))

    class StoreHistoryLogger(logger_class):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            self.history = []

        def log_metrics(self, metrics, step):
            super().log_metrics(metrics, step)
            self.history.append((step, metrics))

    logger = StoreHistoryLogger(save_dir=str(tmpdir))
    model = CustomModel()
    trainer = Trainer(
        max_epochs=1,
        logger=logger,
        limit_train_batches=1,
        limit_val_batches=1,
        log_every_n_steps=1,
        default_root_dir=tmpdir,
    )
    trainer.fit(model)
    trainer.test()

    log_metric_names = [(s, sorted(m.keys())) for s, m in logger.history]
    expected = [
        (0, ["epoch", "train_some_val"]),
        (0, ["early_stop_on", "epoch", "val_loss"]),
        (1, ["epoch", "test_loss"]),
    ]
    assert log_metric_names == expected, log_metric_names


def test_loggers_pickle(tmpdir, logger_class):
    """Verify that pickling a trainer with a logger works."""
    logger = logger_class(save_dir=str(tmpdir))
    # this can cause a pickle error if the experiment object is not picklable
    _ = logger.experiment
    # the logger also has to avoid adding un-picklable attributes to self in .save
    logger.log_metrics({"a": 1})
    logger.save()

    pickle.dumps(logger)

    trainer = Trainer(max_epochs=1, logger=logger)
    pkl_bytes = pickle.dumps(trainer)

    trainer2 = pickle.loads(pkl_bytes)
    trainer2.logger.log_metrics({"acc": 1.0})

    assert trainer2.logger.name == logger.name
    assert trainer2.logger.save_dir == logger.save_dir
    trainer2.logger.finalize("success")  # (added: the writers flushed before tmpdir goes)
    logger.finalize("success")


def test_logger_reset_correctly(tmpdir, tuner_method):
    """The tuners do not alter the logger reference."""

    class CustomModel(BoringModel):
        def __init__(self, lr=0.1, batch_size=1):
            super().__init__()
            self.save_hyperparameters()

    model = CustomModel()
    trainer = Trainer(default_root_dir=tmpdir, max_epochs=1)
    tuner = Tuner(trainer)

    logger1 = trainer.logger
    getattr(tuner, tuner_method)(model)
    logger2 = trainer.logger
    logger3 = model.logger

    assert logger1 == logger2, "Finder altered the logger of trainer"
    assert logger2 == logger3, "Finder altered the logger of model"


class LazyInitExperimentCheck(Callback):
    def setup(self, trainer, pl_module, stage=None):
        if trainer.global_rank > 0:
            return
        assert trainer.logger.experiment


class RankZeroLoggerCheck(Callback):
    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        is_dummy = isinstance(trainer.logger.experiment, DummyExperiment)
        if trainer.is_global_zero:
            assert not is_dummy
        else:
            assert is_dummy
            assert pl_module.logger.experiment.something(foo="bar") is None


def test_logger_initialization(tmpdir, logger_class):
    """The experiment object is available at the right time in the Trainer (one process)."""
    logger = logger_class(save_dir=str(tmpdir))
    model = BoringModel()
    trainer = Trainer(
        logger=logger,
        default_root_dir=tmpdir,
        accelerator="cpu",
        devices=1,
        max_steps=1,
        callbacks=[LazyInitExperimentCheck(), RankZeroLoggerCheck()],
    )
    trainer.fit(model)


def test_logger_with_prefix(tmpdir):
    """The prefix is added at the beginning of the metric keys."""
    logger = TensorBoardLogger(save_dir=str(tmpdir), prefix="tmp")
    calls = []
    writer = logger.experiment
    add_scalar = writer.add_scalar

    def recording(*args, **kwargs):
        calls.append((args, kwargs))
        return add_scalar(*args, **kwargs)

    writer.add_scalar = recording
    logger.log_metrics({"test": 1.0}, step=0)
    assert calls == [(("tmp-test", 1.0, 0), {})], calls
    logger.finalize("success")  # (added: the writer flushed before tmpdir goes)


def test_logger_default_name(tmpdir):
    """The default logger name is lightning_logs."""
    assert CSVLogger(save_dir=str(tmpdir)).name == "lightning_logs"
    assert TensorBoardLogger(save_dir=str(tmpdir)).name == "lightning_logs"


if __name__ == "__main__":
    for logger_class in LOGGER_CLASSES:
        with tempfile.TemporaryDirectory() as tmpdir:
            test_loggers_fit_test(tmpdir, logger_class)
        with tempfile.TemporaryDirectory() as tmpdir:
            test_loggers_pickle(tmpdir, logger_class)
        with tempfile.TemporaryDirectory() as tmpdir:
            test_logger_initialization(tmpdir, logger_class)
    for tuner_method in ("lr_find", "scale_batch_size"):
        with tempfile.TemporaryDirectory() as tmpdir:
            test_logger_reset_correctly(tmpdir, tuner_method)
    with tempfile.TemporaryDirectory() as tmpdir:
        test_logger_with_prefix(tmpdir)
    with tempfile.TemporaryDirectory() as tmpdir:
        test_logger_default_name(tmpdir)
    print("ok")
