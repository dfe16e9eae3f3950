"""``treadle.loggers.CSVLogger``: Lightning's layout and behaviour.

Tests marked "ported" follow Lightning's ``tests/tests_pytorch/loggers/test_csv.py``
(Copyright The Lightning AI team, Apache-2.0), translated to treadle's names, with mocks
replaced by real runs; the others are treadle's own.
"""

from __future__ import annotations

import csv
import os
import re

import pytest
import torch
import yaml
from boring import BoringModel, loader, trainer

import treadle
from treadle.loggers import CSVLogger, Logger
from treadle_plugins.loggers.csv import ExperimentWriter


def rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


# -- ported from Lightning ------------------------------------------------------------------------


def test_automatic_versioning(tmp_path):  # ported
    (tmp_path / "exp" / "version_0").mkdir(parents=True)
    (tmp_path / "exp" / "version_1").mkdir()
    (tmp_path / "exp" / "version_nonumber").mkdir()
    (tmp_path / "exp" / "other").mkdir()
    assert CSVLogger(save_dir=tmp_path, name="exp").version == 2


def test_manual_versioning(tmp_path):  # ported
    for v in range(3):
        (tmp_path / "exp" / f"version_{v}").mkdir(parents=True)
    assert CSVLogger(save_dir=tmp_path, name="exp", version=1).version == 1


def test_manual_versioning_file_exists(tmp_path):  # ported
    (tmp_path / "exp" / "version_0").mkdir(parents=True)
    previous = tmp_path / "exp" / "version_0" / "metrics.csv"
    previous.touch()
    logger = CSVLogger(save_dir=tmp_path, name="exp", version=0)
    assert previous.exists()
    with pytest.warns(UserWarning, match="Experiment logs directory .* exists and is not empty"):
        _ = logger.experiment
    assert not previous.exists()


def test_named_version(tmp_path):  # ported
    (tmp_path / "exp").mkdir()
    logger = CSVLogger(save_dir=tmp_path, name="exp", version="2020-02-05-162402")
    logger.log_hyperparams({"a": 1, "b": 2})
    logger.save()
    assert logger.version == "2020-02-05-162402"
    assert os.listdir(tmp_path / "exp") == ["2020-02-05-162402"]
    assert os.listdir(tmp_path / "exp" / "2020-02-05-162402")


@pytest.mark.parametrize("name", ["", None])
def test_no_name(tmp_path, name):  # ported
    logger = CSVLogger(save_dir=tmp_path, name=name)
    logger.log_hyperparams({"a": 1})
    logger.save()
    assert os.path.normpath(logger.root_dir) == str(tmp_path)
    assert os.listdir(tmp_path / "version_0")


@pytest.mark.parametrize("step_idx", [10, None])
def test_log_metrics(tmp_path, step_idx):  # ported
    logger = CSVLogger(tmp_path)
    metrics = {
        "float": 0.3,
        "int": 1,
        "FloatTensor": torch.tensor(0.1),
        "IntTensor": torch.tensor(1),
    }
    logger.log_metrics(metrics, step_idx)
    logger.save()
    with open(os.path.join(logger.log_dir, ExperimentWriter.NAME_METRICS_FILE)) as f:
        lines = f.readlines()
    assert len(lines) == 2
    assert all(n in lines[0] for n in metrics)
    row = rows(os.path.join(logger.log_dir, "metrics.csv"))[0]
    assert row["step"] == str(0 if step_idx is None else step_idx)
    assert float(row["FloatTensor"]) == pytest.approx(0.1) and row["IntTensor"] == "1"


def test_log_hyperparams(tmp_path):  # ported
    logger = CSVLogger(tmp_path)
    hparams = {
        "float": 0.3,
        "int": 1,
        "string": "abc",
        "bool": True,
        "dict": {"a": {"b": "c"}},
        "list": [1, 2, 3],
        "layer": torch.nn.BatchNorm1d,
    }
    logger.log_hyperparams(hparams)
    logger.save()
    with open(os.path.join(logger.log_dir, ExperimentWriter.NAME_HPARAMS_FILE)) as f:
        params = yaml.safe_load(f)  # no Python tags: a safe load reads it
    assert all(n in params for n in hparams)
    assert params["dict"] == {"a": {"b": "c"}} and params["list"] == [1, 2, 3]
    assert params["layer"] == str(torch.nn.BatchNorm1d)


def test_fit_csv_logger(tmp_path):  # ported
    logger = CSVLogger(save_dir=tmp_path)
    t = trainer(tmp_path, max_steps=10, max_epochs=None, logger=logger)
    t.fit(BoringModel(), loader(n_batches=4))
    metrics_file = os.path.join(logger.log_dir, ExperimentWriter.NAME_METRICS_FILE)
    assert os.path.isfile(metrics_file)
    # as Lightning: a step row is logged at the index of its optimizer step (global_step - 1)
    assert [r["step"] for r in rows(metrics_file) if r["train_loss_step"]] == [
        str(s) for s in range(10)
    ]


def test_flush_n_steps(tmp_path):  # ported (the file on disk checked instead of a mocked save)
    logger = CSVLogger(tmp_path, flush_logs_every_n_steps=2)
    metrics = {
        "float": 0.3,
        "int": 1,
        "FloatTensor": torch.tensor(0.1),
        "IntTensor": torch.tensor(1),
    }
    logger.log_metrics(metrics, step=0)
    assert not os.path.exists(os.path.join(logger.log_dir, "metrics.csv"))
    logger.log_metrics(metrics, step=1)
    assert len(rows(os.path.join(logger.log_dir, "metrics.csv"))) == 2


def test_metrics_reset_after_save(tmp_path):  # ported
    logger = CSVLogger(tmp_path, flush_logs_every_n_steps=2)
    logger.log_metrics({"test": 1}, step=0)
    assert logger.experiment.metrics
    logger.log_metrics({"test": 1}, step=1)  # flush triggered
    assert not logger.experiment.metrics


def test_append_columns(tmp_path):  # ported
    logger = CSVLogger(tmp_path, flush_logs_every_n_steps=1)
    logger.log_metrics({"a": 1, "b": 2})
    logger.log_metrics({"a": 1, "b": 2, "c": 3})  # a new key widens the header
    path = logger.experiment.metrics_file_path
    with open(path) as f:
        assert set(f.readline().strip().split(",")) == {"step", "a", "b", "c"}
    logger.log_metrics({"a": 1, "c": 3})  # a key that disappears keeps its column
    with open(path) as f:
        assert set(f.readline().strip().split(",")) == {"step", "a", "b", "c"}
    assert [r["c"] for r in rows(path)] == ["", "3", "3"]


# -- treadle's own ------------------------------------------------------------------------------


def test_fit_layout_step_and_epoch_columns(tmp_path):
    """``save_dir/lightning_logs/version_N/metrics.csv`` with ``step`` and ``epoch`` columns:
    step rows at every optimizer step, one epoch row per epoch, each at the index of the latest
    optimizer step (``global_step - 1``), as Lightning logs them."""
    first = CSVLogger(tmp_path)
    trainer(tmp_path, max_epochs=2, logger=first).fit(BoringModel(), loader(n_batches=3))
    second = CSVLogger(tmp_path)
    assert (first.version, second.version) == (0, 1)
    path = tmp_path / "lightning_logs" / "version_0" / "metrics.csv"
    assert first.log_dir == str(path.parent)
    table = rows(path)
    assert list(table[0]) == sorted(table[0])  # Lightning's column order
    assert {"step", "epoch", "train_loss_step", "train_loss_epoch"} <= set(table[0])
    steps = [(r["epoch"], r["step"]) for r in table if r["train_loss_step"]]
    assert steps == [("0", "0"), ("0", "1"), ("0", "2"), ("1", "3"), ("1", "4"), ("1", "5")]
    epochs = [(r["epoch"], r["step"]) for r in table if r["train_loss_epoch"]]
    assert epochs == [("0", "2"), ("1", "5")]


def test_step_values_no_log_point_took_are_not_written_at_the_epoch_end(tmp_path):
    """``log_every_n_steps=2`` over 3 batches an epoch: as Lightning, the third batch's step
    values are dropped, the epoch row holds the epoch values only (steps 1, 3, 5 with 0-based
    steps: rows at steps 1 and 2 in epoch 0, 3 and 5 in epoch 1)."""
    logger = CSVLogger(tmp_path)
    t = trainer(tmp_path, max_epochs=2, logger=logger, log_every_n_steps=2)
    t.fit(BoringModel(), loader(n_batches=3))
    table = rows(tmp_path / "lightning_logs" / "version_0" / "metrics.csv")
    filled = [
        (r["step"], sorted(k for k, v in r.items() if v and k not in ("step", "epoch")))
        for r in table
    ]
    assert filled == [
        ("1", ["train_loss_step"]),
        ("2", ["train_loss_epoch"]),
        ("3", ["train_loss_step"]),
        ("5", ["train_loss_step"]),
        ("5", ["train_loss_epoch"]),
    ], filled


def test_several_loggers_at_once(tmp_path):
    """A list of loggers: each gets every row; ``trainer.logger`` is the first."""
    a, b = CSVLogger(tmp_path, name="a"), CSVLogger(tmp_path, name="b")
    t = trainer(tmp_path, logger=[a, b])
    model = BoringModel()
    t.fit(model, loader(n_batches=2))
    assert t.loggers == [a, b] and t.logger is a
    assert model.logger is a and model.loggers == [a, b]
    assert rows(os.path.join(a.log_dir, "metrics.csv")) == rows(
        os.path.join(b.log_dir, "metrics.csv")
    )
    assert len(rows(os.path.join(a.log_dir, "metrics.csv"))) == 3  # two steps, one epoch end


def test_module_logger_properties_without_a_trainer():
    model = BoringModel()
    assert model.logger is None and model.loggers == []


def test_properties(tmp_path):
    logger = CSVLogger(tmp_path, name="exp", version=3, prefix="train")
    assert isinstance(logger, Logger)
    assert (logger.name, logger.version, logger.save_dir) == ("exp", 3, os.fspath(tmp_path))
    assert logger.root_dir == os.path.join(tmp_path, "exp")
    assert logger.log_dir == os.path.join(tmp_path, "exp", "version_3")
    assert isinstance(logger.experiment, ExperimentWriter)
    logger.log_metrics({"loss": 1.0}, step=0)
    logger.finalize("success")
    assert set(rows(os.path.join(logger.log_dir, "metrics.csv"))[0]) == {"train-loss", "step"}


def test_finalize_without_logging_creates_nothing(tmp_path):
    CSVLogger(tmp_path).finalize("success")
    assert not (tmp_path / "lightning_logs").exists()


def test_other_ranks_write_nothing(tmp_path, monkeypatch):
    """Only global rank zero writes; elsewhere ``experiment`` is a stand-in that does nothing."""
    monkeypatch.setenv("RANK", "1")
    logger = CSVLogger(tmp_path)
    logger.log_hyperparams({"a": 1})
    logger.log_metrics({"loss": 1.0}, step=0)
    logger.experiment.log_metrics({"x": 1})
    logger.finalize("success")
    assert not (tmp_path / "lightning_logs").exists()


def test_selected_by_name_and_by_default(tmp_path):
    t = trainer(tmp_path, logger="csv")
    assert isinstance(t.logger, CSVLogger) and t.logger.save_dir == str(tmp_path)
    assert t.logger.log_dir == os.path.join(tmp_path, "lightning_logs", "version_0")
    t.fit(BoringModel(), loader(n_batches=2))
    assert os.path.isfile(os.path.join(t.log_dir, "metrics.csv"))
    assert isinstance(trainer(tmp_path, logger=True).logger, (CSVLogger, Logger))


def test_an_unknown_logger_name_lists_the_names(tmp_path):
    with pytest.raises(
        treadle.ConfigurationError,
        match=re.escape(
            "`logger='wandb'` is not provided by any installed plugin. Available names: 'csv'"
        ),
    ):
        trainer(tmp_path, logger="wandb")


def test_a_third_party_logger_subclass(tmp_path):
    """The ``Logger`` base a third-party distribution implements: four members, the rest default."""

    class ListLogger(Logger):
        def __init__(self):
            self.calls = []

        @property
        def name(self):
            return "list"

        @property
        def version(self):
            return 0

        def log_metrics(self, metrics, step=None):
            self.calls.append(("metrics", step, sorted(metrics)))

        def log_hyperparams(self, params, *args, **kwargs):
            self.calls.append(("hparams", dict(params)))

        def finalize(self, status):
            self.calls.append(("finalize", status))

    logger = ListLogger()
    trainer(tmp_path, logger=logger).fit(BoringModel(), loader(n_batches=1))
    assert logger.calls == [
        ("metrics", 0, ["epoch", "train_loss_step"]),
        ("metrics", 0, ["epoch", "train_loss_epoch"]),
        ("finalize", "success"),
    ]
    assert (logger.save_dir, logger.log_dir, logger.experiment) == (None, None, None)

    class Incomplete(Logger):
        def log_metrics(self, metrics, step=None): ...

    with pytest.raises(TypeError, match="abstract"):
        Incomplete()


def test_a_failed_run_finalizes_its_loggers_with_failed(tmp_path):
    """Any exception (Ctrl-C included) ends the loggers with ``"failed"``, Lightning's word, which
    third-party loggers (MLflow, W&B) map to their own run states."""
    statuses = []

    class Recording(CSVLogger):
        def finalize(self, status):
            statuses.append(status)
            super().finalize(status)

    class Boom(BoringModel):
        def training_step(self, batch, batch_idx):
            if batch_idx == 1:
                raise KeyboardInterrupt
            return super().training_step(batch, batch_idx)

    logger = Recording(tmp_path)
    with pytest.raises(SystemExit) as info:  # Ctrl-C: one line and exit code 130 (issue 13)
        trainer(tmp_path, logger=logger).fit(Boom(), loader(n_batches=3))
    assert info.value.code == 130 and isinstance(info.value.__cause__, KeyboardInterrupt)
    assert statuses == ["failed"]
    assert len(rows(os.path.join(logger.log_dir, "metrics.csv"))) == 1  # what was logged is kept


def test_rows_reach_the_file_at_each_epoch_end(tmp_path):
    seen = []

    class Peek(BoringModel):
        def on_train_epoch_start(self):
            path = os.path.join(self.logger.log_dir, "metrics.csv")
            seen.append(len(rows(path)) if os.path.exists(path) else 0)

    logger = CSVLogger(tmp_path, flush_logs_every_n_steps=1000)
    trainer(tmp_path, max_epochs=3, logger=logger).fit(Peek(), loader(n_batches=2))
    assert seen == [0, 3, 6]  # two step rows and one epoch row per epoch


def test_hparams_yaml_from_save_hyperparameters(tmp_path):
    class WithHparams(BoringModel):
        def __init__(self, lr=0.1, layers=(32, 2), opt={"name": "sgd"}):  # noqa: B006
            super().__init__()
            self.save_hyperparameters()

    class NotLogged(WithHparams):
        def __init__(self, lr=0.1):
            super().__init__(lr=lr)
            self.save_hyperparameters(logger=False)

    logger = CSVLogger(tmp_path)
    trainer(tmp_path, logger=logger).fit(WithHparams(lr=0.5), loader(n_batches=1))
    with open(os.path.join(logger.log_dir, "hparams.yaml")) as f:
        assert yaml.safe_load(f) == {"lr": 0.5, "layers": [32, 2], "opt": {"name": "sgd"}}
    quiet = CSVLogger(tmp_path)
    trainer(tmp_path, logger=quiet).fit(NotLogged(), loader(n_batches=1))
    assert not os.path.exists(os.path.join(quiet.log_dir, "hparams.yaml"))
