"""``trainer.logger``/``trainer.loggers`` setters, as Lightning's (its
tests_pytorch/trainer/properties/test_loggers.py, run mapped as t_trainer_loggers)."""

from __future__ import annotations

import treadle
from treadle.loggers import CSVLogger


def test_logger_and_loggers_setters(tmp_path):
    one, two = CSVLogger(tmp_path, name="a"), CSVLogger(tmp_path, name="b")
    trainer = treadle.Trainer(default_root_dir=tmp_path, logger=[one])
    trainer.logger = two
    assert trainer.loggers == [two] and trainer.logger is two
    trainer.logger = None
    assert trainer.loggers == [] and trainer.logger is None
    trainer.loggers = (one, two)  # any iterable: kept as a list
    assert trainer.loggers == [one, two] and trainer.logger is one
    trainer.loggers.append(two)  # the list itself, as Lightning's
    assert trainer.loggers == [one, two, two]
    for nothing in (None, [], ()):
        trainer.loggers = nothing
        assert trainer.loggers == [] and trainer.logger is None
