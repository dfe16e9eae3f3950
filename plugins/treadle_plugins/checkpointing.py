"""``ModelCheckpoint``: Lightning's checkpoint callback (epoch, step and time triggers, the best
``save_top_k`` by a metric, ``last.ckpt``), which never lets a non-finite run replace a good file.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import time
import warnings
from copy import deepcopy
from datetime import timedelta
from pathlib import Path
from typing import Any

import torch

from treadle import hookimpl
from treadle.errors import ConfigurationError, MetricNotFoundError
from treadle.utilities import local_folder
from treadle_plugins.callbacks.checkpoint import Checkpoint

log = logging.getLogger(__name__)

_NONFINITE = ".nonfinite"  # inserted before the extension of a checkpoint written aside


class ModelCheckpoint(Checkpoint):
    """As Lightning's ``ModelCheckpoint``: same arguments, triggers, file names and state.

    * When: every ``every_n_epochs`` epochs (the default, 1; 0 turns epoch saves off), every
      ``every_n_train_steps`` optimizer steps, or every ``train_time_interval`` (a
      ``timedelta``, checked at each training batch's end; rank zero's clock decides) -- one of
      the three. Epoch saves run at the training epoch's end when there is no validation
      (``save_on_train_epoch_end=None``), else after validation; ``True``/``False`` force it.
    * What: ``monitor=None`` keeps the latest ``save_top_k`` (1, or -1 for all); with a metric
      (``epoch`` and ``step`` included) the best ``save_top_k`` by ``mode``. ``save_last=True``
      also writes ``last.ckpt`` at each save, ``save_last="link"`` makes it a symlink to the
      checkpoint just saved (a copy where the OS refuses links). ``save_weights_only`` saves
      ``trainer.save_checkpoint(path, weights_only=True)``.
    * Names: ``filename`` is formatted as Lightning's (``"{epoch}-{val_loss:.2f}"`` gives
      ``epoch=2-val_loss=0.12.ckpt``; ``auto_insert_metric_name=False`` inserts only the values;
      None means ``"{epoch}-{step}"``). An existing file gets ``-v1``, ``-v2``... unless
      ``enable_version_counter=False``.
    * Non-finite: a NaN or infinite monitored score counts as the worst score. A save that would
      replace or delete a checkpoint while the module's parameters are not finite is written
      aside (``<name>.nonfinite.ckpt``, the latest one kept) with a warning; the finite files
      stay.
    * ``save_on_exception=True``: when the run raises (``on_exception``), a checkpoint named as
      the next one would be (``filename`` formatted with the current metrics; no ``-vN``) and,
      with ``save_last``, ``last.ckpt`` -- unless nothing was trained since the last save.
    """

    CHECKPOINT_JOIN_CHAR = "-"
    CHECKPOINT_EQUALS_CHAR = "="
    CHECKPOINT_NAME_LAST = "last"
    FILE_EXTENSION = ".ckpt"
    STARTING_VERSION = 1

    def __init__(
        self,
        dirpath: Any = None,
        filename: str | None = None,
        monitor: str | None = None,
        verbose: bool = False,
        save_last: bool | str | None = None,
        save_top_k: int = 1,
        save_weights_only: bool = False,
        mode: str = "min",
        auto_insert_metric_name: bool = True,
        every_n_train_steps: int | None = None,
        train_time_interval: timedelta | None = None,
        every_n_epochs: int | None = None,
        save_on_train_epoch_end: bool | None = None,
        enable_version_counter: bool = True,
        save_on_exception: bool = False,
    ) -> None:
        if mode not in ("min", "max"):
            raise ConfigurationError(
                f"ModelCheckpoint(mode={mode!r}): `mode` can be 'min' or 'max' but got {mode}."
            )
        if save_last not in (None, True, False, "link"):
            raise ConfigurationError(
                f"ModelCheckpoint(save_last={save_last!r}): use True (a last.ckpt file), "
                f"'link' (a symlink to the latest checkpoint) or False."
            )
        if train_time_interval is not None and not isinstance(train_time_interval, timedelta):
            raise TypeError(
                f"ModelCheckpoint(train_time_interval={train_time_interval!r}): needs a "
                f"datetime.timedelta, e.g. timedelta(minutes=30)."
            )
        self.monitor, self.mode, self.verbose = monitor, mode, verbose
        self.save_last, self.save_top_k = save_last, save_top_k
        self.save_weights_only = save_weights_only
        self.auto_insert_metric_name = auto_insert_metric_name
        self._save_on_train_epoch_end = save_on_train_epoch_end
        self._enable_version_counter = enable_version_counter
        self.save_on_exception = save_on_exception
        # Lightning's defaults: no trigger given means every epoch; a step or time trigger
        # alone turns epoch saves off.
        if every_n_train_steps is None and every_n_epochs is None and train_time_interval is None:
            every_n_epochs, every_n_train_steps = 1, 0
        self._every_n_epochs: int = every_n_epochs or 0
        self._every_n_train_steps: int = every_n_train_steps or 0
        self._train_time_interval = train_time_interval
        self._validate_arguments()
        self.dirpath: str | None = (
            os.path.realpath(
                os.path.expanduser(local_folder(dirpath, "ModelCheckpoint(dirpath=...)"))
            )
            if dirpath
            else None
        )
        self.filename = filename
        self.current_score: torch.Tensor | None = None
        self.best_k_models: dict[str, torch.Tensor] = {}
        self.kth_best_model_path = ""
        self.kth_value = torch.tensor(float("inf") if mode == "min" else float("-inf"))
        self.best_model_score: torch.Tensor | None = None
        self.best_model_path = ""
        self.last_model_path = ""
        self._last_global_step_saved = 0  # no save before a step was taken
        self._last_checkpoint_saved = ""  # what save_last="link" points at
        self._last_saved_at = -1  # the global step it was written at
        self._last_time_checked: float | None = None
        self._val_has_run = False
        self._save_after_validation = False  # a step or time save waiting for validation
        self._aside: dict[str, int] = {}  # files written aside -> the step they were written at
        self._finite: bool | None = None  # the weights' check for the save being made
        self._aside_now = False  # this save wrote a file aside

    def _validate_arguments(self) -> None:
        if self.save_top_k < -1:
            raise ConfigurationError(
                f"ModelCheckpoint(save_top_k={self.save_top_k}): invalid value. Must be >= -1 (-1 "
                f"keeps every checkpoint, 0 none)."
            )
        if self._every_n_train_steps < 0:
            raise ConfigurationError(
                f"ModelCheckpoint(every_n_train_steps={self._every_n_train_steps}): invalid value. "
                f"Must be >= 0 (0 saves no checkpoint during the epoch)."
            )
        if self._every_n_epochs < 0:
            raise ConfigurationError(
                f"ModelCheckpoint(every_n_epochs={self._every_n_epochs!r}): invalid value. Must be >= 0 "
                f"(0 saves no top-k checkpoint at epoch ends)."
            )
        triggers = (
            (self._every_n_train_steps >= 1)
            + (self._every_n_epochs >= 1)
            + (self._train_time_interval is not None)
        )
        if triggers > 1:
            raise ConfigurationError(
                f"ModelCheckpoint: Combination of parameters every_n_train_steps="
                f"{self._every_n_train_steps}, every_n_epochs={self._every_n_epochs} and "
                f"train_time_interval={self._train_time_interval} should be mutually exclusive. "
                f"Give one; for several triggers, use one ModelCheckpoint per trigger."
            )
        if self.monitor is None and self.save_top_k not in (-1, 0, 1):
            raise ConfigurationError(
                f"ModelCheckpoint(save_top_k={self.save_top_k}, monitor=None) is not a valid "
                f"configuration: no quantity for top_k to track. Pass `monitor=` a logged "
                f"metric, or save_top_k=-1 (all), 0 or 1 (the latest)."
            )

    @property
    def every_n_epochs(self) -> int:
        return self._every_n_epochs

    @property
    def every_n_train_steps(self) -> int:
        return self._every_n_train_steps

    @property
    def train_time_interval(self) -> timedelta | None:
        return self._train_time_interval

    @property
    def state_key(self) -> str:
        return self._generate_state_key(
            monitor=self.monitor,
            mode=self.mode,
            every_n_train_steps=self._every_n_train_steps,
            every_n_epochs=self._every_n_epochs,
            train_time_interval=self._train_time_interval,
        )

    # -- names ---------------------------------------------------------------------------------

    def _format_checkpoint_name(
        self,
        filename: str | None,
        metrics: dict[str, Any],
        prefix: str = "",
        auto_insert_metric_name: bool = True,
    ) -> str:
        name = _format_name(filename, metrics, auto_insert_metric_name, self.CHECKPOINT_EQUALS_CHAR)
        return self.CHECKPOINT_JOIN_CHAR.join([prefix, name]) if prefix else name

    def format_checkpoint_name(
        self, metrics: dict[str, Any], filename: str | None = None, ver: int | None = None
    ) -> str:
        """The checkpoint path for ``metrics`` (``{"epoch": 2, "val_loss": 0.12}``), e.g.
        ``dirpath/epoch=2-val_loss=0.12.ckpt`` for ``filename="{epoch}-{val_loss:.2f}"``."""
        name = self._format_checkpoint_name(
            filename or self.filename,
            dict(metrics),
            auto_insert_metric_name=self.auto_insert_metric_name,
        )
        if ver is not None:
            name = self.CHECKPOINT_JOIN_CHAR.join((name, f"v{ver}"))
        name += self.FILE_EXTENSION
        return os.path.join(self.dirpath, name) if self.dirpath else name

    def file_exists(self, filepath: str, trainer: Any) -> bool:
        """Whether ``filepath`` exists on rank zero (every rank gets the same answer)."""
        return bool(trainer.broadcast(os.path.exists(filepath), src=0))

    def _versioned(self, candidates: dict[str, Any], trainer: Any, keep: str | None, name=None):
        """The path for ``candidates``, with ``-vN`` while a file other than ``keep`` has it."""
        filepath = self.format_checkpoint_name(candidates, name)
        if self._enable_version_counter:
            version = self.STARTING_VERSION
            while filepath != keep and self.file_exists(filepath, trainer):
                filepath = self.format_checkpoint_name(candidates, name, ver=version)
                version += 1
        return filepath

    # -- hooks ---------------------------------------------------------------------------------

    def setup(self, trainer, pl_module, stage) -> None:
        if self.dirpath is None:  # Lightning's layout: beside the first logger's files
            logger = trainer.loggers[0] if trainer.loggers else None
            if logger is None:
                dirpath = os.path.join(trainer.default_root_dir, "checkpoints")
            else:
                version = logger.version
                version = version if isinstance(version, str) else f"version_{version}"
                dirpath = os.path.join(
                    logger.save_dir or trainer.default_root_dir, str(logger.name), version,
                    "checkpoints",
                )  # fmt: skip
            self.dirpath = trainer.broadcast(dirpath, src=0)
        self._val_has_run = False
        nonempty = os.path.isdir(self.dirpath) and bool(os.listdir(self.dirpath))
        if trainer.is_global_zero and stage == "fit" and self.save_top_k != 0 and nonempty:
            warnings.warn(
                f"Checkpoint directory {self.dirpath} exists and is not empty.", stacklevel=2
            )

    def on_train_start(self, trainer, pl_module) -> None:
        self._last_time_checked = time.monotonic()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        every = self._every_n_train_steps
        if every < 1 and self._train_time_interval is None:
            return  # (no step or time interval: nothing to do per batch, decided first)
        if self._skip_saving(trainer):
            return
        skip_steps = every < 1 or trainer.global_step % every != 0
        skip_time, now = True, time.monotonic()
        if self._train_time_interval is not None:
            since = self._last_time_checked
            skip_time = since is None or now - since < self._train_time_interval.total_seconds()
            # the ranks' clocks differ: rank zero decides, so all save together (a collective)
            skip_time = bool(trainer.broadcast(skip_time, src=0))
        if skip_steps and skip_time:
            return
        if not skip_time:
            self._last_time_checked = now
        if self._defers_to_validation(trainer):
            self._save_after_validation = True  # as Lightning: saved with the fresh metric
            return
        self._save(trainer, top_k=True)

    def on_exception(self, trainer, pl_module, exception: BaseException) -> None:
        if not self._should_save_on_exception(trainer):
            return
        candidates = self._monitor_candidates(trainer)
        filepath = self.format_checkpoint_name(candidates)
        self._finite, self._aside_now = None, False
        self._save_checkpoint(trainer, filepath)
        self._save_last_checkpoint(trainer, candidates)
        if trainer.is_global_zero:
            log.info(
                "An %s was raised with message: %s, saved checkpoint to %s",
                type(exception).__name__, exception, filepath,
            )  # fmt: skip

    def _should_save_on_exception(self, trainer) -> bool:
        """Lightning's rule: not under ``fast_dev_run``, not in the sanity check, and not when
        this ``global_step`` is saved already (nothing trained since; step 0 included)."""
        return (
            self.save_on_exception
            and not trainer.fast_dev_run
            and not trainer.sanity_checking
            and self._last_global_step_saved != trainer.global_step
        )

    def _defers_to_validation(self, trainer) -> bool:
        """Lightning's rule for a step or time save: wait for validation's end when the
        monitored key is not logged yet, or when validation runs right after this, the
        epoch's last batch (its value would be the previous validation's)."""
        if self.monitor is None:
            return False
        if self.monitor not in trainer.callback_metrics and self.monitor not in ("epoch", "step"):
            return True
        if not trainer.is_last_batch or self._saves_on_train_epoch_end(trainer):
            return False
        every = trainer.config.check_val_every_n_epoch
        validates = every is None or (trainer.current_epoch + 1) % every == 0
        return validates and bool(sum(trainer.num_val_batches))

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if not self._skip_saving(trainer) and self._saves_on_train_epoch_end(trainer):
            self._save(trainer, top_k=self._epoch_due(trainer), last_only_after_save=True)

    def on_validation_end(self, trainer, pl_module) -> None:
        if trainer.state.fn == "fit" and not trainer.sanity_checking:
            self._val_has_run = True
        if not self._skip_saving(trainer) and not self._saves_on_train_epoch_end(trainer):
            deferred, self._save_after_validation = self._save_after_validation, False
            if deferred:
                self._save(trainer, top_k=True)
            else:
                self._save(trainer, top_k=self._epoch_due(trainer), last_only_after_save=True)

    def on_train_end(self, trainer, pl_module) -> None:
        """As Lightning: ``save_last`` is honoured when training ends even if no checkpoint was
        saved (``save_top_k=0``, or an ``every_n_epochs`` no epoch reached); not under
        ``fast_dev_run``, which saves no checkpoint."""
        if self.save_last and not self._last_checkpoint_saved and not trainer.fast_dev_run:
            self._finite, self._aside_now = None, False
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))

    def _epoch_due(self, trainer) -> bool:
        every = self._every_n_epochs
        return every >= 1 and (trainer.current_epoch + 1) % every == 0

    def _skip_saving(self, trainer) -> bool:
        return (
            bool(trainer.fast_dev_run)  # as Lightning: fast_dev_run saves no checkpoint
            or trainer.state.fn != "fit"
            or trainer.sanity_checking
            or self._last_global_step_saved == trainer.global_step  # saved at this step already
        )

    def _saves_on_train_epoch_end(self, trainer) -> bool:
        """Lightning's rule: at the training epoch's end when there is no validation, else
        after validation (also when it runs more than once an epoch, by the clock, or not
        every epoch)."""
        if self._save_on_train_epoch_end is not None:
            return self._save_on_train_epoch_end
        config = trainer.config
        if isinstance(config.val_check_interval, timedelta):  # time-based: after validation
            return False
        if config.check_val_every_n_epoch != 1:
            return False
        if not sum(trainer.num_val_batches):
            return True
        interval = config.val_check_interval
        return interval is None or interval == 1.0

    # -- saving --------------------------------------------------------------------------------

    def _save(self, trainer, top_k: bool, last_only_after_save: bool = False) -> None:
        """The top-k checkpoint (when ``top_k``) and ``last.ckpt``. ``last_only_after_save``
        (the epoch-end saves): as Lightning, ``last.ckpt`` only when a checkpoint was saved at
        this step (or ``save_last="link"`` has one to point at); ``on_train_end`` writes it
        when none was ever saved."""
        candidates = self._monitor_candidates(trainer)
        self._finite = None  # checked at most once for this save, when it would replace a file
        self._aside_now = False
        if top_k:
            self._save_topk_checkpoint(trainer, candidates)
        if (
            not last_only_after_save
            or self._last_global_step_saved == trainer.global_step
            or (self.save_last == "link" and self._last_checkpoint_saved)
        ):
            self._save_last_checkpoint(trainer, candidates)

    def _monitor_candidates(self, trainer) -> dict[str, Any]:
        candidates = deepcopy(trainer.callback_metrics)
        # as Lightning: a logged "epoch"/"step" is a float tensor; its int is used
        epoch, step = candidates.get("epoch"), candidates.get("step")
        candidates["epoch"] = (
            epoch.int() if isinstance(epoch, torch.Tensor) else torch.tensor(trainer.current_epoch)
        )
        candidates["step"] = (
            step.int() if isinstance(step, torch.Tensor) else torch.tensor(trainer.global_step)
        )
        return candidates

    def _save_topk_checkpoint(self, trainer, candidates: dict[str, Any]) -> None:
        if self.save_top_k == 0:
            return
        if self.monitor is None:
            self._save_none_monitor_checkpoint(trainer, candidates)
            return
        if self.monitor not in candidates:
            message = (
                f"`ModelCheckpoint(monitor={self.monitor!r})` could not find the monitored key "
                f"in the returned metrics: {list(candidates)}. HINT: Did you call "
                f"`self.log({self.monitor!r}, value)` in the Module?"
            )
            if self._val_has_run:
                raise MetricNotFoundError(message, self.monitor, list(candidates))
            warnings.warn(message, stacklevel=2)
            return
        # Every rank follows rank zero's score: the save is collective (a barrier, or
        # DeepSpeed's sharded save), so ranks that disagree about saving would hang.
        value = trainer.broadcast(float(candidates[self.monitor]), src=0)
        current = torch.tensor(value)
        if not torch.isfinite(current):  # NaN and inf count as the worst score
            current = torch.tensor(float("inf") if self.mode == "min" else float("-inf"))
        if self._in_top_k(current):
            self._update_best_and_save(current, trainer, candidates)
        elif self.verbose and trainer.is_global_zero:
            log.info(
                f"Epoch {int(candidates['epoch'])}, global step {int(candidates['step'])}: "
                f"{self.monitor!r} was not in top {self.save_top_k}"
            )

    def check_monitor_top_k(self, trainer, current: torch.Tensor | None = None) -> bool:
        """Whether ``current`` enters the kept ``save_top_k`` (Lightning's name)."""
        return current is not None and self._in_top_k(current)

    def _in_top_k(self, current: torch.Tensor) -> bool:
        if self.save_top_k == -1 or len(self.best_k_models) < self.save_top_k:
            return True
        better = torch.lt if self.mode == "min" else torch.gt
        return bool(better(current, self.best_k_models[self.kth_best_model_path]))

    def _save_none_monitor_checkpoint(self, trainer, candidates: dict[str, Any]) -> None:
        filepath = self._versioned(candidates, trainer, keep=self.best_model_path)
        previous = self.best_model_path
        removes = (
            self.save_top_k == 1
            and bool(previous)
            and self._should_remove_checkpoint(trainer, previous, filepath)
        )
        if self._written_aside(trainer, filepath, removes, kept=previous):
            return
        # set before saving: the checkpoint holds the state that includes itself
        self.best_model_path = filepath
        self._save_checkpoint(trainer, filepath)
        if removes:
            self._remove_checkpoint(trainer, previous)

    def _update_best_and_save(self, current, trainer, candidates: dict[str, Any]) -> None:
        k = len(self.best_k_models) + 1 if self.save_top_k == -1 else self.save_top_k
        del_filepath = self.kth_best_model_path if len(self.best_k_models) == k and k > 0 else None
        filepath = self._versioned(candidates, trainer, keep=del_filepath)
        self.current_score = current
        removes = del_filepath is not None and self._should_remove_checkpoint(
            trainer, del_filepath, filepath
        )
        if self._written_aside(trainer, filepath, removes, kept=del_filepath):
            return
        if del_filepath is not None:
            self.best_k_models.pop(del_filepath)
        self.best_k_models[filepath] = current
        if len(self.best_k_models) == k:
            worst = max if self.mode == "min" else min
            self.kth_best_model_path = worst(self.best_k_models, key=self.best_k_models.__getitem__)
            self.kth_value = self.best_k_models[self.kth_best_model_path]
        best = min if self.mode == "min" else max
        self.best_model_path = best(self.best_k_models, key=self.best_k_models.__getitem__)
        self.best_model_score = self.best_k_models[self.best_model_path]
        if self.verbose and trainer.is_global_zero:
            log.info(
                f"Epoch {int(candidates['epoch'])}, global step {int(candidates['step'])}: "
                f"{self.monitor!r} reached {float(current):0.5f} (best "
                f"{float(self.best_model_score):0.5f}), saving model to {filepath!r} as top {k}"
            )
        self._save_checkpoint(trainer, filepath)
        if removes:
            assert del_filepath is not None
            self._remove_checkpoint(trainer, del_filepath)

    def _save_last_checkpoint(self, trainer, candidates: dict[str, Any]) -> None:
        if not self.save_last:
            return
        filepath = self._versioned(
            candidates, trainer, keep=self.last_model_path, name=self.CHECKPOINT_NAME_LAST
        )
        previous = self.last_model_path
        removes = bool(previous) and self._should_remove_checkpoint(trainer, previous, filepath)
        link = (
            self.save_last == "link"
            and self.save_top_k != 0
            and self._last_checkpoint_saved not in ("", filepath)  # never a link to itself
        )
        if (
            link
            and not self._aside_now
            and self._last_saved_at == trainer.global_step  # a file of this step, to check
            and (removes or self.file_exists(filepath, trainer))
            and not self._weights_finite(trainer)
        ):
            self._warn_nonfinite(trainer, self._last_checkpoint_saved, filepath)
            return  # the non-finite checkpoint is on disk already; the link stays
        if link and self._aside_now:
            return  # this step's checkpoint went aside (and was warned about); the link stays
        if not link and self._written_aside(
            trainer, filepath, removes, kept=previous if removes else filepath
        ):
            return
        self.last_model_path = filepath  # set before saving: part of the state
        if link:
            self._link_checkpoint(trainer, self._last_checkpoint_saved, filepath)
        else:
            self._save_checkpoint(trainer, filepath)
        if removes:
            self._remove_checkpoint(trainer, previous)

    def _save_checkpoint(self, trainer, filepath: str) -> None:
        # positional, as Lightning's call: a program's mock of `save_checkpoint` sees the same
        trainer.save_checkpoint(filepath, self.save_weights_only)
        self._last_global_step_saved = trainer.global_step
        self._last_checkpoint_saved, self._last_saved_at = filepath, trainer.global_step
        if trainer.is_global_zero:
            for logger in trainer.loggers:
                notify = getattr(logger, "after_save_checkpoint", None)
                if notify is not None:
                    notify(self)

    @staticmethod
    def _link_checkpoint(trainer, filepath: str, linkpath: str) -> None:
        if trainer.is_global_zero:
            if os.path.islink(linkpath) or os.path.isfile(linkpath):
                os.remove(linkpath)
            elif os.path.isdir(linkpath):
                shutil.rmtree(linkpath)
            try:  # relative, so the folder can be moved
                os.symlink(os.path.relpath(filepath, os.path.dirname(linkpath)), linkpath)
            except OSError:  # Windows without the privilege: a copy
                if os.path.isdir(filepath):
                    shutil.copytree(filepath, linkpath)
                else:
                    shutil.copy(filepath, linkpath)
        trainer.barrier("ModelCheckpoint.link")

    # -- non-finite weights --------------------------------------------------------------------

    def _weights_finite(self, trainer) -> bool:
        """Whether every parameter of the module is finite, on every rank (once per save)."""
        if self._finite is None:
            params = [p.detach() for p in trainer.lightning_module.parameters()]
            bad = (
                torch.stack([~torch.isfinite(p).all() for p in params]).any().float()
                if params
                else torch.tensor(0.0)
            )
            if trainer.world_size > 1:  # sharded parameters: each rank checks its own
                bad = trainer.reduce(bad.to(trainer.root_device), "max")
            self._finite = not bool(bad)
        return self._finite

    def _written_aside(self, trainer, filepath: str, removes: bool, kept: str | None) -> bool:
        """A save that would replace or delete a file while the weights are not finite goes to
        ``<name>.nonfinite.ckpt`` instead (the previous such file of this callback goes);
        returns whether it did."""
        replaces = removes or self.file_exists(filepath, trainer)
        if not replaces or self._weights_finite(trainer):
            return False
        base, ext = os.path.splitext(filepath)
        aside = f"{base}{_NONFINITE}{ext}"
        trainer.save_checkpoint(aside, self.save_weights_only)
        self._last_global_step_saved = trainer.global_step
        step = trainer.global_step
        for old, at in list(self._aside.items()):
            if at != step and old != aside:
                self._remove_checkpoint(trainer, old)
                del self._aside[old]
        self._aside[aside] = step
        self._aside_now = True
        self._warn_nonfinite(trainer, aside, kept or filepath)
        return True

    @staticmethod
    def _warn_nonfinite(trainer, written: str, kept: str) -> None:
        if trainer.is_global_zero:
            warnings.warn(
                f"ModelCheckpoint: the module's parameters are not finite (NaN or inf) at epoch "
                f"{trainer.current_epoch}, step {trainer.global_step}. This checkpoint is "
                f"{written!r}; it does not replace {kept!r}, which keeps finite weights. Find "
                f"where the loss became non-finite (`Trainer(detect_anomaly=True)`).",
                stacklevel=2,
            )

    # -- removing ------------------------------------------------------------------------------

    def _should_remove_checkpoint(self, trainer, previous: str, current: str) -> bool:
        """As Lightning: not the file just written, not the one the run resumed from, and
        only inside ``dirpath``."""
        if previous == current:
            return False
        previous_path = Path(previous).absolute()
        resumed = getattr(trainer, "ckpt_path", None)
        if resumed is not None and previous_path == Path(resumed).absolute():
            return False
        assert self.dirpath is not None  # resolved in setup
        return Path(self.dirpath).absolute() in previous_path.parents

    @staticmethod
    def _remove_checkpoint(trainer, filepath: str) -> None:
        if trainer.is_global_zero:  # a file, link or a strategy's directory (DeepSpeed)
            trainer.plugin_manager.hook.remove_checkpoint(trainer=trainer, filepath=filepath)

    # -- state ---------------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        return {
            "monitor": self.monitor,
            "best_model_score": self.best_model_score,
            "best_model_path": self.best_model_path,
            "current_score": self.current_score,
            "dirpath": self.dirpath,
            "best_k_models": dict(self.best_k_models),
            "kth_best_model_path": self.kth_best_model_path,
            "kth_value": self.kth_value,
            "last_model_path": self.last_model_path,
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        saved_dirpath = state_dict.get("dirpath", self.dirpath)
        # A callback not set up yet has no folder of its own to differ from.
        if self.dirpath is None or self.dirpath == saved_dirpath:
            self.best_model_score = _score(state_dict.get("best_model_score"))
            self.kth_best_model_path = state_dict.get(
                "kth_best_model_path", self.kth_best_model_path
            )
            self.kth_value = _score(state_dict.get("kth_value", self.kth_value))
            self.best_k_models = {
                path: _score(score)
                for path, score in state_dict.get("best_k_models", self.best_k_models).items()
            }
            self.last_model_path = state_dict.get("last_model_path", self.last_model_path)
        else:
            warnings.warn(
                f"The dirpath has changed from {saved_dirpath!r} to {self.dirpath!r}, therefore "
                f"`best_model_score`, `kth_best_model_path`, `kth_value`, `last_model_path` and "
                f"`best_k_models` won't be reloaded. Only `best_model_path` will be reloaded.",
                stacklevel=2,
            )
        self.best_model_path = state_dict.get("best_model_path", self.best_model_path)

    def to_yaml(self, filepath: Any = None) -> None:
        """Write ``best_k_models`` (path -> score) to ``filepath`` (default:
        ``dirpath/best_k_models.yaml``)."""
        import yaml

        best_k = {path: float(score) for path, score in self.best_k_models.items()}
        if filepath is None:
            assert self.dirpath is not None, "to_yaml() without a path needs a dirpath"
            filepath = os.path.join(self.dirpath, "best_k_models.yaml")
        with open(filepath, "w") as f:
            yaml.dump(best_k, f)


def _score(value: Any) -> Any:
    """A score as a tensor (checkpoints written before scores were tensors hold floats)."""
    return torch.tensor(float(value)) if isinstance(value, (int, float)) else value


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
    given = [type(c).__name__ for c in trainer.callbacks if isinstance(c, Checkpoint)]
    if not trainer.config.enable_checkpointing:
        if given:  # as Lightning: checkpointing off and a checkpoint callback contradict
            raise ConfigurationError(
                f"Trainer was configured with `enable_checkpointing=False` but found "
                f"`ModelCheckpoint` in callbacks list ({', '.join(given)}). Leave "
                f"`enable_checkpointing` at True to use it, or drop it from `callbacks`."
            )
        return None
    if not any(isinstance(c, ModelCheckpoint) for c in trainer.callbacks):
        return [ModelCheckpoint()]
    return None
