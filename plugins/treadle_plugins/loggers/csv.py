"""``CSVLogger``: metrics to ``<root>/treadle_logs/version_N/metrics.csv`` (rank zero only)."""
from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any, Dict, List, Optional

from treadle import Provider, hookimpl
from treadle.kinds import LoggerBase


class CSVLogger(LoggerBase):
    """Lightning's ``CSVLogger``: one row per ``log_metrics`` call, columns grow as needed."""

    def __init__(self, save_dir: Any = ".", name: str = "treadle_logs",
                 version: Optional[int] = None, flush_every: int = 100) -> None:
        self.name = name
        self.root = Path(save_dir) / name
        self.version = self._next_version() if version is None else version
        self.flush_every = flush_every
        self._rows: List[Dict[str, Any]] = []
        self._columns: List[str] = []

    def _next_version(self) -> int:
        if not self.root.is_dir():
            return 0
        found = [int(p.name.split("_")[1]) for p in self.root.iterdir()
                 if p.name.startswith("version_") and p.name.split("_")[1].isdigit()]
        return max(found) + 1 if found else 0

    @property
    def log_dir(self) -> Path:
        return self.root / f"version_{self.version}"

    def log_hyperparams(self, params: Dict[str, Any]) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_dir / "hparams.yaml", "w") as f:
            for key, value in params.items():
                f.write(f"{key}: {value!r}\n")

    def log_metrics(self, metrics: Dict[str, float], step: int) -> None:
        self._rows.append({"step": step, **metrics})
        if len(self._rows) >= self.flush_every:
            self.save()

    def save(self) -> None:
        if not self._rows:
            return
        for row in self._rows:
            for key in row:
                if key not in self._columns:
                    self._columns.append(key)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        path = self.log_dir / "metrics.csv"
        old: List[Dict[str, Any]] = []
        if path.exists():
            with open(path, newline="") as f:
                old = list(csv.DictReader(f))
        tmp = path.with_suffix(".csv.tmp")
        with open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=self._columns)
            writer.writeheader()
            writer.writerows(old + self._rows)
        os.replace(tmp, path)
        self._rows = []

    def finalize(self, status: str) -> None:
        self.save()


def _make(trainer) -> CSVLogger:
    return CSVLogger(save_dir=trainer.default_root_dir)


@hookimpl
def provide_loggers():
    return [Provider("logger", "csv", _make, description="metrics.csv per run version.")]
