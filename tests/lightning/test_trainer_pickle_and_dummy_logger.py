"""A Trainer pickles, and ``DummyLogger`` takes any call (ported from Lightning's
tests/tests_pytorch/loggers/test_logger.py: test_multiple_loggers_pickle,
test_dummylogger_noop_method_calls, test_dummlogger_arbitrary_method_calls)."""

from __future__ import annotations

import pickle

import treadle
from treadle.loggers import DummyLogger, Logger


class KeepsLast(Logger):
    def __init__(self):
        self.last = None

    @property
    def name(self):
        return "keeps"

    @property
    def version(self):
        return "1"

    def log_metrics(self, metrics, step=None):
        self.last = (dict(metrics), step)

    def log_hyperparams(self, params, *args, **kwargs):
        pass


def test_a_trainer_pickles_with_its_loggers_and_arguments(tmp_path):
    trainer = treadle.Trainer(
        logger=[KeepsLast(), KeepsLast()], max_epochs=3, default_root_dir=str(tmp_path)
    )
    trainer.state.epoch = 2
    copy = pickle.loads(pickle.dumps(trainer))
    assert copy is not trainer and copy.max_epochs == 3 and copy.current_epoch == 2
    assert [type(logger) for logger in copy.loggers] == [KeepsLast, KeepsLast]
    for logger in copy.loggers:
        logger.log_metrics({"acc": 1.0}, 0)
    assert [logger.last for logger in copy.loggers] == [({"acc": 1.0}, 0)] * 2
    assert all(logger.last is None for logger in trainer.loggers)  # copies, not the originals


def test_dummy_logger_takes_any_call():
    logger = DummyLogger()
    logger.log_hyperparams("1", 2, three="three")
    logger.log_metrics("1", 2, three="three")
    assert callable(logger.log_text) and logger.log_text("x", step=1) is None
    assert logger[0] is logger
    assert not hasattr(logger, "__deepcopy__")  # copy and pickle see a plain object
