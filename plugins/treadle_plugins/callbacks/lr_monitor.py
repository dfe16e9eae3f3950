"""``LearningRateMonitor``: log each optimizer's learning rate (and momentum) to the loggers."""

from __future__ import annotations

import warnings
from collections import defaultdict
from typing import Any

import torch

from treadle.callback import Callback
from treadle.errors import ConfigurationError


class LearningRateMonitor(Callback):
    """Log learning rates as Lightning 2's callback does, under Lightning's key names.

    :param logging_interval: ``"step"`` or ``"epoch"`` for every optimizer; None logs each
        scheduler at its own ``interval`` (optimizers without a scheduler at both).
    :param log_momentum: also log ``<name>-momentum`` (``momentum``, or ``betas[0]`` for Adam).
    :param log_weight_decay: also log ``<name>-weight_decay``.

    Names: ``lr-SGD``, ``lr-Adam``; a second optimizer of the same type ``lr-Adam-1``; several
    parameter groups ``lr-Adam/pg1``, ``lr-Adam/pg2`` (or the group's ``name``); a scheduler
    configured with ``"name": "my_lr"`` logs as ``my_lr``. Step values are logged before the
    batch runs, when the step is due for logging (``log_every_n_steps``); epoch values at the
    epoch's start. The values also go into ``trainer.callback_metrics``.
    """

    def __init__(
        self,
        logging_interval: str | None = None,
        log_momentum: bool = False,
        log_weight_decay: bool = False,
    ) -> None:
        if logging_interval not in (None, "step", "epoch"):
            raise ConfigurationError(
                f"LearningRateMonitor(logging_interval={logging_interval!r}): "
                f"`logging_interval` should be 'step', 'epoch' or None."
            )
        self.logging_interval = logging_interval
        self.log_momentum = log_momentum
        self.log_weight_decay = log_weight_decay
        self.lrs: dict[str, list[float]] = {}
        self.last_momentum_values: dict[str, float | None] = {}
        self.last_weight_decay_values: dict[str, float | None] = {}

    def validate(self, trainer, module) -> list[str]:
        """Problems found before training: no logger, duplicate parameter-group names."""
        problems = []
        if not trainer.loggers:
            problems.append(
                "LearningRateMonitor: cannot log learning rates because the Trainer "
                "has no logger (`logger=False`). Pass `logger=True` (CSV) or a "
                "logger, or remove the callback."
            )
        for optimizer in _optimizers(trainer):
            names = [pg.get("name", f"pg{i}") for i, pg in enumerate(optimizer.param_groups, 1)]
            duplicated = sorted({n for n in names if names.count(n) > 1})
            if duplicated:
                problems.append(
                    f"LearningRateMonitor: optimizer {type(optimizer).__name__} has "
                    f"several parameter groups named {duplicated}; give each group "
                    f"a unique `name` (the logged keys would collide)."
                )
        return problems

    def on_train_start(self, trainer, pl_module) -> None:
        if self.log_momentum:

            def lacks(key: str) -> bool:
                return any(key not in opt.defaults for opt in _optimizers(trainer))

            if lacks("momentum") and lacks("betas"):
                warnings.warn(
                    "You have set log_momentum=True, but some optimizers do not have "
                    "momentum. This will log a value 0 for the momentum.",
                    RuntimeWarning,
                    stacklevel=2,
                )
        (scheduler_names, optimizer_names), _ = self._names(trainer)
        names = [n for group in (*scheduler_names, *optimizer_names) for n in group]
        self.lrs = {name: [] for name in names}
        self.last_momentum_values = {f"{name}-momentum": None for name in names}
        self.last_weight_decay_values = {f"{name}-weight_decay": None for name in names}

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        step = trainer.global_step + 1  # as Lightning: checked before this batch's step
        every = trainer.log_every_n_steps  # (0: never, as Lightning)
        due = bool(every) and (step % every == 0 or trainer.should_stop)
        if due and self.logging_interval != "epoch":
            self._log(trainer, pl_module, "step" if self.logging_interval is None else "any")

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        if self.logging_interval != "step":
            self._log(trainer, pl_module, "epoch" if self.logging_interval is None else "any")

    def _log(self, trainer, pl_module, interval: str) -> None:
        stats = self._extract_stats(trainer, interval)
        if not stats:
            return
        device = pl_module.device
        trainer.callback_metrics.update(
            {k: torch.tensor(v, device=device) for k, v in stats.items()}
        )
        if trainer.is_global_zero:
            for logger in trainer.loggers:
                logger.log_metrics(stats, step=trainer.global_step)

    def _extract_stats(self, trainer, interval: str) -> dict[str, float]:
        """The values due at ``interval`` (``"any"``: all), recorded in ``self.lrs``."""
        stats: dict[str, float] = {}
        (scheduler_names, optimizer_names), unscheduled = self._names(trainer)
        for names in (*scheduler_names, *optimizer_names):
            for name in names:  # an optimizer that gained parameter groups: lr-X -> lr-X/pg1
                if name.endswith("/pg1") and name[:-4] in self.lrs:
                    self.lrs[name] = self.lrs.pop(name[:-4])
        for names, config in zip(scheduler_names, trainer.lr_scheduler_configs):
            if interval in (config.interval, "any"):
                stats.update(self._optimizer_stats(config.scheduler.optimizer, names))
        for names, optimizer in zip(optimizer_names, unscheduled):
            stats.update(self._optimizer_stats(optimizer, names))
        return stats

    def _optimizer_stats(self, optimizer: Any, names: list[str]) -> dict[str, float]:
        stats: dict[str, float] = {}
        betas = "betas" in optimizer.defaults
        for group, name in zip(optimizer.param_groups, names):
            stats[name] = group["lr"]
            self.lrs.setdefault(name, []).append(group["lr"])
            if self.log_momentum:
                momentum = group["betas"][0] if betas else group.get("momentum", 0)
                stats[f"{name}-momentum"] = self.last_momentum_values[f"{name}-momentum"] = momentum
            if self.log_weight_decay:
                decay = group["weight_decay"]
                stats[f"{name}-weight_decay"] = self.last_weight_decay_values[
                    f"{name}-weight_decay"
                ] = decay
        return stats

    def _names(self, trainer) -> tuple[tuple[list[list[str]], list[list[str]]], list[Any]]:
        """((names per scheduler, names per unscheduled optimizer), unscheduled optimizers).

        Each entry lists one name per parameter group, as Lightning builds them: the
        scheduler's ``name`` or ``lr-<OptimizerClass>``, ``-<n>`` for the n-th further unnamed
        optimizer of one class, ``/pgN`` or ``/<group name>`` for parameter groups.
        """
        seen: list[Any] = []
        seen_types: defaultdict[type, int] = defaultdict(int)
        scheduler_names = []
        for config in trainer.lr_scheduler_configs:
            optimizer = config.scheduler.optimizer
            name = config.name if config.name is not None else f"lr-{type(optimizer).__name__}"
            scheduler_names.append(
                self._group_names(optimizer, name, seen, seen_types, named=config.name is not None)
            )
        optimizer_names, unscheduled = [], []
        for optimizer in _optimizers(trainer):
            if optimizer in seen:
                continue
            optimizer_names.append(
                self._group_names(
                    optimizer, f"lr-{type(optimizer).__name__}", seen, seen_types, named=False
                )
            )
            unscheduled.append(optimizer)
        return (scheduler_names, optimizer_names), unscheduled

    @staticmethod
    def _group_names(
        optimizer: Any, name: str, seen: list[Any], seen_types: defaultdict[type, int], named: bool
    ) -> list[str]:
        seen.append(optimizer)
        cls = type(optimizer)
        if not named:
            seen_types[cls] += 1
        count = seen_types.get(cls, 0)
        if count > 1:
            name = f"{name}-{count - 1}"
        groups = optimizer.param_groups
        if len(groups) > 1:
            return [f"{name}/{pg.get('name', f'pg{i}')}" for i, pg in enumerate(groups, 1)]
        group_name = groups[0].get("name") if groups else None
        return [f"{name}/{group_name}" if group_name else name]


def _optimizers(trainer) -> list[Any]:
    """The user's optimizers (a strategy's wrapper, DeepSpeed's, exposes ``.optimizer``)."""
    return [getattr(o, "optimizer", o) for o in trainer.optimizers]
