"""What ``Module.log`` records, with Lightning's defaults and key names.

* In training batch hooks the defaults are ``on_step=True, on_epoch=False``; in validation
  and in epoch-level hooks, ``on_step=False, on_epoch=True``.
* A metric logged both per step and per epoch appears as ``name_step`` and ``name_epoch`` in
  ``logged_metrics``/``progress_bar_metrics``; ``callback_metrics["name"]`` holds the latest
  of the two.
* Epoch values are the mean over the epoch's batches weighted by batch size (or ``sum``,
  ``max``, ``min`` with ``reduce_fx``).
* ``sync_dist=True`` (several ranks): an epoch value is reduced over the ranks once, when the
  epoch ends (``end_epoch``): the weighted mean is sum(value x batch size) / sum(batch size)
  over every rank's batches, so ranks with different batch counts (evaluation reads each
  sample once) are weighted right and no collective runs per batch. A step value is reduced
  in the ``log`` call during training only (every rank runs the same batches there); in
  validation, test and predict a step value stays the rank's own.
"""
from __future__ import annotations

from typing import Any, Dict, Optional

import torch

from treadle.utilities import batch_size_of

_REDUCE = ("mean", "sum", "max", "min")


# What a rank contributes to a sync_dist reduction for a metric it did not log this epoch.
_IDENTITY = {"mean": 0.0, "sum": 0.0, "max": float("-inf"), "min": float("inf")}


class _EpochAccumulator:
    __slots__ = ("reduce_fx", "total", "weight", "prog_bar", "logger", "key", "sync_dist")

    def __init__(self, reduce_fx, prog_bar, logger, key, sync_dist=False):
        self.reduce_fx, self.prog_bar, self.logger, self.key = reduce_fx, prog_bar, logger, key
        self.sync_dist = sync_dist
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
        if self.dataloader_idx is not None and add_dataloader_idx:
            name = f"{name}/dataloader_idx_{self.dataloader_idx}"
        training_step = self.stage == "train" and self.in_step
        on_step = training_step if on_step is None else on_step
        on_epoch = (not training_step) if on_epoch is None else on_epoch
        if not (on_step or on_epoch):
            raise ValueError(f"`self.log({name!r}, ..., on_step=False, on_epoch=False)` would "
                             f"record nothing; set one of them to True.")
        if isinstance(value, torch.Tensor):
            value = value.detach()
            if value.numel() != 1:
                raise ValueError(f"`self.log({name!r}, value)`: a tensor with {value.numel()} "
                                 f"elements; log a scalar (e.g. `value.mean()`).")
            value = value.reshape(())
        else:
            value = torch.tensor(float(value))
        both = on_step and on_epoch
        if on_step and self.in_step:
            step_value = value
            if sync_dist and self.stage == "train" and self.trainer.world_size > 1:
                step_value = self.trainer.reduce(value, reduce_fx)  # same batch count per rank
            key = f"{name}_step" if both else name
            self.callback_metrics[name] = step_value
            if both:
                self.callback_metrics[key] = step_value
            if logger:
                self.pending_step[key] = step_value
                self.logged_metrics[key] = step_value
            if prog_bar:
                self.progress_bar_metrics[key] = step_value
        if on_epoch:
            accumulators = self._epoch.setdefault(self.stage, {})
            acc = accumulators.get(name)
            if acc is None:
                acc = accumulators[name] = _EpochAccumulator(
                    reduce_fx, prog_bar, logger, f"{name}_epoch" if both else name, sync_dist)
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
        accumulators = self._epoch.setdefault(stage, {})
        if self.trainer.world_size > 1:
            self._sync(accumulators)
        for name, acc in accumulators.items():
            value = acc.compute()
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

    def _sync(self, accumulators: dict[str, _EpochAccumulator]) -> None:
        """Reduce the ``sync_dist`` epoch values over the ranks, in place. Every rank calls it
        at the same epoch end: rank 0 names the metrics (it runs the most evaluation batches),
        so every rank reduces the same ones in the same order, whatever it logged itself; a
        rank that did not log one adds nothing to it (and gets the result). A metric only other
        ranks logged keeps their own values."""
        trainer = self.trainer
        mine = [(name, acc.reduce_fx, acc.key, acc.prog_bar, acc.logger)
                for name, acc in accumulators.items() if acc.sync_dist]
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

    @staticmethod
    def for_dataloader(logged: Dict[str, torch.Tensor], idx: int,
                       several: bool) -> Dict[str, float]:
        """The epoch metrics of evaluation dataloader ``idx``, as Lightning returns them: its
        own (``name/dataloader_idx_{idx}``) and those logged outside any one loader."""
        suffix = f"/dataloader_idx_{idx}"
        return {k: float(v) for k, v in logged.items()
                if not several or k.endswith(suffix) or "/dataloader_idx_" not in k}
