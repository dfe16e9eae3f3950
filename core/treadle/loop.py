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
from typing import Any, Callable

import torch

from treadle._adapters import AdaptedPlugin
from treadle._signals import Preemption
from treadle.checkpoint import rng_state, set_rng_state
from treadle.data import limited, lookahead, num_batches
from treadle.errors import ConfigurationError

# The hook prefix of each evaluation stage (``on_validation_batch_start``, ``run_test_step``).
_PREFIX = {"sanity": "validation", "validate": "validation", "test": "test", "predict": "predict"}
_METRIC_STAGE = {"sanity": "sanity", "validate": "validate", "test": "test", "predict": "predict"}


def transfer(trainer: Any, hooks: Any, module: Any, batch: Any, dataloader_idx: int) -> Any:
    """``on_before_batch_transfer``, ``transfer_batch_to_device``, ``on_after_batch_transfer``."""
    changed = hooks.on_before_batch_transfer(
        trainer=trainer, module=module, batch=batch, dataloader_idx=dataloader_idx
    )
    batch = batch if changed is None else changed
    batch = hooks.transfer_batch_to_device(
        trainer=trainer,
        module=module,
        batch=batch,
        device=trainer.root_device,
        dataloader_idx=dataloader_idx,
    )
    changed = hooks.on_after_batch_transfer(
        trainer=trainer, module=module, batch=batch, dataloader_idx=dataloader_idx
    )
    return batch if changed is None else changed


def log_to_loggers(trainer: Any, metrics: dict[str, torch.Tensor], step: int | None = None) -> None:
    """Send ``metrics`` (with the epoch) to every logger, at the current global step; or, given
    ``step`` (an evaluation batch's index, as Lightning), at that step without the epoch."""
    if not metrics or not trainer.loggers or not trainer.is_global_zero:
        return
    values = {k: float(v) for k, v in metrics.items()}
    if step is None:
        values["epoch"] = trainer.state.epoch
        step = trainer.state.global_step
    for logger in trainer.loggers:
        logger.log_metrics(values, step=step)


class EvaluationLoop:
    """One pass over evaluation dataloaders: validation, the sanity check, test, predict."""

    def __init__(self, trainer: Any, hooks: Any, metrics: Any) -> None:
        self.trainer, self.hooks, self.metrics = trainer, hooks, metrics

    def run(
        self, stage: str, loaders: list[Any], limits: list[float], keep_predictions: bool = False
    ) -> list[Any]:
        """Run ``stage`` over ``loaders``; returns one result per dataloader: its logged metrics
        (``dict``), or for ``predict`` its predictions (a list, empty unless kept)."""
        if not any_rank_has(self.trainer, sum(limits)):  # as Lightning: no batch, no hook
            return []
        trainer, hooks, metrics, state = self.trainer, self.hooks, self.metrics, self.trainer.state
        module = trainer.module
        prefix = _PREFIX[stage]
        call = lambda name: getattr(hooks, name.format(prefix))  # noqa: E731
        on_batch_start, on_batch_end = call("on_{}_batch_start"), call("on_{}_batch_end")
        run_step = call("run_{}_step")
        previous_stage, previous_metric_stage = state.stage, metrics.stage
        state.stage, metrics.stage = stage, _METRIC_STAGE[stage]
        several = len(loaders) > 1
        state.num_dataloaders = len(loaders)
        predictions: list[list[Any]] = [[] for _ in loaders]
        modes = [(m, m.training) for m in module.modules()]
        if call("on_{}_model_eval")(trainer=trainer, module=module) is None:
            module.eval()  # no override took over: Lightning's default
        call("on_{}_start")(trainer=trainer, module=module)
        call("on_{}_epoch_start")(trainer=trainer, module=module)
        # As Lightning: inference mode for validate/test/predict (no_grad with
        # ``Trainer(inference_mode=False)``); no_grad inside fit().
        inference = state.fn != "fit" and trainer.config.inference_mode
        with torch.inference_mode() if inference else torch.no_grad():
            for dataloader_idx, (loader, limit) in enumerate(zip(loaders, limits)):
                state.dataloader_idx = dataloader_idx
                metrics.dataloader_idx = step_idx = dataloader_idx if several else None
                for batch_idx, batch in limited(loader, limit):
                    state.batch_idx = batch_idx
                    batch = transfer(trainer, hooks, module, batch, dataloader_idx)
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
                    metrics.in_step = False
                    if metrics.pending_eval_step:
                        log_to_loggers(trainer, metrics.take_eval_step_metrics(), batch_idx)
        metrics.dataloader_idx = None
        state.dataloader_idx, state.num_dataloaders = 0, 1
        call("on_{}_epoch_end")(trainer=trainer, module=module)
        logged = metrics.end_epoch(metrics.stage) if stage not in ("sanity", "predict") else {}
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
    ) -> None:
        self.trainer, self.hooks, self.step, self.metrics = trainer, hooks, step, metrics
        self.evaluation = evaluation
        self.config = cfg = trainer.config
        self.epoch_rng: dict[str, Any] | None = None  # RNG at this epoch's start (resume)
        self.resume: dict[str, Any] | None = None  # a mid-epoch point to resume from
        # reload_dataloaders_every_n_epochs: ``reload("train"|"val")`` asks the source again
        self.reload = reload if cfg.reload_dataloaders_every_n_epochs else None
        self.reloaded_at = {"train": 0, "val": 0}  # the epoch each loader was last made
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
        # SIGTERM/SIGUSR1/SIGINT: recorded by its handlers while ``fit()`` trains
        # (``treadle._signals``), acted on after a training batch.
        self.preemption = Preemption(trainer)

    def run(self, train_loader: Any, val_loaders: list[Any], resume: dict[str, Any] | None) -> None:
        trainer, hooks, cfg, state = self.trainer, self.hooks, self.config, self.trainer.state
        module = trainer.module
        trainer.num_training_batches = num_batches(train_loader, cfg.limit_train_batches)
        self.val_limits = [num_batches(v, cfg.limit_val_batches) for v in val_loaders]
        trainer.num_val_batches = sum(self.val_limits)
        # Ranks read different shares of the validation data (no padding): validation runs on
        # all of them when any has a batch, so none is left waiting in a collective.
        self.any_val = any_rank_has(trainer, trainer.num_val_batches)
        state.total_batches = 0
        self.resume = resume
        hooks.on_fit_start(trainer=trainer, module=module)  # may restore (treadle-slurm)
        if self.any_val and cfg.num_sanity_val_steps and self.resume is None:
            n = cfg.num_sanity_val_steps
            hooks.on_sanity_check_start(trainer=trainer, module=module)
            self.evaluation.run(
                "sanity", val_loaders, [lim if n == -1 else min(n, lim) for lim in self.val_limits]
            )
            hooks.on_sanity_check_end(trainer=trainer, module=module)
        state.stage = "fit"
        if not self.done():  # as Lightning: no training at all (no on_train_start) when done
            hooks.on_train_start(trainer=trainer, module=module)
            self.val_loaders = val_loaders
            while not self.done():
                train_loader, _ = self.reload_loaders(train_loader, None, "train")
                self.epoch(train_loader, self.val_loaders, self.resume)
                self.resume = None
            hooks.on_train_end(trainer=trainer, module=module)
        hooks.on_fit_end(trainer=trainer, module=module)

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
        """``min_epochs`` epochs and ``min_steps`` optimizer steps have run."""
        state = self.trainer.state
        return state.epoch >= self.min_epochs and state.global_step >= self.min_steps

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
            trainer.num_training_batches = num_batches(fresh, self.config.limit_train_batches)
            return fresh, val_loaders
        self.val_limits = [num_batches(v, self.config.limit_val_batches) for v in fresh]
        trainer.num_val_batches = sum(self.val_limits)
        # Ranks read different shares of the validation data (no padding): validation runs on
        # all of them when any has a batch, so none is left waiting in a collective.
        self.any_val = any_rank_has(trainer, trainer.num_val_batches)
        self.val_loaders = fresh
        return train_loader, fresh

    def epoch(self, loader: Any, val_loaders: list[Any], resume: dict[str, Any] | None) -> None:
        trainer, hooks, cfg, metrics, step = (
            self.trainer,
            self.hooks,
            self.config,
            self.metrics,
            self.step,
        )
        state, module = trainer.state, trainer.module
        state.stage, metrics.stage = "fit", "train"
        set_epoch = getattr(getattr(loader, "sampler", None), "set_epoch", None)
        if set_epoch is not None:  # DistributedSampler: each epoch its own order
            set_epoch(state.epoch)
        hooks.on_train_epoch_start(trainer=trainer, module=module)
        # A mid-epoch resume replays the epoch's start (its RNG, hence its shuffle), skips the
        # batches already run, then continues with the RNG as it was when the checkpoint was made.
        self.epoch_rng = rng_state() if resume is None else resume["epoch_rng"]
        if resume is not None:
            set_rng_state(resume["epoch_rng"])
        iterator = iter(loader)
        skip = resume["batches_done"] if resume is not None else 0
        for _ in range(skip):
            next(iterator)
        if resume is not None:
            set_rng_state(resume["rng"])
        state.batches_done = skip
        n = trainer.num_training_batches
        val_every = self.val_check_batches(val_loaders)
        automatic = module.automatic_optimization
        run_batch = step.automatic if automatic else self.manual_batch
        on_batch_start, on_batch_end = hooks.on_train_batch_start, hooks.on_train_batch_end
        max_steps, log_every = cfg.max_steps, cfg.log_every_n_steps
        schedulers = trainer.lr_scheduler_configs
        preemption, several_ranks = self.preemption, trainer.world_size > 1
        for batch_idx, batch, is_last in lookahead(iterator, skip, n):
            if state.should_stop and self.can_stop_early():
                break  # set in on_train_epoch_start, or before min_epochs/min_steps were met
            state.is_last_batch, state.batch_idx = is_last, batch_idx
            batch = transfer(trainer, hooks, module, batch, 0)
            metrics.in_step, metrics.current_batch = True, batch
            if -1 in on_batch_start(
                trainer=trainer, module=module, batch=batch, batch_idx=batch_idx
            ):
                metrics.in_step = False
                break
            step.stepped = False
            outputs = run_batch(batch, batch_idx)
            step.end_batch()
            stepped = step.stepped
            if stepped:
                state.global_step += 1
                if automatic and schedulers:
                    self.step_schedulers("step", batch_idx, plateau=None)
            state.batches_done = batch_idx + 1
            on_batch_end(
                trainer=trainer, module=module, outputs=outputs, batch=batch, batch_idx=batch_idx
            )
            metrics.in_step = False
            if stepped and trainer.loggers and state.global_step % log_every == 0:
                log_to_loggers(trainer, metrics.take_step_metrics())
            state.total_batches += 1
            position = state.total_batches if cfg.check_val_every_n_epoch is None else batch_idx + 1
            # As Lightning: a stop request still validates (when this epoch validates at all)
            stopping = state.should_stop and self.can_stop_early()
            if val_every and (
                position % val_every == 0 or (is_last and val_every == n) or stopping
            ):
                _, val_loaders = self.reload_loaders(None, val_loaders, "val")
                self.evaluation.run("validate", val_loaders, self.val_limits)
            if 0 <= max_steps <= state.global_step or stopping:
                break
            if preemption.signum or several_ranks:  # a signal (or ranks to ask): stop, save
                preemption.check()
        self.end_epoch()

    def manual_batch(self, batch: Any, batch_idx: int) -> Any:
        """Manual optimization: ``training_step`` steps the optimizers itself."""
        trainer = self.trainer
        trainer.state.stepping = True
        out = self.hooks.run_training_step(
            trainer=trainer, module=trainer.module, batch=batch, batch_idx=batch_idx
        )[0]
        return {"loss": out.detach()} if isinstance(out, torch.Tensor) else out

    def end_epoch(self) -> None:
        trainer, metrics = self.trainer, self.metrics
        state, module = trainer.state, trainer.module
        state.stage, metrics.stage = "fit", "train"
        logged = metrics.end_epoch("train")
        automatic = module.automatic_optimization
        if automatic:  # as Lightning: epoch schedulers first, plateau ones see the epoch's metrics
            self.step_schedulers("epoch", None, plateau=False)
        self.epoch_end_first(trainer=trainer, module=module)
        if self.epoch_end_last is not None:
            logged.update(metrics.end_epoch("train"))
            self.epoch_end_last(trainer=trainer, module=module)
        logged.update(metrics.end_epoch("train"))
        metrics.reset_metric_objects("train")
        if automatic:
            self.step_schedulers("epoch", None, plateau=True)
        log_to_loggers(trainer, {**metrics.take_step_metrics(), **logged})
        if trainer.is_global_zero:
            for logger in trainer.loggers:  # rows reach the files at least every epoch
                logger.save()
        state.epoch += 1
        state.batches_done = 0
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
                                f"ReduceLROnPlateau is set to monitor {cfg.monitor!r}, which was not "
                                f"logged. Logged metrics: {sorted(trainer.callback_metrics)}. Log it "
                                f"with `self.log({cfg.monitor!r}, value)` or set 'strict': False."
                            ]
                        )
                    continue
            self.step.scheduler_step(cfg.scheduler, metric)

    def val_check_batches(self, val_loaders: list[Any]) -> float:
        """Validate every this many training batches this epoch (0: not this epoch)."""
        cfg, trainer = self.config, self.trainer
        if not val_loaders or not self.any_val:
            return 0
        every = cfg.check_val_every_n_epoch
        if every is not None and (trainer.state.epoch + 1) % every != 0:
            return 0
        interval = cfg.val_check_interval
        n = trainer.num_training_batches
        if interval is None or (isinstance(interval, float) and interval == 1.0):
            return n if n != float("inf") else 0
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


def any_rank_has(trainer: Any, batches: float) -> bool:
    """Whether any rank has a batch to run (a collective when there are several ranks)."""
    if trainer.world_size == 1:
        return batches > 0
    mine = torch.tensor(float(min(batches, 1)), device=trainer.root_device)
    return bool(trainer.reduce(mine, "max").item() > 0)


def per_rank(n: float, world_size: int) -> float:
    """Batches each rank sees of a loader of ``n`` batches (known before the sampler is set)."""
    return n if n == float("inf") else math.ceil(n / world_size)
