"""``treadle.Trainer``: construction, the Lightning facade and the public entry points.

Read it top to bottom: construction (config, plugins, selection), the properties Lightning
users expect (most read :class:`treadle.state.LoopState`), ``fit``/``validate``/``test``/
``predict``, public collectives, checkpoints, and ``_run``, which sets a stage up and hands
it to a loop (``treadle.loop``). Nothing here runs per batch: the loops and the step
(``treadle.step``) do. Everything device-, precision- or strategy-specific lives in plugins.
"""

from __future__ import annotations

import inspect
import math
import os
import signal
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Callable

import torch

from treadle import (
    _defaults,
    _optim_config,
    _profiling,
    _rank_zero_bridge,
    _results,
    _summary,
    checkpoint,
)
from treadle._adapters import AdaptedPlugin, adapt_object
from treadle._fastconfig import validate_trainer_kwargs
from treadle._metrics import MetricStore
from treadle._signals import EvaluationPreemption, Preemption
from treadle._trainer_facade import LightningTrainerFacade
from treadle.callback import Callback
from treadle.combined_loader import MODES as COMBINED_MODES
from treadle.combined_loader import CombinedLoader
from treadle.data import as_list, num_batches, sequential, shut_down_workers
from treadle.data import train_loader as train_loader_of
from treadle.datamodule import TRANSFER_HOOKS, DataModule, overrides
from treadle.errors import (
    ConfigurationError,
    ConfigurationTypeError,
    DataloaderIdxError,
    InvalidDataloaderError,
    MultipleOptimizersError,
    PluginError,
)
from treadle.loggers import FileLogger, Logger, log_hyperparams
from treadle.loop import EvaluationLoop, FitLoop, per_loader, per_rank
from treadle.module import MODULE_HOOKS, Module
from treadle.optim import unroute_scheduler_step
from treadle.plugin_manager import RunPluginManager, auto_strategy, external_callbacks
from treadle.profilers import PassThroughProfiler, make_profiler
from treadle.state import STAGE, FnName, LoopState
from treadle.step import Step
from treadle.utilities import (
    PossibleUserWarning,
    compiled_module_type,
    dataloader_idx_problems,
    from_compiled,
    is_overridden,
    local_folder,
    local_path,
    rank_zero_info,
    rank_zero_warn,
    seed_worker,
    suggested_max_num_workers,
    takes_dataloader_iter,
)

__version__ = checkpoint.VERSION


def _takes_return_predictions(trainer: Trainer) -> bool:
    """The strategy's ``launch_stage`` takes ``return_predictions`` (one written before it did
    is not passed it)."""
    params = inspect.signature(trainer.strategy.launch_stage).parameters.values()
    return any(p.name == "return_predictions" or p.kind is p.VAR_KEYWORD for p in params)


class Trainer(LightningTrainerFacade):
    """Runs the loop; arguments as in Lightning 2 (see :class:`treadle.TrainerConfig`)."""

    def __init__(self, **kwargs: Any) -> None:
        registry = sys.modules.get("treadle.strategies")  # imported by a program registering
        if registry is not None and isinstance(kwargs.get("strategy"), str):
            # Trainer(strategy=name) for a name the program put in StrategyRegistry: its object
            registered = registry.StrategyRegistry.registered_object(kwargs["strategy"])
            if registered is not None:
                kwargs = {**kwargs, "strategy": registered}
        if isinstance(kwargs.get("strategy"), str) and "PL_DEEPSPEED_CONFIG_PATH" in os.environ:
            # Lightning's DeepSpeed names take the file's config (treadle.strategies)
            from treadle.strategies import _deepspeed_from_config_path

            from_file = _deepspeed_from_config_path(kwargs["strategy"])
            if from_file is not None:
                kwargs = {**kwargs, "strategy": from_file}
        self._init_kwargs = kwargs  # what pickling rebuilds the Trainer from (__reduce__)
        # Trainer(strategy=FSDPStrategy(...)): an object for what a name cannot say; selected
        # as it is (its `connect(trainer)` binds it to this run), its name in the config.
        self._strategy_object = kwargs.get("strategy")
        if isinstance(self._strategy_object, str) or self._strategy_object is None:
            self._strategy_object = None
        else:
            name = getattr(self._strategy_object, "name", None)
            if not isinstance(name, str) or not callable(
                getattr(self._strategy_object, "connect", None)
            ):
                raise ConfigurationError(
                    [
                        f"TrainerConfig: You selected an invalid strategy name: "
                        f"`strategy={self._strategy_object!r}`: a strategy is a name "
                        f"(`strategy='ddp'`) or a strategy object with a `name` and a "
                        f"`connect(trainer)` method (`strategy=FSDPStrategy(...)`)."
                    ]
                )
            kwargs = {**kwargs, "strategy": name}
            # DDPStrategy(accelerator=CUDAAccelerator()): the Trainer's, unless it has its own
            implied = getattr(self._strategy_object, "accelerator", None)
            if isinstance(implied, str) and kwargs.get("accelerator") in (None, "auto"):
                kwargs["accelerator"] = implied
        given_accelerator = kwargs.get("accelerator")
        if given_accelerator is not None and not isinstance(given_accelerator, str):
            # Trainer(accelerator=CPUAccelerator()): Lightning's class, selected by its name
            from treadle.accelerators import accelerator_name

            kwargs = {**kwargs, "accelerator": accelerator_name(given_accelerator)}
        # Lightning's plugin objects (treadle.plugins: imported only by a program naming it)
        self._lightning_plugins: Any = None
        lightning_plugins = sys.modules.get("treadle.plugins")
        if lightning_plugins is not None:
            kwargs, self._lightning_plugins = lightning_plugins.lightning_arguments(kwargs)
        self.config = cfg = validate_trainer_kwargs(kwargs)
        if cfg.barebones:
            rank_zero_info(
                "You are running in `Trainer(barebones=True)` mode. All features that may impact "
                "raw speed have been disabled to facilitate analyzing the Trainer overhead: "
                "checkpointing, the progress bar, the model summary, logging (`logger`, "
                "`log_every_n_steps`, `self.log`), the sanity check, `fast_dev_run`, "
                "`detect_anomaly` and `profiler`."
            )
        # as Lightning: False leaves hyper-parameters, the graph and save() to the user
        self.enable_autolog_hparams: bool = cfg.enable_autolog_hparams
        self.state = LoopState()
        apply_debugging_flags(cfg)
        self.plugin_manager = pm = RunPluginManager()
        pm.register(_defaults, name="treadle.core")
        pm.load_entry_points()
        self.callbacks: list[Any] = []
        for plugin in cfg.plugins:
            self._register_plugin(plugin)
        # As Lightning's _reorder_callbacks: checkpoint callbacks run after the others, so what
        # they save holds the others' state as this hook left it.
        for callback in sorted(cfg.callbacks, key=lambda c: hasattr(c, "best_model_path")):
            self._add_callback(callback)
        idle = _idle_plugins(pm, cfg)
        if idle:
            raise ConfigurationError(idle)
        for extra in pm.hook.configure_callbacks(trainer=self):
            for callback in extra if isinstance(extra, (list, tuple)) else [extra]:
                self._add_callback(callback)
        for callback in external_callbacks():  # Lightning: after the default callbacks
            self._add_callback(callback)
        if cfg.max_time is not None:
            self._add_max_time(cfg.max_time)
        self.callbacks.sort(key=lambda c: hasattr(c, "best_model_path"))  # Lightning: these last
        _check_unique_state_keys(self.callbacks)
        try:
            pm.check_pending()
        except Exception as exc:  # pluggy.PluginValidationError: a misspelled hook name
            raise PluginError(f"{exc} Check the spelling against `treadle.hookspecs`.") from exc

        # The selected plugins (``treadle.kinds``); set by _select_plugins, before any use.
        self.accelerator: Any = None
        self.precision_plugin: Any = None
        self.strategy: Any = None
        self.environment: Any = None
        self._select_plugins()
        if self.environment is not None and self.environment.creates_processes_externally:
            # a rank of a launch (torchrun, srun): as Lightning's DDP-family strategies, from
            # here on `rank_zero_only.rank` (treadle's, lightning_utilities') is this rank. (A
            # process that starts the others is rank 0; its workers set theirs when they join.)
            _rank_zero_bridge.set_rank(self.strategy.global_rank)
        if self._lightning_plugins is not None:
            self._lightning_plugins.connect(self)
        # Lightning's sync_batchnorm / LayerSync plugin: applied by fit() on several processes
        self._layer_sync: Any = getattr(self._lightning_plugins, "layer_sync", None)
        if self._layer_sync is None and cfg.sync_batchnorm:
            from treadle.plugins.layer_sync import TorchSyncBatchNorm

            self._layer_sync = TorchSyncBatchNorm()
        self.loggers = self._make_loggers(cfg.logger)
        if cfg.fast_dev_run and self.loggers:  # as Lightning: logging is suppressed
            self.loggers = [DummyLogger()]
        _set_torch_flags(cfg.deterministic, cfg.benchmark)
        self.datamodule: DataModule | None = None  # the last one given to an entry point
        # Lightning's `trainer.profiler`: a PassThroughProfiler when `profiler=None`, which
        # leaves the loop's callers as they are (treadle._profiling runs only for a real one)
        self.profiler = make_profiler(cfg.profiler)

        self.module: Module | None = None
        self.optimizers: list[Any] = []
        self.lr_scheduler_configs: list[_optim_config.SchedulerConfig] = []
        self.num_training_batches: float = float("inf")
        # one count per validation loader, as Lightning (``[]``: no validation)
        self.num_val_batches: list[float] = []
        # Extra arguments of ``manual_backward``, for the ``backward`` implementation's
        # ``loss.backward(*args, **kwargs)``; empty outside a manual_backward call.
        self.backward_args: tuple = ()
        self.backward_kwargs: dict[str, Any] = {}
        self._metrics = MetricStore(self)
        self._hooks = pm.hooks()
        self._step: Step | None = None  # the step of the fit() running (or last run)
        self._fit_loop: FitLoop | None = None
        # the signals caught by the running (or last) entry point (``received_sigterm``)
        self._signals: Preemption | None = None
        self._resume: dict[str, Any] | None = None  # the mid-epoch point restore() found
        self.ckpt_path: Any = None  # the checkpoint the last entry point loaded (Lightning's)
        self._root_device: torch.device | None = None
        self._datamodule_plugin: Any = None  # the DataModule's batch-transfer overrides
        self._given_loaders = {"train": False, "val": False}
        self._eval_loaders: dict[str, list[Any]] = {}  # test/predict: the loaders as set up
        # validate/test/predict: the last run's evaluation loop (``trainer.validate_loop`` &co.)
        self._eval_runs: dict[str, EvaluationLoop] = {}
        # the running entry point's loaders as given and its DataModule (treadle.tuner's callbacks)
        self._sources: tuple[Any, Any, Any] = (None, None, None)
        # fit's training loader is asked for where Lightning asks (after the sanity check), or
        # when ``estimated_stepping_batches`` is read first: True until then (``_train_loader``)
        self._train_pending = False
        self._train_requested: Any = None
        self._fit_validates = False  # fit's validation has a step, a source and batches

    # -- construction ------------------------------------------------------------------------

    def _hook_specs(self) -> dict[str, tuple]:
        return {
            name: caller.spec.argnames
            for name, caller in vars(self.plugin_manager.hook).items()
            if getattr(caller, "spec", None) is not None
        }

    def __reduce__(self) -> tuple[Any, ...]:
        """As Lightning's, a Trainer pickles (its plugin manager holds modules, so it is rebuilt
        from the construction arguments): the copy has the same arguments, loggers and loop
        state; a run's objects (module, optimizers, loaders) are not carried."""
        return _unpickle_trainer, (self._init_kwargs, self.state, self.loggers)

    def _register_plugin(self, plugin: Any) -> None:
        if isinstance(plugin, Callback):
            self._add_callback(plugin)
        else:
            self.plugin_manager.register(plugin)

    def _add_callback(self, callback: Any) -> None:
        adapted = (
            adapt_object(callback, Callback, self._hook_specs())
            if isinstance(callback, Callback)
            else None
        )
        self.callbacks.append(callback)
        self.plugin_manager.register(
            adapted if adapted is not None else callback,
            name=f"callback:{type(callback).__name__}:{id(callback):x}",
        )

    def _add_max_time(self, max_time: Any) -> None:
        """``Trainer(max_time=...)``: a ``Timer`` callback stops the run, as in Lightning."""
        from treadle.callbacks import Timer

        if any(isinstance(c, Timer) for c in self.callbacks):
            warnings.warn(
                "`Trainer(max_time=...)` is ignored: a `Timer` callback is already in "
                "`callbacks`, and it decides when training stops.",
                stacklevel=3,
            )
            return
        try:
            timer = Timer(duration=max_time, interval="step")
        except ValueError as exc:
            reasons = exc.problems if isinstance(exc, ConfigurationError) else [str(exc)]
            raise ConfigurationError(
                [f"TrainerConfig: `Trainer(max_time={max_time!r})`: {r}" for r in reasons]
            ) from None
        self._add_callback(timer)

    def _merge_module_callbacks(self, configured: Sequence[Any]) -> None:
        """``Module.configure_callbacks()``, merged as Lightning's: a returned callback replaces
        the Trainer's callbacks of its class or a parent class (a bare ``Callback`` excepted),
        then tuner callbacks go first and checkpoint callbacks last, each group in order."""
        if not configured:
            return
        types = {type(c) for c in configured}
        replaced = {
            type(c)
            for c in self.callbacks
            if type(c) is not Callback and any(issubclass(t, type(c)) for t in types)
        }
        if replaced:
            rank_zero_info(
                "The following callbacks returned in `configure_callbacks` will override "
                "existing callbacks passed to Trainer: %s",
                ", ".join(sorted(t.__name__ for t in replaced)),
            )
        from treadle.tuner import BatchSizeFinder, LearningRateFinder

        merged = [c for c in self.callbacks if type(c) not in replaced] + list(configured)
        tuners = (BatchSizeFinder, LearningRateFinder)
        merged = [
            *(c for c in merged if isinstance(c, tuners)),
            *(c for c in merged if not isinstance(c, tuners)),
        ]
        merged.sort(key=lambda c: hasattr(c, "best_model_path"))  # checkpoints last (stable)
        # pluggy calls callbacks in the order they were registered: register them anew
        for old in self.callbacks:
            self.plugin_manager.unregister(name=f"callback:{type(old).__name__}:{id(old):x}")
        self.callbacks = []
        for callback in merged:
            self._add_callback(callback)

    def _select_plugins(self) -> None:
        cfg, pm = self.config, self.plugin_manager
        problems: list[str] = []
        # The cluster environment (torchrun, SLURM, ...) is detected, not named: "auto" among
        # the environments (treadle.plugin_manager.pick_auto), made before the strategy.
        forced = self._lightning_plugins.environment if self._lightning_plugins else None
        if forced == "program":  # plugins=[MyCluster()]: a ClusterEnvironment class of its own
            from treadle.plugins.environments import ProgramEnvironment

            given = self._lightning_plugins.environment_object
            env = None
            if ProgramEnvironment.joins(given):  # the ranks exist: the strategies join them
                self.environment = ProgramEnvironment(given, self)
                pm.register_selected("environment", self.environment, self.environment.name)
            else:  # treadle starts the processes (and detects their ranks in them)
                env = pm.detect("environment")
        elif forced is None:
            env = pm.detect("environment")
        elif forced == "none":  # Lightning's LightningEnvironment: no cluster environment
            env = pm.detect("environment")
            if env is not None:
                raise ConfigurationError(
                    [
                        f"Trainer: `plugins=[LightningEnvironment()]`, but this process runs "
                        f"under {env.name!r}, which treadle detected and would use. Leave "
                        f"`LightningEnvironment()` out."
                    ]
                )
        else:  # plugins=[SLURMEnvironment()] &co.: selected by name
            env = pm.select("environment", forced, self, problems)
            if env is None:
                raise ConfigurationError(problems)
        if env is not None:
            self.environment = env.factory(self)
            pm.register_selected("environment", self.environment, env.name)
        elif self.environment is None:
            pm.reasons["environment"] = (None, "no cluster environment detected")
        if type(cfg.devices) is not bool and cfg.devices in (0, "0", []):  # Lightning's check
            raise ConfigurationError(
                [
                    f"Trainer: `Trainer(devices={cfg.devices!r})` value is not a valid input "
                    f"using {cfg.accelerator} accelerator. Pass a positive number of devices, a "
                    f"list of device indices, or 'auto'."
                ]
            )
        strategy, why = cfg.strategy, ""
        if strategy == "auto":
            world = self.environment.world_size if self.environment is not None else 1
            strategy, why = auto_strategy(cfg.devices, cfg.num_nodes, world)
        accelerator = _gpu_alias(cfg.accelerator)
        if accelerator is None:
            problems.append(
                "Trainer: `accelerator='gpu'`: No supported gpu backend found! Neither CUDA nor "
                "MPS is available on this machine; pass accelerator='cpu' (or 'auto')."
            )
        chosen = {
            "accelerator": pm.select("accelerator", accelerator, self, problems)
            if accelerator is not None
            else None,
            "precision": pm.select("precision", cfg.precision, self, problems),
            "strategy": pm.select("strategy", strategy, self, problems)
            if self._strategy_object is None
            else None,
        }
        if problems:
            raise ConfigurationError(problems)
        if cfg.strategy == "auto":
            pm.reasons["strategy"] = (strategy, why)
        for kind, attr in (
            ("accelerator", "accelerator"),
            ("precision", "precision_plugin"),
            ("strategy", "strategy"),
        ):
            rec = chosen[kind]
            given = self._strategy_object
            if rec is None and kind == "strategy" and given is not None:  # strategy=<object>
                instance = given.connect(self)
                pm.reasons["strategy"] = (instance.name, "given as an object: strategy=...")
                setattr(self, attr, instance)
                pm.register_selected(kind, instance, instance.name)
                continue
            assert rec is not None  # no problems: every kind was resolved
            instance = rec.factory(self)
            setattr(self, attr, instance)
            pm.register_selected(kind, instance, rec.name)

    def _make_loggers(self, logger: Any) -> list[Any]:
        if logger is False or logger is None:
            return []
        if logger is True or isinstance(logger, str):
            # True: Lightning's default, TensorBoard where it is installed and CSV otherwise --
            # the available logger with the highest priority ("auto")
            name = "auto" if logger is True else logger
            problems: list[str] = []
            rec = self.plugin_manager.select("logger", name, self, problems)
            if rec is None:
                raise ConfigurationError(problems)
            return [rec.factory(self)]
        return list(logger) if isinstance(logger, (list, tuple)) else [logger]

    # -- properties ----------------------------------------------------------------------------

    @property
    def world_size(self) -> int:
        return 1 if self.strategy is None else self.strategy.world_size

    @property
    def global_rank(self) -> int:
        return 0 if self.strategy is None else self.strategy.global_rank

    @property
    def local_rank(self) -> int:
        return 0 if self.strategy is None else self.strategy.local_rank

    @property
    def node_rank(self) -> int:
        return 0 if self.strategy is None else self.strategy.node_rank

    @property
    def is_global_zero(self) -> bool:
        return self.global_rank == 0

    @property
    def root_device(self) -> torch.device:
        return self._root_device if self._root_device is not None else self.accelerator.root_device

    @property
    def lightning_module(self) -> Module | None:
        return self.module

    @property
    def model(self) -> Any:
        """The model as the strategy runs it (``DistributedDataParallel`` under DDP), else the
        Module: Lightning's ``trainer.model`` (``self.trainer.model.parameters()`` in a
        ``configure_optimizers`` are the Module's parameters either way)."""
        wrapped = getattr(self.strategy, "model", None)
        return wrapped if wrapped is not None else self.module

    @property
    def callback_metrics(self) -> dict[str, torch.Tensor]:
        return self._metrics.callback_metrics

    @property
    def logged_metrics(self) -> dict[str, torch.Tensor]:
        return self._metrics.logged_metrics

    @property
    def progress_bar_metrics(self) -> dict[str, float]:
        return {k: v.item() for k, v in self._metrics.progress_bar_metrics.items()}

    @property
    def logger(self) -> Any:
        return self.loggers[0] if self.loggers else None

    @logger.setter
    def logger(self, logger: Any) -> None:
        """As Lightning's: ``trainer.logger = x`` makes ``x`` the only logger (None: none)."""
        self.loggers = [logger] if logger else []

    @property
    def loggers(self) -> list[Any]:
        return self._loggers

    @loggers.setter
    def loggers(self, loggers: Any) -> None:
        """As Lightning's: a list of loggers; None or an empty one means none."""
        self._loggers: list[Any] = list(loggers) if loggers else []

    @property
    def default_root_dir(self) -> str:
        """As Lightning: a str, the folder given normalised (``~`` expanded), else the cwd."""
        given = self.config.default_root_dir
        return os.path.normpath(os.path.expanduser(str(given))) if given else os.getcwd()

    @property
    def log_dir(self) -> str | None:
        """As Lightning: the first logger's ``log_dir`` for a ``CSVLogger`` or
        ``TensorBoardLogger`` (a str), another logger's ``save_dir`` (None unless it has one),
        else ``default_root_dir``."""
        first = self.logger
        if first is None:
            return self.default_root_dir
        if isinstance(first, FileLogger):
            return str(first.log_dir)
        save_dir = getattr(first, "save_dir", None)
        return None if save_dir is None else str(save_dir)

    @property
    def max_epochs(self) -> int:
        """As Lightning: 1000 when neither ``max_epochs``, ``max_steps`` nor a time limit
        (``max_time``, a ``Timer``) is given; -1 (no limit) when only those are."""
        cfg = self.config
        if cfg.max_epochs is not None:
            return cfg.max_epochs
        if not getattr(self, "_fit_started", False):  # as Lightning: None until a fit() starts
            return None  # type: ignore[return-value]
        timer = sys.modules.get("treadle_plugins.callbacks.timer")  # no Timer made without it
        timed = timer is not None and any(isinstance(c, timer.Timer) for c in self.callbacks)
        return 1000 if cfg.max_steps == -1 and not timed else -1

    @property
    def min_epochs(self) -> int | None:
        return self.config.min_epochs

    @property
    def min_steps(self) -> int | None:
        return self.config.min_steps

    @property
    def fast_dev_run(self) -> Any:
        """``Trainer(fast_dev_run=...)``: False, True (one batch) or the number of batches."""
        return self.config.fast_dev_run

    @property
    def max_steps(self) -> int:
        return self.config.max_steps

    @property
    def accumulate_grad_batches(self) -> int:
        """Batches per optimizer step: ``Trainer(accumulate_grad_batches=)``, or what a callback
        set for the running ``fit()`` (``GradientAccumulationScheduler``)."""
        step = self._step
        return self.config.accumulate_grad_batches if step is None else step.accumulate

    @accumulate_grad_batches.setter
    def accumulate_grad_batches(self, value: int) -> None:
        """As Lightning's attribute: a callback changes it for the running ``fit()`` (at an
        epoch's start); the next ``fit()`` starts from ``Trainer(accumulate_grad_batches=)``."""
        if self._step is None:
            raise RuntimeError(
                "`trainer.accumulate_grad_batches` can only be changed while `fit()` runs "
                "(from a callback hook); set `Trainer(accumulate_grad_batches=N)` otherwise."
            )
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(
                f"`trainer.accumulate_grad_batches = {value!r}`: expected an int >= 1."
            )
        self._step.accumulate = value

    @property
    def gradient_clip_val(self) -> float | None:
        return self.config.gradient_clip_val

    @property
    def estimated_stepping_batches(self) -> float:
        """Optimizer-step batches the whole fit will run (to size ``OneCycleLR``, say). As
        Lightning's, read before fit's loop asked for the training loader (in
        ``configure_optimizers``), it asks for it now (unless ``max_epochs=-1``), saying so in
        Lightning's INFO line."""
        if self.max_epochs == -1:
            return float("inf") if self.max_steps == -1 else self.max_steps
        if self._train_pending:
            rank_zero_info("Loading `train_dataloader` to estimate number of stepping batches.")
            self._train_loader()
        n = self.num_training_batches
        if n == float("inf") and self.max_steps == -1:
            return float("inf")
        per_epoch = math.ceil(n / self.accumulate_grad_batches) if n != float("inf") else 0
        total = per_epoch * max(self.max_epochs, 1) if self.max_epochs >= 0 else float("inf")
        return total if self.max_steps == -1 else min(total, self.max_steps)

    @property
    def checkpoint_callback(self) -> Any:
        return next((c for c in self.callbacks if hasattr(c, "best_model_path")), None)

    @property
    def progress_bar_callback(self) -> Any:
        """The run's progress bar (a ``treadle.callbacks.ProgressBar``), or None."""
        progress = sys.modules.get("treadle_plugins.progress")  # no bar made without it
        if progress is None:
            return None
        return next((c for c in self.callbacks if isinstance(c, progress.ProgressBar)), None)

    # -- the loop state, as Lightning names it ---------------------------------------------------

    @property
    def current_epoch(self) -> int:
        return self.state.epoch

    @current_epoch.setter
    def current_epoch(self, value: int) -> None:
        self.state.epoch = value

    @property
    def global_step(self) -> int:
        return self.state.global_step

    @global_step.setter
    def global_step(self, value: int) -> None:
        self.state.global_step = value

    @property
    def is_last_batch(self) -> bool:
        return self.state.is_last_batch

    @property
    def should_stop(self) -> bool:
        return self.state.should_stop

    @should_stop.setter
    def should_stop(self, value: bool) -> None:
        self.state.should_stop = bool(value)

    @property
    def train_dataloader(self) -> Any:
        """The training loader of the running (or last) ``fit()``, as it iterates it."""
        loop = self._fit_loop
        if loop is not None and isinstance(loop.loader, CombinedLoader):
            return loop.loader.iterables  # as Lightning: the dict/list of loaders
        return None if loop is None else loop.loader

    @property
    def test_dataloaders(self) -> Any:
        """The loader(s) of the last ``test()``, as it iterates them (one, or a list)."""
        return _one_or_list(self._eval_loaders.get("test"))

    @property
    def predict_dataloaders(self) -> Any:
        """The loader(s) of the last ``predict()``, as it iterates them (one, or a list)."""
        return _one_or_list(self._eval_loaders.get("predict"))

    @property
    def received_sigterm(self) -> bool:
        """Whether this process received SIGTERM during the running (or last) ``fit()``,
        ``validate()``, ``test()`` or ``predict()``, as Lightning's: False again when the next
        one starts. treadle's own stop on SIGTERM (a checkpoint, then ``SIGTERMException``)
        needs no polling of it; it is for code of yours that wants to know."""
        return self._signals is not None and self._signals.sigterm

    @property
    def sanity_checking(self) -> bool:
        return self.state.sanity_checking

    @property
    def training(self) -> bool:
        return self.state.training

    @property
    def validating(self) -> bool:
        return self.state.stage == "validate"

    @property
    def testing(self) -> bool:
        return self.state.stage == "test"

    @property
    def predicting(self) -> bool:
        return self.state.stage == "predict"

    # -- public entry points -------------------------------------------------------------------

    def fit(
        self,
        model: Module,
        train_dataloaders: Any = None,
        val_dataloaders: Any = None,
        datamodule: Any = None,
        ckpt_path: str | None = None,
        weights_only: bool | None = None,
    ) -> None:
        """Train ``model``; validate everything first, resume from ``ckpt_path`` if given.

        ``weights_only`` is accepted as in Lightning 2.6 and changes nothing: treadle's
        checkpoints hold only what ``torch.load(weights_only=True)`` reads, and are read so.
        """
        if isinstance(train_dataloaders, DataModule) and datamodule is None:
            train_dataloaders, datamodule = None, train_dataloaders  # as Lightning: fit(model, dm)
        self._run("fit", model, train_dataloaders, val_dataloaders, ckpt_path, datamodule)

    def validate(
        self,
        model: Module | None = None,
        dataloaders: Any = None,
        ckpt_path: str | None = None,
        verbose: bool = True,
        datamodule: Any = None,
        weights_only: bool | None = None,
    ) -> list[dict[str, float]]:
        """One validation epoch; returns a metrics dict per dataloader, as Lightning does,
        and prints them as a table when ``verbose`` (rank zero).

        ``weights_only`` is accepted as in Lightning 2.6 and changes nothing: treadle's
        checkpoints hold only what ``torch.load(weights_only=True)`` reads, and are read so.
        """
        dataloaders, datamodule = _split_datamodule(dataloaders, datamodule)
        results = self._run("validate", model, None, dataloaders, ckpt_path, datamodule)
        if verbose and self.is_global_zero:
            _results.print_results(results, "validate")
        return results

    def test(
        self,
        model: Module | None = None,
        dataloaders: Any = None,
        ckpt_path: str | None = None,
        verbose: bool = True,
        datamodule: Any = None,
        weights_only: bool | None = None,
    ) -> list[dict[str, float]]:
        """One test epoch (``test_step``); returns a metrics dict per dataloader,
        and prints them as a table when ``verbose`` (rank zero).

        ``weights_only`` is accepted as in Lightning 2.6 and changes nothing: treadle's
        checkpoints hold only what ``torch.load(weights_only=True)`` reads, and are read so.
        """
        dataloaders, datamodule = _split_datamodule(dataloaders, datamodule)
        results = self._run("test", model, None, dataloaders, ckpt_path, datamodule)
        if verbose and self.is_global_zero:
            _results.print_results(results, "test")
        return results

    def predict(
        self,
        model: Module | None = None,
        dataloaders: Any = None,
        datamodule: Any = None,
        return_predictions: bool | None = None,
        ckpt_path: str | None = None,
        weights_only: bool | None = None,
    ) -> list[Any] | None:
        """``predict_step`` over every batch; returns the predictions (a list, or a list per
        dataloader when there are several) unless ``return_predictions=False``.

        ``weights_only`` is accepted as in Lightning 2.6 and changes nothing: treadle's
        checkpoints hold only what ``torch.load(weights_only=True)`` reads, and are read so.
        """
        dataloaders, datamodule = _split_datamodule(dataloaders, datamodule)
        # (None: Lightning's default, True here and False where the stage runs in spawned
        # workers, which refuse True: see DDPStrategy.launch_stage)
        return self._run(
            "predict",
            model,
            None,
            dataloaders,
            ckpt_path,
            datamodule,
            keep_predictions=return_predictions,
        )

    def save_checkpoint(
        self, filepath: Any, weights_only: bool = False, storage_options: Any = None
    ) -> None:
        """Write the run's state to ``filepath`` atomically (rank zero writes).

        ``storage_options`` is Lightning's argument for a custom ``CheckpointIO``; treadle writes
        with torch's own, which takes none (as Lightning's ``TorchCheckpointIO``): any other
        value than None is refused."""
        if storage_options is not None:
            raise TypeError(  # Lightning's wording, then treadle's way
                "`Trainer.save_checkpoint(..., storage_options=...)` with `storage_options` arg "
                "is not supported for `TorchCheckpointIO`. Please implement your custom "
                "`CheckpointIO` to define how you'd like to use `storage_options`. (treadle: "
                "leave `storage_options` out, or write the file in a plugin's `save_checkpoint` "
                "hook.)"
            )
        filepath = local_folder(filepath, "Trainer.save_checkpoint(filepath)")
        ckpt = checkpoint.dump(self, self._hooks, self._fit_loop, weights_only)
        self._hooks.save_checkpoint(
            trainer=self, checkpoint=ckpt, filepath=filepath, weights_only=weights_only
        )
        self.barrier("save_checkpoint")

    def restore(self, ckpt_path: Any) -> None:
        """Load a checkpoint into the running ``fit()`` (what ``fit(ckpt_path=...)`` does once
        the run is set up); a mid-epoch checkpoint resumes at its batch in the next epoch run."""
        self._resume = checkpoint.restore(self, self._hooks, ckpt_path)
        if self._fit_loop is not None and self.state.fn == "fit":  # restored from a hook
            self._fit_loop.resume = self._resume

    # -- collectives (the strategy's; identities in one process) ---------------------------------

    def broadcast(self, obj: Any, src: int = 0) -> Any:
        """``obj`` as rank ``src`` has it, on every rank."""
        return self._hooks.broadcast(trainer=self, obj=obj, src=src)[0]

    def reduce(self, tensor: torch.Tensor, reduce_op: str = "mean") -> torch.Tensor:
        """``tensor`` reduced over the ranks (``"mean"``, ``"sum"``, ``"max"``, ``"min"``)."""
        return self._hooks.reduce(trainer=self, tensor=tensor, reduce_op=reduce_op)

    def all_gather(self, tensor: torch.Tensor) -> torch.Tensor:
        """Every rank's ``tensor``, stacked along a new first dimension."""
        return self._hooks.all_gather(trainer=self, tensor=tensor)

    def barrier(self, name: str | None = None) -> None:
        """Wait until every rank gets here."""
        self._hooks.barrier(trainer=self, name=name)

    # -- the run -------------------------------------------------------------------------------

    def _run(
        self,
        fn: str,
        model: Module | None,
        train_loader: Any,
        eval_loaders: Any,
        ckpt_path: str | None,
        datamodule: Any = None,
        check_only: bool = False,
        keep_predictions: bool | None = False,
    ) -> Any:
        """Set ``fn`` up, validate, hand it to a loop. ``check_only``: stop after validation
        (``treadle validate``): nothing set up or run."""
        if model is None and ckpt_path is None and fn != "fit" and self.module is not None:
            ckpt_path = self._previous_best(fn)
        model = self._model_for(fn, model)
        datamodule = self._datamodule_for(fn, datamodule, train_loader, eval_loaders)
        if not check_only:  # ddp_spawn: the stage runs in its workers
            try:
                launched = self.strategy.launch_stage(
                    self,
                    fn,
                    model,
                    train_loader,
                    eval_loaders,
                    ckpt_path,
                    # by keyword, and only when given: strategies written before them keep working
                    **({"datamodule": datamodule} if datamodule is not None else {}),
                    **(
                        {"return_predictions": True}
                        if fn == "predict" and keep_predictions and _takes_return_predictions(self)
                        else {}
                    ),
                )
            except Exception as exc:  # the workers failed: as Lightning's caller, the
                # callbacks' and the DataModule's on_exception run here too (the workers ran theirs)
                self._hooks.on_exception(trainer=self, module=model, exception=exc)
                if datamodule is not None:
                    _profiling.call_hook(self, _DM, datamodule, "on_exception", exc)
                raise
            if launched is not None:  # the workers' predict returned its predictions regardless
                # as Lightning's launcher: the main process's state is the workers' at their end
                self.state.fn, self.state.stage = FnName(fn), None
                self.state.status = "finished"
                # (predict: None unless asked for, Lightning's default under ddp_spawn)
                return None if fn == "predict" and not keep_predictions else launched[0]
        if keep_predictions is None:  # predict here: Lightning's default, the predictions
            keep_predictions = True
        self.module = model
        model.trainer = self
        self._given_loaders = {"train": train_loader is not None, "val": eval_loaders is not None}
        self._sources = (train_loader, eval_loaders, datamodule)
        # (asked for once the loop, or estimated_stepping_batches from setup on, needs it)
        self._train_pending, self._train_requested = fn == "fit", None
        state = self.state
        fn = FnName(fn)  # also the `stage` of setup/teardown: `stage.value` as Lightning's enum
        # as Lightning's entry points: the stage is the entry point's from its setup hooks on
        state.fn, state.stage, state.should_stop = fn, STAGE[fn], False
        self._fit_started = getattr(self, "_fit_started", False) or fn == "fit"
        if fn == "fit" and self.config.max_epochs is None and self.max_epochs == 1000:
            warnings.warn(  # as Lightning's _parse_loop_limits
                "`max_epochs` was not set. Setting it to 1000 epochs. To train without an epoch "
                "limit, set `max_epochs=-1`.",
                PossibleUserWarning,
                stacklevel=3,
            )
        state.status = "running"
        self._resume = None
        started, status, error, sigint = False, "success", None, None
        synced = False  # the layers were synchronized (sync_batchnorm), to revert at the end
        try:
            if self._profiled():  # (log_dir asks the logger: not for the pass-through one)
                self.profiler.setup(
                    stage=fn,
                    local_rank=self.local_rank if self.world_size > 1 else None,
                    log_dir=self.log_dir,
                )
            self._prepare(model, datamodule)
            hooks = self._hooks
            self._prepare_data(model, datamodule)
            if datamodule is not None:  # as Lightning: the DataModule's setup comes first
                _profiling.call_hook(self, _DM, datamodule, "setup", stage=fn)
            hooks.setup(trainer=self, module=model, stage=fn)
            started = True
            with self._metrics.calling("configure_model"), self._init_dtype():  # as
                model.configure_model()  # Lightning: after setup, before configure_optimizers
            self._metrics.reset_metrics()  # as Lightning: each run's metrics are its own
            self._configure(fn, model, train_loader, eval_loaders, datamodule, check_only)
            if check_only:
                return None
            self.plugin_manager.announce(self)  # rank zero, once: what was selected and why
            hooks.setup_environment(trainer=self)
            self._root_device = self.accelerator.root_device
            if not any(p.is_meta for p in model.parameters()):  # (meta: a configure_model
                model.to(self._root_device)  # built on the meta device; the strategy
            # materialises it, sharded)
            if fn == "fit" and self._layer_sync is not None and self.world_size > 1:
                synced = self._sync_layers(model)  # as Lightning: before the strategy wraps it
            hooks.convert_module(trainer=self, module=model)
            hooks.setup_module(trainer=self, module=model)
            self._eval_loaders[fn] = []  # asked for when the loop needs them, as Lightning
            # as Lightning: the file resumed from (``"last"``/``"best"`` resolved; None when
            # "last" finds none: a fresh start)
            self.ckpt_path = self._checkpoint_path(fn, ckpt_path)
            if self.ckpt_path is not None:
                self.restore(self.ckpt_path)
            if self.enable_autolog_hparams:
                log_hyperparams(self)  # hparams, graph and save() to each logger, on rank zero
            evaluation = EvaluationLoop(self, hooks, self._metrics)
            if fn != "fit":  # (fit's: ``self._fit_loop.evaluation``)
                self._eval_runs[fn] = evaluation
            fit_loop = None
            if fn == "fit":
                fit_loop = self._fit_loop = FitLoop(
                    self,
                    hooks,
                    self._step,
                    self._metrics,
                    evaluation,
                    reload=lambda which: self._reload(which, model, datamodule),
                    load=self._fit_loaders,
                )
            if self._profiled():  # once per run: timed loop methods on these instances
                _profiling.instrument(self, fit_loop, evaluation, self._step)
            if fit_loop is not None:  # its preemption: signals caught while it trains
                self._signals = fit_loop.preemption
                with (
                    torch.autograd.set_detect_anomaly(self.config.detect_anomaly),
                    fit_loop.preemption,
                ):
                    fit_loop.run(self._resume)
                return None
            model.zero_grad()  # as Lightning's _run_stage, before the loaders are asked for
            limit = {
                "validate": self.config.limit_val_batches,
                "test": self.config.limit_test_batches,
                "predict": self.config.limit_predict_batches,
            }[fn]
            eval_loaders = self._eval_loaders[fn] = (
                [self._setup_loader(v, fn) for v in self._request_eval(fn)] if limit != 0 else []
            )
            stage = {"validate": "val"}.get(fn, fn)
            limits = [num_batches(v, limit, stage) for v in eval_loaders]
            if fn == "validate":
                self.num_val_batches = per_loader(limits, eval_loaders)
            evaluation.preemption = EvaluationPreemption(self)  # signals: stop after a batch
            self._signals = evaluation.preemption
            with evaluation.preemption:
                results = evaluation.run(fn, eval_loaders, limits, keep_predictions)
            if fn != "predict":
                return results
            if not keep_predictions or not results:  # as Lightning: None when nothing ran
                return None
            return results[0] if len(results) == 1 else results
        except BaseException as exc:
            status, error = "failed", exc  # Lightning's word for any exception, Ctrl-C included
            if isinstance(exc, KeyboardInterrupt):  # one line, then exit 130 without a traceback
                sigint = _summary.interrupted(self)
            if started:
                self._hooks.on_exception(trainer=self, module=model, exception=exc)
                if datamodule is not None:  # as Lightning: after the callbacks
                    _profiling.call_hook(self, _DM, datamodule, "on_exception", exc)
                on_exception = getattr(self.strategy, "on_exception", None)
                if on_exception is not None:  # as Lightning: the strategy's last
                    on_exception(exc)
            if isinstance(exc, KeyboardInterrupt):
                raise SystemExit(130) from exc
            raise
        finally:
            state.stage = None
            state.status = "finished" if status == "success" else "interrupted"
            if self._step is not None:
                self._step.release()
                self._step.report_skipped()
                for scheduler in self._step.schedulers:
                    unroute_scheduler_step(scheduler)
            if started:  # as Lightning's teardown: the loaders' worker processes stop now
                self._shut_down_workers(fn)
            if self._datamodule_plugin is not None:
                self.plugin_manager.unregister(self._datamodule_plugin)
                self._datamodule_plugin = None
            if started and error is None:
                if datamodule is not None:
                    _profiling.call_hook(self, _DM, datamodule, "teardown", stage=fn)
                self._hooks.teardown(trainer=self, module=model, stage=fn)
            elif started:  # as Lightning: after an exception the callbacks', the Module's and
                # the DataModule's teardown are skipped; the strategy's (and the other plugins')
                # still run
                users = [
                    i.plugin
                    for i in self.plugin_manager.hook.teardown.get_hookimpls()
                    if isinstance(i.plugin, AdaptedPlugin)
                    and isinstance(i.plugin.owner, (Callback, Module))
                ]
                self._hooks.subset("teardown", users)(trainer=self, module=model, stage=fn)
            if synced:  # as Lightning's strategy teardown, after the hooks'
                self._layer_sync.revert(model)
            if started:
                for logger in self.loggers:
                    finalize = getattr(logger, "finalize", None)
                    if finalize is not None:
                        finalize(status)
                self.profiler.describe()  # the report, as Lightning's _teardown
                # where the logs and checkpoints went; a configuration error says it all alone
                if fn == "fit" and not check_only and not isinstance(error, ConfigurationError):
                    _summary.report(self, error)
            if self._hooks._profiling is not None:  # calls after the run (save_checkpoint,
                self._hooks = self.plugin_manager.hooks()  # broadcast) are not profiled
            if sigint is not None:
                signal.signal(signal.SIGINT, sigint)

    def _shut_down_workers(self, fn: str) -> None:
        """The worker processes of the loaders ``fn`` read stop (a persistent loader's too),
        and the iterators it was reading are let go, also after an exception (whose traceback
        would keep them running): Lightning's teardown (docs/data.md)."""
        evaluation: EvaluationLoop | None
        if fn == "fit":
            loop = self._fit_loop
            if loop is None:
                return
            evaluation = loop.evaluation
            loaders = [loop.loader, *(loop.val_loaders or [])]
            running = [loop.iterator, evaluation.running]
            loop.iterator = None
        else:
            evaluation = self._eval_runs.get(fn)
            loaders = list(self._eval_loaders.get(fn) or [])
            running = [evaluation.running if evaluation is not None else None]
        if evaluation is not None:
            evaluation.running = None
        shut_down_workers(
            [x for x in loaders if x is not None], [x for x in running if x is not None]
        )

    def _sync_layers(self, model: Module) -> bool:
        """``sync_batchnorm``: the ``LayerSync`` turns the Module's layers into synchronized
        ones, in place (the optimizers keep their parameters: the new layers hold them)."""
        if self._layer_sync.apply(model) is not model:
            raise ConfigurationError(
                f"`{type(self._layer_sync).__name__}.apply(model)` returned another object than "
                f"the `{type(model).__name__}` it was given: a `LayerSync` must change the "
                f"Module's layers in place (`model.add_module(name, new_layer)`) and return it."
            )
        return True

    def _model_for(self, fn: str, model: Module | None) -> Module:
        if model is None:
            if fn != "fit" and self.module is not None:  # as Lightning: the fitted module
                return self.module
            if fn == "fit":
                raise TypeError("`trainer.fit()` needs a model: pass `trainer.fit(model, ...)`.")
            raise TypeError(  # Lightning's words, then the fix
                f"`Trainer.{fn}()` requires a `LightningModule` when it hasn't been passed in a "
                f"previous run: pass `trainer.{fn}(model, ...)` (or call it after `fit()`, which "
                "it then reuses)."
            )
        optimized = compiled_module_type()
        if optimized is not None and isinstance(model, optimized):  # torch.compile(module)
            return from_compiled(model)  # as Lightning: the Module, its steps compiled
        if not isinstance(model, Module):
            raise TypeError(  # Lightning's words, naming treadle's class
                f"`trainer.{fn}(model)`: `model` must be a `LightningModule` (`treadle.Module`) "
                f"or `torch._dynamo.OptimizedModule`, got `{type(model).__qualname__}`."
            )
        return model

    def _datamodule_for(
        self, fn: str, datamodule: Any, train_loader: Any, eval_loaders: Any
    ) -> DataModule | None:
        """The ``datamodule=`` of this entry point, checked; it becomes ``trainer.datamodule``."""
        if datamodule is None:
            return None
        if not isinstance(datamodule, DataModule):
            raise TypeError(
                f"`trainer.{fn}(datamodule=...)` needs a `treadle.DataModule`, got "
                f"{type(datamodule).__name__}."
            )
        if train_loader is not None or eval_loaders is not None:
            given = "`train_dataloaders` or `val_dataloaders`" if fn == "fit" else "`dataloaders`"
            raise ConfigurationError(
                [
                    f"Trainer: `trainer.{fn}()` got both {given} and `datamodule`. Pass one: the "
                    f"DataModule's loaders, or the loaders."
                ]
            )
        self.datamodule = datamodule
        datamodule.trainer = self
        return datamodule

    def _prepare_data(self, model: Module, datamodule: DataModule | None) -> None:
        """``prepare_data()`` of the DataModule, then of the Module: on local rank 0 of each
        node (``prepare_data_per_node = False``: on global rank 0 only); then a barrier."""
        ran = False
        for owner in (datamodule, model):
            if (
                owner is None
                or type(owner).prepare_data
                is (DataModule if owner is datamodule else Module).prepare_data
            ):
                continue
            here = (
                self.local_rank == 0
                if getattr(owner, "prepare_data_per_node", True)
                else self.global_rank == 0
            )
            if here:
                kind = _DM if owner is datamodule else _LM
                with self._metrics.calling("prepare_data"):
                    _profiling.call_hook(self, kind, owner, "prepare_data")
            ran = True
        if ran:
            self.barrier("prepare_data")

    def _previous_best(self, fn: str) -> str | None:
        """As Lightning: ``validate``/``test``/``predict`` with neither a model nor a
        ``ckpt_path`` after ``fit()`` load the best checkpoint of that fit (with a warning)
        when a checkpoint callback is configured; without one they use the module as it is."""
        if not any(hasattr(c, "best_model_path") for c in self.callbacks):
            return None
        warnings.warn(
            f"`.{fn}(ckpt_path=None)` was called without a model. The best model of the previous "
            f"`fit` call will be used. You can pass `.{fn}(ckpt_path='best')` to use the best "
            f"model or `.{fn}(ckpt_path='last')` to use the last model. If you pass a value, this "
            f"warning will be silenced.",
            UserWarning,
            stacklevel=4,
        )
        return "best"

    def _checkpoint_path(self, fn: str, ckpt_path: Any) -> Any:
        """``"best"``: the checkpoint callback's best file. ``"last"``: the newest ``last*.ckpt``
        in the checkpoint callbacks' folders and ``<default_root_dir>/checkpoints`` (and, for a
        folder in a logger's ``version_N/checkpoints``, the other versions': a requeued job
        logs to a new version), or None with a warning when there is none, so one job script
        serves the first run and every requeue. A path as it is."""
        if ckpt_path is None or ckpt_path not in ("best", "last"):
            return local_path(ckpt_path)  # a file:// URL as its path (fsspec's, as Lightning)
        callbacks = [c for c in self.callbacks if hasattr(c, "best_model_path")]
        if ckpt_path == "best":
            found = callbacks[0].best_model_path if callbacks else ""
            if not found:  # Lightning's words first (its three cases), then what to do
                said = (
                    "is set but `ModelCheckpoint` is not configured"
                    if not callbacks
                    else "is set but `ModelCheckpoint` is not configured to save the best model"
                )
                if callbacks and self.config.fast_dev_run:
                    said = "cannot run with `fast_dev_run=True`, which saves no checkpoint"
                raise ConfigurationError(
                    [
                        f'Trainer: `.{fn}(ckpt_path="best")` {said}: '
                        + (
                            "no checkpoint callback is configured"
                            if not callbacks
                            else f"{type(callbacks[0]).__name__} has saved none yet"
                        )
                        + ". Pass a path, or fit with checkpointing first."
                    ]
                )
            return found
        folders = [Path(self.default_root_dir) / "checkpoints"]
        for callback in callbacks:
            dirpath = getattr(callback, "dirpath", None)
            if not dirpath:
                continue
            folders.append(Path(dirpath))
            version = Path(dirpath).parent
            if Path(dirpath).name == "checkpoints" and version.name.startswith("version_"):
                folders.extend(sorted(version.parent.glob("version_*/checkpoints")))
        newest: tuple[int, str] | None = None
        for folder in folders:
            for path in folder.glob("last*.ckpt"):
                if path.stem.endswith(".nonfinite") or not path.exists():
                    continue  # written aside (non-finite weights); a dangling link
                stamp = (path.stat().st_mtime_ns, str(path))
                newest = stamp if newest is None or stamp > newest else newest
        found = self.broadcast(newest[1] if newest is not None else None, src=0)
        if found is None and self.is_global_zero:
            warnings.warn(
                f'.{fn}(ckpt_path="last") is set, but there is no last checkpoint available. '
                f"No checkpoint will be loaded. HINT: Set `ModelCheckpoint(..., save_last=True)` "
                f"(looked for last*.ckpt in {', '.join(sorted({str(f) for f in folders}))}).",
                stacklevel=4,
            )
        return found

    def _sync_callbacks(self) -> None:
        """Callbacks appended to or removed from ``trainer.callbacks`` since the Trainer was
        made (or the last run) take part in this run, registered anew in the list's order (as
        ``_merge_module_callbacks`` does): Lightning's hooks read the list at each call. Once a
        run, before ``configure_callbacks``; nothing changes when the list holds the same
        callbacks."""
        pm = self.plugin_manager
        wanted = [f"callback:{type(c).__name__}:{id(c):x}" for c in self.callbacks]
        registered = [n for n, _ in pm.list_name_plugin() if n.startswith("callback:")]
        if set(registered) == set(wanted):
            return
        for name in registered:
            pm.unregister(name=name)
        callbacks, self.callbacks = list(self.callbacks), []
        for callback in callbacks:
            self._add_callback(callback)

    def _prepare(self, model: Module, datamodule: DataModule | None = None) -> None:
        """Register the Module's overrides and put every implementation in its place."""
        pm = self.plugin_manager
        self._sync_callbacks()
        with self._metrics.calling("configure_callbacks"):
            configured = model.configure_callbacks() or []
        if not isinstance(configured, Sequence):  # one callback, as Lightning accepts
            configured = [configured]
        self._merge_module_callbacks(configured)
        # The DataModule's batch-transfer overrides run before the Module's and, these hooks
        # being firstresult, replace them (Lightning's _DataHookSelector).
        self._datamodule_plugin = None
        if datamodule is not None:
            _warn_transfer_hook_owner(model, datamodule)
            self._datamodule_plugin = adapt_object(  # (a wrapper of DataModule's own
                datamodule,  # method is no override: Lightning's is_overridden)
                DataModule,
                self._hook_specs(),
                TRANSFER_HOOKS,
                if_overridden=TRANSFER_HOOKS,
            )
            if self._datamodule_plugin is not None:
                pm.register(self._datamodule_plugin, name="datamodule")
        module_plugin = adapt_object(model, Module, self._hook_specs(), MODULE_HOOKS)
        pm.arrange(module_plugin)
        self._hooks = pm.hooks(_profiling.HookProfiling(self) if self._profiled() else None)
        self._module_plugin = module_plugin

    def _configure(
        self,
        fn: str,
        model: Module,
        train_loader: Any,
        eval_loaders: Any,
        datamodule: DataModule | None = None,
        check_only: bool = False,
    ) -> None:
        """``configure_optimizers()`` and every plugin's ``validate``: all problems at once.

        The loaders are not asked for here but where Lightning asks (``_train_loader``,
        ``_request_eval``): that their source is there is checked now, what they hold when
        they are asked for. ``check_only`` (``treadle validate``) asks for them now."""
        problems: list[str] = []
        eval_fn = "validate" if fn == "fit" else fn
        hook_name, step_name, _ = _EVAL[eval_fn]
        if fn == "fit":
            missing = _missing_fit_methods(model)
            if missing:  # nothing to train with: the rest cannot be checked (as Lightning)
                raise ConfigurationError(missing)
        _check_legacy_epoch_end(model, fn)
        if fn == "fit":
            has_loader = eval_loaders is not None or _defined(model, datamodule, hook_name)
            has_step = _step_defined(model, step_name)
            if has_loader and not has_step:  # Lightning's two warnings
                warnings.warn(
                    "You passed in a `val_dataloader` but have no `validation_step`. Skipping "
                    "val loop.",
                    stacklevel=4,
                )
            elif has_step and not has_loader:
                warnings.warn(
                    "You defined a `validation_step` but have no `val_dataloader`. Skipping "
                    "val loop.",
                    PossibleUserWarning,
                    stacklevel=4,
                )
            if train_loader is None and not _defined(model, datamodule, "train_dataloader"):
                problems.append(_no_loader_source("fit", "train_dataloader"))
            with self._metrics.calling("configure_optimizers"):
                returned = model.configure_optimizers()
            opts, configs, problems_ = _optim_config.parse(returned)
            problems.extend(problems_)
            self.optimizers, self.lr_scheduler_configs = opts, configs
            self._make_step(model, opts, [c.scheduler for c in configs])
            if check_only and not problems:
                problems.extend(self._request_train()[1])
        _warn_dataloader_iter_limits(model)
        # as Lightning: a validation_step that is None or not overridden turns validation off
        # in fit(); validate/test need their step, predict its step or `forward`
        no_step = not _step_defined(model, step_name)
        if fn == "predict":
            no_step = model.predict_step is None
            if no_step:
                problems.append(
                    "`predict_step` cannot be None to run `Trainer.predict`. Implement "
                    "`predict_step(self, batch, batch_idx)` or remove the assignment."
                )
            elif not _step_defined(model, "predict_step") and not _step_defined(model, "forward"):
                problems.append(
                    "`Trainer.predict` requires `forward` method to run: the default "
                    "`predict_step` returns `self(batch)`. Implement `forward(self, x)` or "
                    "`predict_step(self, batch, batch_idx)`."
                )
        elif fn != "fit" and no_step:
            problems.append(
                f"No `{step_name}()` method defined to run `Trainer.{fn}`. Implement "
                f"`{step_name}(self, batch, batch_idx)` in the Module."
            )
        defined = eval_loaders is not None or _defined(model, datamodule, hook_name)
        if fn != "fit" and not defined and not no_step:
            problems.append(_no_loader_source(fn, hook_name))
        # fit validates when its validation has a step, a source and batches (Lightning's
        # `enable_validation`): the sanity check and the epochs ask for the loaders then
        self._fit_validates = (
            fn == "fit" and defined and not no_step and self.config.limit_val_batches != 0
        )
        if check_only and defined and not no_step and (fn != "fit" or self._fit_validates):
            problems.extend(self._request_eval(fn, raising=False)[1])
        if fn != "fit" or not problems:
            problems.extend(self._collect_validation(model))
        if problems:
            if fn == "fit" and _defaults.asks_several_optimizers(model, self.optimizers):
                raise MultipleOptimizersError(problems)  # also a RuntimeError, as Lightning's
            if any(p.startswith(_INVALID_LOADER) for p in problems):
                raise InvalidDataloaderError(problems)  # also a TypeError, as Lightning's
            if any(_defaults.INVALID_SCHEDULER in p for p in problems):
                raise ConfigurationTypeError(problems)  # also a TypeError, as Lightning's
            raise ConfigurationError(problems)

    def _train_loader(self) -> Any:
        """fit's training loader as its source gives it, asked for once: where Lightning's fit
        loop asks (after the sanity check), or earlier when ``estimated_stepping_batches`` is
        read. Its batches are counted in ``num_training_batches``; a problem with what it
        holds raises a ``ConfigurationError``."""
        if self._train_pending:
            self._train_pending = False
            loader, problems = self._request_train()
            if any(p.startswith(_INVALID_LOADER) for p in problems):
                raise InvalidDataloaderError(problems)  # also a TypeError, as Lightning's
            if problems:
                raise ConfigurationError(problems)
            self._train_requested = loader
        return self._train_requested

    def _request_train(self) -> tuple[Any, list[str]]:
        """``(loader, problems)``: the training loader asked of its source (not with
        ``limit_train_batches=0``, as Lightning), each rank's share of its batches counted."""
        given, _, datamodule = self._sources
        limit = self.config.limit_train_batches
        if limit == 0:
            self.num_training_batches = 0
            return None, []
        model = self.module
        assert model is not None  # (set by _run)
        loader = given if given is not None else _request(model, datamodule, "train_dataloader")
        loader = train_loader_of(loader)  # a dict/list: a CombinedLoader
        inner = loader.flattened if isinstance(loader, CombinedLoader) else [loader]
        invalid = _not_iterable("fit", inner, given, model, datamodule, "train_dataloader")
        if invalid:
            return None, invalid
        # each rank will see 1/world_size of the batches
        self.num_training_batches = per_rank(num_batches(loader, limit, "train"), self.world_size)
        if isinstance(loader, CombinedLoader) and loader.mode == "sequential":
            return loader, [  # as Lightning
                "Trainer: `fit()` (`trainer.fit_loop`): the `FitLoop` does not support the "
                '`CombinedLoader(mode="sequential")` mode: a step takes a batch of each '
                f"iterable. Choose one of {[m for m in COMBINED_MODES if m != 'sequential']}."
            ]
        return loader, []

    def _request_eval(self, fn: str, raising: bool = True) -> Any:
        """The evaluation loaders of ``fn`` asked of their source, as a list (``raising``:
        a problem with them raises a ``ConfigurationError``; else ``(loaders, problems)``)."""
        _, given, datamodule = self._sources
        model = self.module
        assert model is not None  # (set by _run)
        eval_fn = "validate" if fn == "fit" else fn
        hook_name, step_name, _ = _EVAL[eval_fn]
        loaders = given if given is not None else _request(model, datamodule, hook_name)
        problems = []
        inner = [None] if loaders is None else as_list(loaders)
        inner = [x for v in inner for x in (v.flattened if isinstance(v, CombinedLoader) else [v])]
        problems.extend(_not_iterable(fn, inner, given, model, datamodule, hook_name))
        if problems and not raising:
            return [], problems
        if problems:
            raise InvalidDataloaderError(problems)  # also a TypeError, as Lightning's
        if fn == "predict" and isinstance(loaders, CombinedLoader) and loaders.mode != "sequential":
            problems.append(  # as Lightning
                'Trainer: `predict()` only supports the `CombinedLoader(mode="sequential")` '
                f"mode, got {loaders.mode!r}."
            )
        loaders = as_list(loaders)
        if fn != "fit" and not loaders:
            problems.append(self._no_eval_data(fn))
        idx_problems = []
        if loaders:  # before any batch, as Lightning
            idx_problems = dataloader_idx_problems(model, step_name, len(loaders))
            problems.extend(idx_problems)
        if not raising:
            return loaders, problems
        if idx_problems:
            raise DataloaderIdxError(problems)  # also a RuntimeError, as Lightning's
        if problems:
            raise ConfigurationError(problems)
        return loaders

    def _no_eval_data(self, fn: str) -> str:
        hook_name, _, noun = _EVAL[fn]
        return (
            f"Trainer: `{fn}()` got no {noun} data. Pass `trainer.{fn}(model, "
            f"dataloaders=loader)` or implement `{hook_name}()`"
            + (" in the Module or the DataModule." if self._sources[2] is not None else ".")
        )

    def _fit_loaders(self, which: str) -> Any:
        """fit's loop asks for its loaders when it needs them: ``"train"`` (set up, or None),
        ``"val"`` (a list, set up; ``[]`` when fit does not validate)."""
        if which == "train":
            with self.profiler.profile("setup_train_dataloader"):
                return self._setup_loader(self._train_loader(), "fit")
        if not self._fit_validates:
            return []
        loaders = [self._setup_loader(v, "validate") for v in self._request_eval("fit")]
        self._eval_loaders["fit"] = loaders
        return loaders

    def _make_step(self, model: Module, optimizers: list[Any], schedulers: list[Any]) -> None:
        pm, module_plugin = self.plugin_manager, self._module_plugin
        # opt.step() from an optimizer_step implementation continues with the engine chain;
        # from training_step (manual optimization) it skips only the Module's override.
        others = [
            p
            for n, p in pm.list_name_plugin()
            if p is not None
            and p is not module_plugin
            and n != "treadle.core"
            and p not in pm.selected.values()
        ]
        cfg = self.config
        self._step = Step(
            self,
            model,
            self._hooks,
            self.state,
            accumulate=cfg.accumulate_grad_batches,
            clip_val=cfg.gradient_clip_val,
            clip_algorithm=cfg.gradient_clip_algorithm,
            optimizers=optimizers,
            schedulers=schedulers,
            module_plugin=module_plugin,
            others=others,
            nonfinite=cfg.nonfinite_loss,
        )

    def _profiled(self) -> bool:
        """A real profiler is set (not ``Trainer(profiler=None)``'s pass-through one)."""
        return type(self.profiler) is not PassThroughProfiler

    def _collect_validation(self, model: Module) -> list[str]:
        problems: list[str] = []
        hook = self.plugin_manager.hook.validate
        for impl in reversed(hook.get_hookimpls()):
            kwargs = {"trainer": self, "module": model}
            found: Any = impl.function(*[kwargs[a] for a in impl.argnames]) or []
            problems.extend(f"{impl.plugin_name}: {p}" for p in found)
        return problems

    def _reload(self, which: str, model: Module, datamodule: DataModule | None) -> Any:
        """``reload_dataloaders_every_n_epochs``: the ``"train"`` loader or the ``"val"`` loaders
        asked again of their source, set up; None when they were passed to ``fit()``."""
        name = "train_dataloader" if which == "train" else "val_dataloader"
        if self._given_loaders[which]:
            return None
        loaders = _request(model, datamodule, name)
        if which == "train":
            return self._setup_loader(train_loader_of(loaders), "fit")
        return [self._setup_loader(v, "validate") for v in as_list(loaders)]

    def _setup_loader(self, loader: Any, stage: str) -> Any:
        if loader is None:
            return None
        if isinstance(loader, CombinedLoader):  # each of its loaders, as one given alone
            loader.flattened = [self._setup_loader(inner, stage) for inner in loader.flattened]
            return loader
        if self.config.overfit_batches > 0 and self.state.fn == "fit":
            loader = sequential(loader, stage)
        if stage != "fit" and self.is_global_zero and _shuffled(loader):
            prefix = _LOADER_NAMES[stage].split("_")[0]
            warnings.warn(  # as Lightning's
                f"Your `{prefix}_dataloader`'s sampler has shuffling enabled, it is strongly "
                f"recommended that you turn shuffling off for val/test dataloaders.",
                PossibleUserWarning,
                stacklevel=2,
            )
        if (
            os.environ.get("TREADLE_SEED_WORKERS") == "1"
            and getattr(loader, "num_workers", 0) > 0
            and hasattr(loader, "worker_init_fn")
            and loader.worker_init_fn is None
        ):
            loader.worker_init_fn = seed_worker
        replaced = self._hooks.setup_dataloader(trainer=self, dataloader=loader, stage=stage)
        loader = loader if replaced is None else replaced
        if self.is_global_zero:
            _worker_check(self, loader, _LOADER_NAMES[stage])
        return loader


# the loader hook's name in the worker warnings, by the stage a loader is set up for
# the owners' kinds in the profiler's actions (treadle._profiling.call_hook), Lightning's words
_DM, _LM = "LightningDataModule", "LightningModule"
_LOADER_NAMES = {
    "fit": "train_dataloader",
    "validate": "val_dataloader",
    "test": "test_dataloader",
    "predict": "predict_dataloader",
}


def _warn_transfer_hook_owner(model: Module, datamodule: DataModule) -> None:
    """Lightning's warnings on which batch-transfer hook runs when a DataModule is passed:
    the DataModule's override wins over the Module's; the Module's runs when the DataModule
    has none."""
    for name in TRANSFER_HOOKS:
        if not _step_defined(model, name):
            continue
        if overrides(datamodule, name):
            warnings.warn(
                f"You have overridden `{name}` in both `LightningModule` and "
                f"`LightningDataModule`. It will use the implementation from "
                f"`LightningDataModule` instance.",
                stacklevel=5,
            )
        else:
            warnings.warn(
                f"You have overridden `{name}` in `LightningModule` but have passed in a "
                f"`LightningDataModule`. It will use the implementation from "
                f"`LightningModule` instance.",
                stacklevel=5,
            )


def _shuffled(loader: Any) -> bool:
    """``loader`` draws its batches in a random order (a ``RandomSampler``, as
    ``DataLoader(shuffle=True)`` makes, directly or in its batch sampler)."""
    if not isinstance(loader, torch.utils.data.DataLoader):
        return False
    batch_sampler = loader.batch_sampler
    sampler = getattr(batch_sampler, "sampler", loader.sampler)
    return isinstance(sampler, torch.utils.data.RandomSampler)


def _worker_check(trainer: Trainer, loader: Any, name: str) -> None:
    """Lightning's warnings on a ``DataLoader``'s workers, once per loader set up (never per
    batch): workers started by ``spawn`` without ``persistent_workers``, or fewer than two
    workers where the machine has CPUs to spare (``suggested_max_num_workers``)."""
    if not isinstance(loader, torch.utils.data.DataLoader):
        return
    context = loader.multiprocessing_context
    start_method = (
        context.get_start_method()
        if context is not None
        else torch.multiprocessing.get_start_method(allow_none=True) or "fork"
    )
    upper_bound = suggested_max_num_workers(max(1, trainer.num_devices))
    if loader.num_workers > 0 and start_method == "spawn" and not loader.persistent_workers:
        warnings.warn(
            f"Consider setting `persistent_workers=True` in '{name}' to speed up the dataloader "
            f"worker initialization.",
            stacklevel=2,
        )
    elif loader.num_workers < 2 and upper_bound > 1:
        warnings.warn(
            f"The '{name}' does not have many workers which may be a bottleneck. Consider "
            f"increasing the value of the `num_workers` argument` to "
            f"`num_workers={upper_bound}` in the `DataLoader` to improve performance.",
            PossibleUserWarning,
            stacklevel=2,
        )


def _check_unique_state_keys(callbacks: list[Any]) -> None:
    """Two stateful callbacks (``state_dict`` overridden) with one ``state_key`` would save
    one state over the other: refused as Lightning's ``_validate_callbacks_list`` does, in its
    words, every such pair at once (``fit()`` checks the Module's ``configure_callbacks()``
    the same way, with the run's other problems)."""
    from treadle.errors import StatefulCallbackError

    problems, seen = [], set()
    for callback in callbacks:
        own = getattr(type(callback), "state_dict", None)  # (None: a Mock(spec=Callback))
        if not isinstance(callback, Callback) or own is None or own is Callback.state_dict:
            continue
        key = callback.state_key
        if key in seen:
            name = type(callback).__name__
            problems.append(
                f"Found more than one stateful callback of type `{name}`. In the current "
                f"configuration, this callback does not support being saved alongside other "
                f"instances of the same type. Please consult the documentation of `{name}` "
                f"regarding valid settings for the callback state to be checkpointable. HINT: "
                f"The `callback.state_key` must be unique among all callbacks in the Trainer "
                f"(two have {key!r}): give each a distinct `state_key`, or pass one of them."
            )
        seen.add(key)
    if problems:
        raise StatefulCallbackError(problems)


def _idle_plugins(pm: RunPluginManager, cfg: Any) -> list[str]:
    """A problem for each object in ``plugins=``/``callbacks=`` that would do nothing: not a
    ``treadle.Callback``, no ``@treadle.hookimpl`` function, no hookspecs of its own."""
    problems = []
    for field in ("plugins", "callbacks"):
        for obj in getattr(cfg, field):
            if isinstance(obj, Callback) or getattr(obj, "treadle_hookspecs", None) is not None:
                continue
            if pm.is_registered(obj) and pm.get_hookcallers(obj):
                continue
            name = getattr(obj, "__name__", None) or type(obj).__name__
            problems.append(
                f"Trainer: `{field}=[...]` holds `{name}`, which has no `@treadle.hookimpl` "
                f"function and is not a `treadle.Callback`, so it would do nothing. Subclass "
                f"`treadle.Callback` (Lightning's method names), or mark its methods with "
                f"`@treadle.hookimpl` (hook names: `treadle.hookspecs`)."
            )
    return problems


_INVALID_LOADER = "An invalid dataloader was"  # Lightning's words, each refusal's start


def _no_loader_source(fn: str, hook_name: str) -> str:
    """Lightning's refusal of an entry point with no loader passed and no ``hook_name``."""
    prefix = "train_" if fn == "fit" else ""
    return (
        f"An invalid dataloader was passed to `Trainer.{fn}({prefix}dataloaders=...)`. Found "
        f"None. Either pass the dataloader to the `.{fn}()` method OR implement "
        f"`def {hook_name}(self):` in your LightningModule/LightningDataModule."
    )


def _not_iterable(
    fn: str,
    loaders: Sequence[Any],
    given: Any,
    model: Module,
    datamodule: DataModule | None,
    hook_name: str,
) -> list[str]:
    """Lightning's refusal of each of ``loaders`` that cannot be iterated (None, a number):
    passed to the entry point (``given``), or returned by ``hook_name``. Asked once per
    request of the loaders, never per batch."""
    problems = []
    for loader in loaders:
        if isinstance(loader, torch.utils.data.DataLoader):
            continue
        try:
            iter(loader)
        except TypeError:
            if given is not None:
                prefix = "train_" if fn == "fit" else ""  # as Lightning, fit's val loaders too
                problems.append(
                    f"An invalid dataloader was passed to `Trainer.{fn}({prefix}dataloaders="
                    f"...)`. Found {loader}."
                )
            else:
                owner = datamodule if overrides(datamodule, hook_name) else model
                problems.append(
                    f"An invalid dataloader was returned from `{type(owner).__name__}."
                    f"{hook_name}()`. Found {loader}."
                )
    return problems


# the loader hook, the step and the noun of each evaluation entry point
_EVAL = {
    "validate": ("val_dataloader", "validation_step", "validation"),
    "test": ("test_dataloader", "test_step", "test"),
    "predict": ("predict_dataloader", "predict_step", "prediction"),
}


def _warn_dataloader_iter_limits(model: Module) -> None:
    """Lightning's warning, at each entry point, for a Module with a ``dataloader_iter`` step."""
    steps = ("training_step", "validation_step", "predict_step", "test_step")
    if any(takes_dataloader_iter(getattr(model, name, None)) for name in steps):
        warnings.warn(
            "You are using the `dataloader_iter` step flavor. If you consume the iterator more "
            "than once per step, the `batch_idx` argument in any hook that takes it will not "
            "match with the batch index of the last batch consumed. This might have unforeseen "
            "effects on callbacks or code that expects to get the correct index. This will also "
            "not work well with gradient accumulation. This feature is very experimental and "
            "subject to change. Here be dragons.",
            PossibleUserWarning,
            stacklevel=5,
        )


def _step_defined(model: Module, name: str) -> bool:
    """``name`` (a step, ``forward``, ``configure_optimizers``) is the model's own: overridden
    in its class or set on the instance (Lightning's ``is_overridden``); a class attribute set
    to None is no override, nor is a non-callable instance attribute."""
    return is_overridden(name, model, Module) and callable(getattr(model, name))


def _missing_fit_methods(model: Module) -> list[str]:
    """Lightning's first check of ``fit()``: the Module has ``training_step`` and
    ``configure_optimizers`` (each its own, not None)."""
    return [
        f"No `{name}()` method defined. Lightning `Trainer` expects as minimum a "
        f"`training_step()`, `train_dataloader()` and `configure_optimizers()` to be defined. "
        f"Implement `{name}` in `{type(model).__name__}`."
        for name in ("training_step", "configure_optimizers")
        if not _step_defined(model, name)
    ]


def _check_legacy_epoch_end(model: Module, fn: str) -> None:
    """Lightning 1's ``*_epoch_end(outputs)`` hooks are refused, as Lightning 2 refuses them
    (a ``NotImplementedError``): treadle would never call them."""
    names = {
        "fit": ("training_epoch_end", "validation_epoch_end"),
        "validate": ("validation_epoch_end",),
        "test": ("test_epoch_end",),
    }.get(fn, ())
    for name in names:
        if callable(getattr(model, name, None)):
            raise NotImplementedError(
                f"Support for `{name}` has been removed in v2.0.0. `{type(model).__name__}` "
                f"implements this method. You can use the `on_{name.replace('training', 'train')}` "
                f"hook instead. To access outputs, save them in-memory as instance attributes. You can find migration "
                f"examples in https://github.com/Lightning-AI/pytorch-lightning/pull/16520."
            )


def _defined(model: Module, datamodule: DataModule | None, name: str) -> bool:
    """The DataModule or the Module provides loader hook ``name`` (Lightning's
    ``_DataLoaderSource.is_defined``): an override or an instance attribute, not None."""
    if overrides(datamodule, name):
        return True
    if name in vars(model):
        return callable(vars(model)[name])
    own = getattr(type(model), name, None)  # a class attribute set to None is no override
    return callable(own) and own is not getattr(Module, name)


def _request(model: Module, datamodule: DataModule | None, name: str) -> Any:
    """The loader(s) of ``name`` (``train_dataloader``, ...): the DataModule's when it provides
    them, else the Module's (None when neither does, or the attribute was set to None)."""
    source = datamodule if overrides(datamodule, name) else model
    method = getattr(source, name, None)
    if not callable(method):
        return None
    trainer = model._trainer
    if trainer is None:
        return method()
    with trainer._metrics.calling(name):  # timed as Lightning's under a profiler
        return _profiling.call_hook(trainer, _DM if source is datamodule else _LM, source, name)


def apply_debugging_flags(cfg: Any) -> None:
    """``fast_dev_run`` and ``overfit_batches`` rewrite other settings, as Lightning's
    ``_init_debugging_flags`` does (``trainer.config`` shows the values the run uses)."""
    overfit = cfg.overfit_batches > 0
    if cfg.fast_dev_run:
        n = int(cfg.fast_dev_run)
        cfg.fast_dev_run = True if n == 1 else n
        if not overfit:
            cfg.limit_train_batches = cfg.limit_val_batches = n
        cfg.limit_test_batches = cfg.limit_predict_batches = n
        cfg.max_steps, cfg.max_epochs, cfg.num_sanity_val_steps = n, 1, 0
        cfg.val_check_interval, cfg.check_val_every_n_epoch = None, 1
    else:
        limits = ["limit_test_batches", "limit_predict_batches", "val_check_interval"]
        _announce_whole_or_one(
            cfg, limits if overfit else ["limit_train_batches", "limit_val_batches", *limits]
        )
    if overfit:
        cfg.limit_train_batches = cfg.limit_val_batches = cfg.overfit_batches


# what `Trainer(name=1)` and `Trainer(name=1.0)` mean, said as Lightning does
_ONE = {
    "limit_train_batches": "1 batch per epoch will be used",
    "val_check_interval": "validation will run after every batch",
}
_WHOLE = {
    "limit_train_batches": "100% of the batches per epoch will be used",
    "val_check_interval": "validation will run at the end of the training epoch",
}


def _announce_whole_or_one(cfg: Any, names: list[str]) -> None:
    """As Lightning: an INFO line for each batch limit given as ``1`` or ``1.0``, whose meaning
    hangs on the type (one batch, or the whole epoch); nothing for a value left unset."""
    for name in names:
        value = getattr(cfg, name)
        if type(value) is int and value == 1:
            rank_zero_info(
                f"`Trainer({name}=1)` was configured so {_ONE.get(name, '1 batch will be used')}."
            )
        elif type(value) is float and value == 1.0:
            said = _WHOLE.get(name, "100% of the batches will be used")
            rank_zero_info(f"`Trainer({name}=1.0)` was configured so {said}.")


def _unpickle_trainer(kwargs: dict[str, Any], state: LoopState, loggers: list[Any]) -> Trainer:
    trainer = Trainer(**kwargs)
    trainer.state, trainer.loggers = state, loggers
    return trainer


class DummyLogger(Logger):
    """Stands in for the loggers under ``fast_dev_run`` (as Lightning's): accepts every call,
    records nothing, so ``self.logger.experiment.add_image(...)`` in user code still runs."""

    @property
    def name(self) -> str:
        return ""

    @property
    def version(self) -> str:
        return ""

    @property
    def experiment(self) -> Any:
        return _Nothing()

    def log_metrics(self, *args: Any, **kwargs: Any) -> None:
        pass

    def log_hyperparams(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __getitem__(self, idx: Any) -> DummyLogger:
        return self  # as Lightning's: ``trainer.loggers[0]``-style code keeps working

    def __getattr__(self, name: str) -> Callable[..., None]:
        """Any other method (``log_text``, ``log_image``, ...) as a no-op, as Lightning's."""
        if name.startswith("__"):  # (copy, pickle and friends look these up)
            raise AttributeError(name)

        def method(*args: Any, **kwargs: Any) -> None:
            return None

        return method


class _Nothing:
    """Any attribute, any call: itself."""

    def __getattr__(self, name: str) -> Any:
        return self

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self


def _one_or_list(loaders: list[Any] | None) -> Any:
    if not loaders:
        return None
    return loaders[0] if len(loaders) == 1 else loaders


def _split_datamodule(dataloaders: Any, datamodule: Any) -> tuple[Any, Any]:
    """As Lightning: a DataModule passed as ``dataloaders`` is the ``datamodule``."""
    if isinstance(dataloaders, DataModule) and datamodule is None:
        return None, dataloaders
    return dataloaders, datamodule


def _set_torch_flags(deterministic: bool | str | None, benchmark: bool | None) -> None:
    """As Lightning, when the Trainer is made, for the whole process: ``deterministic`` sets
    torch's deterministic algorithms (``"warn"``: warn only) and ``CUBLAS_WORKSPACE_CONFIG``, and
    turns cuDNN's benchmark off unless ``benchmark=True`` asks for it (with a warning)."""
    if deterministic and benchmark is None:
        benchmark = False
    elif deterministic and benchmark:
        rank_zero_warn(
            "You passed `deterministic=True` and `benchmark=True`. Note that PyTorch ignores"
            " torch.backends.cudnn.deterministic=True when torch.backends.cudnn.benchmark=True."
        )
    if benchmark is not None:
        torch.backends.cudnn.benchmark = benchmark
    if deterministic is not None:
        torch.use_deterministic_algorithms(bool(deterministic), warn_only=deterministic == "warn")
    if deterministic:
        os.environ["CUBLAS_WORKSPACE_CONFIG"] = ":4096:8"


def _gpu_alias(accelerator: str) -> str | None:
    """Lightning's ``accelerator="gpu"``: CUDA, or MPS where that is the GPU there is; None
    where there is neither (Lightning: "No supported gpu backend found!")."""
    if accelerator != "gpu":
        return accelerator
    if torch.cuda.is_available():
        return "cuda"
    return "mps" if torch.backends.mps.is_available() else None


# ``treadle.trainer.trainer``: this module (Lightning's ``lightning.pytorch.trainer.trainer``;
# ``treadle.trainer.states`` is registered by ``treadle.state``).
from treadle import _lightning_paths  # noqa: E402

_lightning_paths.register(__name__)
