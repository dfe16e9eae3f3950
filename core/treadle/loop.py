"""The loops: ``fit()``'s epochs of training batches, and one evaluation loop that serves
validation (inside ``fit()`` and ``validate()``), the sanity check, ``test()`` and ``predict()``.

Each loop takes its collaborators explicitly -- the Trainer (handed to every hook, and the
owner of the public state), the run's hook callers, the step, the metric store -- and imports
nothing from ``trainer.py``. The hook sequence each loop drives is listed in ``docs/hooks.md``
and pinned by ``tests/test_hook_order.py``.
"""

from __future__ import annotations

import math
import sys
import time
import warnings
from datetime import timedelta
from typing import Any, Callable

import torch

from treadle._adapters import AdaptedPlugin
from treadle._callers import Sequence
from treadle._signals import Preemption
from treadle.checkpoint import rng_state, set_rng_state
from treadle.data import (
    batches,
    generators,
    limited,
    lookahead,
    num_batches,
    resumable_state,
    resume_loader,
    set_epoch,
)
from treadle.errors import ConfigurationError
from treadle.state import STAGE
from treadle.utilities import PossibleUserWarning, rank_zero_info, takes_dataloader_iter

# The hook prefix of each evaluation stage (``on_validation_batch_start``, ``run_test_step``).
_PREFIX = {"sanity": "validation", "validate": "validation", "test": "test", "predict": "predict"}
_METRIC_STAGE = {"sanity": "sanity", "validate": "validate", "test": "test", "predict": "predict"}


# A batch's way to the device: compiled once per run (``treadle._callers.Hooks.sequence``).
TRANSFER = Sequence(
    "transfer",
    ("trainer", "module", "batch", "device", "dataloader_idx"),
    (
        ("on_before_batch_transfer", "?batch"),
        ("transfer_batch_to_device", "=batch"),
        ("on_after_batch_transfer", "?batch"),
    ),
    returns="batch",
)


def log_to_loggers(trainer: Any, metrics: dict[str, Any], step: int | None = None) -> None:
    """Send ``metrics`` (with the epoch) to every logger at Lightning's step: during ``fit`` the
    index of the latest optimizer step (``global_step - 1``), in ``validate``/``test`` the global
    step; or, given ``step`` (an evaluation batch's count in its dataloader over the run, as
    Lightning), at that step without the epoch. A metric logged as ``"step"`` (Lightning's
    convention) is taken out and used as the step, without the epoch."""
    if not metrics or not trainer.loggers or not trainer.is_global_zero:
        return
    values = {k: float(v) for k, v in metrics.items()}
    if step is None and "step" in values:  # as Lightning: a logged "step" is the step
        step = int(values.pop("step"))
    elif step is None:
        state = trainer.state
        values["epoch"] = state.epoch
        step = max(state.global_step - 1, 0) if state.fn == "fit" else state.global_step
    for logger in trainer.loggers:
        logger.log_metrics(metrics=values, step=step)  # by name, as Lightning's connector


_END = object()


class DataloaderIter:
    """What a ``*_step(self, dataloader_iter)`` receives (Lightning's ``_DataFetcherWrapper``):
    each ``next()`` returns ``(batch, batch_idx, dataloader_idx)``, the loaders of ``parts``
    one after the other, each up to its limit; it raises ``StopIteration`` once they are all
    read. The batch is not moved to the device (as Lightning: the step's job). ``batch``,
    ``batch_idx`` and ``dataloader_idx`` hold the latest batch fetched, which the loop hands to
    the batch hooks; ``done`` is Lightning's fetcher's (every batch of a known length fetched,
    or the loaders exhausted)."""

    __slots__ = (
        "_parts",
        "_part",
        "_iterator",
        "_idx",
        "batch",
        "batch_idx",
        "dataloader_idx",
        "fetched",
        "length",
        "done",
    )

    def __init__(self, parts: list[tuple[Any, float]], start: int = 0) -> None:
        """``parts``: ``(loader or iterator, limit)`` in order; ``start``: batches of the first
        already run (a resumed epoch whose iterator skipped them)."""
        self._parts, self._part, self._idx = parts, 0, start
        self._iterator: Any = None
        self.batch: Any = None
        self.batch_idx, self.dataloader_idx, self.fetched = 0, 0, start
        self.length = sum(limit for _, limit in parts)  # inf: some loader without a length
        self.done = self.length <= start

    def __iter__(self) -> DataloaderIter:
        return self

    def close(self) -> None:
        """Let go of the loader's running iterator (a run's end: its workers stop)."""
        self._part, self._iterator, self.done = len(self._parts), None, True

    def __next__(self) -> tuple[Any, int, int]:
        if self.done:
            raise StopIteration
        while True:
            if self._part >= len(self._parts):
                self.done = True
                raise StopIteration
            source, limit = self._parts[self._part]
            if self._idx < limit:
                if self._iterator is None:
                    self._iterator = batches(source)
                batch = next(self._iterator, _END)
                if batch is not _END:
                    break
            self._part, self._iterator, self._idx = self._part + 1, None, 0
        self.batch, self.batch_idx, self.dataloader_idx = batch, self._idx, self._part
        self._idx += 1
        self.fetched += 1
        self.done = self.fetched >= self.length
        return batch, self.batch_idx, self.dataloader_idx


class EvaluationLoop:
    """One pass over evaluation dataloaders: validation, the sanity check, test, predict."""

    def __init__(self, trainer: Any, hooks: Any, metrics: Any) -> None:
        self.trainer, self.hooks, self.metrics = trainer, hooks, metrics
        # validate/test/predict: the signals caught (``_signals.EvaluationPreemption``); None
        # inside fit, whose own preemption acts after the training batch.
        self.preemption: Any = None
        # batches run per dataloader in this run (fit: over its validations, not the sanity
        # check): the logger step of an evaluation batch's step values, as Lightning's
        self.seen_batches: dict[int, int] = {}
        # Marked once per run and per dataloader, read by ``trainer.validate_loop`` & co.
        # (``treadle._loop_facades``): the stage of the last run (None: none ran), whether its
        # loaders are being iterated, the batches its earlier dataloaders ran (all of them,
        # once it ended), its per-dataloader limits and, for predict, what it kept.
        self.ran: str | None = None
        self.in_loaders = False
        self.batches_before = 0
        self.limits: list[float] = []
        self.predictions: list[list[Any]] = []
        self.running: Any = None  # the batches being read (shut_down_workers at a run's end)
        self.keep_predictions = False
        self.warned_none_prediction = False  # Lightning's "predict returned None", once
        # inside fit: validation batches of this training epoch's earlier validation runs, and
        # whether none ran yet in it (set by the fit loop at an epoch's start)
        self.epoch_before = 0
        self.fresh_epoch = False
        # with a profiler (``instrument``): ``(loader, stage) -> iterator`` timing each fetch
        self.timed_fetches: Callable[[Any, str], Any] | None = None

    def run(
        self, stage: str, loaders: list[Any], limits: list[float], keep_predictions: bool = False
    ) -> list[Any]:
        """Run ``stage`` over ``loaders``; returns one result per dataloader: its logged metrics
        (``dict``), or for ``predict`` its predictions (a list, empty unless kept).

        As Lightning's: the whole stage, its start and end hooks included, runs under inference
        mode for validate/test/predict (no_grad with ``Trainer(inference_mode=False)``) and
        under no_grad inside fit()."""
        inference = self.trainer.state.fn != "fit" and self.trainer.config.inference_mode
        with torch.inference_mode() if inference else torch.no_grad():
            return self._run(stage, loaders, limits, keep_predictions)

    def _run(
        self, stage: str, loaders: list[Any], limits: list[float], keep_predictions: bool
    ) -> list[Any]:
        if not any_rank_has(self.trainer, sum(limits)):  # as Lightning: no batch, no hook
            return []
        trainer, hooks, metrics, state = self.trainer, self.hooks, self.metrics, self.trainer.state
        module = trainer.module
        prefix = _PREFIX[stage]
        preemption = self.preemption
        if preemption is not None:
            preemption.start(sum(limits))
        call = lambda name: getattr(hooks, name.format(prefix))  # noqa: E731
        on_batch_start, on_batch_end = call("on_{}_batch_start"), call("on_{}_batch_end")
        run_step = call("run_{}_step")
        previous_stage, previous_metric_stage = state.stage, metrics.stage
        state.stage, metrics.stage = STAGE[stage], _METRIC_STAGE[stage]
        several = len(loaders) > 1
        state.num_dataloaders = len(loaders)
        predictions: list[list[Any]] = [[] for _ in loaders]
        if stage == "validate" and state.fn == "fit":  # this epoch's validation runs so far
            self.epoch_before = 0 if self.fresh_epoch else self.epoch_before + self.batches_before
            self.fresh_epoch = False
        self.ran, self.batches_before, self.limits = stage, 0, limits
        self.predictions, self.keep_predictions = predictions, keep_predictions
        transfer, device = hooks.sequence(TRANSFER, transfer_asked(trainer)), trainer.root_device
        # Lightning's default evaluates `trainer.model`: the strategy's wrapper (DDP) too
        outer = trainer.model if isinstance(trainer.model, torch.nn.Module) else module
        modes = [(m, m.training) for m in outer.modules()]
        for loader in loaders:  # as Lightning: validation shuffled by the training epoch
            set_epoch(loader, state.epoch)
        if call("on_{}_model_eval")(trainer=trainer, module=module) is None:
            outer.eval()  # no override took over: Lightning's default
        call("on_{}_start")(trainer=trainer, module=module)
        call("on_{}_epoch_start")(trainer=trainer, module=module)
        # (inside run()'s inference_mode/no_grad)
        self.in_loaders = True
        if takes_dataloader_iter(getattr(module, f"{prefix}_step")):  # once per run
            warn_dataloader_iter_step(f"{prefix}_step")
            self.run_dataloader_iter(
                stage, loaders, limits, predictions if keep_predictions else None
            )
        else:
            timed_fetches = self.timed_fetches
            for dataloader_idx, (loader, limit) in enumerate(zip(loaders, limits)):
                state.dataloader_idx = dataloader_idx
                metrics.dataloader_idx = step_idx = dataloader_idx if several else None
                if timed_fetches is not None:  # (once per loader) a profiler times each fetch
                    loader = timed_fetches(loader, stage)
                batch_idx = -1
                self.running = running = limited(loader, limit)  # (once per loader)
                for batch_idx, batch in running:
                    state.batch_idx = batch_idx
                    if transfer is not None:
                        batch = transfer(trainer, module, batch, device, dataloader_idx)
                    metrics.in_step, metrics.current_batch = True, batch
                    on_batch_start(
                        trainer=trainer,
                        module=module,
                        batch=batch,
                        batch_idx=batch_idx,
                        dataloader_idx=dataloader_idx,
                    )
                    out = run_step(
                        trainer=trainer,
                        module=module,
                        batch=batch,
                        batch_idx=batch_idx,
                        dataloader_idx=step_idx,
                    )[0]
                    if out is None and stage == "predict" and not self.warned_none_prediction:
                        self.warn_none_prediction()
                    if keep_predictions:
                        predictions[dataloader_idx].append(out)
                    on_batch_end(
                        trainer=trainer,
                        module=module,
                        outputs=out,
                        batch=batch,
                        batch_idx=batch_idx,
                        dataloader_idx=dataloader_idx,
                    )
                    self.after_batch(stage, dataloader_idx, preemption)
                self.batches_before += batch_idx + 1
        self.in_loaders = False
        metrics.dataloader_idx = None
        state.dataloader_idx, state.num_dataloaders = 0, 1
        # as Lightning: the epoch values are in `trainer.callback_metrics`/`logged_metrics`
        # when `on_*_epoch_end` runs; what those hooks log is reduced after them
        reduce = stage not in ("sanity", "predict")
        metrics.start_epoch_results()
        logged = metrics.end_epoch(metrics.stage) if reduce else {}
        call("on_{}_epoch_end")(trainer=trainer, module=module)
        if reduce:
            logged.update(metrics.end_epoch(metrics.stage))
        metrics.reset_metric_objects(metrics.stage)
        call("on_{}_end")(trainer=trainer, module=module)
        log_to_loggers(trainer, logged)
        if stage == "predict" or call("on_{}_model_train")(trainer=trainer, module=module) is None:
            for (
                m,
                training,
            ) in modes:  # each submodule back to its own mode (frozen parts stay eval)
                m.training = training
        state.stage, metrics.stage = previous_stage, previous_metric_stage
        if stage == "predict":
            return predictions
        return [metrics.for_dataloader(logged, i, several) for i in range(len(loaders))]

    def run_dataloader_iter(
        self, stage: str, loaders: list[Any], limits: list[float], predictions: list | None
    ) -> None:
        """The batches of a ``*_step(self, dataloader_iter)`` (Lightning's
        ``_DataLoaderIterDataFetcher``): the step is called with one :class:`DataloaderIter`
        over all ``loaders`` until it is read to its end, or until the step lets its
        ``StopIteration`` out. As Lightning's, the batch hooks get the latest batch fetched:
        ``on_*_batch_start`` the one before the call (``None`` and ``0`` at the first),
        ``on_*_batch_end`` the step's last; logged values go to the loader of the batch before
        the call. ``predictions`` (a list per loader): where the outputs are kept."""
        trainer, hooks, metrics, state = self.trainer, self.hooks, self.metrics, self.trainer.state
        module, prefix, preemption = trainer.module, _PREFIX[stage], self.preemption
        on_batch_start = getattr(hooks, f"on_{prefix}_batch_start")
        on_batch_end = getattr(hooks, f"on_{prefix}_batch_end")
        run_step = getattr(hooks, f"run_{prefix}_step")
        several = len(loaders) > 1
        if self.timed_fetches is not None:  # a profiler times each fetch
            loaders = [self.timed_fetches(loader, stage) for loader in loaders]
        data = self.running = DataloaderIter(list(zip(loaders, limits)))
        while not data.done:
            dataloader_idx = state.dataloader_idx = data.dataloader_idx
            metrics.dataloader_idx = dataloader_idx if several else None
            state.batch_idx = data.batch_idx
            metrics.in_step, metrics.current_batch = True, data.batch
            on_batch_start(
                trainer=trainer,
                module=module,
                batch=data.batch,
                batch_idx=data.batch_idx,
                dataloader_idx=dataloader_idx,
            )
            try:
                out = run_step(
                    trainer=trainer,
                    module=module,
                    batch=data,
                    batch_idx=data.batch_idx,
                    dataloader_idx=None,
                )[0]
            except StopIteration:  # as Lightning: the step read past the end, the stage ends
                metrics.in_step = False
                break
            dataloader_idx = data.dataloader_idx
            if out is None and stage == "predict" and not self.warned_none_prediction:
                self.warn_none_prediction()
            if predictions is not None:
                predictions[dataloader_idx].append(out)
            on_batch_end(
                trainer=trainer,
                module=module,
                outputs=out,
                batch=data.batch,
                batch_idx=data.batch_idx,
                dataloader_idx=dataloader_idx,
            )
            self.after_batch(stage, dataloader_idx, preemption)

    def warn_none_prediction(self) -> None:
        """A ``predict_step`` returned None: Lightning's warning, once per loop."""
        self.warned_none_prediction = True
        warnings.warn(
            "predict returned None if it was on purpose, ignore this warning... (the None is "
            "kept in the predictions; return the prediction from `predict_step` to keep it)",
            UserWarning,
            stacklevel=2,
        )

    def after_batch(self, stage: str, dataloader_idx: int, preemption: Any) -> None:
        """The end of an evaluation batch (both loops): the step's metrics, the batch count,
        the step-level logs, and a preemption signal's stop."""
        metrics = self.metrics
        metrics.in_step = False
        if stage != "sanity":
            seen = self.seen_batches.get(dataloader_idx, 0)
            self.seen_batches[dataloader_idx] = seen + 1
            if metrics.pending_eval_step:
                log_to_loggers(self.trainer, metrics.take_eval_step_metrics(), seen)
        if preemption is not None and (preemption.signum or preemption.several):
            preemption.after_batch()  # a signal (or ranks to ask): stop


class FitLoop:
    """``fit()``: the sanity check, then epochs of training batches, validating between them."""

    def __init__(
        self,
        trainer: Any,
        hooks: Any,
        step: Any,
        metrics: Any,
        evaluation: EvaluationLoop,
        reload: Callable[[str], Any] | None = None,
        load: Callable[[str], Any] | None = None,
    ) -> None:
        self.trainer, self.hooks, self.step, self.metrics = trainer, hooks, step, metrics
        self.evaluation = evaluation
        self.config = cfg = trainer.config
        self.epoch_rng: dict[str, Any] | None = None  # RNG at this epoch's start (resume)
        self.resume: dict[str, Any] | None = None  # the point restore() found, to resume from
        # Where a checkpoint written now resumes (see ``position``): "idle" (at an epoch's
        # start), "batches" (in an epoch's batches or its validation), "epoch_end" (a finished
        # epoch's end hooks), "stopped" (the epoch stopped early: ``stop_point`` holds it).
        self.phase = "idle"
        self.stop_point: dict[str, Any] | None = None
        # Lightning's epoch progress, marked once per epoch (``trainer.fit_loop``): the running
        # epoch is "ready" (on_train_epoch_start), "started" (its batches), "processed" (its
        # end hooks) or "completed"; and ``state.total_batches`` when its batches began (None:
        # no epoch began in this fit yet).
        self.epoch_mark = "completed"
        self.epoch_first_total: int | None = None
        self.ended_at_start = False  # an on_train_batch_start returned -1 in this epoch
        self.loader: Any = None  # the training loader of the running epoch
        self.iterator: Any = None  # its batches (shut_down_workers at the run's end)
        self.val_every: float = 0  # the running epoch validates every this many batches
        # A time-based val_check_interval (Lightning's ``_val_check_time_interval``): validate
        # once this many seconds have passed since ``val_clock`` (the training's start, the last
        # validation's end, or the training loader's reload); None: batch-based.
        interval = cfg.val_check_interval
        self.val_seconds = interval.total_seconds() if isinstance(interval, timedelta) else None
        self.val_clock = 0.0
        # reload_dataloaders_every_n_epochs: ``reload("train"|"val")`` asks the source again
        self.reload = reload if cfg.reload_dataloaders_every_n_epochs else None
        # ``load("train"|"val")``: the loaders, asked for where Lightning asks (the Trainer's)
        self.load = load
        self.val_loaders: list[Any] | None = None  # None: not asked for yet
        self.val_limits: list[float] = []
        self.any_val = False
        # the epoch each loader was last made (val: -inf until a validation's load counts)
        self.reloaded_at: dict[str, float] = {"train": 0, "val": float("-inf")}
        # Lightning's "monitoring callbacks" (EarlyStopping, checkpoints) see what the Module
        # logs in its on_train_epoch_end: they run after it, the other callbacks before.
        self.epoch_end_first, self.epoch_end_last = split_monitoring(
            trainer, hooks, "on_train_epoch_end"
        )
        # min_steps without min_epochs: at least one epoch (Lightning's _parse_loop_limits)
        self.min_epochs = (
            cfg.min_epochs
            if cfg.min_epochs is not None
            else (1 if cfg.min_steps is not None else 0)
        )
        self.min_steps = cfg.min_steps or 0
        self.said_stop_put_off = False  # the INFO line of a stop before the minimums, once
        # SIGTERM/SIGUSR1/SIGINT: recorded by its handlers while ``fit()`` trains
        # (``treadle._signals``), acted on after a training batch.
        self.preemption = Preemption(trainer)
        # the epoch's batches (``treadle.data.lookahead``); with a profiler, ``instrument`` puts
        # one here that times each fetch, so the unprofiled epoch checks nothing for it
        self.lookahead = lookahead

    def run(self, resume: dict[str, Any] | None) -> None:
        """The fit. As Lightning's, the loaders are asked for when first needed: the
        validation ones in the sanity check (or before ``on_train_start`` when the first epoch
        validates, or at the first validation), the training one after the sanity check
        (unless ``estimated_stepping_batches`` asked for it before)."""
        trainer, hooks, cfg, state = self.trainer, self.hooks, self.config, self.trainer.state
        module = trainer.module
        state.total_batches = 0
        self.resume = resume
        self.warned_dataloader_iter = False
        hooks.on_fit_start(trainer=trainer, module=module)  # may restore (treadle-slurm)
        if self.resume is not None:  # the run's batches so far (``trainer.fit_loop``'s total)
            state.total_batches = self.resume.get("total_batches", 0)
        module.zero_grad()  # as Lightning's _run_stage
        validates = trainer._fit_validates
        if validates and cfg.num_sanity_val_steps and not self.resuming_mid_epoch():
            n = cfg.num_sanity_val_steps
            outer_rng = rng_state()  # as Lightning: the sanity check leaves the RNG as it was
            state.stage = STAGE[
                "sanity"
            ]  # as Lightning: its start and end hooks see sanity_checking
            hooks.on_sanity_check_start(trainer=trainer, module=module)
            val_loaders = self.load_val()
            if self.any_val:
                limits = [lim if n == -1 else min(n, lim) for lim in self.val_limits]
                self.evaluation.run("sanity", val_loaders, limits)
            hooks.on_sanity_check_end(trainer=trainer, module=module)
            set_rng_state(outer_rng)
        state.stage = STAGE["fit"]
        train_loader = self.load("train") if self.load is not None else None
        self.loader = train_loader  # as Lightning: `trainer.train_dataloader` in on_train_start
        trainer.num_training_batches = (
            0
            if train_loader is None
            else num_batches(train_loader, cfg.limit_train_batches, "train")
        )
        if (
            trainer.loggers
            and trainer.num_training_batches < cfg.log_every_n_steps
            and not cfg.fast_dev_run
            and train_loader is not None
        ):  # as Lightning's fit loop, when it asks for the training loader
            warnings.warn(
                f"The number of training batches ({trainer.num_training_batches}) is smaller than "
                f"the logging interval Trainer(log_every_n_steps={cfg.log_every_n_steps}). Set a "
                f"lower value for log_every_n_steps if you want to see logs for the training epoch.",
                PossibleUserWarning,
                stacklevel=2,
            )
        self.finish_resumed_epoch_end()
        self.val_clock = time.monotonic()  # as Lightning's setup_data: the time-based timer
        if not self.done():  # as Lightning: no training at all (no on_train_start) when done
            if validates and self.val_loaders is None and self.validates_epoch():
                self.load_val()  # as Lightning: before on_train_start when this epoch validates
            hooks.on_train_start(trainer=trainer, module=module)
            while not self.done():
                train_loader, _ = self.reload_loaders(train_loader, None, "train")
                self.epoch(train_loader, self.val_loaders, self.resume)
                self.resume = None
            hooks.on_train_end(trainer=trainer, module=module)
        hooks.on_fit_end(trainer=trainer, module=module)

    def load_val(self) -> list[Any]:
        """The validation loaders asked for (once; ``reload_dataloaders_every_n_epochs`` asks
        again in ``reload_loaders``), their batches counted."""
        trainer, cfg = self.trainer, self.config
        loaders = self.load("val") if self.load is not None else []
        self.val_loaders = loaders
        self.val_limits = [num_batches(v, cfg.limit_val_batches, "val") for v in loaders]
        trainer.num_val_batches = per_loader(self.val_limits, loaders)
        # Ranks read different shares of the validation data (no padding): validation runs on
        # all of them when any has a batch, so none is left waiting in a collective.
        self.any_val = any_rank_has(trainer, sum(self.val_limits))
        if not trainer.sanity_checking or self.validates_epoch():
            # as Lightning: the sanity check's load counts as the epoch's only when the epoch
            # validates; else the first validation of the fit asks again
            self.reloaded_at["val"] = trainer.state.epoch
        return loaders

    def validates_epoch(self) -> bool:
        """The running epoch validates (``check_val_every_n_epoch``)."""
        every = self.config.check_val_every_n_epoch
        return every is None or (self.trainer.state.epoch + 1) % every == 0

    def resuming_mid_epoch(self) -> bool:
        return self.resume is not None and bool(self.resume.get("batches_done"))

    def finish_resumed_epoch_end(self) -> None:
        """A checkpoint written in a finished epoch's end hooks resumes at the next epoch; what
        that epoch end still had to do after the hooks -- step the ``ReduceLROnPlateau``
        schedulers on the values they monitor -- is done now, with the values saved."""
        pending = self.resume.get("plateau") if self.resume is not None else None
        if not pending or not self.trainer.module.automatic_optimization:
            return
        state, device = self.trainer.state, self.trainer.root_device
        for name, value in pending.items():
            self.metrics.callback_metrics[name] = value.to(device)
        state.epoch -= 1  # the schedulers' frequency counts the finished epoch
        try:
            self.step_schedulers("epoch", None, plateau=True)
        finally:
            state.epoch += 1

    def position(self) -> dict[str, Any]:
        """Where a checkpoint written now resumes: ``loops.fit``, with ``rng`` (the RNG to
        resume with) and, after an early stop, the optimizer and scheduler states of the stop."""
        trainer, state = self.trainer, self.trainer.state
        if self.phase == "stopped" and self.stop_point is not None:
            return self.stop_point
        if self.phase == "epoch_end":  # the epoch is finished: resume at the next one
            monitors = {
                cfg.monitor
                for cfg in trainer.lr_scheduler_configs
                if cfg.reduce_on_plateau and cfg.interval == "epoch"
            }
            plateau = {
                name: trainer.callback_metrics[name].detach().cpu()
                for name in monitors
                if name in trainer.callback_metrics
            }
            fit = {
                "epoch": state.epoch + 1,
                "batches_done": 0,
                "total_batches": state.total_batches,
            }
            if plateau:
                fit["plateau"] = plateau
            return {"loops": fit}
        if self.phase != "batches" or not state.batches_done:
            return {
                "loops": {
                    "epoch": state.epoch,
                    "batches_done": 0,
                    "total_batches": state.total_batches,
                }
            }
        return self.mid_epoch(in_batch_end=state.training and state.batch_idx < state.batches_done)

    def mid_epoch(self, in_batch_end: bool) -> dict[str, Any]:
        """The position after ``state.batches_done`` batches of the running epoch. With
        ``in_batch_end`` (written in ``on_train_batch_end``) the batch's validation, when due,
        has not run yet: the resumed run runs it first."""
        trainer, state, cfg = self.trainer, self.trainer.state, self.config
        done = state.batches_done
        total = state.total_batches + 1 if in_batch_end else state.total_batches
        pending = False
        if in_batch_end and self.val_every and self.val_seconds is not None:
            pending = self.val_time_up()  # the validation after this batch is the clock's
        elif in_batch_end and self.val_every:
            at = total if cfg.check_val_every_n_epoch is None else done
            pending = at % self.val_every == 0 or (
                state.is_last_batch and self.val_every == trainer.num_training_batches
            )
        fit: dict[str, Any] = {
            "epoch": state.epoch,
            "batches_done": done,
            "epoch_rng": self.epoch_rng,
            "total_batches": total,
            "validation_pending": pending,
            "metrics": self.metrics.epoch_state("train"),
        }
        module = trainer.module
        # Between two batches of an accumulation window the gradients hold the window so far.
        if module.automatic_optimization and self.step.accumulate > 1 and not state.stepping:
            fit["grads"] = {
                name: p.grad.detach().clone()
                for name, p in module.named_parameters()
                if p.grad is not None
            }
            strategy = trainer.strategy
            if not (fit["grads"] or strategy.saves_window_gradients) and (
                strategy.saves_optimizer_states
            ):
                warnings.warn(
                    f"A checkpoint saved inside a gradient-accumulation window (batch "
                    f"{state.batch_idx}, accumulate_grad_batches={self.step.accumulate}) under "
                    f"strategy={trainer.strategy.name!r}: the window's gradients are in the "
                    f"strategy's engine, not in `param.grad`, and are not saved; a run resumed "
                    f"from it steps this window without the batches before the save. Save after "
                    f"a batch that steps the optimizer for an exact resume.",
                    stacklevel=2,
                )
        own = resumable_state(self.loader)
        if own is not None:
            fit["dataloader"] = own
        return {"loops": fit, "rng": rng_state()}

    def done(self) -> bool:
        """No more epochs: no training batches, ``max_steps`` or ``max_epochs`` reached, or
        ``trainer.should_stop`` set with ``min_epochs`` and ``min_steps`` met."""
        state, trainer = self.trainer.state, self.trainer
        if trainer.num_training_batches == 0:
            return True
        if 0 <= trainer.max_steps <= state.global_step:
            return True
        if 0 <= trainer.max_epochs <= state.epoch:
            return True
        return state.should_stop and self.can_stop_early()

    def can_stop_early(self) -> bool:
        """``min_epochs`` epochs and ``min_steps`` optimizer steps have run. Asked only once
        ``trainer.should_stop`` is set: a stop put off says so at INFO, once (as Lightning)."""
        state = self.trainer.state
        if state.epoch >= self.min_epochs and state.global_step >= self.min_steps:
            return True
        if not self.said_stop_put_off:
            self.said_stop_put_off = True
            min_steps = self.config.min_steps
            rank_zero_info(
                f"Trainer was signaled to stop but the required `min_epochs={self.min_epochs!r}` "
                f"or `min_steps={min_steps!r}` has not been met. Training will continue..."
            )
        return False

    def reload_loaders(self, train_loader: Any, val_loaders: list[Any] | None, which: str) -> tuple:
        """``reload_dataloaders_every_n_epochs``: ``which`` loaders anew when they are due."""
        trainer = self.trainer
        epoch, every = trainer.state.epoch, self.config.reload_dataloaders_every_n_epochs
        if self.reload is None or epoch - self.reloaded_at[which] < every:
            return train_loader, val_loaders
        self.reloaded_at[which] = epoch
        fresh = self.reload(which)
        if fresh is None:  # passed to fit(): nothing to ask again
            return train_loader, val_loaders
        if which == "train":
            trainer.num_training_batches = num_batches(
                fresh, self.config.limit_train_batches, "train"
            )
            self.val_clock = time.monotonic()  # as Lightning: its setup_data runs again
            return fresh, val_loaders
        self.val_limits = [num_batches(v, self.config.limit_val_batches, "val") for v in fresh]
        trainer.num_val_batches = per_loader(self.val_limits, fresh)
        # Ranks read different shares of the validation data (no padding): validation runs on
        # all of them when any has a batch, so none is left waiting in a collective.
        self.any_val = any_rank_has(trainer, sum(self.val_limits))
        self.val_loaders = fresh
        return train_loader, fresh

    def epoch(
        self, loader: Any, val_loaders: list[Any] | None, resume: dict[str, Any] | None
    ) -> None:
        trainer, hooks, cfg, metrics, step = (
            self.trainer,
            self.hooks,
            self.config,
            self.metrics,
            self.step,
        )
        state, module = trainer.state, trainer.module
        state.stage, metrics.stage = STAGE["fit"], "train"
        set_epoch(loader, state.epoch)  # DistributedSampler: each epoch its own order
        self.phase, self.loader, self.stop_point = "batches", loader, None
        self.epoch_mark = "ready"
        hooks.on_train_epoch_start(trainer=trainer, module=module)
        n = trainer.num_training_batches
        self.val_every = val_every = self.val_check_batches(val_loaders)
        skip = resume.get("batches_done", 0) if resume is not None else 0
        if resume is not None and "total_batches" in resume:
            state.total_batches = resume["total_batches"]
        self.epoch_mark, self.epoch_first_total = "started", state.total_batches - skip
        self.ended_at_start = False
        self.evaluation.fresh_epoch = True
        if skip:
            iterator = self.resume_epoch(loader, val_loaders, resume)  # type: ignore[arg-type]
        else:
            self.epoch_rng = rng_state()
            own = generators(loader)
            if own:  # a loader's own generators (not the global RNG) shuffle it
                self.epoch_rng["generators"] = [g.get_state() for g in own]
            iterator = batches(loader)
        self.iterator = iterator  # (a run's end stops its workers: shut_down_workers)
        state.batches_done = skip
        automatic = module.automatic_optimization
        run_batch = step.automatic if automatic else step.manual
        transfer, device = hooks.sequence(TRANSFER, transfer_asked(trainer)), trainer.root_device
        # (None: nothing implements it, and the call is left out)
        on_batch_start = hooks.optional("on_train_batch_start")
        on_batch_end = hooks.optional("on_train_batch_end")
        step.wants_outputs = on_batch_end is not None  # else the step builds no outputs
        step.closure.lean = step.lean_possible and on_batch_end is None
        step.arm_training_step()
        # (log_every_n_steps=0: no step is logged, as Lightning)
        max_steps, log_every = cfg.max_steps, cfg.log_every_n_steps or sys.maxsize
        stop_at = max_steps if max_steps >= 0 else float("inf")  # (-1: no limit)
        by_total = cfg.check_val_every_n_epoch is None  # val_check_interval counts all batches
        # time-based: val_every is 1 and the clock decides in the validation branch, so the
        # batch-based loop asks nothing more per batch
        timed = self.val_seconds is not None
        schedulers = trainer.lr_scheduler_configs
        complete = False  # every batch of the epoch ran (its epoch schedulers step)
        preemption, several_ranks = self.preemption, trainer.world_size > 1
        # A strategy that saves the optimizer state itself keeps an unfinished accumulation
        # window's gradients in its engine (DeepSpeed), where no checkpoint carries them: a
        # preemption stop waits for the window's last batch (at most accumulate - 1 batches).
        wait_window = automatic and step.accumulate > 1 and trainer.strategy.saves_optimizer_states
        if takes_dataloader_iter(module.training_step):  # once per epoch: Lightning's other loop
            if not self.warned_dataloader_iter:
                self.warned_dataloader_iter = True
                warn_dataloader_iter_step("training_step")
            self.finish_epoch(self.dataloader_iter_batches(iterator, skip, val_loaders))
            return
        for batch_idx, batch, is_last in self.lookahead(iterator, skip, n):
            if state.should_stop and self.can_stop_early():
                break  # set in on_train_epoch_start, or before min_epochs/min_steps were met
            state.is_last_batch, state.batch_idx = is_last, batch_idx
            skip = batch is None  # as Lightning: no hooks, no step for it (warned once)
            if skip:
                _warn_none_batch()
            elif transfer is not None:
                batch = transfer(trainer, module, batch, device, 0)
            metrics.in_step, metrics.current_batch = True, batch
            if (
                on_batch_start is not None
                and not skip
                and -1
                in on_batch_start(trainer=trainer, module=module, batch=batch, batch_idx=batch_idx)
            ):
                metrics.in_step = False
                self.ended_at_start = True  # (Lightning counts the batch as ready)
                if automatic and schedulers:  # as Lightning: this batch ends the epoch, whose
                    self.step_schedulers("epoch", None, plateau=False)  # schedulers step
                break
            step.stepped = False
            outputs = None if skip else run_batch(batch, batch_idx)
            stepped = step.stepped
            if stepped:
                state.global_step += 1
                if automatic and schedulers:
                    self.step_schedulers("step", batch_idx, plateau=None)
            if is_last and automatic and schedulers:  # as Lightning: in the epoch's last batch,
                self.step_schedulers("epoch", None, plateau=False)  # before its validation
            state.batches_done = batch_idx + 1
            complete = is_last
            if on_batch_end is not None and not skip:
                on_batch_end(
                    trainer=trainer,
                    module=module,
                    outputs=outputs,
                    batch=batch,
                    batch_idx=batch_idx,
                )
            metrics.in_step = False
            if stepped and state.global_step % log_every == 0 and trainer.loggers:
                log_to_loggers(trainer, metrics.take_step_metrics())
            state.total_batches += 1
            position = state.total_batches if by_total else batch_idx + 1
            # As Lightning: a stop request still validates (when this epoch validates at all)
            stopping = state.should_stop and self.can_stop_early()
            if val_every and (
                position % val_every == 0 or (is_last and val_every == n) or stopping
            ):
                due = (
                    self.val_time_up(agree=True)  # (as Lightning: the last batch only if it is up)
                    if timed
                    else position % val_every == 0 or (is_last and val_every == n)
                )
                if not due and stopping:
                    # a validation only the stop asks for: the resumed run continues with the
                    # RNG of an uninterrupted run, which does not validate here
                    self.stop_point = {"rng": rng_state()}
                if due or stopping:
                    _, val_loaders = self.reload_loaders(None, val_loaders, "val")
                    val_loaders = self.validate(val_loaders, batch_idx, is_last)
            if state.global_step >= stop_at or stopping:
                break
            if (preemption.signum or several_ranks) and (stepped or not wait_window):
                preemption.check()  # a signal (or ranks to ask): stop, save
        else:
            complete = True
        self.finish_epoch(complete)

    def finish_epoch(self, complete: bool) -> None:
        """The epoch's batches are done (``complete``: all of them ran); its end hooks run."""
        trainer = self.trainer
        if not complete:  # as Lightning, the epoch end hooks run; the checkpoint resumes here
            before_validation = (self.stop_point or {}).get("rng")
            self.stop_point = self.mid_epoch(in_batch_end=False)
            if before_validation is not None:
                self.stop_point["rng"] = before_validation
            if not trainer.strategy.saves_optimizer_states:
                self.stop_point["optimizer_states"] = [o.state_dict() for o in trainer.optimizers]
            self.stop_point["lr_schedulers"] = [
                c.scheduler.state_dict() for c in trainer.lr_scheduler_configs
            ]
            self.phase = "stopped"
        self.end_epoch(complete)

    def dataloader_iter_batches(
        self, iterator: Any, skip: int, val_loaders: list[Any] | None
    ) -> bool:
        """The epoch's batches for a ``training_step(self, dataloader_iter)`` (Lightning's
        ``_DataLoaderIterDataFetcher``); returns whether the epoch ran to its end.

        The step is called with a :class:`DataloaderIter` (``batch_idx`` counting on from
        ``skip``, the batches a resumed epoch skipped) until every batch is fetched,
        ``num_training_batches`` calls have run, or the step lets the iterator's
        ``StopIteration`` out: in automatic optimization that call counts for nothing (no
        optimizer step, no ``on_train_batch_end``, no validation, as Lightning); in manual
        optimization it ends the step and the epoch's last batch goes on as usual. The
        optimizer, gradient accumulation, schedulers, validation and logging count calls of
        the step (Lightning's ``batch_idx`` in this mode), and validation also runs after the
        call that fetched the last batch. The batch hooks get the latest batch fetched, as
        Lightning's: ``on_train_batch_start`` the one before the call (``None`` and ``0`` in an
        epoch's first call), ``on_train_batch_end`` the step's last."""
        trainer, hooks, cfg, metrics, step = (
            self.trainer,
            self.hooks,
            self.config,
            self.metrics,
            self.step,
        )
        state, module = trainer.state, trainer.module
        n, val_every = trainer.num_training_batches, self.val_every
        data = DataloaderIter([(iterator, n)], skip)
        automatic = module.automatic_optimization
        run_batch = step.automatic if automatic else step.manual
        on_batch_start = hooks.optional("on_train_batch_start")
        on_batch_end = hooks.optional("on_train_batch_end")  # (epoch() armed the step for it)
        # (log_every_n_steps=0: no step is logged, as Lightning)
        max_steps, log_every = cfg.max_steps, cfg.log_every_n_steps or sys.maxsize
        schedulers = trainer.lr_scheduler_configs
        preemption, several_ranks = self.preemption, trainer.world_size > 1
        wait_window = automatic and step.accumulate > 1 and trainer.strategy.saves_optimizer_states
        calls = skip  # the step's calls this epoch: Lightning's batch_idx in this mode
        is_last = data.done
        while not data.done and calls < n:
            if state.should_stop and self.can_stop_early():
                return False
            batch_idx = state.batch_idx = calls
            state.is_last_batch = calls + 1 == n  # the step's batches are not fetched yet
            metrics.in_step, metrics.current_batch = True, data.batch
            if on_batch_start is not None and -1 in on_batch_start(
                trainer=trainer, module=module, batch=data.batch, batch_idx=data.batch_idx
            ):
                metrics.in_step = False
                if automatic and schedulers:  # as Lightning: this batch ends the epoch, whose
                    self.step_schedulers("epoch", None, plateau=False)  # schedulers step
                return False
            step.stepped = False
            try:
                outputs = run_batch(data, batch_idx)
            except StopIteration:
                if automatic:  # as Lightning: the epoch ends; this call counts for nothing
                    metrics.in_step = False
                    return True
                step.end_batch()  # as Lightning's manual loop: the step ends, the batch goes on
                outputs = {} if step.wants_outputs else None
            stepped = step.stepped
            calls += 1
            if stepped:
                state.global_step += 1
                if automatic and schedulers:
                    self.step_schedulers("step", batch_idx, plateau=None)
            if calls == n and automatic and schedulers:  # as Lightning: the epoch's last call
                self.step_schedulers("epoch", None, plateau=False)
            state.is_last_batch = is_last = data.done or calls == n
            state.batches_done = data.fetched  # what a resumed epoch skips
            if on_batch_end is not None:
                on_batch_end(
                    trainer=trainer,
                    module=module,
                    outputs=outputs,
                    batch=data.batch,
                    batch_idx=data.batch_idx,
                )
            metrics.in_step = False
            if stepped and state.global_step % log_every == 0 and trainer.loggers:
                log_to_loggers(trainer, metrics.take_step_metrics())
            state.total_batches += 1
            position = state.total_batches if cfg.check_val_every_n_epoch is None else calls
            stopping = state.should_stop and self.can_stop_early()
            if not val_every:
                due = False
            elif self.val_seconds is not None:  # as Lightning: this loop's last batch validates
                due = is_last or self.val_time_up(agree=True)
            else:
                due = position % val_every == 0 or is_last
            if val_every and (due or stopping):
                if not due:  # a validation only the stop asks for (see epoch())
                    self.stop_point = {"rng": rng_state()}
                _, val_loaders = self.reload_loaders(None, val_loaders, "val")
                val_loaders = self.validate(val_loaders, batch_idx, is_last)
            if 0 <= max_steps <= state.global_step or stopping:
                return is_last
            if (preemption.signum or several_ranks) and (stepped or not wait_window):
                preemption.check()
        return True

    def resume_epoch(
        self, loader: Any, val_loaders: list[Any] | None, resume: dict[str, Any]
    ) -> Any:
        """The epoch's iterator after ``resume["batches_done"]`` batches, the run as it was then.

        The epoch's start is replayed (its RNG, hence its shuffle); the batches already run are
        skipped at the sampler (see ``treadle.data.resume_loader``); then the RNG, the epoch's
        metric values and an accumulation window's gradients are set as they were when the
        checkpoint was written, and a validation that was due after the last batch runs.
        """
        trainer, state = self.trainer, self.trainer.state
        skip = resume["batches_done"]
        self.epoch_rng = resume.get("epoch_rng")
        if self.epoch_rng is not None:  # (None: a checkpoint written outside fit's loop)
            set_rng_state(self.epoch_rng)
            for gen, saved in zip(generators(loader), self.epoch_rng.get("generators", [])):
                gen.set_state(saved)
        resumed = resume_loader(loader, skip, resume.get("dataloader"))
        iterator = batches(resumed.loader)
        resumed.start(iterator)
        set_rng_state(resume["rng"])
        self.metrics.load_epoch_state("train", resume.get("metrics", {}))
        grads = resume.get("grads")
        if grads:
            for name, p in trainer.module.named_parameters():
                if name in grads:
                    p.grad = grads[name].to(device=p.device, dtype=p.dtype)
        state.batches_done = skip
        if resume.get("validation_pending"):
            state.batch_idx = skip - 1
            state.is_last_batch = skip == trainer.num_training_batches
            _, val_loaders = self.reload_loaders(None, val_loaders, "val")
            self.validate(val_loaders, skip - 1, state.is_last_batch)
        return iterator

    def validate(self, val_loaders: list[Any] | None, batch_idx: int, is_last: bool) -> list[Any]:
        """Validation inside the epoch, after batch ``batch_idx``; returns its loaders. As
        Lightning, gradients are released first (``on_validation_model_zero_grad``, by default
        ``module.zero_grad()``) unless the batch is inside a gradient-accumulation window, and
        the first validation of the fit asks for the loaders (None: not asked for yet)."""
        trainer, module = self.trainer, self.trainer.module
        accumulate = self.step.accumulate
        window_done = (batch_idx + 1) % accumulate == 0 or is_last
        if (not module.automatic_optimization or window_done) and (
            self.hooks.on_validation_model_zero_grad(trainer=trainer, module=module) is None
        ):
            module.zero_grad()  # no override took over: Lightning's default
        if val_loaders is None:
            val_loaders = self.val_loaders if self.val_loaders is not None else self.load_val()
        self.evaluation.run("validate", val_loaders, self.val_limits)
        self.val_clock = time.monotonic()  # as Lightning: the time-based timer starts again
        return val_loaders

    def val_time_up(self, agree: bool = False) -> bool:
        """A time-based ``val_check_interval`` has passed since the last validation (or the
        training's start). ``agree``: the loop asks, on every rank at the same batch; with
        several ranks rank 0's clock decides for all, so that they validate together (each
        rank's own clock could differ by a batch and leave one rank waiting in validation's
        collectives for the others)."""
        seconds = self.val_seconds
        up = seconds is not None and time.monotonic() - self.val_clock >= seconds
        if agree and self.trainer.world_size > 1:
            up = bool(self.trainer.broadcast(up, src=0))
        return up

    def end_epoch(self, complete: bool = True) -> None:
        """The epoch's end. ``complete``: all its batches ran. The ``ReduceLROnPlateau``
        epoch-interval schedulers step here, after ``on_train_epoch_end``."""
        trainer, metrics = self.trainer, self.metrics
        state, module = trainer.state, trainer.module
        state.stage, metrics.stage = STAGE["fit"], "train"
        self.epoch_mark = "processed"
        if complete:
            self.phase = "epoch_end"
        logged = metrics.end_epoch("train")
        automatic = module.automatic_optimization
        # (the other epoch-interval schedulers stepped in the epoch's last batch, as Lightning)
        self.epoch_end_first(trainer=trainer, module=module)
        if self.epoch_end_last is not None:
            logged.update(metrics.end_epoch("train"))
            self.epoch_end_last(trainer=trainer, module=module)
        logged.update(metrics.end_epoch("train"))
        metrics.reset_metric_objects("train")
        if automatic and complete:  # as Lightning: not after an epoch cut short (max_steps)
            self.step_schedulers("epoch", None, plateau=True)
        metrics.take_step_metrics()  # as Lightning: step values no log point took are dropped
        log_to_loggers(trainer, logged)
        if trainer.is_global_zero:
            for logger in trainer.loggers:  # rows reach the files at least every epoch
                logger.save()
        state.epoch += 1
        state.batches_done = 0
        self.epoch_mark = "completed"
        if complete:
            self.phase = "idle"
        self.step.release()

    def step_schedulers(self, interval: str, batch_idx: int | None, plateau: bool | None) -> None:
        """Step the schedulers due at this point (``plateau``: only those, or only the others)."""
        trainer = self.trainer
        if not trainer.lr_scheduler_configs:
            return
        current = (trainer.state.epoch if batch_idx is None else batch_idx) + 1
        for cfg in trainer.lr_scheduler_configs:
            if cfg.interval != interval or current % cfg.frequency:
                continue
            if plateau is not None and cfg.reduce_on_plateau != plateau:
                continue
            metric = None
            if cfg.reduce_on_plateau:
                metric = trainer.callback_metrics.get(cfg.monitor)
                if metric is None:
                    if cfg.strict:
                        raise ConfigurationError(
                            [
                                f"ReduceLROnPlateau conditioned on metric {cfg.monitor} which is "
                                f"not available. Available metrics are: "
                                f"{sorted(trainer.callback_metrics)}. Log it with "
                                f"`self.log({cfg.monitor!r}, value)`, change the `monitor` key "
                                f"in the lr scheduler dict, or set 'strict': False."
                            ]
                        )
                    warnings.warn(  # as Lightning
                        f"ReduceLROnPlateau conditioned on metric {cfg.monitor} which is not "
                        f"available but strict is set to `False`. Skipping learning rate update.",
                        RuntimeWarning,
                        stacklevel=2,
                    )
                    continue
            self.step.scheduler_step(cfg.scheduler, metric)

    def val_check_batches(self, val_loaders: list[Any] | None) -> float:
        """Validate every this many training batches this epoch (0: not this epoch; 1 for a
        time-based ``val_check_interval``, whose clock decides after each batch).
        ``val_loaders`` None: not asked for yet, asked for at the first validation."""
        cfg, trainer = self.config, self.trainer
        if val_loaders is None and not trainer._fit_validates:
            return 0
        if val_loaders is not None and not (val_loaders and self.any_val):
            return 0
        every = cfg.check_val_every_n_epoch
        interval, n = cfg.val_check_interval, trainer.num_training_batches
        if isinstance(interval, int) and every is not None and interval > n:  # as Lightning
            raise ConfigurationError(
                [
                    f"Trainer: `val_check_interval` ({interval}) must be less than or equal to the "
                    f"number of the training batches ({n}). To validate every {interval} batches "
                    f"across epochs, set `check_val_every_n_epoch=None`; to turn validation off, "
                    f"set `limit_val_batches=0`."
                ]
            )
        if every is not None and (trainer.state.epoch + 1) % every != 0:
            return 0
        if isinstance(interval, timedelta):
            return 1  # time-based: every batch asks the clock (see epoch())
        if interval is None or (isinstance(interval, float) and interval == 1.0):
            return n  # a loader without a length (inf): at its last batch, as Lightning
        if isinstance(interval, float):
            if n == float("inf"):
                raise ConfigurationError(
                    [
                        f"Trainer: `val_check_interval={interval}` is a fraction of an epoch, but the "
                        f"training loader has no length; pass an int number of batches."
                    ]
                )
            return max(1, int(n * interval))
        return int(interval)


def transfer_asked(trainer: Any) -> tuple[str, ...]:
    """``TRANSFER``'s asked hooks: the core's ``transfer_batch_to_device`` is left out (as an
    identity) only when the device is the CPU and the machine has no other device a batch's
    tensors could be on."""
    if trainer.root_device.type == "cpu" and not _other_devices():
        return ()
    return ("transfer_batch_to_device",)


def _other_devices() -> bool:
    """This machine has a device besides the CPU (CUDA, MPS, XPU) that torch can use."""
    if torch.cuda.is_available():
        return True
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return True
    xpu = getattr(torch, "xpu", None)
    return xpu is not None and xpu.is_available()


def split_monitoring(trainer: Any, hooks: Any, name: str) -> tuple:
    """Hook ``name`` split in two callers: all but the monitoring callbacks (EarlyStopping, the
    checkpoint callbacks), and only those (None when there are none)."""
    monitoring = {id(c) for c in trainer.callbacks if is_monitoring(c)}
    impls = getattr(trainer.plugin_manager.hook, name).get_hookimpls()
    last = [
        i.plugin
        for i in impls
        if id(i.plugin.owner if isinstance(i.plugin, AdaptedPlugin) else i.plugin) in monitoring
    ]
    if not last:
        return getattr(hooks, name), None
    others = [i.plugin for i in impls if i.plugin not in last]
    return hooks.subset(name, last), hooks.subset(name, others)


def is_monitoring(callback: Any) -> bool:
    """A callback Lightning calls after the Module's ``on_train_epoch_end``: a checkpoint
    callback (it has ``best_model_path``) or an ``EarlyStopping``."""
    if hasattr(callback, "best_model_path"):
        return True
    early = sys.modules.get("treadle_plugins.callbacks.early_stopping")  # none made without it
    return early is not None and isinstance(callback, early.EarlyStopping)


_NONE_BATCH_WARNED: list[bool] = []  # as Lightning's warning cache: once per process


def warn_dataloader_iter_step(step: str) -> None:
    """Lightning's words when a loop hands its step the iterator (once per run)."""
    warnings.warn(
        f"Found `dataloader_iter` argument in the `{step}`. Note that the support for this "
        f"signature is experimental and the behavior is subject to change.",
        UserWarning,
        stacklevel=2,
    )


def _warn_none_batch() -> None:
    if not _NONE_BATCH_WARNED:
        _NONE_BATCH_WARNED.append(True)
        warnings.warn(
            "train_dataloader yielded None. If this was on purpose, ignore this warning...",
            UserWarning,
            stacklevel=3,
        )


def per_loader(limits: list[float], loaders: Any = ()) -> list[float]:
    """``trainer.num_val_batches`` as Lightning's: one count per loader, ``[]`` when
    validation runs no batch at all (``limit_val_batches=0``, no loader). A ``CombinedLoader``
    of another mode than ``sequential`` (``limits``: the limited length of each of its
    iterables) counts each of its iterables, as Lightning's ``[3, 2]`` for two of 3 and 2."""
    from treadle.combined_loader import CombinedLoader

    counts: list[float] = []
    for i, limit in enumerate(limits):
        loader = loaders[i] if i < len(loaders) else None
        inner = loader.limits if isinstance(loader, CombinedLoader) else None
        counts.extend([limit] if inner is None else inner)
    return counts if any(limits) else []


def any_rank_has(trainer: Any, batches: float) -> bool:
    """Whether any rank has a batch to run (a collective when there are several ranks)."""
    if trainer.world_size == 1:
        return batches > 0
    mine = torch.tensor(float(min(batches, 1)), device=trainer.root_device)
    return bool(trainer.reduce(mine, "max").item() > 0)


def per_rank(n: float, world_size: int) -> float:
    """Batches each rank sees of a loader of ``n`` batches (known before the sampler is set)."""
    return n if n == float("inf") else math.ceil(n / world_size)
