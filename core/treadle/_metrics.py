"""What ``Module.log`` records, with Lightning's defaults and key names.

* In training batch hooks the defaults are ``on_step=True, on_epoch=False``; in validation
  and in epoch-level hooks, ``on_step=False, on_epoch=True``.
* A metric logged both per step and per epoch appears as ``name_step`` and ``name_epoch`` in
  ``logged_metrics``/``progress_bar_metrics``; ``callback_metrics["name"]`` holds the latest
  of the two (outside training, the epoch value only: step values of validation and test go to
  the loggers, not to callbacks).
* While one of several evaluation dataloaders runs, names get Lightning's suffix after the
  fork: ``name/dataloader_idx_N``, ``name_epoch/dataloader_idx_N``; each dataloader's result
  dict holds what was logged while it ran, plus what was logged outside any one loader
  (``add_dataloader_idx=False`` drops the suffix, not the attribution).
* Epoch values are the mean over the epoch's batches weighted by batch size (or ``sum``,
  ``max``, ``min`` with ``reduce_fx``).
* ``sync_dist=True`` (several ranks): an epoch value is reduced over the ranks once, when the
  epoch ends (``end_epoch``): the weighted mean is sum(value x batch size) / sum(batch size)
  over every rank's batches, so ranks with different batch counts (evaluation reads each
  sample once) are weighted right and no collective runs per batch. A step value is reduced
  in the ``log`` call during training only (every rank runs the same batches there); in
  validation, test and predict a step value stays the rank's own.
* In validation and test, step values (``on_step=True``) go to ``logged_metrics`` and the
  loggers per batch (at step ``batch_idx``), never to ``callback_metrics``.
* A ``torchmetrics.Metric`` logged as the value: its ``forward`` result of the batch is the
  step value, ``compute()`` at epoch end the epoch value, then ``reset()`` once the stage's
  epoch hooks have run (and after the sanity check). ``torchmetrics`` is never imported here:
  a value is a ``Metric`` only if ``torchmetrics`` is already loaded.
"""

from __future__ import annotations

import contextlib
import numbers
import os
import sys
from collections.abc import Iterator
from typing import Any

import torch

from treadle.errors import ConfigurationError
from treadle.hookspecs import HOOKS
from treadle.utilities import batch_size_of

_REDUCE = ("mean", "sum", "max", "min")
# ``reduce_fx`` spellings Lightning accepts: these strings (any case) and these callables.
_REDUCE_ALIASES = {"avg": "mean"}
_REDUCE_CALLABLES = (
    (torch.mean, "mean"),
    (torch.sum, "sum"),
    (sum, "sum"),
    (torch.max, "max"),
    (max, "max"),
    (torch.min, "min"),
    (min, "min"),
)


# Lightning's ``_FxValidator``: where ``self.log`` may be called, by the hook logging. The hook
# table (``HookInfo.logs``) says it for the hooks treadle has specs for, under both names a call
# may carry (the hook's and the ``Module`` method's, e.g. ``scheduler_step`` and
# ``lr_scheduler_step``); these are Lightning's hooks that are no hookspecs here.
_LIGHTNING_ONLY = {
    "refused": (
        "configure_sharded_model",
        "configure_model",
        "configure_optimizers",
        "prepare_data",
        "train_dataloader",
        "val_dataloader",
        "test_dataloader",
        "predict_dataloader",
        "predict_step",
        "state_dict",
        "load_state_dict",
    ),
    "step_or_epoch": ("training_step", "validation_step", "test_step"),
}
# a strategy's hook that runs a Module's step: logging in it is logging in that step
_RUNS_STEP = {
    "run_training_step": "training_step",
    "run_validation_step": "validation_step",
    "run_test_step": "test_step",
    "run_predict_step": "predict_step",
}


def _logging_rules() -> tuple[dict[str, str], dict[str, str]]:
    """(frame name -> what ``self.log`` may record there, frame name -> Lightning's hook name)."""
    rules = {name: rule for rule, names in _LIGHTNING_ONLY.items() for name in names}
    lightning_name: dict[str, str] = {}
    for name, info in HOOKS.items():
        if info.logs is None:
            continue
        lightning = _RUNS_STEP.get(name, info.module_method or name)
        for called in {name, lightning}:
            rules[called] = info.logs
            lightning_name[called] = lightning
    return rules, lightning_name


_RULES, _LIGHTNING_NAME = _logging_rules()
_FRAMES_SEARCHED = 12
_CORE = os.path.dirname(os.path.abspath(__file__)) + os.sep


def logging_hook(frame: Any) -> str | None:
    """The hook a ``self.log`` call is made in, by its callers' frames: the nearest named after
    a hook, so a helper method, a decorator, a lambda or a wrapper called from the hook counts
    as the hook. The search stops at the core's own code (which calls the hooks): None then,
    and the caller falls back on ``MetricStore.hook``, set by the core around hooks it calls
    directly."""
    for _ in range(_FRAMES_SEARCHED):
        if frame is None:
            return None
        code = frame.f_code
        if code.co_name in _RULES:
            return _LIGHTNING_NAME.get(code.co_name, code.co_name)
        if code.co_filename.startswith(_CORE):
            return None
        frame = frame.f_back
    return None


def check_hook_logs(hook: str, name: str, on_step: bool | None, on_epoch: bool | None) -> None:
    """Refuse ``self.log(name, ...)`` where Lightning's ``_FxValidator`` refuses it."""
    rule = _RULES.get(hook)
    if rule == "refused":
        raise ConfigurationError(
            f"You can't `self.log()` inside `{hook}`. HINT: You can still log directly to the "
            f"logger by using `self.logger.experiment`. (`self.log({name!r}, ...)`: log it in a "
            f"step, batch or epoch hook instead.)"
        )
    if rule == "epoch":
        if on_step:
            raise ConfigurationError(
                f"You can't `self.log(on_step=True)` inside `{hook}`, must be one of (False,). "
                f"(`self.log({name!r}, ...)`: an epoch-level hook logs epoch values; drop "
                f"`on_step=True`.)"
            )
        if on_epoch is False:
            raise ConfigurationError(
                f"You can't `self.log(on_epoch=False)` inside `{hook}`, must be one of (True,). "
                f"(`self.log({name!r}, ...)`: drop `on_epoch=False`.)"
            )


def reduce_name(name: str, reduce_fx: Any) -> str:
    """``reduce_fx`` as one of ``mean``/``sum``/``max``/``min``; anything else is an error."""
    if isinstance(reduce_fx, str):
        key = _REDUCE_ALIASES.get(reduce_fx.lower(), reduce_fx.lower())
        if key in _REDUCE:
            return key
    else:
        for fn, key in _REDUCE_CALLABLES:
            if reduce_fx is fn:
                return key
    raise ConfigurationError(
        f"Only `self.log(..., reduce_fx={{min,max,mean,sum}})` are supported. Found: "
        f"`self.log({name!r}, ..., reduce_fx={reduce_fx!r})`; use one of {', '.join(_REDUCE)} "
        f"(or torch.mean, torch.sum, torch.max, torch.min). For another reduction, log a "
        f"`torchmetrics.Metric` instead, as in Lightning."
    )


def is_metric(value: Any) -> bool:
    """True for a ``torchmetrics.Metric`` (only possible once ``torchmetrics`` is imported)."""
    tm = sys.modules.get("torchmetrics")
    return tm is not None and isinstance(value, tm.Metric)


def _to_tensor(name: str, value: Any, enable_graph: bool) -> torch.Tensor:
    """A float scalar tensor from a number or a one-element tensor (Lightning's checks and,
    leading each message, Lightning's wording)."""
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            shown = value.detach()
            raise ValueError(
                f"`self.log({name}, {shown})` was called, but the tensor must have a single "
                f"element. You can try doing `self.log({name}, {shown}.mean())`"
            )
        if not enable_graph:
            value = value.detach()
        if not value.is_floating_point():
            value = value.float()
        return value.reshape(())
    if isinstance(value, numbers.Number) and not isinstance(value, complex):
        return torch.tensor(float(value))  # type: ignore[arg-type]
    if isinstance(value, dict):
        if any(isinstance(v, dict) for v in value.values()):
            raise ValueError(
                f"`self.log({name}, {value})` was called, but nested dictionaries cannot be "
                f"logged; log each value with `self.log_dict`."
            )
        raise ValueError(
            f"`self.log({name}, {value})` was called, but `dict` values cannot be logged; "
            f"use `self.log_dict(value)`."
        )
    raise ValueError(
        f"`self.log({name}, {value})` was called, but `{type(value).__name__}` values cannot "
        f"be logged; log a number, a one-element tensor or a `torchmetrics.Metric`."
    )


# What a rank contributes to a sync_dist reduction for a metric it did not log this epoch.
_IDENTITY = {"mean": 0.0, "sum": 0.0, "max": float("-inf"), "min": float("inf")}


class _EpochAccumulator:
    __slots__ = (
        "reduce_fx",
        "total",
        "weight",
        "prog_bar",
        "logger",
        "key",
        "sync_dist",
        "dataloader_idx",
    )

    def __init__(self, reduce_fx, prog_bar, logger, key, sync_dist=False, dataloader_idx=None):
        self.reduce_fx, self.prog_bar, self.logger, self.key = reduce_fx, prog_bar, logger, key
        self.sync_dist = sync_dist
        self.dataloader_idx = dataloader_idx  # the evaluation loader it was logged in, or None
        self.total = None
        self.weight = 0

    def add(self, value: torch.Tensor, weight: int) -> None:
        if self.total is None:
            self.total = value * weight if self.reduce_fx == "mean" else value.clone()
        elif self.reduce_fx == "mean":
            self.total = self.total + value * weight
        elif self.reduce_fx == "sum":
            self.total = self.total + value
        elif self.reduce_fx == "max":
            self.total = torch.maximum(self.total, value)
        else:
            self.total = torch.minimum(self.total, value)
        self.weight += weight

    def compute(self) -> torch.Tensor:
        if self.reduce_fx == "mean":
            return self.total / max(self.weight, 1)
        return self.total


class _MetricAccumulator:
    """A ``torchmetrics.Metric`` logged with ``on_epoch=True``: the epoch value is its
    ``compute()``; the metric syncs its own state over ranks, so ``sync_dist`` plays no part."""

    __slots__ = ("metric", "name", "prog_bar", "logger", "key")
    sync_dist = False  # never reduced by the store: the metric syncs itself
    dataloader_idx = None  # (its key carries the loader's suffix when several run)

    def __init__(self, metric: Any, name: str, prog_bar: bool, logger: bool, key: str) -> None:
        self.metric, self.name, self.prog_bar, self.logger, self.key = (
            metric,
            name,
            prog_bar,
            logger,
            key,
        )

    def add(self, metric: Any, weight: int) -> None:
        self.metric = metric

    def compute(self) -> torch.Tensor:
        value = self.metric.compute()
        if not isinstance(value, torch.Tensor):
            raise ValueError(
                f"The `.compute()` return of the metric logged as {self.name!r} must be a "
                f"tensor. `self.log({self.name!r}, metric)`: `{type(self.metric).__name__}"
                f".compute()` returned a {type(value).__name__}, not a tensor; "
                f"log each value of a metric returning several with `log_dict`."
            )
        return value.detach()


class MetricStore:
    """Metrics of one ``Trainer``. ``stage`` and ``in_step`` are set by the loop."""

    def __init__(self, trainer):
        self.trainer = trainer
        self.callback_metrics: dict[str, torch.Tensor] = {}
        self.logged_metrics: dict[str, torch.Tensor] = {}
        self.progress_bar_metrics: dict[str, torch.Tensor] = {}
        self.pending_step: dict[str, torch.Tensor] = {}  # step values for the loggers
        self.pending_eval_step: dict[str, torch.Tensor] = {}  # the same, of one eval batch
        self._metrics_to_reset: dict[str, dict[int, Any]] = {}  # torchmetrics, per stage
        self._epoch: dict[str, dict[str, Any]] = {}  # stage -> name -> an accumulator
        # stage -> (hook, name) -> the arguments it was logged with this epoch
        self._meta: dict[str, dict[tuple, tuple]] = {}
        self.stage = "train"  # "train", "sanity", "validate", "test" or "predict"
        self.in_step = False  # inside a batch-level hook
        # the hook the core is calling directly, not through a hook caller (for `self.log`'s
        # refusals: Lightning's `_current_fx_name`); set by `calling`
        self.hook: str | None = None
        self.current_batch: Any = None  # for the batch size of epoch means
        self.dataloader_idx: int | None = None  # set while one of several loaders runs
        # logged key -> the loader it was logged in (None: outside any one), for the end_epoch
        # calls since the last `start_epoch_results`; what for_dataloader splits the results by
        self.epoch_dataloaders: dict[str, int | None] = {}

    def log(
        self,
        name: str,
        value: Any,
        *,
        prog_bar: bool = False,
        logger: bool = True,
        on_step: bool | None = None,
        on_epoch: bool | None = None,
        reduce_fx: Any = "mean",
        sync_dist: bool = False,
        batch_size: int | None = None,
        add_dataloader_idx: bool = True,
        enable_graph: bool = False,
        sync_dist_group: Any = None,
        rank_zero_only: bool = False,
        fx: str | None = None,
    ) -> None:
        if add_dataloader_idx and "/dataloader_idx_" in name:
            raise ConfigurationError(
                f"You called `self.log` with the key `{name}` but it should not contain "
                f"information about `dataloader_idx` when `add_dataloader_idx=True`: the "
                f"suffix is added when several dataloaders run. Log the name without it."
            )
        if self.stage == "predict" or self.trainer.state.fn == "predict":
            raise ConfigurationError(  # (a ValueError) Lightning's words first
                f"You are trying to `self.log()` but the loop's result collection is not "
                f"registered yet. This is most likely because you are trying to log in a "
                f"`predict` hook, but it doesn't support logging. (`self.log({name!r}, ...)` "
                f"in predict: return the values from `predict_step` instead.)"
            )
        if fx is not None:
            check_hook_logs(fx, name, on_step, on_epoch)
        metric = value if is_metric(value) else None
        if metric is None:
            value = _to_tensor(name, value, enable_graph)
        reduce_fx = reduce_name(name, reduce_fx)
        training_step = self.stage == "train" and self.in_step
        on_step = training_step if on_step is None else on_step
        on_epoch = (not training_step) if on_epoch is None else on_epoch
        if not (on_step or on_epoch):
            raise ConfigurationError(
                f"`self.log(on_step=False, on_epoch=False)` is not useful. "
                f"`self.log({name!r}, ...)` would record nothing; set one of them to True."
            )
        if on_step and not self.in_step:
            raise ValueError(
                f"`self.log({name!r}, ..., on_step=True)` outside a batch: epoch-"
                f"level hooks (on_*_epoch_start/end, on_train_start, ...) log "
                f"epoch values only; drop `on_step=True`."
            )
        if metric is not None:
            self._metrics_to_reset.setdefault(self.stage, {})[id(metric)] = metric
        if self.stage == "sanity":
            return
        dataloader_idx = self.dataloader_idx
        if fx is not None:
            # as Lightning: one name logged twice in one hook must keep its arguments
            # (per loader, as its key: `self.log(name, ...)` of each loader is its own metric)
            meta = (
                prog_bar,
                logger,
                on_step,
                on_epoch,
                reduce_fx,
                sync_dist,
                enable_graph,
                add_dataloader_idx,
                rank_zero_only,
                metric is None,
            )
            seen = self._meta.setdefault(self.stage, {})
            where = (fx, self.in_step, name, dataloader_idx if add_dataloader_idx else None)
            if seen.setdefault(where, meta) != meta:
                raise ConfigurationError(
                    f"You called `self.log({name}, ...)` twice in `{fx}` with different "
                    f"arguments. This is not allowed (as in Lightning): log it with the same "
                    f"arguments each time, or under another name."
                )
        # Lightning's keys: name, name_step, name_epoch, each followed by the loader's suffix.
        suffix = (
            f"/dataloader_idx_{dataloader_idx}"
            if dataloader_idx is not None and add_dataloader_idx
            else ""
        )
        if metric is not None:
            # the batch's value is what the metric's forward returned (none after update() only)
            cached = getattr(metric, "_forward_cache", None)
            value = cached.detach() if isinstance(cached, torch.Tensor) else None
        step_value = value
        if (
            metric is None
            and sync_dist
            and not rank_zero_only
            and self.stage == "train"
            and self.trainer.world_size > 1
        ):  # training: the same batch count on every rank
            step_value = self.trainer.reduce(value, reduce_fx)
        both = on_step and on_epoch
        if on_step and step_value is not None:
            self._log_step(
                f"{name}{suffix}",
                f"{name}_step{suffix}" if both else f"{name}{suffix}",
                step_value,
                prog_bar,
                logger,
            )
        if on_epoch:
            accumulators = self._epoch.setdefault(self.stage, {})
            acc = accumulators.get(name + suffix)
            key = f"{name}_epoch{suffix}" if both else f"{name}{suffix}"
            if metric is not None:
                if acc is None:
                    acc = accumulators[name + suffix] = _MetricAccumulator(
                        metric, name + suffix, prog_bar, logger, key
                    )
                acc.add(metric, 1)
                return
            if acc is None:
                acc = accumulators[name + suffix] = _EpochAccumulator(
                    reduce_fx, prog_bar, logger, key, sync_dist, dataloader_idx
                )
            elif (
                None not in (acc.dataloader_idx, dataloader_idx)
                and acc.dataloader_idx != dataloader_idx
            ):
                raise ValueError(
                    f"`self.log({name!r}, ..., add_dataloader_idx=False)` in dataloader "
                    f"{dataloader_idx}: {name!r} was already logged in dataloader "
                    f"{acc.dataloader_idx} this epoch, and without the index the two would be "
                    f"one metric (Lightning refuses this too). Log a name per dataloader "
                    f'(e.g. f"{name}_{{dataloader_idx}}") or leave `add_dataloader_idx=True`.'
                )
            # as Lightning: only an in-batch mean is weighted by the batch size
            weighted = self.in_step and reduce_fx == "mean"
            acc.add(value, (batch_size or batch_size_of(self.current_batch)) if weighted else 1)

    def _log_step(
        self, name: str, key: str, value: torch.Tensor, prog_bar: bool, logger: bool
    ) -> None:
        """A step value. Training: in ``callback_metrics`` as ``name`` and ``key``, sent to the
        loggers every ``log_every_n_steps``. Evaluation (as Lightning): not a callback metric;
        sent to the loggers after each batch (``take_eval_step_metrics``)."""
        training = self.stage == "train"
        if training:
            self.callback_metrics[name] = value
            self.callback_metrics[key] = value
        if logger:
            (self.pending_step if training else self.pending_eval_step)[key] = value
            self.logged_metrics[key] = value
        if prog_bar:
            self.progress_bar_metrics[key] = value

    @contextlib.contextmanager
    def calling(self, hook: str) -> Iterator[None]:
        """Around a hook the core calls directly: ``self.log`` in it is checked as in ``hook``."""
        previous, self.hook = self.hook, hook
        try:
            yield
        finally:
            self.hook = previous

    def reset_metrics(self) -> None:
        """New, empty metric dicts: at each run's start, after the ``setup`` hooks (as Lightning's
        ``fit``/``validate``/``test``; a run's dicts hold only what it logged)."""
        self.callback_metrics, self.logged_metrics, self.progress_bar_metrics = {}, {}, {}

    def take_eval_step_metrics(self) -> dict[str, torch.Tensor]:
        """The step values an evaluation batch logged, for the loggers (then forgotten)."""
        metrics, self.pending_eval_step = self.pending_eval_step, {}
        return metrics

    def reset_metric_objects(self, stage: str) -> None:
        """``reset()`` every ``torchmetrics.Metric`` logged in ``stage`` since the last call
        (the loops call this once the stage's epoch hooks have run, as Lightning resets)."""
        for metric in self._metrics_to_reset.pop(stage, {}).values():
            metric.reset()

    def take_step_metrics(self) -> dict[str, torch.Tensor]:
        metrics, self.pending_step = self.pending_step, {}
        return metrics

    def start_epoch_results(self) -> None:
        """Forget which loader each key came from: an evaluation run's results start empty."""
        self.epoch_dataloaders = {}

    def end_epoch(self, stage: str) -> dict[str, torch.Tensor]:
        """Reduce the stage's accumulated values into the metric dicts; return the logged ones."""
        logged = {}
        accumulators = self._epoch.setdefault(stage, {})
        if self.trainer.world_size > 1:
            self._sync(accumulators)
        for name, acc in accumulators.items():
            value = acc.compute()
            self.epoch_dataloaders[acc.key] = acc.dataloader_idx
            self.callback_metrics[name] = value
            if acc.key != name:
                self.callback_metrics[acc.key] = value
            if acc.logger:
                self.logged_metrics[acc.key] = value
                logged[acc.key] = value
            if acc.prog_bar:
                self.progress_bar_metrics[acc.key] = value
        self._epoch[stage] = {}
        self._meta[stage] = {}
        return logged

    def epoch_state(self, stage: str) -> dict[str, dict[str, Any]]:
        """The epoch values ``stage`` has accumulated so far, as tensors and plain values (a
        mid-epoch checkpoint's ``loops.fit.metrics``). A ``torchmetrics.Metric`` keeps its own
        state (it is the user's object), so it is left out."""
        return {
            name: {
                "reduce_fx": acc.reduce_fx,
                "total": acc.total,
                "weight": acc.weight,
                "prog_bar": acc.prog_bar,
                "logger": acc.logger,
                "key": acc.key,
                "sync_dist": acc.sync_dist,
                "dataloader_idx": acc.dataloader_idx,
            }
            for name, acc in self._epoch.get(stage, {}).items()
            if isinstance(acc, _EpochAccumulator)
        }

    def load_epoch_state(self, stage: str, saved: dict[str, dict[str, Any]]) -> None:
        """Continue ``stage``'s epoch values from :meth:`epoch_state`'s ``saved``."""
        accumulators = self._epoch.setdefault(stage, {})
        device = self.trainer.root_device
        for name, entry in saved.items():
            acc = _EpochAccumulator(
                entry["reduce_fx"],
                entry["prog_bar"],
                entry["logger"],
                entry["key"],
                entry["sync_dist"],
                entry["dataloader_idx"],
            )
            total = entry["total"]
            acc.total = total.to(device) if isinstance(total, torch.Tensor) else total
            acc.weight = entry["weight"]
            accumulators[name] = acc

    def _sync(self, accumulators: dict[str, _EpochAccumulator]) -> None:
        """Reduce the ``sync_dist`` epoch values over the ranks, in place. Every rank calls it
        at the same epoch end: rank 0 names the metrics (it runs the most evaluation batches),
        so every rank reduces the same ones in the same order, whatever it logged itself; a
        rank that did not log one adds nothing to it (and gets the result). A metric only other
        ranks logged keeps their own values."""
        trainer = self.trainer
        mine = [
            (name, acc.reduce_fx, acc.key, acc.prog_bar, acc.logger)
            for name, acc in accumulators.items()
            if acc.sync_dist
        ]
        named: list[tuple[str, str, str, bool, bool]] = trainer.broadcast(mine, src=0)
        if not named:
            return
        device = trainer.root_device
        dtype = torch.float32 if device.type == "mps" else torch.float64
        by_op: dict[str, list[tuple[_EpochAccumulator, bool]]] = {}
        columns: dict[str, list[float]] = {}
        for name, reduce_fx, key, prog_bar, logger in named:
            acc = accumulators.get(name)
            if acc is None:
                acc = accumulators[name] = _EpochAccumulator(reduce_fx, prog_bar, logger, key, True)
            acc.reduce_fx = reduce_fx
            op = "sum" if reduce_fx == "mean" else reduce_fx
            values = columns.setdefault(op, [])
            values.append(_IDENTITY[reduce_fx] if acc.total is None else float(acc.total))
            if reduce_fx == "mean":
                values.append(float(acc.weight))
            by_op.setdefault(op, []).append((acc, reduce_fx == "mean"))
        for op in ("sum", "max", "min"):  # the same order on every rank
            if op not in by_op:
                continue
            reduced = trainer.reduce(torch.tensor(columns[op], dtype=dtype, device=device), op)
            reduced = reduced.tolist()
            i = 0
            for acc, weighted in by_op[op]:
                like = acc.total if acc.total is not None else torch.tensor(0.0)
                acc.total = torch.tensor(reduced[i], dtype=like.dtype, device=like.device)
                i += 1
                if weighted:
                    acc.weight = reduced[i]
                    i += 1

    def for_dataloader(
        self, logged: dict[str, torch.Tensor], idx: int, several: bool
    ) -> dict[str, float]:
        """The epoch metrics of evaluation dataloader ``idx``, as Lightning returns them: those
        logged while it ran (suffixed ``/dataloader_idx_{idx}`` unless logged with
        ``add_dataloader_idx=False``) and those logged outside any one loader."""
        return {
            k: float(v)
            for k, v in logged.items()
            if not several or self.epoch_dataloaders.get(k) in (None, idx)
        }
