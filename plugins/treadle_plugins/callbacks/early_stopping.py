"""``EarlyStopping``: stop training when a monitored metric stops improving (as Lightning 2's)."""

from __future__ import annotations

import logging
from enum import Enum
from typing import Any, Callable

import torch

from treadle.callback import Callback
from treadle.errors import ConfigurationError, MetricNotFoundError
from treadle_plugins.callbacks._collective import any_rank

log = logging.getLogger(__name__)


class EarlyStoppingReason(Enum):
    """Why :class:`EarlyStopping` stopped the run (``stopping_reason``), as Lightning's."""

    NOT_STOPPED = 0
    STOPPING_THRESHOLD = 1
    DIVERGENCE_THRESHOLD = 2
    PATIENCE_EXHAUSTED = 3
    NON_FINITE_METRIC = 4


class EarlyStopping(Callback):
    """Monitor ``monitor`` in ``trainer.callback_metrics`` and set ``trainer.should_stop``.

    :param monitor: the metric's name, as given to ``self.log``.
    :param min_delta: a change of at most ``min_delta`` does not count as an improvement.
    :param patience: checks without improvement before stopping (checks, not epochs: with
        ``check_val_every_n_epoch=10`` and ``patience=3`` at least 40 epochs run).
    :param verbose: log each decision (``logging`` at INFO, logger
        ``treadle_plugins.callbacks.early_stopping``).
    :param mode: ``"min"`` (stop when it stops decreasing) or ``"max"``.
    :param strict: a missing metric is an error (True) or skips the check (False).
    :param check_finite: stop when the metric becomes NaN or infinite.
    :param stopping_threshold: stop as soon as the metric is better than this.
    :param divergence_threshold: stop as soon as the metric is worse than this.
    :param check_on_train_epoch_end: check at the end of the training epoch (True) or after
        each validation (False). None: at the training epoch's end when validation runs once at
        the end of every epoch (the default Trainer), else after each validation.
    :param log_rank_zero_only: with ``verbose``, log on rank zero only.

    The check runs during ``fit()`` only, never in the sanity check. Every rank stops when one
    rank decides to. ``stopping_reason`` (an :class:`EarlyStoppingReason`) and
    ``stopping_reason_message`` say why it stopped. State (``wait_count``, ``stopped_epoch``,
    ``best_score``, ``patience``, the reason) goes into checkpoints under :attr:`state_key`,
    which names ``monitor`` and ``mode`` so two instances on different metrics keep their own.
    """

    mode_dict = {"min": torch.lt, "max": torch.gt}
    order_dict = {"min": "<", "max": ">"}

    def __init__(
        self,
        monitor: str,
        min_delta: float = 0.0,
        patience: int = 3,
        verbose: bool = False,
        mode: str = "min",
        strict: bool = True,
        check_finite: bool = True,
        stopping_threshold: float | None = None,
        divergence_threshold: float | None = None,
        check_on_train_epoch_end: bool | None = None,
        log_rank_zero_only: bool = False,
    ) -> None:
        if mode not in self.mode_dict:
            raise ConfigurationError(f"EarlyStopping(mode={mode!r}): `mode` can be 'min' or 'max'.")
        self.monitor = monitor
        self.patience = patience
        self.verbose = verbose
        self.mode = mode
        self.strict = strict
        self.check_finite = check_finite
        self.stopping_threshold = stopping_threshold
        self.divergence_threshold = divergence_threshold
        self.log_rank_zero_only = log_rank_zero_only
        self.wait_count = 0
        self.stopped_epoch = 0
        self.stopping_reason = EarlyStoppingReason.NOT_STOPPED
        self.stopping_reason_message: str | None = None
        self._check_on_train_epoch_end = check_on_train_epoch_end
        self._stage: str | None = None
        # As Lightning: stored signed, so `current - min_delta` is "better by min_delta" in
        # both modes.
        self.min_delta = min_delta if mode == "max" else -min_delta
        inf = torch.tensor(float("inf"))
        self.best_score = inf if mode == "min" else -inf

    @property
    def state_key(self) -> str:
        return self._generate_state_key(monitor=self.monitor, mode=self.mode)

    @property
    def monitor_op(self) -> Callable[[Any, Any], Any]:
        return self.mode_dict[self.mode]

    def setup(self, trainer, pl_module, stage: str) -> None:
        self._stage = stage
        if self._check_on_train_epoch_end is None:
            # Validation more than once an epoch, by the clock (a timedelta), or not every
            # epoch: check after validation.
            interval = trainer.config.val_check_interval
            self._check_on_train_epoch_end = (
                interval in (None, 1.0) and trainer.config.check_val_every_n_epoch == 1
            )

    def state_dict(self) -> dict[str, Any]:
        # The reason as its number: checkpoints load with weights_only=True, which refuses enums.
        return {
            "wait_count": self.wait_count,
            "stopped_epoch": self.stopped_epoch,
            "best_score": self.best_score,
            "patience": self.patience,
            "stopping_reason": self.stopping_reason.value,
            "stopping_reason_message": self.stopping_reason_message,
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.wait_count = state_dict["wait_count"]
        self.stopped_epoch = state_dict["stopped_epoch"]
        self.best_score = state_dict["best_score"]
        self.patience = state_dict["patience"]
        self.stopping_reason = EarlyStoppingReason(state_dict.get("stopping_reason", 0))
        self.stopping_reason_message = state_dict.get("stopping_reason_message")

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if self._check_on_train_epoch_end and not self._should_skip_check(trainer):
            self._run_early_stopping_check(trainer)

    def on_validation_end(self, trainer, pl_module) -> None:
        if not self._check_on_train_epoch_end and not self._should_skip_check(trainer):
            self._run_early_stopping_check(trainer)

    def _should_skip_check(self, trainer) -> bool:
        return self._stage != "fit" or trainer.sanity_checking or bool(trainer.fast_dev_run)

    def _validate_condition_metric(self, logs: dict[str, Any]) -> bool:
        if logs.get(self.monitor) is not None:
            return True
        message = (
            f"Early stopping conditioned on metric `{self.monitor}` which is not "
            f"available. Pass in or modify your `EarlyStopping` callback to use any of "
            f"the following: `{'`, `'.join(logs)}`"
        )
        if self.strict:
            raise MetricNotFoundError(message, self.monitor, list(logs))
        if self.verbose:
            log.warning(message)
        return False

    def _run_early_stopping_check(self, trainer) -> None:
        logs = trainer.callback_metrics
        # fast_dev_run turns early stopping off, as in Lightning (once the Trainer has it).
        if getattr(trainer.config, "fast_dev_run", False) or not self._validate_condition_metric(
            logs
        ):
            return
        current = torch.as_tensor(logs[self.monitor]).detach().squeeze()
        should_stop, reason = self._evaluate_stopping_criteria(current)
        should_stop = any_rank(trainer, should_stop)
        trainer.should_stop = trainer.should_stop or should_stop
        if should_stop:
            self.stopped_epoch = trainer.current_epoch
            self.stopping_reason_message = reason
        if reason and self.verbose:
            self._log_info(trainer, reason)

    def _evaluate_stopping_criteria(self, current: torch.Tensor) -> tuple[bool, str | None]:
        op, sign = self.monitor_op, self.order_dict[self.mode]
        if self.check_finite and not torch.isfinite(current):
            self.stopping_reason = EarlyStoppingReason.NON_FINITE_METRIC
            return True, (
                f"Monitored metric {self.monitor} = {current} is not finite. Previous "
                f"best value was {self.best_score:.3f}. Signaling Trainer to stop."
            )
        if self.stopping_threshold is not None and op(current, self.stopping_threshold):
            self.stopping_reason = EarlyStoppingReason.STOPPING_THRESHOLD
            return True, (
                f"Stopping threshold reached: {self.monitor} = {current} {sign} "
                f"{self.stopping_threshold}. Signaling Trainer to stop."
            )
        if self.divergence_threshold is not None and op(-current, -self.divergence_threshold):
            self.stopping_reason = EarlyStoppingReason.DIVERGENCE_THRESHOLD
            return True, (
                f"Divergence threshold reached: {self.monitor} = {current} {sign} "
                f"{self.divergence_threshold}. Signaling Trainer to stop."
            )
        if op(current - self.min_delta, self.best_score.to(current.device)):
            reason = self._improvement_message(current)
            self.best_score, self.wait_count = current, 0
            return False, reason
        self.wait_count += 1
        if self.wait_count >= self.patience:
            self.stopping_reason = EarlyStoppingReason.PATIENCE_EXHAUSTED
            return True, (
                f"Monitored metric {self.monitor} did not improve in the last "
                f"{self.wait_count} records. Best score: {self.best_score:.3f}. "
                f"Signaling Trainer to stop."
            )
        return False, None

    def _improvement_message(self, current: torch.Tensor) -> str:
        if torch.isfinite(self.best_score):
            return (
                f"Metric {self.monitor} improved by {abs(self.best_score - current):.3f} >= "
                f"min_delta = {abs(self.min_delta)}. New best score: {current:.3f}"
            )
        return f"Metric {self.monitor} improved. New best score: {current:.3f}"

    def _log_info(self, trainer, message: str) -> None:
        rank = trainer.global_rank if trainer.world_size > 1 else None
        if rank is not None:
            message = f"[rank: {rank}] {message}"
        if rank is None or not self.log_rank_zero_only or rank == 0:
            log.info(message)
