"""``DummyLogger`` takes any call (ported from Lightning's
tests/tests_pytorch/loggers/test_logger.py: test_dummylogger_noop_method_calls,
test_dummlogger_arbitrary_method_calls)."""

from __future__ import annotations

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


def test_dummy_logger_takes_any_call():
    logger = DummyLogger()
    logger.log_hyperparams("1", 2, three="three")
    logger.log_metrics("1", 2, three="three")
    assert callable(logger.log_text) and logger.log_text("x", step=1) is None
    assert logger[0] is logger
    assert not hasattr(logger, "__deepcopy__")  # copy and pickle see a plain object
