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
"""
from __future__ import annotations

from typing import Any, Dict, Optional

import torch

from treadle.utilities import batch_size_of

_REDUCE = ("mean", "sum", "max", "min")


class _EpochAccumulator:
    __slots__ = ("reduce_fx", "total", "weight", "prog_bar", "logger", "key", "dataloader_idx")

    def __init__(self, reduce_fx, prog_bar, logger, key, dataloader_idx):
        self.reduce_fx, self.prog_bar, self.logger, self.key = reduce_fx, prog_bar, logger, key
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


class MetricStore:
    """Metrics of one ``Trainer``. ``stage`` and ``in_step`` are set by the loop."""

    def __init__(self, trainer):
        self.trainer = trainer
        self.callback_metrics: Dict[str, torch.Tensor] = {}
        self.logged_metrics: Dict[str, torch.Tensor] = {}
        self.progress_bar_metrics: Dict[str, torch.Tensor] = {}
        self.pending_step: Dict[str, torch.Tensor] = {}  # step values for the loggers
        self._epoch: Dict[str, Dict[str, _EpochAccumulator]] = {}
        self.stage = "train"  # "train", "sanity", "validate", "test" or "predict"
        self.in_step = False  # inside a batch-level hook
        self.current_batch: Any = None  # for the batch size of epoch means
        self.dataloader_idx: Optional[int] = None  # set while one of several loaders runs
        # logged key -> the loader it was logged in (None: outside any one), for the last
        # end_epoch; what for_dataloader splits the results by
        self.epoch_dataloaders: Dict[str, Optional[int]] = {}

    def log(self, name: str, value: Any, *, prog_bar: bool, logger: bool, on_step: Optional[bool],
            on_epoch: Optional[bool], reduce_fx: str, sync_dist: bool,
            batch_size: Optional[int], add_dataloader_idx: bool = True) -> None:
        if reduce_fx not in _REDUCE:
            raise ValueError(f"`self.log({name!r}, ..., reduce_fx={reduce_fx!r})`: choose one "
                             f"of {', '.join(_REDUCE)}.")
        if self.stage == "sanity":
            return
        if self.stage == "predict":
            raise ValueError(f"`self.log({name!r}, ...)` in predict: predict logs nothing (as in "
                             f"Lightning); return the values from `predict_step` instead.")
        dataloader_idx = self.dataloader_idx
        suffix = f"/dataloader_idx_{dataloader_idx}" \
            if dataloader_idx is not None and add_dataloader_idx else ""
        training_step = self.stage == "train" and self.in_step
        on_step = training_step if on_step is None else on_step
        on_epoch = (not training_step) if on_epoch is None else on_epoch
        if not (on_step or on_epoch):
            raise ValueError(f"`self.log({name + suffix!r}, ..., on_step=False, on_epoch=False)` "
                             f"would record nothing; set one of them to True.")
        if isinstance(value, torch.Tensor):
            value = value.detach()
            if value.numel() != 1:
                raise ValueError(f"`self.log({name!r}, value)`: a tensor with {value.numel()} "
                                 f"elements; log a scalar (e.g. `value.mean()`).")
            value = value.reshape(())
        else:
            value = torch.tensor(float(value))
        if sync_dist and self.trainer.world_size > 1:
            value = self.trainer.reduce(value, reduce_fx)
        both = on_step and on_epoch
        if on_step and self.in_step:
            key = f"{name}_step{suffix}" if both else f"{name}{suffix}"
            if self.stage == "train":  # as Lightning: eval step values are not for callbacks
                self.callback_metrics[f"{name}{suffix}"] = value
                if both:
                    self.callback_metrics[key] = value
            if logger:
                self.pending_step[key] = value
                self.logged_metrics[key] = value
            if prog_bar:
                self.progress_bar_metrics[key] = value
        if on_epoch:
            accumulators = self._epoch.setdefault(self.stage, {})
            acc = accumulators.get(name + suffix)
            if acc is None:
                acc = accumulators[name + suffix] = _EpochAccumulator(
                    reduce_fx, prog_bar, logger,
                    f"{name}_epoch{suffix}" if both else f"{name}{suffix}", dataloader_idx)
            elif None not in (acc.dataloader_idx, dataloader_idx) \
                    and acc.dataloader_idx != dataloader_idx:
                raise ValueError(
                    f"`self.log({name!r}, ..., add_dataloader_idx=False)` in dataloader "
                    f"{dataloader_idx}: {name!r} was already logged in dataloader "
                    f"{acc.dataloader_idx} this epoch, and without the index the two would be "
                    f"one metric (Lightning refuses this too). Log a name per dataloader "
                    f"(e.g. f\"{name}_{{dataloader_idx}}\") or leave `add_dataloader_idx=True`.")
            if not self.in_step:
                weight = 1
            else:
                weight = batch_size or batch_size_of(self.current_batch)
            acc.add(value, weight)

    def take_step_metrics(self) -> Dict[str, torch.Tensor]:
        metrics, self.pending_step = self.pending_step, {}
        return metrics

    def end_epoch(self, stage: str) -> Dict[str, torch.Tensor]:
        """Reduce the stage's accumulated values into the metric dicts; return the logged ones."""
        logged = {}
        self.epoch_dataloaders = {}
        for name, acc in self._epoch.get(stage, {}).items():
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
        return logged

    def for_dataloader(self, logged: Dict[str, torch.Tensor], idx: int,
                       several: bool) -> Dict[str, float]:
        """The epoch metrics of evaluation dataloader ``idx``, as Lightning returns them: those
        logged while it ran (suffixed ``/dataloader_idx_{idx}`` unless logged with
        ``add_dataloader_idx=False``) and those logged outside any one loader."""
        return {k: float(v) for k, v in logged.items()
                if not several or self.epoch_dataloaders.get(k) in (None, idx)}
