"""``treadle.Trainer``: the loop, with every step dispatched through the run's hooks.

Read it top to bottom: construction (config, plugins, selection), ``fit``/``validate``, the
epoch loop, one automatic or manual training step, validation, checkpoints. Everything
device-, precision- or strategy-specific lives in plugins.
"""
from __future__ import annotations

import inspect
import math
import os
import random
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

import torch

from treadle import _defaults, _optim_config
from treadle._adapters import adapt_object
from treadle._metrics import MetricStore
from treadle.callback import Callback
from treadle._fastconfig import validate_trainer_kwargs
from treadle.errors import ConfigurationError, PluginError
from treadle.module import MODULE_HOOKS, Module
from treadle.optim import WrappedOptimizer, route_scheduler_step, unroute_scheduler_step
from treadle.plugin_manager import Hooks, RunPluginManager
from treadle.utilities import move_data_to_device, seed_worker

__version__ = "0.1.0"


class _AutoClosure:
    """Automatic optimization's closure: zero_grad, forward, backward, pre-step hooks.

    ``zero_grad`` comes first, as in a plain PyTorch loop (Lightning calls it after
    ``training_step``): the previous step's gradients are freed before the forward pass
    allocates its activations, which can lower peak memory and makes the tiny MLP's step about
    8 us (3 %) faster, in plain PyTorch too (``benchmarks/zero_grad_order.py``).

    One instance per Trainer, re-armed for every batch (nothing allocated per step).
    """

    __slots__ = ("trainer", "batch", "batch_idx", "optimizer", "zero_grad", "stepping", "outputs",
                 "result")

    def __init__(self, trainer: "Trainer"):
        self.trainer = trainer

    def arm(self, batch, batch_idx, optimizer, zero_grad, stepping) -> "_AutoClosure":
        self.batch, self.batch_idx, self.optimizer = batch, batch_idx, optimizer
        self.zero_grad, self.stepping, self.outputs, self.result = zero_grad, stepping, None, None
        return self

    def __call__(self):
        t = self.trainer
        hooks, module, opt = t._hooks, t.module, self.optimizer
        if self.zero_grad and opt is not None:
            if t._hot.on_before_zero_grad:
                hooks.on_before_zero_grad(trainer=t, module=module, optimizer=opt)
            hooks.optimizer_zero_grad(trainer=t, module=module, optimizer=opt, optimizer_idx=0,
                                      batch_idx=self.batch_idx)
        out = hooks.run_training_step(trainer=t, module=module, batch=self.batch,
                                      batch_idx=self.batch_idx)[0]
        loss = t._loss_of(out)
        detached = None if loss is None else loss.detach()
        self.outputs = out if not isinstance(out, torch.Tensor) else {"loss": detached}
        if loss is None:  # training_step returned None: no backward, the step has no gradients
            return None
        n = t.config.accumulate_grad_batches
        t._backward(loss / n if n > 1 else loss, opt)
        if self.stepping and opt is not None:
            t._after_closure(opt, automatic=True)
        self.result = detached
        return detached


class _ManualClosure:
    """Wraps the user's closure (or none) for ``opt.step()`` in manual optimization."""

    __slots__ = ("trainer", "optimizer", "user_closure", "result")

    def __init__(self, trainer, optimizer, user_closure):
        self.trainer, self.optimizer, self.user_closure = trainer, optimizer, user_closure
        self.result = None

    def __call__(self):
        if self.user_closure is not None:
            self.result = self.user_closure()
        self.trainer._after_closure(self.optimizer, automatic=False)
        return self.result


class Trainer:
    """Runs the loop; arguments as in Lightning 2 (see :class:`treadle.TrainerConfig`)."""

    def __init__(self, **kwargs: Any) -> None:
        self.config = cfg = validate_trainer_kwargs(kwargs)
        self.plugin_manager = pm = RunPluginManager()
        pm.register(_defaults, name="treadle.core")
        pm.load_entry_points()
        self.callbacks: List[Any] = []
        for plugin in cfg.plugins:
            self._register_plugin(plugin)
        for callback in cfg.callbacks:
            self._add_callback(callback)
        for extra in pm.hook.configure_callbacks(trainer=self):
            for callback in (extra if isinstance(extra, (list, tuple)) else [extra]):
                self._add_callback(callback)
        try:
            pm.check_pending()
        except Exception as exc:  # pluggy.PluginValidationError: a misspelled hook name
            raise PluginError(f"{exc} Check the spelling against `treadle.hookspecs`.") from exc

        self.accelerator = self.precision_plugin = self.strategy = self.environment = None
        self._select_plugins()
        self.loggers = self._make_loggers(cfg.logger)

        # Loop state.
        self.current_epoch = 0
        self.global_step = 0
        self.is_last_batch = False
        self.sanity_checking = False
        self.training = False
        self.should_stop = False
        self.module: Optional[Module] = None
        self.optimizers: List[Any] = []
        self.lr_scheduler_configs: List[_optim_config.SchedulerConfig] = []
        self._wrapped_optimizers: List[WrappedOptimizer] = []
        self._wrapped_schedulers: List[Any] = []
        self._metrics = MetricStore(self)
        self._hooks = Hooks(pm)
        self._root_device: Optional[torch.device] = None
        self._closure = _AutoClosure(self)
        # Losses backpropagated in this batch and the previous one. A plain loop's `loss`
        # keeps the last step's (freed) graph alive through the next forward pass, so autograd
        # reuses each parameter's gradient accumulator instead of rebuilding it every step
        # (measured: ~10k instructions a step on the tiny MLP). After backward the graph holds
        # no activations, so this costs no memory worth counting.
        self._kept_losses: List[torch.Tensor] = []
        self._previous_losses: List[torch.Tensor] = []
        self._direct = _DirectPaths.NONE
        self._in_opt_step = False
        self._in_scheduler_step = False
        self._batch_stepped = False
        self._batch_idx = 0
        self._batches_done = 0  # batches finished in the current epoch (for mid-epoch resume)
        self._total_batches = 0  # training batches run in this fit, across epochs
        self.backward_args: tuple = ()  # extra arguments of manual_backward, for loss.backward
        self.backward_kwargs: Dict[str, Any] = {}
        self._resume: Optional[Dict[str, Any]] = None
        self._epoch_rng: Optional[Dict[str, Any]] = None
        self.num_training_batches: float = float("inf")
        self.num_val_batches: float = 0

    # -- construction ------------------------------------------------------------------------

    def _hook_specs(self) -> Dict[str, tuple]:
        return {name: caller.spec.argnames for name, caller in vars(self.plugin_manager.hook).items()
                if getattr(caller, "spec", None) is not None}

    def _register_plugin(self, plugin: Any) -> None:
        if isinstance(plugin, Callback):
            self._add_callback(plugin)
        else:
            self.plugin_manager.register(plugin)

    def _add_callback(self, callback: Any) -> None:
        adapted = adapt_object(callback, Callback, self._hook_specs()) if isinstance(callback, Callback) \
            else None
        self.callbacks.append(callback)
        self.plugin_manager.register(adapted if adapted is not None else callback,
                                     name=f"callback:{type(callback).__name__}:{id(callback):x}")

    def _add_module_callback(self, callback: Any) -> None:
        """``Module.configure_callbacks()``: replaces the Trainer's callbacks of the same type."""
        for old in [c for c in self.callbacks if type(c) is type(callback)]:
            self.callbacks.remove(old)
            self.plugin_manager.unregister(name=f"callback:{type(old).__name__}:{id(old):x}")
        if callback not in self.callbacks:
            self._add_callback(callback)

    def _select_plugins(self) -> None:
        cfg, pm = self.config, self.plugin_manager
        problems: List[str] = []
        # The cluster environment (torchrun, SLURM, ...) is detected, not named: the available
        # record with the highest priority, made before the strategy that reads it.
        envs = [r for r in pm.providers("environment").values() if r.is_available()]
        if envs:
            rec = max(envs, key=lambda r: r.priority)
            self.environment = rec.factory(self)
            pm.register_selected("environment", self.environment, rec.name)
        strategy = cfg.strategy
        if strategy == "auto":
            many = (isinstance(cfg.devices, int) and cfg.devices > 1) or \
                   (isinstance(cfg.devices, list) and len(cfg.devices) > 1) or cfg.num_nodes > 1 \
                   or getattr(self.environment, "world_size", 1) > 1
            strategy = "ddp" if many else "single_device"
        chosen = {
            "accelerator": pm.select("accelerator", cfg.accelerator, self, problems),
            "precision": pm.select("precision", cfg.precision, self, problems),
            "strategy": pm.select("strategy", strategy, self, problems),
        }
        if problems:
            raise ConfigurationError(problems)
        for kind, attr in (("accelerator", "accelerator"), ("precision", "precision_plugin"),
                           ("strategy", "strategy")):
            rec = chosen[kind]
            instance = rec.factory(self)
            setattr(self, attr, instance)
            pm.register_selected(kind, instance, rec.name)

    def _make_loggers(self, logger: Any) -> List[Any]:
        if logger is False or logger is None:
            return []
        if logger is True or isinstance(logger, str):
            name = "csv" if logger is True else logger
            problems: List[str] = []
            rec = self.plugin_manager.select("logger", name, self, problems)
            if problems:
                raise ConfigurationError(problems)
            return [rec.factory(self)]
        return list(logger) if isinstance(logger, (list, tuple)) else [logger]

    # -- properties ----------------------------------------------------------------------------

    @property
    def world_size(self) -> int:
        return getattr(self.strategy, "world_size", 1)

    @property
    def global_rank(self) -> int:
        return getattr(self.strategy, "global_rank", 0)

    @property
    def local_rank(self) -> int:
        return getattr(self.strategy, "local_rank", 0)

    @property
    def node_rank(self) -> int:
        return getattr(self.strategy, "node_rank", 0)

    @property
    def is_global_zero(self) -> bool:
        return self.global_rank == 0

    @property
    def root_device(self) -> torch.device:
        return self._root_device if self._root_device is not None else self.accelerator.root_device

    @property
    def lightning_module(self) -> Optional[Module]:
        return self.module

    @property
    def callback_metrics(self) -> Dict[str, torch.Tensor]:
        return self._metrics.callback_metrics

    @property
    def logged_metrics(self) -> Dict[str, torch.Tensor]:
        return self._metrics.logged_metrics

    @property
    def progress_bar_metrics(self) -> Dict[str, float]:
        return {k: v.item() for k, v in self._metrics.progress_bar_metrics.items()}

    @property
    def logger(self) -> Any:
        return self.loggers[0] if self.loggers else None

    @property
    def default_root_dir(self) -> Path:
        return Path(self.config.default_root_dir or os.getcwd())

    @property
    def log_dir(self) -> Path:
        if self.logger is not None and getattr(self.logger, "log_dir", None):
            return Path(self.logger.log_dir)
        return self.default_root_dir

    @property
    def max_epochs(self) -> int:
        cfg = self.config
        if cfg.max_epochs is not None:
            return cfg.max_epochs
        return 1000 if cfg.max_steps == -1 else -1

    @property
    def max_steps(self) -> int:
        return self.config.max_steps

    @property
    def accumulate_grad_batches(self) -> int:
        return self.config.accumulate_grad_batches

    @property
    def gradient_clip_val(self) -> Optional[float]:
        return self.config.gradient_clip_val

    @property
    def estimated_stepping_batches(self) -> float:
        """Optimizer-step batches the whole fit will run (to size ``OneCycleLR``, say)."""
        n = self.num_training_batches
        if n == float("inf") and self.max_steps == -1:
            return float("inf")
        per_epoch = math.ceil(n / self.accumulate_grad_batches) if n != float("inf") else 0
        total = per_epoch * max(self.max_epochs, 1) if self.max_epochs >= 0 else float("inf")
        return total if self.max_steps == -1 else min(total, self.max_steps)

    @property
    def checkpoint_callback(self) -> Any:
        return next((c for c in self.callbacks if hasattr(c, "best_model_path")), None)

    # -- public entry points -------------------------------------------------------------------

    def fit(self, model: Module, train_dataloaders: Any = None, val_dataloaders: Any = None,
            ckpt_path: Optional[str] = None) -> None:
        """Train ``model``; validate everything first, resume from ``ckpt_path`` if given."""
        self._run("fit", model, train_dataloaders, val_dataloaders, ckpt_path)

    def validate(self, model: Module, dataloaders: Any = None,
                 ckpt_path: Optional[str] = None) -> List[Dict[str, float]]:
        """Run one validation epoch; returns ``[metrics]`` as Lightning does."""
        return self._run("validate", model, None, dataloaders, ckpt_path)

    def save_checkpoint(self, filepath: Any, weights_only: bool = False) -> None:
        """Write the run's state to ``filepath`` atomically (rank zero writes)."""
        checkpoint = self._dump_checkpoint(weights_only)
        self._hooks.save_checkpoint(trainer=self, checkpoint=checkpoint, filepath=filepath,
                                    weights_only=weights_only)
        self._hooks.barrier(trainer=self, name="save_checkpoint")

    # -- the run -------------------------------------------------------------------------------

    def _run(self, stage: str, model: Module, train_loader: Any, val_loader: Any,
             ckpt_path: Optional[str], check_only: bool = False) -> Any:
        """``check_only``: stop after validation (``treadle validate``): nothing set up or run."""
        if not isinstance(model, Module):
            raise TypeError(f"`trainer.{stage}(model)` needs a `treadle.Module`, got "
                            f"{type(model).__name__}.")
        launch = getattr(self.strategy, "launch_stage", None)
        if launch is not None and not check_only:  # ddp_spawn: the stage runs in its workers
            launched = launch(self, stage, model, train_loader, val_loader, ckpt_path)
            if launched is not None:
                return launched[0]
        self.module = model
        model.trainer = self
        started = False
        try:
            self._prepare(stage, model)
            hooks = self._hooks
            hooks.setup(trainer=self, module=model, stage=stage)
            started = True
            train_loader, val_loader = self._configure(stage, model, train_loader, val_loader)
            if check_only:
                return None
            if self.config.deterministic is not None:  # as Lightning: global, for the process
                torch.use_deterministic_algorithms(bool(self.config.deterministic),
                                                   warn_only=self.config.deterministic == "warn")
            hooks.setup_environment(trainer=self)
            self._root_device = self.accelerator.root_device
            model.to(self._root_device)
            hooks.convert_module(trainer=self, module=model)
            hooks.setup_module(trainer=self, module=model)
            train_loader = self._setup_loader(train_loader, "fit")
            val_loader = self._setup_loader(val_loader, "validate")
            if ckpt_path is not None:
                self._restore(ckpt_path)
            self._direct = _DirectPaths(self)
            if stage == "fit":
                self._fit(train_loader, val_loader)
                return None
            return self._validate_only(val_loader)
        except BaseException as exc:
            if started:
                self._hooks.on_exception(trainer=self, module=model, exception=exc)
            raise
        finally:
            self._kept_losses.clear()
            self._previous_losses.clear()
            for scheduler in self._wrapped_schedulers:
                unroute_scheduler_step(scheduler)
            if started:
                self._hooks.teardown(trainer=self, module=model, stage=stage)
                for logger in self.loggers:
                    finalize = getattr(logger, "finalize", None)
                    if finalize is not None:
                        finalize("success")

    def _prepare(self, stage: str, model: Module) -> None:
        """Register the Module's overrides and put every implementation in its place."""
        pm = self.plugin_manager
        for callback in model.configure_callbacks() or []:
            self._add_module_callback(callback)
        module_plugin = adapt_object(model, Module, self._hook_specs(), MODULE_HOOKS)
        pm.arrange(module_plugin)
        self._hooks = hooks = Hooks(pm)
        # opt.step() from an optimizer_step implementation continues with the engine chain;
        # from training_step (manual optimization) it skips only the Module's override.
        others = [p for n, p in pm.list_name_plugin()
                  if p is not None and p is not module_plugin and n != "treadle.core"
                  and p not in pm.selected.values()]
        self._opt_step_manual = hooks.subset("optimizer_step", [module_plugin])
        self._opt_step_engine = hooks.subset("optimizer_step", [module_plugin, *others])
        self._hot = _HotHooks(hooks)
        self._step_takes_batch_idx = _takes_two_args(model.training_step)
        self._val_step_takes_batch_idx = _takes_two_args(model.validation_step)

    def _configure(self, stage, model, train_loader, val_loader) -> Tuple[Any, Any]:
        """``configure_optimizers()`` and every plugin's ``validate``: all problems at once."""
        problems: List[str] = []
        if stage == "fit":
            if train_loader is None:
                train_loader = model.train_dataloader()
            if train_loader is not None:  # known before configure_optimizers, for
                # estimated_stepping_batches; each rank will see 1/world_size of the batches
                n = _num_batches(train_loader, self.config.limit_train_batches)
                self.num_training_batches = n if n == float("inf") else \
                    math.ceil(n / self.world_size)
            opts, configs, problems = _optim_config.parse(model.configure_optimizers())
            self.optimizers, self.lr_scheduler_configs = opts, configs
            self._wrapped_optimizers = [WrappedOptimizer(o, self, i) for i, o in enumerate(opts)]
            self._wrapped_schedulers = [route_scheduler_step(c.scheduler, self) for c in configs]
            if train_loader is None:
                problems.append("Trainer: `fit()` got no training data. Pass "
                                "`trainer.fit(model, train_dataloaders=loader)` or implement "
                                "`train_dataloader()` in the Module.")
        if val_loader is None:
            val_loader = model.val_dataloader()
        if stage == "validate" and val_loader is None:
            problems.append("Trainer: `validate()` got no validation data. Pass "
                            "`trainer.validate(model, dataloaders=loader)` or implement "
                            "`val_dataloader()`.")
        if stage == "validate" or not problems:
            problems.extend(self._collect_validation(model))
        if problems:
            raise ConfigurationError(problems)
        return train_loader, val_loader

    def _collect_validation(self, model: Module) -> List[str]:
        problems: List[str] = []
        hook = self.plugin_manager.hook.validate
        for impl in reversed(hook.get_hookimpls()):
            kwargs = {"trainer": self, "module": model}
            found = impl.function(*[kwargs[a] for a in impl.argnames]) or []
            problems.extend(f"{impl.plugin_name}: {p}" for p in found)
        return problems

    def _setup_loader(self, loader: Any, stage: str) -> Any:
        if loader is None:
            return None
        if os.environ.get("TREADLE_SEED_WORKERS") == "1" and getattr(loader, "num_workers", 0) \
                and getattr(loader, "worker_init_fn", 1) is None:
            loader.worker_init_fn = seed_worker
        replaced = self._hooks.setup_dataloader(trainer=self, dataloader=loader, stage=stage)
        return loader if replaced is None else replaced

    # -- fit -----------------------------------------------------------------------------------

    def _fit(self, train_loader: Any, val_loader: Any) -> None:
        hooks, module, cfg = self._hooks, self.module, self.config
        self.num_training_batches = _num_batches(train_loader, cfg.limit_train_batches)
        self.num_val_batches = (_num_batches(val_loader, cfg.limit_val_batches)
                                if val_loader is not None else 0)  # no len() on an iterable
        self._total_batches = 0
        hooks.on_fit_start(trainer=self, module=module)
        if val_loader is not None and cfg.num_sanity_val_steps and self._resume is None:
            n = cfg.num_sanity_val_steps
            self.sanity_checking = True
            hooks.on_sanity_check_start(trainer=self, module=module)
            self._run_validation(val_loader, self.num_val_batches if n == -1 else
                                 min(n, self.num_val_batches), "sanity")
            hooks.on_sanity_check_end(trainer=self, module=module)
            self.sanity_checking = False
        self.training = True
        hooks.on_train_start(trainer=self, module=module)
        while not self._fit_done():
            self._train_epoch(train_loader, val_loader)
            if self.should_stop:
                break
        self.training = False
        hooks.on_train_end(trainer=self, module=module)
        hooks.on_fit_end(trainer=self, module=module)

    def _fit_done(self) -> bool:
        if 0 <= self.max_steps <= self.global_step:
            return True
        return 0 <= self.max_epochs <= self.current_epoch

    def _train_epoch(self, loader: Any, val_loader: Any) -> None:
        hooks, module, cfg, metrics = self._hooks, self.module, self.config, self._metrics
        epoch = self.current_epoch
        metrics.stage = "train"
        sampler = getattr(loader, "sampler", None)
        if hasattr(sampler, "set_epoch"):
            sampler.set_epoch(epoch)
        hooks.on_train_epoch_start(trainer=self, module=module)
        resume, self._resume = self._resume, None
        self._epoch_rng = _rng_state() if resume is None else resume["epoch_rng"]
        if resume is not None:
            _set_rng_state(resume["epoch_rng"])
        iterator = iter(loader)
        skip = resume["batches_done"] if resume is not None else 0
        for _ in range(skip):
            next(iterator)
        if resume is not None:
            _set_rng_state(resume["rng"])
        self._batches_done = skip
        n = self.num_training_batches
        val_every = self._val_check_batches(val_loader, epoch)
        manual = not module.automatic_optimization
        hot = self._hot
        max_steps = cfg.max_steps
        for batch_idx, batch, is_last in _lookahead(iterator, skip, n):
            self.is_last_batch = is_last
            self._batch_idx = batch_idx
            batch = self._to_device(batch)
            metrics.in_step = True
            metrics.current_batch = batch
            if hot.on_train_batch_start and -1 in hooks.on_train_batch_start(
                    trainer=self, module=module, batch=batch,
                                                batch_idx=batch_idx):
                metrics.in_step = False
                break
            self._batch_stepped = False
            outputs = self._manual_step(batch, batch_idx) if manual else \
                self._automatic_step(batch, batch_idx)
            # This batch's losses (and their autograd graphs) live until the next batch has
            # run, as `loss` does in a plain loop; see ``_kept_losses`` in ``__init__``.
            dropped = self._previous_losses
            self._previous_losses, self._kept_losses = self._kept_losses, dropped
            dropped.clear()
            if self._batch_stepped:
                self.global_step += 1
                if not manual:
                    self._step_schedulers("step", batch_idx, plateau=None)
            self._batches_done = batch_idx + 1
            if hot.on_train_batch_end:
                hooks.on_train_batch_end(trainer=self, module=module, outputs=outputs,
                                         batch=batch, batch_idx=batch_idx)
            metrics.in_step = False
            if self.loggers and self._batch_stepped and self.global_step % cfg.log_every_n_steps == 0:
                self._log_to_loggers(metrics.take_step_metrics())
            self._total_batches += 1
            done_steps = 0 <= max_steps <= self.global_step
            position = self._total_batches if cfg.check_val_every_n_epoch is None else batch_idx + 1
            if val_every and (position % val_every == 0 or (self.is_last_batch and val_every == n)):
                self._run_validation(val_loader, self.num_val_batches, "validate")
            if done_steps or self.should_stop:
                break
        self._end_train_epoch()

    def _end_train_epoch(self) -> None:
        hooks, module, metrics = self._hooks, self.module, self._metrics
        metrics.stage = "train"
        logged = metrics.end_epoch("train")
        automatic = module.automatic_optimization
        if automatic:  # as Lightning: epoch schedulers first, plateau ones see the epoch's metrics
            self._step_schedulers("epoch", None, plateau=False)
        hooks.on_train_epoch_end(trainer=self, module=module)
        logged.update(metrics.end_epoch("train"))
        if automatic:
            self._step_schedulers("epoch", None, plateau=True)
        if self.loggers:
            self._log_to_loggers({**metrics.take_step_metrics(), **logged})
        self.current_epoch += 1
        self._batches_done = 0
        self._kept_losses.clear()
        self._previous_losses.clear()

    def _val_check_batches(self, val_loader: Any, epoch: int) -> int:
        """Validate every this many training batches this epoch (0: not this epoch)."""
        cfg = self.config
        if val_loader is None or not self.num_val_batches:
            return 0
        every = cfg.check_val_every_n_epoch
        if every is not None and (epoch + 1) % every != 0:
            return 0
        interval = cfg.val_check_interval
        n = self.num_training_batches
        if interval is None or (isinstance(interval, float) and interval == 1.0):
            return n if n != float("inf") else 0
        if isinstance(interval, float):
            if n == float("inf"):
                raise ConfigurationError([
                    f"Trainer: `val_check_interval={interval}` is a fraction of an epoch, but the "
                    f"training loader has no length; pass an int number of batches."])
            return max(1, int(n * interval))
        return int(interval)

    # -- one training step ---------------------------------------------------------------------

    def _automatic_step(self, batch: Any, batch_idx: int) -> Any:
        n = self.config.accumulate_grad_batches
        stepping = (batch_idx + 1) % n == 0 or self.is_last_batch
        if self._direct.automatic:
            return self._direct_automatic_step(batch, batch_idx, n, stepping)
        opt = self._wrapped_optimizers[0] if self._wrapped_optimizers else None
        closure = self._closure.arm(batch, batch_idx, opt, batch_idx % n == 0, stepping)
        if opt is None:
            closure()
        elif stepping:
            self._in_opt_step = True
            try:
                self._hooks.optimizer_step(trainer=self, module=self.module, optimizer=opt,
                                           optimizer_idx=0, batch_idx=batch_idx, closure=closure)
            finally:
                self._in_opt_step = False
            self._batch_stepped = True
        else:
            closure()
        return closure.outputs

    def _direct_automatic_step(self, batch: Any, batch_idx: int, n: int, stepping: bool) -> Any:
        """:meth:`_automatic_step` when zero_grad, backward and the optimizer step are the core's
        defaults and no hook runs between them (see :class:`_DirectPaths`): the same calls in
        the same order, without the closure and the hook callers."""
        optimizer, module = self.optimizers[0], self.module
        if batch_idx % n == 0:
            optimizer.zero_grad()
        out = self._hooks.run_training_step(trainer=self, module=module, batch=batch,
                                            batch_idx=batch_idx)[0]
        loss = self._loss_of(out)
        if loss is not None:
            backpropagated = loss / n if n > 1 else loss
            self._kept_losses.append(backpropagated)
            backpropagated.backward()
        if stepping:
            self._in_opt_step = True
            try:
                optimizer.step()
            finally:
                self._in_opt_step = False
            self._batch_stepped = True
        return {"loss": loss.detach()} if isinstance(out, torch.Tensor) else out

    def _to_device(self, batch: Any) -> Any:
        if self._direct.transfer:
            return move_data_to_device(batch, self._root_device)
        hooks, module = self._hooks, self.module
        hot = self._hot
        if hot.on_before_batch_transfer:
            changed = hooks.on_before_batch_transfer(trainer=self, module=module, batch=batch,
                                                     dataloader_idx=0)
            batch = batch if changed is None else changed
        batch = hooks.transfer_batch_to_device(trainer=self, module=module, batch=batch,
                                               device=self._root_device, dataloader_idx=0)
        if hot.on_after_batch_transfer:
            changed = hooks.on_after_batch_transfer(trainer=self, module=module, batch=batch,
                                                    dataloader_idx=0)
            batch = batch if changed is None else changed
        return batch

    def _manual_step(self, batch: Any, batch_idx: int) -> Any:
        out = self._hooks.run_training_step(trainer=self, module=self.module, batch=batch,
                                            batch_idx=batch_idx)[0]
        return {"loss": out.detach()} if isinstance(out, torch.Tensor) else out

    def _step_optimizer(self, optimizer: WrappedOptimizer, closure: Any) -> Any:
        """``opt.step()``: dispatch ``optimizer_step``; see the hookspec for the chain rule."""
        if not isinstance(closure, (_AutoClosure, _ManualClosure)):
            closure = _ManualClosure(self, optimizer, closure)
        caller = self._opt_step_engine if self._in_opt_step else self._opt_step_manual
        previous, self._in_opt_step = self._in_opt_step, True
        try:
            result = caller(trainer=self, module=self.module, optimizer=optimizer,
                            optimizer_idx=optimizer._idx, batch_idx=self._batch_idx,
                            closure=closure)
        finally:
            self._in_opt_step = previous
        self._batch_stepped = True
        # What the optimizer's own step returned (LBFGS: the first closure's loss); an
        # implementation that only says "done" (True) leaves the closure's last result.
        return closure.result if result is True or result is None else result

    def _backward(self, loss: torch.Tensor, optimizer: Any) -> None:
        self._kept_losses.append(loss)
        if self._direct.backward:
            loss.backward(*self.backward_args, **self.backward_kwargs)
            return
        hooks, module = self._hooks, self.module
        hot = self._hot
        if hot.on_before_backward:
            hooks.on_before_backward(trainer=self, module=module, loss=loss)
        scaled = hooks.scale_loss(trainer=self, module=module, loss=loss, optimizer=optimizer) \
            if hot.scale_loss else loss
        if self._direct.backward_call:  # only the core's default implements `backward`
            scaled.backward(*self.backward_args, **self.backward_kwargs)
        else:
            hooks.backward(trainer=self, module=module, loss=scaled, optimizer=optimizer)
        if hot.on_after_backward:
            hooks.on_after_backward(trainer=self, module=module)

    def _after_closure(self, optimizer: Any, automatic: bool) -> None:
        hooks, module, cfg = self._hooks, self.module, self.config
        hot = self._hot
        if hot.on_before_optimizer_step:
            hooks.on_before_optimizer_step(trainer=self, module=module, optimizer=optimizer)
        if automatic and (cfg.gradient_clip_val or hot.configure_gradient_clipping):
            hooks.configure_gradient_clipping(
                trainer=self, module=module, optimizer=optimizer,
                gradient_clip_val=cfg.gradient_clip_val,
                gradient_clip_algorithm=cfg.gradient_clip_algorithm)

    @staticmethod
    def _loss_of(out: Any) -> Optional[torch.Tensor]:
        if out is None or isinstance(out, torch.Tensor):
            return out
        if isinstance(out, dict):
            if "loss" not in out:
                raise ValueError("`training_step` returned a dict without a 'loss' key; "
                                 "automatic optimization needs {'loss': tensor, ...}.")
            return out["loss"]
        raise ValueError(f"`training_step` returned {type(out).__name__}; automatic "
                         f"optimization needs a loss tensor, a dict with 'loss', or None.")

    def _step_schedulers(self, interval: str, batch_idx: Optional[int],
                         plateau: Optional[bool]) -> None:
        """Step the schedulers due at this point (``plateau``: only those, or only the others)."""
        if not self.lr_scheduler_configs:
            return
        current = (batch_idx if interval == "step" else self.current_epoch) + 1
        for cfg in self.lr_scheduler_configs:
            if cfg.interval != interval or current % cfg.frequency:
                continue
            if plateau is not None and cfg.reduce_on_plateau != plateau:
                continue
            metric = None
            if cfg.reduce_on_plateau:
                metric = self.callback_metrics.get(cfg.monitor)
                if metric is None:
                    if cfg.strict:
                        raise ConfigurationError([
                            f"ReduceLROnPlateau is set to monitor {cfg.monitor!r}, which was not "
                            f"logged. Logged metrics: {sorted(self.callback_metrics)}. Log it "
                            f"with `self.log({cfg.monitor!r}, value)` or set 'strict': False."])
                    continue
            self._in_scheduler_step = True
            try:
                self._hooks.scheduler_step(trainer=self, module=self.module,
                                           scheduler=cfg.scheduler, metric=metric)
            finally:
                self._in_scheduler_step = False

    # -- validation ----------------------------------------------------------------------------

    def _run_validation(self, loader: Any, limit: float, stage: str) -> Dict[str, torch.Tensor]:
        hooks, module, metrics = self._hooks, self.module, self._metrics
        previous_stage, modes = metrics.stage, [(m, m.training) for m in module.modules()]
        metrics.stage = stage
        module.eval()
        hooks.on_validation_start(trainer=self, module=module)
        hooks.on_validation_epoch_start(trainer=self, module=module)
        with torch.no_grad():
            for batch_idx, batch in enumerate(loader):
                if batch_idx >= limit:
                    break
                batch = self._to_device(batch)
                metrics.in_step, metrics.current_batch = True, batch
                hooks.on_validation_batch_start(trainer=self, module=module, batch=batch,
                                                batch_idx=batch_idx)
                out = hooks.run_validation_step(trainer=self, module=module, batch=batch,
                                                batch_idx=batch_idx)[0]
                hooks.on_validation_batch_end(trainer=self, module=module, outputs=out,
                                              batch=batch, batch_idx=batch_idx)
                metrics.in_step = False
        hooks.on_validation_epoch_end(trainer=self, module=module)
        logged = metrics.end_epoch("validate") if stage != "sanity" else {}
        hooks.on_validation_end(trainer=self, module=module)
        if logged and self.loggers:
            self._log_to_loggers(logged)
        metrics.stage = previous_stage
        for m, training in modes:  # each submodule back to its own mode (a frozen part stays eval)
            m.training = training
        return logged

    def _validate_only(self, loader: Any) -> List[Dict[str, float]]:
        self.num_val_batches = _num_batches(loader, self.config.limit_val_batches)
        logged = self._run_validation(loader, self.num_val_batches, "validate")
        return [{k: float(v) for k, v in logged.items()}]

    # -- logging and collectives ---------------------------------------------------------------

    def _log_to_loggers(self, metrics: Dict[str, torch.Tensor]) -> None:
        if not metrics or not self.is_global_zero:
            return
        values = {k: float(v) for k, v in metrics.items()}
        values["epoch"] = self.current_epoch
        for logger in self.loggers:
            logger.log_metrics(values, step=self.global_step)

    def _reduce(self, tensor: torch.Tensor, reduce_op: str) -> torch.Tensor:
        return self._hooks.reduce(trainer=self, tensor=tensor, reduce_op=reduce_op)

    # -- checkpoints ---------------------------------------------------------------------------

    def _dump_checkpoint(self, weights_only: bool = False) -> Dict[str, Any]:
        module = self.module
        if module is None:
            raise RuntimeError("`trainer.save_checkpoint()` needs a model: call it during or "
                               "after `fit()`.")
        checkpoint: Dict[str, Any] = {
            "treadle_version": __version__,
            "epoch": self.current_epoch,
            "global_step": self.global_step,
            "state_dict": module.state_dict(),
        }
        if not weights_only:
            mid_epoch = self.training and self._batches_done > 0
            checkpoint["loops"] = {"fit": {
                "epoch": self.current_epoch,
                "batches_done": self._batches_done if mid_epoch else 0,
                "epoch_rng": self._epoch_rng if mid_epoch else None,
            }}
            checkpoint["rng_states"] = _rng_state()
            if not getattr(self.strategy, "saves_optimizer_states", False):  # DeepSpeed's own
                checkpoint["optimizer_states"] = [o.state_dict() for o in self.optimizers]
            checkpoint["lr_schedulers"] = [c.scheduler.state_dict()
                                           for c in self.lr_scheduler_configs]
            checkpoint["callbacks"] = {getattr(cb, "state_key", type(cb).__qualname__):
                                       cb.state_dict() for cb in self.callbacks
                                       if hasattr(cb, "state_dict")}
            self._hooks.on_save_checkpoint(trainer=self, module=module, checkpoint=checkpoint)
        return checkpoint

    def _restore(self, ckpt_path: Any) -> None:
        checkpoint = self._hooks.load_checkpoint(trainer=self, filepath=ckpt_path)
        module = self.module
        if "state_dict" in checkpoint:  # absent when the strategy restored the weights itself
            module.load_state_dict(checkpoint["state_dict"])
        for opt, state in zip(self.optimizers, checkpoint.get("optimizer_states", [])):
            opt.load_state_dict(state)
        for cfg, state in zip(self.lr_scheduler_configs, checkpoint.get("lr_schedulers", [])):
            cfg.scheduler.load_state_dict(state)
        saved = checkpoint.get("callbacks", {})
        for cb in self.callbacks:
            key = getattr(cb, "state_key", type(cb).__qualname__)
            if key in saved and hasattr(cb, "load_state_dict"):
                cb.load_state_dict(saved[key])
        self._hooks.on_load_checkpoint(trainer=self, module=module, checkpoint=checkpoint)
        self.global_step = checkpoint["global_step"]
        loop = checkpoint.get("loops", {}).get("fit", {})
        self.current_epoch = loop.get("epoch", checkpoint["epoch"])
        if loop.get("batches_done"):
            self._resume = {"batches_done": loop["batches_done"], "epoch_rng": loop["epoch_rng"],
                            "rng": checkpoint["rng_states"]}
        elif "rng_states" in checkpoint:
            _set_rng_state(checkpoint["rng_states"])


# -- helpers ------------------------------------------------------------------------------------


class _HotHooks:
    """Per-step hooks worth calling in this run; the others are skipped at the call site.

    Hooks whose core default is an identity (``scale_loss``) or does nothing without a
    Trainer value (``configure_gradient_clipping``) count only when another plugin implements
    them. While tracing, every hook is called, so the trace shows the whole sequence.
    """

    NAMES = ("on_before_batch_transfer", "on_after_batch_transfer", "on_train_batch_start",
             "on_train_batch_end", "on_before_zero_grad", "on_before_backward",
             "on_after_backward", "on_before_optimizer_step")
    BEYOND_CORE = ("scale_loss", "configure_gradient_clipping")

    def __init__(self, hooks: Hooks) -> None:
        for name in self.NAMES:
            setattr(self, name, hooks.implemented(name))
        for name in self.BEYOND_CORE:
            setattr(self, name, hooks.implemented(name, beyond_core=True))


class _DirectPaths:
    """Loop steps that may run without their hook callers in this run (resolved once per run).

    A step is *direct* when every hook it would dispatch has no implementation but the core's
    default and no hook runs in between: the loop then makes the defaults' calls itself
    (``optimizer.zero_grad()``, ``loss.backward()``, ``optimizer.step()``), in the same order,
    with a dozen fewer Python calls a step. Any plugin, callback or ``Module`` implementation
    of one of those hooks -- or ``TREADLE_TRACE_HOOKS`` -- sends the step through the hooks.
    ``tests/test_direct_paths.py`` checks that both give bit-identical training.
    """

    __slots__ = ("transfer", "backward", "backward_call", "manual_step", "automatic")

    def __init__(self, trainer: Optional["Trainer"] = None) -> None:
        self.transfer = self.backward = self.backward_call = False
        self.manual_step = self.automatic = False
        if trainer is None:
            return
        hooks, hot = trainer._hooks, trainer._hot
        self.transfer = hooks.core_only("transfer_batch_to_device") and not (
            hot.on_before_batch_transfer or hot.on_after_batch_transfer)
        # backward_call: the `backward` hook alone (scaling and the hooks around it may run)
        self.backward_call = hooks.core_only("backward")
        self.backward = self.backward_call and hooks.core_only("scale_loss") and not (
            hot.on_before_backward or hot.on_after_backward)
        # opt.step() from training_step skips the Module's own optimizer_step override
        self.manual_step = not hot.on_before_optimizer_step and hooks.core_only(
            "optimizer_step", ignore=[trainer.plugin_manager.module_plugin])
        opts = trainer.optimizers
        self.automatic = (
            self.backward and not hot.on_before_zero_grad and not hot.on_before_optimizer_step
            and hooks.core_only("optimizer_zero_grad") and hooks.core_only("optimizer_step")
            and not trainer.config.gradient_clip_val and not hot.configure_gradient_clipping
            and len(opts) == 1 and _defaults._evaluates_closure_once(type(opts[0])))


_DirectPaths.NONE = _DirectPaths()


def _takes_two_args(method: Any) -> bool:
    try:
        params = [p for p in inspect.signature(method).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)]
    except (TypeError, ValueError):
        return True
    return len(params) >= 2 or any(p.kind is p.VAR_POSITIONAL for p in params)


def _num_batches(loader: Any, limit: Any) -> float:
    try:
        n: float = len(loader)
    except TypeError:
        n = float("inf")
    if limit is None:
        return n
    if isinstance(limit, float):
        return n if n == float("inf") else int(n * limit)
    return min(n, int(limit))


def _lookahead(iterator: Iterator, start: int, limit: float):
    """``(batch_idx, batch, is_last)`` from ``start`` up to ``limit`` batches.

    With a known length ``is_last`` is arithmetic; otherwise one batch is fetched ahead.
    """
    if limit != float("inf"):
        idx, last = start, limit - 1
        for batch in iterator:
            if idx > last:
                return
            yield idx, batch, idx == last
            idx += 1
        return
    sentinel = object()
    batch = next(iterator, sentinel)
    idx = start
    while batch is not sentinel:
        following = next(iterator, sentinel)
        yield idx, batch, following is sentinel
        batch, idx = following, idx + 1


def _rng_state() -> Dict[str, Any]:
    state: Dict[str, Any] = {"python": random.getstate(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    try:
        import numpy as np
    except ImportError:
        return state
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state["numpy"] = (kind, torch.from_numpy(keys.astype("int64")), pos, has_gauss, cached)
    return state


def _set_rng_state(state: Dict[str, Any]) -> None:
    random.setstate(_as_tuple(state["python"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    if "numpy" in state:
        import numpy as np

        kind, keys, pos, has_gauss, cached = state["numpy"]
        np.random.set_state((kind, keys.numpy().astype("uint32"), pos, has_gauss, cached))


def _as_tuple(x: Any) -> Any:
    return tuple(_as_tuple(i) for i in x) if isinstance(x, (list, tuple)) else x
