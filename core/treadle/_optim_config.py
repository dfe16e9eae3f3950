"""Read what ``configure_optimizers()`` returned, in every Lightning form."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import torch

from treadle._fastconfig import shown

_CONFIG_KEYS = {"scheduler", "interval", "frequency", "monitor", "strict", "name"}
_OPT_DICT_KEYS = {"optimizer", "lr_scheduler", "monitor"}


@dataclass
class SchedulerConfig:
    """One scheduler and when automatic optimization steps it (Lightning's ``LRSchedulerConfig``)."""

    scheduler: Any
    interval: str = "epoch"
    frequency: int = 1
    monitor: str | None = None
    strict: bool = True
    name: str | None = None
    opt_idx: int = 0

    @property
    def reduce_on_plateau(self) -> bool:
        return isinstance(self.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau)


def _is_optimizer(x: Any) -> bool:
    return isinstance(x, torch.optim.Optimizer) or (
        hasattr(x, "step") and hasattr(x, "param_groups")
    )


# Values that are never a scheduler (a scheduler slot holding a list of them is a common slip).
_NOT_SCHEDULERS = (list, tuple, dict, set, type, str, bytes, bool, int, float)


def _is_scheduler(x: Any) -> bool:
    """torch's schedulers, or an object with ``step`` (its state methods are checked later)."""
    return isinstance(
        x, (torch.optim.lr_scheduler.LRScheduler, torch.optim.lr_scheduler.ReduceLROnPlateau)
    ) or (callable(getattr(x, "step", None)) and not isinstance(x, (type, list, tuple, dict)))


def parse(returned: Any) -> tuple[list[Any], list[SchedulerConfig], list[str]]:
    """``(optimizers, scheduler configs, problems)``; warns when there is no optimizer."""
    problems: list[str] = []
    where = "Module.configure_optimizers()"
    if returned is None or (isinstance(returned, (list, tuple)) and not returned):
        # As Lightning: the fit runs without an optimizer (forward and backward only), and
        # global_step still advances once per optimizer-step batch, so max_steps ends it.
        warnings.warn(
            f"`configure_optimizers()` returned {returned!r}: this fit will run with no "
            f"optimizer (forward and backward only; `global_step` still advances). Return an "
            f"optimizer to train.",
            stacklevel=4,
        )
        return [], [], []
    if _is_optimizer(returned):
        return [returned], [], []
    if isinstance(returned, dict):
        returned = [returned]
    if not isinstance(returned, (list, tuple)):
        return (
            [],
            [],
            [
                f"Unknown configuration for model optimizers: {where} returned "
                f"{type(returned).__name__}; return an optimizer, a list of optimizers, "
                f"([optimizers], [schedulers]), or a dict with 'optimizer' and 'lr_scheduler'."
            ],
        )
    items = list(returned)
    optimizers: list[Any] = []
    configs: list[SchedulerConfig | None] = []
    if (
        len(items) == 2
        and isinstance(items[0], (list, tuple))
        and (isinstance(items[1], (list, tuple)) or _is_scheduler(items[1]))
    ):
        optimizers = list(items[0])  # as Lightning: ([opt], sched) means ([opt], [sched])
        schedulers = items[1] if isinstance(items[1], (list, tuple)) else [items[1]]
        for sch in schedulers:
            configs.append(_scheduler_config(sch, None, optimizers, problems, where))
    elif items and all(isinstance(x, dict) for x in items):
        for d in items:
            unknown = set(d) - _OPT_DICT_KEYS
            if "optimizer" not in d:
                problems.append(
                    f"{where} returned a dict with keys {sorted(d)}; expected "
                    f"'optimizer' and optionally 'lr_scheduler' and 'monitor'."
                )
                continue
            if unknown:  # as Lightning: a warning, the keys ignored
                warnings.warn(
                    f"Found unsupported keys in the optimizer configuration: {unknown}. "
                    f"{where} may return 'optimizer', 'lr_scheduler' and 'monitor'; remove "
                    f"the others.",
                    RuntimeWarning,
                    stacklevel=5,
                )
            optimizers.append(d["optimizer"])
            if d.get("lr_scheduler") is not None:
                configs.append(
                    _scheduler_config(
                        d["lr_scheduler"], d.get("monitor"), optimizers, problems, where
                    )
                )
    elif all(_is_optimizer(x) for x in items):
        optimizers = items
    else:
        problems.append(
            f"Unknown configuration for model optimizers: {where} returned "
            f"{type(returned).__name__} of {[type(x).__name__ for x in items]}; that is not "
            f"one of Lightning's forms."
        )
    for i, opt in enumerate(optimizers):
        if not _is_optimizer(opt):
            problems.append(
                f"{where}: optimizer #{i} is a {type(opt).__name__}, not a torch.optim.Optimizer."
            )
    return optimizers, [c for c in configs if c is not None], problems


def _scheduler_config(
    sch: Any, monitor: str | None, optimizers: list[Any], problems: list[str], where: str
) -> SchedulerConfig | None:
    if isinstance(sch, dict):
        if "scheduler" not in sch:
            problems.append(
                f'The lr scheduler dict must have the key "scheduler" with its item being an lr '
                f"scheduler: {where}'s 'lr_scheduler' dict has keys {sorted(sch)}; expected "
                f"'scheduler' and optionally {sorted(_CONFIG_KEYS - {'scheduler'})}."
            )
            return None
        # (Lightning's own ``reduce_on_plateau`` key: told by the scheduler's type here)
        unknown = set(sch) - _CONFIG_KEYS - {"reduce_on_plateau"}
        if unknown:  # as Lightning: a warning, the keys ignored
            warnings.warn(
                f"Found unsupported keys in the lr scheduler dict: {unknown}. HINT: remove them "
                f"from the output of `configure_optimizers` (known: {sorted(_CONFIG_KEYS)}).",
                RuntimeWarning,
                stacklevel=6,
            )
        known = {k: v for k, v in sch.items() if k in _CONFIG_KEYS}
        cfg = SchedulerConfig(**{"monitor": monitor, **known})
    else:
        cfg = SchedulerConfig(scheduler=sch, monitor=monitor)
    if cfg.scheduler is None or isinstance(cfg.scheduler, _NOT_SCHEDULERS):
        # (any other object may be a scheduler: one without step() is fine with an
        # lr_scheduler_step override, checked by treadle.core's validate)
        problems.append(
            f"{where}: a scheduler slot holds {shown(cfg.scheduler)}, not a learning-rate "
            f"scheduler. Put the scheduler itself there: `([optimizer], [scheduler])`, "
            f"`{{'optimizer': optimizer, 'lr_scheduler': scheduler}}` or "
            f"`{{'scheduler': scheduler, 'interval': 'step'}}` (not a list of schedulers)."
        )
        return None
    if cfg.interval not in ("step", "epoch"):
        problems.append(
            f'The "interval" key in lr scheduler dict must be "step" or "epoch" but is '
            f'"{cfg.interval}" ({where}).'
        )
    if not isinstance(cfg.frequency, int) or cfg.frequency < 1:
        problems.append(f"{where}: lr_scheduler `frequency={cfg.frequency!r}`; use an int >= 1.")
    owner = getattr(cfg.scheduler, "optimizer", None)
    for i, opt in enumerate(optimizers):
        if opt is owner:
            cfg.opt_idx = i
            break
    else:
        if _is_optimizer(owner):  # as Lightning: it would step an optimizer never stepped
            problems.append(
                f"Some schedulers are attached with an optimizer that wasn't returned from "
                f"`configure_optimizers`: {where}'s `{type(cfg.scheduler).__name__}` steps an "
                f"optimizer it did not return. Return that optimizer too, or build the "
                f"scheduler on one of those returned."
            )
    return cfg
