"""``ModelCheckpoint``: save checkpoints at epoch ends, the best ``save_top_k`` by a metric."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any

import torch

from treadle import Callback, hookimpl


class ModelCheckpoint(Callback):
    """As Lightning's: ``monitor=None`` keeps the latest; with a metric, the best ``save_top_k``.

    Files are written atomically by ``trainer.save_checkpoint`` (directories under a strategy
    that writes its own format, DeepSpeed). ``filename`` is formatted as Lightning's: each
    ``{name}`` (or ``{name:format}``) becomes ``name=value`` from ``epoch``, ``step`` and the
    logged metrics (just ``value`` with ``auto_insert_metric_name=False``; a missing metric is
    0); None means ``"{epoch}-{step}"``, so ``epoch=0-step=4.ckpt``. ``every_n_epochs=0`` saves
    no top-k checkpoint at epoch ends (``save_last`` still saves ``last.ckpt``).
    """

    CHECKPOINT_JOIN_CHAR = "-"
    CHECKPOINT_EQUALS_CHAR = "="
    FILE_EXTENSION = ".ckpt"

    def __init__(
        self,
        dirpath: Any = None,
        filename: str | None = None,
        monitor: str | None = None,
        mode: str = "min",
        save_top_k: int = 1,
        save_last: bool = False,
        every_n_epochs: int = 1,
        auto_insert_metric_name: bool = True,
    ) -> None:
        if mode not in ("min", "max"):
            raise ValueError(f"ModelCheckpoint(mode={mode!r}): use 'min' or 'max'.")
        if every_n_epochs < 0:
            raise ValueError(
                f"ModelCheckpoint(every_n_epochs={every_n_epochs!r}): must be >= 0 "
                f"(0 saves no top-k checkpoint at epoch ends)."
            )
        self.dirpath = Path(dirpath) if dirpath is not None else None
        self.filename, self.monitor, self.mode = filename, monitor, mode
        self.save_top_k, self.save_last, self.every_n_epochs = save_top_k, save_last, every_n_epochs
        self.auto_insert_metric_name = auto_insert_metric_name
        self.best_k_models: dict[str, float] = {}
        self.best_model_path = ""
        self.best_model_score: float | None = None
        self.kth_best_model_path = ""  # the worst of the kept top k, once k are kept
        self.kth_value: float = float("inf") if mode == "min" else float("-inf")
        self.last_model_path = ""

    @property
    def state_key(self) -> str:
        # Lightning's key (every_n_train_steps and train_time_interval: not supported, always
        # their "off" values), so two instances on different metrics keep their own state.
        return self._generate_state_key(
            monitor=self.monitor,
            mode=self.mode,
            every_n_train_steps=0,
            every_n_epochs=self.every_n_epochs,
            train_time_interval=None,
        )

    def format_checkpoint_name(
        self, metrics: dict[str, Any], filename: str | None = None, ver: int | None = None
    ) -> str:
        """The checkpoint path for ``metrics`` (``{"epoch": 2, "val_loss": 0.12}``), e.g.
        ``dirpath/epoch=2-val_loss=0.12.ckpt`` for ``filename="{epoch}-{val_loss:.2f}"``."""
        name = _format_name(
            filename or self.filename,
            dict(metrics),
            self.auto_insert_metric_name,
            self.CHECKPOINT_EQUALS_CHAR,
        )
        if ver is not None:
            name = self.CHECKPOINT_JOIN_CHAR.join((name, f"v{ver}"))
        name += self.FILE_EXTENSION
        return str(self.dirpath / name) if self.dirpath is not None else name

    def setup(self, trainer, pl_module, stage) -> None:
        if self.dirpath is None:  # Lightning's layout: beside the first logger's files
            logger = trainer.loggers[0] if trainer.loggers else None
            if logger is None:
                self.dirpath = trainer.default_root_dir / "checkpoints"
            else:
                version = logger.version
                version = version if isinstance(version, str) else f"version_{version}"
                self.dirpath = (
                    Path(logger.save_dir or trainer.default_root_dir)
                    / str(logger.name)
                    / version
                    / "checkpoints"
                )

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if trainer.fast_dev_run or (self.save_top_k == 0 and not self.save_last):
            return  # as Lightning: fast_dev_run saves no checkpoint
        top_k_due = (
            self.every_n_epochs >= 1 and (trainer.current_epoch + 1) % self.every_n_epochs == 0
        )
        if not top_k_due and not self.save_last:
            return
        candidates = dict(trainer.callback_metrics)
        candidates["epoch"] = torch.tensor(trainer.current_epoch)
        candidates["step"] = torch.tensor(trainer.global_step)
        path = self.format_checkpoint_name(candidates)
        score = None
        if self.monitor is not None:
            value = trainer.callback_metrics.get(self.monitor)
            if value is None:
                raise KeyError(
                    f"ModelCheckpoint(monitor={self.monitor!r}) found no such metric; "
                    f"logged: {sorted(trainer.callback_metrics)}"
                )
            # Every rank follows rank zero's score: the save below is collective (a barrier, or
            # DeepSpeed's sharded save), so ranks that disagree about saving would hang.
            score = trainer.broadcast(float(value), src=0)
        if top_k_due and self.save_top_k != 0 and self._keeps(score):
            # As Lightning: the ranking is updated first, so the checkpoint holds this
            # callback's state including itself; the file it displaces goes after the save.
            self.best_k_models[path] = score if score is not None else float(trainer.global_step)
            displaced = self._rank()
            trainer.save_checkpoint(path)
            self._remove(trainer, displaced)
        if self.save_last:
            assert self.dirpath is not None  # resolved when the run starts
            self.last_model_path = str(self.dirpath / "last.ckpt")
            trainer.save_checkpoint(self.last_model_path)

    def _better(self, a: float, b: float) -> bool:
        return a < b if self.mode == "min" else a > b

    def _keeps(self, score: float | None) -> bool:
        if score is None or self.save_top_k < 0 or len(self.best_k_models) < self.save_top_k:
            return True
        worst = (
            max(self.best_k_models.values())
            if self.mode == "min"
            else min(self.best_k_models.values())
        )
        return self._better(score, worst)

    def _rank(self) -> list:
        """Keep the best ``save_top_k``; update best and k-th; return the paths dropped."""
        if self.monitor is None:  # keep the latest save_top_k by step
            ranked = sorted(self.best_k_models, key=self.best_k_models.__getitem__, reverse=True)
        else:
            ranked = sorted(
                self.best_k_models, key=self.best_k_models.__getitem__, reverse=self.mode == "max"
            )
        keep = ranked if self.save_top_k < 0 else ranked[: self.save_top_k]
        dropped = [path for path in self.best_k_models if path not in keep]
        for path in dropped:
            del self.best_k_models[path]
        self.best_model_path = keep[0] if keep else ""
        best = self.best_k_models.get(self.best_model_path)
        self.best_model_score = best if self.monitor is not None else None
        if self.monitor is not None and (self.save_top_k < 0 or len(keep) == self.save_top_k):
            self.kth_best_model_path = keep[-1]
            self.kth_value = self.best_k_models[self.kth_best_model_path]
        return dropped

    @staticmethod
    def _remove(trainer, paths) -> None:
        for path in paths:
            if trainer.is_global_zero and os.path.isdir(path):
                shutil.rmtree(path)  # a strategy's checkpoint directory (DeepSpeed)
            elif trainer.is_global_zero and os.path.exists(path):
                os.remove(path)

    def state_dict(self) -> dict[str, Any]:
        return {
            "best_model_path": self.best_model_path,
            "best_model_score": self.best_model_score,
            "best_k_models": dict(self.best_k_models),
            "last_model_path": self.last_model_path,
            "kth_best_model_path": self.kth_best_model_path,
            "kth_value": self.kth_value,
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.best_model_path = state_dict.get("best_model_path", "")
        self.best_model_score = state_dict.get("best_model_score")
        self.best_k_models = dict(state_dict.get("best_k_models", {}))
        self.last_model_path = state_dict.get("last_model_path", "")
        self.kth_best_model_path = state_dict.get("kth_best_model_path", self.kth_best_model_path)
        self.kth_value = state_dict.get("kth_value", self.kth_value)


def _format_name(
    filename: str | None, metrics: dict[str, Any], auto_insert_metric_name: bool, equals: str
) -> str:
    """Lightning's ``_format_checkpoint_name``: ``"{epoch}-{val_loss:.2f}"`` ->
    ``"epoch=2-val_loss=0.12"``. Keys may contain dots (``{val/acc}`` too)."""
    filename = filename or "{epoch}-{step}"
    # longest first, so "{epoch_test" is replaced before "{epoch"
    for group in sorted(re.findall(r"(\{.*?)[:\}]", filename), key=len, reverse=True):
        name = group[1:]
        if auto_insert_metric_name:
            filename = filename.replace(group, f"{name}{equals}{{{name}")
        filename = filename.replace(group, f"{{0[{name}]")
        metrics.setdefault(name, torch.tensor(0))
    return filename.format(metrics)


@hookimpl
def configure_callbacks(trainer):
    if trainer.config.enable_checkpointing and not any(
        isinstance(c, ModelCheckpoint) for c in trainer.callbacks
    ):
        return [ModelCheckpoint()]
    return None
