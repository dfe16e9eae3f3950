# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/trainer/properties/test_loggers.py
#   (test_trainer_loggers_property, test_trainer_loggers_setters, test_no_logger)
# (Apache-2.0, Copyright The Lightning AI team)
# Edits: tests turned into a __main__ program asserting what they asserted; parametrize -> a
#   loop; tmp_path -> a tempfile dir (also the working directory, for the Trainers without
#   default_root_dir); `CustomLogger` (imported from tests_pytorch/loggers/test_logger.py) written
#   here as a small `Logger` subclass; the `logger={"log1": ..., "log2": ...}` dict forms left out
#   (newer than Lightning 2.6.6, which refuses them).
import os
import tempfile

from lightning.pytorch import Trainer
from lightning.pytorch.loggers import Logger, TensorBoardLogger


class CustomLogger(Logger):
    @property
    def name(self):
        return "name"

    @property
    def version(self):
        return "1"

    def log_hyperparams(self, *args, **kwargs):
        pass

    def log_metrics(self, metrics, step=None):
        pass


def test_trainer_loggers_property():
    """Test for correct initialization of loggers in Trainer."""
    logger1 = CustomLogger()
    logger2 = CustomLogger()

    # trainer.loggers should be a copy of the input list
    trainer = Trainer(logger=[logger1, logger2])

    assert trainer.loggers == [logger1, logger2]

    # trainer.loggers should create a list of size 1
    trainer = Trainer(logger=logger1)

    assert trainer.logger == logger1
    assert trainer.loggers == [logger1]

    trainer.loggers.append(logger2)
    assert trainer.loggers == [logger1, logger2]

    # trainer.loggers should be a list of size 1 holding the default logger
    trainer = Trainer(logger=True)

    assert trainer.loggers == [trainer.logger]
    assert isinstance(trainer.logger, TensorBoardLogger)


def test_trainer_loggers_setters():
    """Test the behavior of setters for trainer.logger and trainer.loggers."""
    logger1 = CustomLogger()
    logger2 = CustomLogger()

    trainer = Trainer()
    assert type(trainer.logger) is TensorBoardLogger
    assert trainer.loggers == [trainer.logger]

    # Test setters for trainer.logger
    trainer.logger = logger1
    assert trainer.logger == logger1
    assert trainer.loggers == [logger1]

    trainer.logger = None
    assert trainer.logger is None
    assert trainer.loggers == []

    # Test setters for trainer.loggers
    trainer.loggers = [logger1, logger2]
    assert trainer.loggers == [logger1, logger2]

    trainer.loggers = [logger1]
    assert trainer.loggers == [logger1]
    assert trainer.logger == logger1

    trainer.loggers = []
    assert trainer.loggers == []
    assert trainer.logger is None

    trainer.loggers = None
    assert trainer.loggers == []
    assert trainer.logger is None


def test_no_logger(tmp_path, logger_value):
    """Test the cases where logger=None, logger=False, logger=[] are passed to Trainer."""
    trainer = Trainer(
        logger=logger_value,
        default_root_dir=tmp_path,
        max_steps=1,
    )
    assert trainer.logger is None
    assert trainer.loggers == []
    assert trainer.log_dir == str(tmp_path)


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)
        test_trainer_loggers_property()
        test_trainer_loggers_setters()
        for logger_value in (False, []):
            test_no_logger(tmp, logger_value)
        os.chdir("/")
    print("OK")
