"""``ThroughputMonitor``: log batches, samples (and items, FLOPs) per second (as Lightning 2's).

``Throughput`` is the computation (Lightning's ``lightning.fabric.utilities.throughput``
class of the same name): totals as they grow, and rates over a window of the most recent
updates.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Any, Callable

import torch

from treadle.callback import Callback
from treadle.loop import log_to_loggers
from treadle.utilities import rank_zero_warn


class _MonotonicWindow(list):
    """The last ``maxlen`` values appended, each larger than the one before."""

    def __init__(self, maxlen: int) -> None:
        super().__init__()
        self.maxlen = maxlen

    def append(self, x: Any) -> None:
        if self and self[-1] >= x:
            raise ValueError(f"Expected the value to increase, last: {self[-1]}, current: {x}")
        list.append(self, x)
        if len(self) > self.maxlen:
            del self[0]


class Throughput:
    """Throughput over a window of updates (Lightning's ``Throughput``).

    :param available_flops: the device's theoretical FLOPs, for ``device/mfu`` (None: no MFU).
    :param world_size: processes; with more than one the global rates are added.
    :param window_size: updates the rates are computed over (at least 2).
    :param separator: between ``device`` and a rate's name.

    :meth:`compute` gives ``time``, ``batches``, ``samples`` (and ``lengths``) totals, and once
    the window is full ``device/batches_per_sec``, ``device/samples_per_sec``,
    ``device/items_per_sec``, ``device/flops_per_sec``, ``device/mfu`` (and the global ones
    without ``device/`` when ``world_size`` > 1).
    """

    def __init__(
        self,
        available_flops: float | None = None,
        world_size: int = 1,
        window_size: int = 100,
        separator: str = "/",
    ) -> None:
        if world_size < 1 or window_size < 2:
            raise ValueError(
                f"Throughput(world_size={world_size}, window_size={window_size}): world_size "
                f"must be >= 1 and window_size >= 2 (rates compare the window's first and last "
                f"update)."
            )
        self.available_flops = available_flops
        self.separator = separator
        self.world_size = world_size
        self._time = _MonotonicWindow(window_size)
        self._batches = _MonotonicWindow(window_size)
        self._samples = _MonotonicWindow(window_size)
        self._lengths = _MonotonicWindow(window_size)
        self._flops: deque[float] = deque(maxlen=window_size)

    def update(
        self,
        *,
        time: float,
        batches: int,
        samples: int,
        lengths: int | None = None,
        flops: float | None = None,
    ) -> None:
        """Record totals so far: elapsed ``time`` (s), ``batches``, ``samples``, ``lengths``
        (items); ``flops`` done per device since the last update."""
        self._time.append(time)
        if samples < batches:
            raise ValueError(
                f"Expected samples ({samples}) to be greater or equal than batches ({batches})"
            )
        self._batches.append(batches)
        self._samples.append(samples)
        if lengths is not None:
            if lengths < samples:
                raise ValueError(
                    f"Expected lengths ({lengths}) to be greater or equal than samples ({samples})"
                )
            self._lengths.append(lengths)
        if flops is not None:
            self._flops.append(flops * self.world_size)  # summed over the ranks

    def compute(self) -> dict[str, float]:
        sep, world = self.separator, self.world_size
        metrics: dict[str, float] = {
            "time": self._time[-1],
            "batches": self._batches[-1],
            "samples": self._samples[-1],
        }
        if self._lengths:
            metrics["lengths"] = self._lengths[-1]
        several = world > 1
        elapsed = self._time[-1] - self._time[0]
        if len(self._time) == self._time.maxlen:
            batches_per_sec = (self._batches[-1] - self._batches[0]) / elapsed
            samples_per_sec = (self._samples[-1] - self._samples[0]) / elapsed
            metrics[f"device{sep}batches_per_sec"] = batches_per_sec
            metrics[f"device{sep}samples_per_sec"] = samples_per_sec
            if several:
                metrics["batches_per_sec"] = batches_per_sec * world
                metrics["samples_per_sec"] = samples_per_sec * world
            if len(self._lengths) == self._lengths.maxlen:
                items_per_sec = (self._lengths[-1] - self._lengths[0]) / elapsed
                metrics[f"device{sep}items_per_sec"] = items_per_sec
                if several:
                    metrics["items_per_sec"] = items_per_sec * world
        if len(self._flops) == self._flops.maxlen:
            flops_per_sec = (sum(self._flops) - self._flops[0]) / elapsed
            metrics[f"device{sep}flops_per_sec"] = flops_per_sec / world
            if several:
                metrics["flops_per_sec"] = flops_per_sec
            if self.available_flops:
                metrics[f"device{sep}mfu"] = flops_per_sec / world / self.available_flops
        return metrics

    def reset(self) -> None:
        for window in (self._time, self._batches, self._samples, self._lengths, self._flops):
            window.clear()


class ThroughputMonitor(Callback):
    """Log throughput while training, validating, testing and predicting (as Lightning 2's).

    :param batch_size_fn: ``batch -> number of samples``.
    :param length_fn: ``batch -> number of items`` (tokens, say), for ``items_per_sec``.
    :param kwargs: :class:`Throughput`'s ``window_size`` (100) and ``separator`` ("/").

    Keys are ``<stage><separator><metric>``: ``train/device/samples_per_sec``,
    ``validate/batches``, ... (see :class:`Throughput`), logged on rank zero on the steps the
    loggers are written (``log_every_n_steps``), training ones after each optimizer step. A
    ``flops_per_batch`` attribute on the Module adds the FLOPs rates (a warning when it has
    none). Validation time is left out of the training rates.
    """

    def __init__(
        self,
        batch_size_fn: Callable[[Any], int],
        length_fn: Callable[[Any], int] | None = None,
        **kwargs: Any,
    ) -> None:
        self.kwargs = kwargs
        self.batch_size_fn = batch_size_fn
        self.length_fn = length_fn
        self.available_flops: float | None = None  # no table of devices' FLOPs here: no MFU
        self._throughputs: dict[str, Throughput] = {}
        self._t0s: dict[str, float] = {}
        self._lengths: dict[str, int] = {}
        self._samples: dict[str, int] = {}
        self._batches: dict[str, int] = {}
        self._iterations: dict[str, int] = {}
        # evaluation batches of this Trainer's validate/test/predict so far, by entry point and
        # stage: Lightning's logging step for them (its loop's total count)
        self._eval_totals: dict[tuple[str, str], int] = {}
        self._trainer_id: int | None = None
        self._module_has_flops: bool | None = None

    def setup(self, trainer, pl_module, stage: str) -> None:
        if self._trainer_id != id(trainer):  # a new Trainer counts its batches from 0
            self._trainer_id, self._eval_totals = id(trainer), {}
        stages = ("train", "validate") if stage == "fit" else (stage,)
        for name in stages:
            self._throughputs[name] = Throughput(
                available_flops=self.available_flops, world_size=trainer.world_size, **self.kwargs
            )

    def _start(self, trainer, stage: str) -> None:
        if trainer.state.fn == "fit" or stage not in self._samples:
            self._throughputs[stage].reset()
            self._lengths[stage] = self._samples[stage] = self._batches[stage] = 0
        self._iterations[stage] = 0  # batches of this run of the stage
        self._t0s[stage] = time.perf_counter()

    @torch.inference_mode()  # in case batch_size_fn or length_fn computes with grad
    def _update(self, trainer, pl_module, batch: Any, stage: str) -> None:
        if trainer.root_device.type == "cuda":
            torch.cuda.synchronize()
        elapsed = time.perf_counter() - self._t0s[stage]
        if self.length_fn is not None:
            self._lengths[stage] += self.length_fn(batch)
        if self._module_has_flops is None:
            self._module_has_flops = hasattr(pl_module, "flops_per_batch")
            if not self._module_has_flops:
                rank_zero_warn(
                    "When using the `ThroughputMonitor`, you need to define a `flops_per_batch` "
                    f"attribute or property in {type(pl_module).__name__} to compute the FLOPs."
                )
        self._samples[stage] += self.batch_size_fn(batch)
        self._batches[stage] += 1
        self._iterations[stage] += 1
        self._throughputs[stage].update(
            time=elapsed,
            batches=self._batches[stage],
            samples=self._samples[stage],
            lengths=None if self.length_fn is None else self._lengths[stage],
            flops=pl_module.flops_per_batch if self._module_has_flops else None,
        )

    def _compute(self, trainer, stage: str, step: int | None = None) -> None:
        """Log the stage's rates as Lightning's logger connector does: at ``step`` (an
        evaluation batch count), or, without one (training), with the epoch at the latest
        optimizer step's index."""
        throughput = self._throughputs[stage]
        metrics = {f"{stage}{throughput.separator}{k}": v for k, v in throughput.compute().items()}
        log_to_loggers(trainer, metrics, step)

    def _eval_batch_end(self, trainer, pl_module, batch: Any, stage: str) -> None:
        self._update(trainer, pl_module, batch, stage)
        # as Lightning: every log_every_n_steps batches of this run, at the count of the
        # stage's batches so far in this Trainer (a second trainer.validate() goes on from it;
        # inside fit each validation counts from 0)
        key = (trainer.state.fn, stage)
        total = self._iterations[stage]
        if trainer.state.fn != "fit":
            self._eval_totals[key] = total = self._eval_totals.get(key, 0) + 1
        every = trainer.config.log_every_n_steps
        if every and (self._iterations[stage] % every == 0 or trainer.should_stop):
            self._compute(trainer, stage, total)

    def on_train_start(self, trainer, *_: Any) -> None:
        self._start(trainer, "train")

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, *_: Any) -> None:
        self._update(trainer, pl_module, batch, "train")
        # after an optimizer step, when the loggers are written (as Lightning: its step counter
        # is still the steps before this one, treadle's global_step includes it)
        step, every = trainer.global_step, trainer.config.log_every_n_steps
        due = bool(every) and (step % every == 0 or trainer.should_stop)
        if trainer.state.stepping and due:
            self._compute(trainer, "train")

    def on_validation_start(self, trainer, *_: Any) -> None:
        if not trainer.sanity_checking:
            self._start(trainer, "validate")

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, *_: Any) -> None:
        if not trainer.sanity_checking:
            self._eval_batch_end(trainer, pl_module, batch, "validate")

    def on_validation_end(self, trainer, *_: Any) -> None:
        if trainer.sanity_checking or trainer.state.fn != "fit":
            return
        # the training clock skips the time validation took (and the gap before it)
        train_times = self._throughputs["train"]._time
        val_times = self._throughputs["validate"]._time
        training_finished = self._t0s["train"] + (train_times[-1] if train_times else 0.0)
        gap = self._t0s["validate"] - training_finished
        self._t0s["train"] += gap + (val_times[-1] if val_times else 0.0)

    def on_test_start(self, trainer, *_: Any) -> None:
        self._start(trainer, "test")

    def on_test_batch_end(self, trainer, pl_module, outputs, batch, *_: Any) -> None:
        self._eval_batch_end(trainer, pl_module, batch, "test")

    def on_predict_start(self, trainer, *_: Any) -> None:
        self._start(trainer, "predict")

    def on_predict_batch_end(self, trainer, pl_module, outputs, batch, *_: Any) -> None:
        self._eval_batch_end(trainer, pl_module, batch, "predict")
