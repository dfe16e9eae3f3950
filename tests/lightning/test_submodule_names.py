"""Names Lightning programs import from Lightning's submodule paths, reachable under treadle's
names both ways a migrated import reads: the flat module (``treadle.callbacks.Tqdm``, as
``tests/lightning_programs/mapper.py`` maps ``lightning.pytorch.callbacks.progress.tqdm_progress``)
and the submodule path itself (``treadle.callbacks.progress.tqdm_progress.Tqdm``).

The behaviours are Lightning 2.6.6's, read from its source (``merge_dicts``'s example is its
docstring's)."""

from __future__ import annotations

import importlib
import statistics

import pytest

import treadle
from treadle.loggers import CSVLogger

# (flat module, submodule path, name), from Lightning 2.6.6's modules
NAMES = [
    ("treadle.callbacks", "treadle.callbacks.progress.tqdm_progress", "Tqdm"),
    ("treadle.callbacks", "treadle.callbacks.progress.tqdm_progress", "convert_inf"),
    ("treadle.callbacks", "treadle.callbacks.progress.progress_bar", "get_standard_metrics"),
    ("treadle.callbacks", "treadle.callbacks.timer", "Interval"),
    ("treadle.callbacks", "treadle.callbacks.prediction_writer", "WriteInterval"),
    ("treadle.callbacks", "treadle.callbacks.finetuning", "multiplicative"),
    ("treadle.loggers", "treadle.loggers.csv_logs", "ExperimentWriter"),
    ("treadle.loggers", "treadle.loggers.logger", "merge_dicts"),
    ("treadle.loggers", "treadle.loggers.neptune", "NeptuneLogger"),
    ("treadle.cli", "treadle.cli", "LightningArgumentParser"),
    ("treadle.utilities", "treadle.fabric.utilities.throughput", "measure_flops"),
]


@pytest.mark.parametrize(("flat", "path", "name"), NAMES, ids=[n for _, _, n in NAMES])
def test_name_imports_from_the_flat_module_and_the_submodule_path(flat, path, name):
    pytest.importorskip("tqdm") if name == "Tqdm" else None
    a = getattr(importlib.import_module(flat), name)
    b = getattr(importlib.import_module(path), name)
    assert a is b


def test_helpers_are_not_in_the_callbacks_star_export():
    """As Lightning's ``callbacks.__all__``: ``from treadle.callbacks import *`` stays the
    callbacks (and imports no tqdm)."""
    import treadle.callbacks as callbacks

    assert not {"Tqdm", "convert_inf", "Interval", "get_standard_metrics"} & set(callbacks.__all__)


def test_convert_inf():
    from treadle.callbacks import convert_inf

    assert convert_inf(float("inf")) is None
    assert convert_inf(float("nan")) is None
    assert convert_inf(None) is None
    assert convert_inf(3) == 3


def test_merge_dicts_as_lightnings_docstring_example():
    from treadle.loggers import merge_dicts

    d1 = {"a": 1.7, "b": 2.0, "c": 1, "d": {"d1": 1, "d3": 3}}
    d2 = {"a": 1.1, "b": 2.2, "v": 1, "d": {"d1": 2, "d2": 3}}
    d3 = {"a": 1.1, "v": 2.3, "d": {"d3": 3, "d4": {"d5": 1}}}
    funcs = {"a": statistics.mean, "v": max, "d": {"d1": sum}}
    assert merge_dicts([d1, d2, d3], funcs, min) == {
        "a": 1.3,
        "b": 2.0,
        "c": 1,
        "d": {"d1": 3, "d2": 3, "d3": 3, "d4": {"d5": 1}},
        "v": 2.3,
    }


def test_get_standard_metrics_joins_the_versions_of_several_loggers(tmp_path):
    from treadle.callbacks import get_standard_metrics

    def trainer(*loggers):
        return treadle.Trainer(
            logger=list(loggers) or False, enable_progress_bar=False, default_root_dir=tmp_path
        )

    assert get_standard_metrics(trainer()) == {}
    assert get_standard_metrics(trainer(CSVLogger(tmp_path, version=3))) == {"v_num": 3}
    assert get_standard_metrics(trainer(CSVLogger(tmp_path, version="run-abcdef"))) == {
        "v_num": "cdef"
    }
    two = trainer(CSVLogger(tmp_path, version=3), CSVLogger(tmp_path / "b", version=3))
    assert get_standard_metrics(two) == {"v_num": "3"}  # (joined: a string, as Lightning's)
    mixed = trainer(CSVLogger(tmp_path, version=1), CSVLogger(tmp_path / "b", version=2))
    assert get_standard_metrics(mixed) == {"v_num": "1_2"}


def test_timer_takes_lightnings_interval_enum(tmp_path):
    """``Timer(interval=Interval.epoch)`` is ``interval="epoch"``; with no time at all the run
    stops before its first step (Lightning's ``test_timer_zero_duration_stop``)."""
    from treadle.callbacks import Interval, Timer
    from treadle.demos.boring_classes import BoringModel

    assert Interval("step") is Interval.step and Interval.epoch == "epoch"
    for interval in Interval:
        trainer = treadle.Trainer(
            default_root_dir=tmp_path,
            logger=False,
            enable_progress_bar=False,
            enable_checkpointing=False,
            enable_model_summary=False,
            callbacks=[Timer(duration={"seconds": 0}, interval=interval)],
        )
        trainer.fit(BoringModel())
        assert (trainer.global_step, trainer.current_epoch) == (0, 0), interval
    with pytest.raises(treadle.ConfigurationError, match="Possible choices are: 'step', 'epoch'"):
        Timer(interval="batch")


def test_neptune_logger_is_refused_as_lightning_2_6_6_does():
    from treadle.loggers import NeptuneLogger

    with pytest.raises(RuntimeError, match="no longer supported"):
        NeptuneLogger()


def test_lightning_argument_parser_is_what_add_arguments_to_parser_receives():
    from treadle.cli import LightningArgumentParser, Parser

    assert LightningArgumentParser is Parser
