"""``CSVLogger``: Lightning's layout, ``save_dir/name/version_N/{metrics.csv,hparams.yaml}``.

``metrics.csv`` has one row per ``log_metrics`` call: a ``step`` column, the Trainer's
``epoch`` column and one column per metric, sorted by name as Lightning writes them; a metric
that appears later rewrites the file with the wider header. Rows are buffered and appended
every ``flush_logs_every_n_steps`` rows, at ``save()`` and at ``finalize()``. Only global
rank zero writes.
"""

from __future__ import annotations

import csv
import os
import warnings
from argparse import Namespace
from typing import Any

from treadle import Provider, hookimpl
from treadle.loggers import (
    FileLogger,
    params_dict,
    rank_zero_experiment,
    rank_zero_only,
    save_hparams_to_yaml,
)
from treadle.utilities import local_folder

DEFAULT_NAME = "lightning_logs"  # Lightning's folder name, so its tools and habits carry over


class ExperimentWriter:
    """``CSVLogger.experiment``: buffers rows, writes ``metrics.csv`` and ``hparams.yaml``."""

    NAME_METRICS_FILE = "metrics.csv"
    NAME_HPARAMS_FILE = "hparams.yaml"

    def __init__(self, log_dir: str) -> None:
        self.log_dir = log_dir
        self.metrics_file_path = os.path.join(log_dir, self.NAME_METRICS_FILE)
        self.metrics: list[dict[str, Any]] = []  # rows not yet written
        self.metrics_keys: list[str] = []  # the header of the file on disk
        self.hparams: dict[str, Any] = {}
        if os.path.isdir(log_dir) and os.listdir(log_dir):
            warnings.warn(
                f"Experiment logs directory {log_dir} exists and is not empty. Previous "
                f"log files in this directory will be deleted when the new ones are "
                f"saved!",
                UserWarning,
                stacklevel=3,
            )
            if os.path.isfile(self.metrics_file_path):
                os.remove(self.metrics_file_path)
        os.makedirs(log_dir, exist_ok=True)

    def log_metrics(self, metrics: dict[str, Any], step: int | None = None) -> None:
        if step is None:
            step = len(self.metrics)
        row = {k: (v.item() if hasattr(v, "item") else v) for k, v in metrics.items()}
        row["step"] = step
        self.metrics.append(row)

    def log_hparams(self, params: dict[str, Any]) -> None:
        self.hparams.update(params)
        save_hparams_to_yaml(os.path.join(self.log_dir, self.NAME_HPARAMS_FILE), self.hparams)

    def save(self) -> None:
        if not self.metrics:
            return
        new = {k for row in self.metrics for k in row} - set(self.metrics_keys)
        exists = os.path.isfile(self.metrics_file_path)
        if new:
            self.metrics_keys = sorted(set(self.metrics_keys) | new)
            if exists:  # widen the header of the rows already written
                with open(self.metrics_file_path, newline="") as f:
                    old = list(csv.DictReader(f))
                self._write("w", old)
                exists = True
        self._write("a" if exists else "w", self.metrics, header=not exists)
        self.metrics = []

    def _write(self, mode: str, rows: list[dict[str, Any]], header: bool = True) -> None:
        with open(self.metrics_file_path, mode, newline="") as f:
            writer = csv.DictWriter(f, fieldnames=self.metrics_keys)
            if header:
                writer.writeheader()
            writer.writerows(rows)


class CSVLogger(FileLogger):
    """Lightning's ``CSVLogger``: metrics to ``metrics.csv``, hyper-parameters to ``hparams.yaml``.

    :param save_dir: the folder that holds the experiments.
    :param name: the experiment's folder under ``save_dir`` (``None`` or ``""``: none).
    :param version: an int (folder ``version_N``) or a string (the folder's name); by default
        one more than the highest ``version_N`` already there.
    :param prefix: put before every metric name, joined with ``-``.
    :param flush_logs_every_n_steps: write the buffered rows every this many rows.
    """

    LOGGER_JOIN_CHAR = "-"

    def __init__(
        self,
        save_dir: str | os.PathLike,
        name: str | None = DEFAULT_NAME,
        version: int | str | None = None,
        prefix: str = "",
        flush_logs_every_n_steps: int = 100,
    ) -> None:
        self._save_dir = os.fspath(local_folder(save_dir, f"{type(self).__name__}(save_dir=...)"))
        self._name = name or ""
        self._version = version
        self._prefix = prefix
        self._flush_every = flush_logs_every_n_steps
        self._experiment: ExperimentWriter | None = None

    @property
    def log_dir(self) -> str:
        version = self.version if isinstance(self.version, str) else f"version_{self.version}"
        return os.path.join(self.root_dir, version)

    @property
    @rank_zero_experiment
    def experiment(self) -> ExperimentWriter:
        if self._experiment is None:
            self._experiment = ExperimentWriter(self.log_dir)
        return self._experiment

    @rank_zero_only
    def log_hyperparams(
        self, params: dict[str, Any] | Namespace | None = None, *args: Any, **kwargs: Any
    ) -> None:
        self.experiment.log_hparams(params_dict(params))

    @rank_zero_only
    def log_metrics(self, metrics: dict[str, Any], step: int | None = None) -> None:
        if self._prefix:
            metrics = {f"{self._prefix}{self.LOGGER_JOIN_CHAR}{k}": v for k, v in metrics.items()}
        experiment = self.experiment
        experiment.log_metrics(metrics, step)
        if len(experiment.metrics) >= self._flush_every:
            self.save()

    @rank_zero_only
    def save(self) -> None:
        self.experiment.save()

    @rank_zero_only
    def finalize(self, status: str) -> None:
        if self._experiment is not None:  # nothing logged: no folder to create
            self.save()


def _make(trainer) -> CSVLogger:
    return CSVLogger(save_dir=trainer.default_root_dir)


@hookimpl
def provide_loggers():
    return [
        Provider(
            "logger",
            "csv",
            _make,
            priority=0,  # Trainer(logger=True) uses it where TensorBoard (priority 1) is missing
            description="metrics.csv and hparams.yaml under lightning_logs/version_N.",
        )
    ]
