"""``Tuner``: the learning-rate and batch-size finders, as Lightning's ``lightning.pytorch.tuner``.

::

    tuner = treadle.tuner.Tuner(trainer)
    lr_finder = tuner.lr_find(model, train_dataloaders=loader)  # sets model.lr (or .learning_rate)
    print(lr_finder.suggestion(), lr_finder.results["lr"][:3])
    tuner.scale_batch_size(model, mode="power")  # sets model.batch_size to the largest that fits
    trainer.fit(model, ...)

Each search runs short fits (or validate/test/predict for the batch size) on a *tuning Trainer*
built from ``trainer``'s arguments, with no logger, checkpoint, progress bar or summary and
the search's own callback only. Afterwards the model's weights and training modes, its
``trainer`` and the DataModule's are as they were, and ``trainer`` itself was never run:
what the search found is the one thing that stays (the learning-rate attribute when
``update_attr``, the batch-size attribute). This is Lightning's outcome; Lightning gets there
by running its own loop and restoring a checkpoint.

The callbacks :class:`LearningRateFinder` and :class:`BatchSizeFinder` (also in
``treadle.callbacks``) run the same searches inside a run: the learning rate when the fit
starts (set on the model and on the fit's optimizers, as Lightning's), the batch size when the
stage sets up, before its loaders are made, so that the stage runs with it.
"""

from __future__ import annotations

import gc
import logging
import math
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch.optim.lr_scheduler import LRScheduler

from treadle.callback import Callback
from treadle.errors import ConfigurationError

log = logging.getLogger(__name__)

METHODS = ("fit", "validate", "test", "predict")


class Tuner:
    """Tunes a model for ``trainer`` (Lightning's ``Tuner``)."""

    def __init__(self, trainer: Any) -> None:
        self._trainer = trainer

    def lr_find(
        self,
        model: Any,
        train_dataloaders: Any = None,
        val_dataloaders: Any = None,
        dataloaders: Any = None,
        datamodule: Any = None,
        method: str = "fit",
        min_lr: float = 1e-8,
        max_lr: float = 1,
        num_training: int = 100,
        mode: str = "exponential",
        early_stop_threshold: float | None = 4.0,
        update_attr: bool = True,
        attr_name: str = "",
    ) -> LRFinder | None:
        """A range test of learning rates: ``num_training`` optimizer steps from ``min_lr`` to
        ``max_lr`` (``mode="exponential"`` or ``"linear"``), stopped early once the smoothed
        loss exceeds ``early_stop_threshold`` times the best (None: never). Returns the
        :class:`LRFinder` (``results``, ``suggestion()``, ``plot()``); with ``update_attr``
        the suggestion is set on the model's ``lr``/``learning_rate`` (or ``attr_name``), in
        the model or its ``hparams``."""
        if method != "fit":
            raise ConfigurationError(
                [
                    f"Tuner.lr_find(method={method!r}): the learning-rate finder trains, so it "
                    f"runs only with method='fit'."
                ]
            )
        _check_tuner_configuration(train_dataloaders, val_dataloaders, dataloaders, method)
        if any(isinstance(c, LearningRateFinder) for c in self._trainer.callbacks):
            raise ValueError(
                "Trainer is already configured with a `LearningRateFinder` callback. Please "
                "remove it if you want to use the Tuner."
            )
        if isinstance(train_dataloaders, _datamodule_class()) and datamodule is None:
            train_dataloaders, datamodule = None, train_dataloaders
        return lr_find(
            self._trainer,
            model,
            train_dataloaders=train_dataloaders,
            datamodule=datamodule,
            min_lr=min_lr,
            max_lr=max_lr,
            num_training=num_training,
            mode=mode,
            early_stop_threshold=early_stop_threshold,
            update_attr=update_attr,
            attr_name=attr_name,
        )

    def scale_batch_size(
        self,
        model: Any,
        train_dataloaders: Any = None,
        val_dataloaders: Any = None,
        dataloaders: Any = None,
        datamodule: Any = None,
        method: str = "fit",
        mode: str = "power",
        steps_per_trial: int = 3,
        init_val: int = 2,
        max_trials: int = 25,
        batch_arg_name: str = "batch_size",
        margin: float = 0.05,
        max_val: int = 8192,
    ) -> int | None:
        """The largest batch size that runs without running out of memory: from ``init_val``,
        doubled after each trial of ``steps_per_trial`` steps (``mode="power"``; on the
        first out-of-memory error, the last size that ran), or then bisected between the last
        success and the failure (``"binsearch"``, whose result is then reduced by ``margin``,
        5% by default); at most ``max_trials`` trials, never past the dataset's length nor
        ``max_val``. The size is read from and set on ``batch_arg_name`` of the model,
        its ``hparams``, the DataModule or its ``hparams``; the loaders must come from the
        model's or the DataModule's ``*_dataloader()`` methods, which read it."""
        _check_tuner_configuration(train_dataloaders, val_dataloaders, dataloaders, method)
        trainer = self._trainer
        if trainer.world_size > 1:
            raise ValueError(
                "Tuning the batch size is currently not supported with distributed strategies."
            )
        if any(isinstance(c, BatchSizeFinder) for c in trainer.callbacks):
            raise ValueError(
                "Trainer is already configured with a `BatchSizeFinder` callback. Please "
                "remove it if you want to use the Tuner."
            )
        if isinstance(train_dataloaders, _datamodule_class()) and datamodule is None:
            train_dataloaders, datamodule = None, train_dataloaders
        if isinstance(dataloaders, _datamodule_class()) and datamodule is None:
            dataloaders, datamodule = None, dataloaders
        if any(x is not None for x in (train_dataloaders, val_dataloaders, dataloaders)):
            raise ConfigurationError([_GIVEN_LOADERS.format(fn=method)])
        if datamodule is not None:  # as in the stage Lightning runs the search in: set up
            datamodule.setup(stage=method)
        return scale_batch_size(
            trainer,
            model,
            datamodule=datamodule,
            method=method,
            mode=mode,
            steps_per_trial=steps_per_trial,
            init_val=init_val,
            max_trials=max_trials,
            batch_arg_name=batch_arg_name,
            margin=margin,
            max_val=max_val,
        )


_GIVEN_LOADERS = (
    "Tuner: the batch size finder cannot be used with dataloaders passed directly to "
    "`.{fn}()`: it makes them again with each batch size it tries. Return them from the "
    "Module's or the DataModule's `*_dataloader()` methods, reading the batch size from "
    "`self.batch_size` (or `self.hparams.batch_size`)."
)


def _check_tuner_configuration(
    train_dataloaders: Any, val_dataloaders: Any, dataloaders: Any, method: str
) -> None:
    if method not in METHODS:
        raise ValueError(f"method {method!r} is invalid. Should be one of {METHODS}.")
    if method == "fit" and dataloaders is not None:
        raise ConfigurationError(
            [
                f"In tuner with method={method!r}, `dataloaders` argument should be None, please "
                f"consider setting `train_dataloaders` and `val_dataloaders` instead."
            ]
        )
    if method != "fit" and (train_dataloaders is not None or val_dataloaders is not None):
        raise ConfigurationError(
            [
                f"In tuner with `method`={method!r}, `train_dataloaders` and `val_dataloaders` "
                f"arguments should be None, please consider setting `dataloaders` instead."
            ]
        )


def _datamodule_class() -> type:
    from treadle.datamodule import DataModule

    return DataModule


# -- attributes of the model, its hparams, the DataModule ------------------------------------------


def _owners(model: Any, datamodule: Any) -> Iterator[Any]:
    """Where an attribute is looked for, in Lightning's order (``lightning_hasattr``)."""
    yield model
    yield getattr(model, "hparams", None)
    if datamodule is not None:
        yield datamodule
        yield getattr(datamodule, "hparams", None)


def _has(owner: Any, name: str) -> bool:
    if owner is None:
        return False
    if isinstance(owner, dict):
        return name in owner
    return hasattr(owner, name)


def _find(model: Any, datamodule: Any, name: str) -> Any:
    """The first of :func:`_owners` holding ``name``, or None."""
    return next((o for o in _owners(model, datamodule) if _has(o, name)), None)


def _get(owner: Any, name: str) -> Any:
    return owner[name] if isinstance(owner, dict) and name in owner else getattr(owner, name)


def _set(model: Any, datamodule: Any, name: str, value: Any) -> None:
    """Set ``name`` wherever it is found (Lightning's ``lightning_setattr`` sets every place)."""
    for owner in _owners(model, datamodule):
        if not _has(owner, name):
            continue
        if isinstance(owner, dict):
            owner[name] = value
        else:
            setattr(owner, name, value)


# -- isolation: the model as it was, whatever ran ----------------------------------------------


@contextmanager
def _isolated(trainer: Any, model: Any, datamodule: Any) -> Iterator[None]:
    """Afterwards: the model's weights, training modes and its own ``configure_optimizers`` as
    before; the model and the DataModule attached to ``trainer``, the one the search was asked
    of (as Lightning, whose tuner runs on that trainer, leaves them: ``model.logger`` is
    ``trainer.logger``), not to the inner trainer that ran it."""
    weights = {k: v.detach().clone() for k, v in model.state_dict().items()}
    modes = [(m, m.training) for m in model.modules()]
    had_own = "configure_optimizers" in vars(model)
    own = vars(model).get("configure_optimizers")
    try:
        yield
    finally:
        if had_own:
            model.configure_optimizers = own
        else:
            vars(model).pop("configure_optimizers", None)
        model.load_state_dict(weights)
        for module, training in modes:
            module.training = training
        model._trainer = trainer
        if datamodule is not None:
            datamodule.trainer = trainer
        for param in model.parameters():
            param.grad = None


def _tuning_trainer(trainer: Any, callback: Callback, **overrides: Any) -> Any:
    """A Trainer with ``trainer``'s arguments, quiet, and only ``callback``."""
    from treadle.trainer import Trainer

    config = trainer.config
    kwargs = (
        config.as_dict()
        if hasattr(config, "as_dict")
        else {name: getattr(config, name) for name in type(config).model_fields}
    )
    kwargs.update(
        callbacks=[callback],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        max_time=None,
        min_epochs=None,
        min_steps=None,
        profiler=None,
        fast_dev_run=False,
        overfit_batches=0,
        val_check_interval=None,
        check_val_every_n_epoch=1,
        default_root_dir=str(trainer.default_root_dir),
    )
    kwargs.update(overrides)
    inner = Trainer(**kwargs)
    inner.plugin_manager._announced = True  # the run-start lines were the outer run's to print
    return inner


# -- the learning-rate finder ------------------------------------------------------------------


class LRFinder:
    """The results of :meth:`Tuner.lr_find`: ``results["lr"]`` and ``results["loss"]`` (the
    smoothed loss at each learning rate), ``suggestion()``, ``plot()``."""

    def __init__(self, mode: str, lr_min: float, lr_max: float, num_training: int) -> None:
        if mode not in ("linear", "exponential"):
            raise ConfigurationError(
                [
                    f"Tuner.lr_find(mode={mode!r}): mode should be either `linear` or "
                    f"`exponential`: 'exponential' multiplies the learning rate by a constant "
                    f"each step, 'linear' adds one."
                ]
            )
        self.mode, self.lr_min, self.lr_max, self.num_training = mode, lr_min, lr_max, num_training
        self.results: dict[str, Any] = {}
        self._optimal_idx: int | None = None

    def _exchange(self, configure_optimizers: Any) -> Any:
        """``configure_optimizers`` with its schedulers replaced by the search's scheduler."""
        from treadle import _optim_config

        def configure() -> Any:
            optimizers, _, problems = _optim_config.parse(configure_optimizers())
            if problems:
                raise ConfigurationError(problems)
            if len(optimizers) != 1:
                raise ConfigurationError(
                    [
                        f"Tuner.lr_find: `configure_optimizers()` returned {len(optimizers)} "
                        f"optimizers, but the learning rate finder only works with a single "
                        f"optimizer. Tune each one in a model that has only it."
                    ]
                )
            optimizer = optimizers[0]
            for group in optimizer.param_groups:
                group["lr"] = group["initial_lr"] = self.lr_min
            kind = _LinearLR if self.mode == "linear" else _ExponentialLR
            scheduler = kind(optimizer, self.lr_max, self.num_training)
            return {
                "optimizer": optimizer,
                "lr_scheduler": {"scheduler": scheduler, "interval": "step"},
            }

        return configure

    def suggestion(self, skip_begin: int = 10, skip_end: int = 1) -> float | None:
        """The learning rate where the loss falls fastest (the steepest negative gradient of
        the loss against the learning rate), the first ``skip_begin`` and last ``skip_end``
        points left out; None when fewer than two finite points remain."""
        losses = torch.tensor(self.results["loss"][skip_begin:-skip_end])
        lrs = torch.tensor(self.results["lr"][skip_begin:-skip_end])
        finite = torch.isfinite(losses)
        losses, lrs = losses[finite], lrs[finite]
        if len(losses) < 2:
            log.error(
                "Failed to compute suggestion for learning rate because there are not enough "
                "points. Increase the loop iteration limits or the size of your dataset/dataloader."
            )
            self._optimal_idx = None
            return None
        gradients = torch.gradient(losses, spacing=[lrs])[0]
        steepest = int(torch.argmin(gradients).item())
        kept = torch.arange(len(self.results["loss"]))[skip_begin:-skip_end][finite]
        self._optimal_idx = int(kept[steepest].item())
        return self.results["lr"][self._optimal_idx]

    def plot(self, suggest: bool = False, show: bool = False, ax: Any = None) -> Any:
        """The loss against the learning rate (log scale in exponential mode), the suggestion
        marked in red with ``suggest``; returns the matplotlib figure (needs matplotlib)."""
        try:
            import matplotlib.pyplot as plt
        except ImportError:
            raise ConfigurationError(
                [
                    "LRFinder.plot() needs matplotlib, which is not installed. Install it "
                    "(`pip install matplotlib`), or plot `lr_finder.results['lr']` against "
                    "`lr_finder.results['loss']` yourself."
                ]
            ) from None
        lrs, losses = self.results["lr"], self.results["loss"]
        if ax is None:
            fig, ax = plt.subplots()
        else:
            fig = ax.figure
        ax.plot(lrs, losses)
        if self.mode == "exponential":
            ax.set_xscale("log")
        ax.set_xlabel("Learning rate")
        ax.set_ylabel("Loss")
        if suggest:
            self.suggestion()
            if self._optimal_idx:
                i = self._optimal_idx
                ax.plot(lrs[i], losses[i], markersize=10, marker="o", color="red")
        if show:
            plt.show()
        return fig


class _LRCallback(Callback):
    """Records the learning rate before each optimizer-step batch and the smoothed loss after
    it; stops the search when the loss diverges (Lightning's ``_LRCallback``)."""

    def __init__(self, scheduler_of: Any, early_stop_threshold: float | None, beta: float = 0.98):
        self.scheduler_of = scheduler_of  # trainer -> the search's scheduler
        self.early_stop_threshold = early_stop_threshold
        self.beta = beta
        self.losses: list[float] = []
        self.lrs: list[float] = []
        self.avg_loss = 0.0
        self.best_loss = 0.0

    def on_train_batch_start(
        self, trainer: Any, pl_module: Any, batch: Any, batch_idx: int
    ) -> None:
        if (batch_idx + 1) % trainer.accumulate_grad_batches != 0:
            return
        self.lrs.append(self.scheduler_of(trainer).lr[0])

    def on_train_batch_end(
        self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        if (batch_idx + 1) % trainer.accumulate_grad_batches != 0:
            return
        if not outputs:  # training_step returned None: a point the suggestion leaves out
            self.losses.append(float("nan"))
            return
        loss = outputs if isinstance(outputs, torch.Tensor) else outputs["loss"]
        current, step = float(loss.item()), trainer.global_step
        self.avg_loss = self.beta * self.avg_loss + (1 - self.beta) * current
        smoothed = self.avg_loss / (1 - self.beta ** (step + 1))
        if (
            self.early_stop_threshold is not None
            and step > 1
            and smoothed > self.early_stop_threshold * self.best_loss
        ):
            trainer.should_stop = True
        if smoothed < self.best_loss or step == 1:
            self.best_loss = smoothed
        self.losses.append(smoothed)


class _LinearLR(LRScheduler):
    """The learning rate from its start to ``end_lr`` in ``num_iter`` equal steps."""

    def __init__(self, optimizer: Any, end_lr: float, num_iter: int, last_epoch: int = -1):
        self.end_lr, self.num_iter = end_lr, num_iter
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[Any]:
        r = (self.last_epoch + 1) / self.num_iter
        if self.last_epoch > 0:
            self._lr = [base + r * (self.end_lr - base) for base in self.base_lrs]
        else:
            self._lr = list(self.base_lrs)
        return self._lr

    @property
    def lr(self) -> list[Any]:
        return self._lr


class _ExponentialLR(LRScheduler):
    """The learning rate from its start to ``end_lr`` in ``num_iter`` equal ratios."""

    def __init__(self, optimizer: Any, end_lr: float, num_iter: int, last_epoch: int = -1):
        self.end_lr, self.num_iter = end_lr, num_iter
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[Any]:
        r = (self.last_epoch + 1) / self.num_iter
        if self.last_epoch > 0:
            self._lr = [base * (self.end_lr / base) ** r for base in self.base_lrs]
        else:
            self._lr = list(self.base_lrs)
        return self._lr

    @property
    def lr(self) -> list[Any]:
        return self._lr


def _lr_attr_name(model: Any, attr_name: str) -> str:
    if attr_name:
        if _find(model, None, attr_name) is None:
            raise AttributeError(
                f"The attribute name for the learning rate was set to {attr_name}, but could "
                f"not find this as a field in `model` or `model.hparams`."
            )
        return attr_name
    for name in ("lr", "learning_rate"):
        if _find(model, None, name) is not None:
            return name
    raise AttributeError(
        "When using the learning rate finder, either `model` or `model.hparams` should have one "
        "of these fields: ('lr', 'learning_rate'). If your model has a different name for the "
        "learning rate, set it with `.lr_find(attr_name=...)`."
    )


def lr_find(
    trainer: Any,
    model: Any,
    train_dataloaders: Any = None,
    datamodule: Any = None,
    min_lr: float = 1e-8,
    max_lr: float = 1,
    num_training: int = 100,
    mode: str = "exponential",
    early_stop_threshold: float | None = 4.0,
    update_attr: bool = False,
    attr_name: str = "",
) -> LRFinder | None:
    """The search behind :meth:`Tuner.lr_find` and :class:`LearningRateFinder`."""
    finder = LRFinder(mode, min_lr, max_lr, num_training)
    if trainer.fast_dev_run:
        warnings.warn(
            "Skipping learning rate finder since `fast_dev_run` is enabled.", stacklevel=3
        )
        return None
    if update_attr:
        attr_name = _lr_attr_name(model, attr_name)
    callback = _LRCallback(lambda t: t.lr_scheduler_configs[0].scheduler, early_stop_threshold)
    with _isolated(trainer, model, datamodule):
        model.configure_optimizers = finder._exchange(model.configure_optimizers)
        inner = _tuning_trainer(
            trainer, callback, max_steps=num_training, max_epochs=None, limit_val_batches=0
        )
        inner.fit(model, train_dataloaders, datamodule=datamodule)
        if inner.global_step != num_training:
            log.info(
                f"LR finder stopped early after {inner.global_step} steps due to diverging loss."
            )
    finder.results = {"lr": callback.lrs, "loss": callback.losses}
    if update_attr:
        lr = finder.suggestion()
        if lr is not None:
            _set(model, None, attr_name, lr)
            for optimizer in trainer.optimizers or []:  # a fit already under way (the callback)
                for group in optimizer.param_groups:
                    group["lr"] = lr
            log.info(f"Learning rate set to {lr}")
    return finder


# -- the batch-size finder ------------------------------------------------------------------------


def is_oom_error(exception: BaseException) -> bool:
    """An out-of-memory error of CUDA, cuDNN or the CPU allocator."""
    if isinstance(exception, getattr(torch, "OutOfMemoryError", ())):
        return True
    if not isinstance(exception, RuntimeError) or len(exception.args) != 1:
        return False
    text = str(exception.args[0])
    return any(
        s in text
        for s in (
            "CUDA out of memory.",
            "CUDA error: out of memory",
            "cuDNN error: CUDNN_STATUS_NOT_SUPPORTED.",
            "DefaultCPUAllocator: can't allocate memory",
        )
    )


def _free_memory() -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _dataset_length(model: Any, datamodule: Any, method: str) -> float:
    """The length of the dataset the trials read (inf when it has none)."""
    from treadle.datamodule import overrides

    name = {
        "fit": "train_dataloader",
        "validate": "val_dataloader",
        "test": "test_dataloader",
        "predict": "predict_dataloader",
    }[method]
    source = datamodule if overrides(datamodule, name) else model
    make = getattr(source, name, None)
    loaders = make() if callable(make) else None
    loaders = loaders if isinstance(loaders, (list, tuple)) else [loaders]
    try:
        return sum(len(loader.dataset) for loader in loaders if loader is not None)
    except (TypeError, AttributeError):  # an iterable dataset
        return math.inf


def scale_batch_size(
    trainer: Any,
    model: Any,
    datamodule: Any = None,
    method: str = "fit",
    mode: str = "power",
    steps_per_trial: int = 3,
    init_val: int = 2,
    max_trials: int = 25,
    batch_arg_name: str = "batch_size",
    margin: float = 0.05,
    max_val: int = 8192,
) -> int | None:
    """The search behind :meth:`Tuner.scale_batch_size` and :class:`BatchSizeFinder`
    (Lightning 2.6's algorithms: the trials, ``margin`` and ``max_val`` as there)."""
    mode = mode.lower() if isinstance(mode, str) else mode
    if not 0.0 <= margin < 1.0:
        raise ConfigurationError(
            [
                f"Tuner.scale_batch_size(margin={margin!r}): `margin` should be between 0 and 1 "
                f"(a fraction taken off the size found by 'binsearch'; 0.05 by default)."
            ]
        )
    if mode not in ("power", "binsearch"):
        raise ConfigurationError(
            [
                f"Tuner.scale_batch_size(mode={mode!r}): `mode` should be either of "
                f"('power', 'binsearch'): 'power' doubles until out of memory, 'binsearch' "
                f"then bisects between the last success and the failure."
            ]
        )
    if trainer.fast_dev_run:
        warnings.warn("Skipping batch size scaler since `fast_dev_run` is enabled.", stacklevel=3)
        return None
    hparams = getattr(model, "hparams", None)
    if hasattr(model, batch_arg_name) and _has(hparams, batch_arg_name):
        warnings.warn(  # as Lightning's lightning_hasattr: both are set
            f"Field `model.{batch_arg_name}` and `model.hparams.{batch_arg_name}` are mutually "
            f"exclusive! `model.{batch_arg_name}` will be used as the initial batch size for "
            f"scaling. If this is not the intended behavior, please remove either one.",
            stacklevel=3,
        )
    if _find(model, datamodule, batch_arg_name) is None:
        raise ConfigurationError(
            [
                f"Tuner.scale_batch_size: field `{batch_arg_name}` not found in `model`, "
                f"`datamodule`, nor their `hparams` attributes. Add it (the `*_dataloader()` "
                f"methods read it), or name yours with `batch_arg_name=`."
            ]
        )
    limit = {"fit": "limit_train_batches", "validate": "limit_val_batches"}.get(
        method, f"limit_{method}_batches"
    )
    overrides: dict[str, Any] = {limit: 1.0 if method == "fit" else steps_per_trial}
    if method == "fit":
        overrides.update(
            max_steps=steps_per_trial, max_epochs=None, limit_val_batches=steps_per_trial
        )

    def trial() -> None:
        inner = _tuning_trainer(trainer, Callback(), **overrides)
        run = getattr(inner, method)
        if method == "fit":
            run(model, datamodule=datamodule)
        elif method == "predict":
            run(model, datamodule=datamodule, return_predictions=False)
        else:
            run(model, datamodule=datamodule, verbose=False)

    lengths: list[float] = []  # the dataset's, asked once

    def adjust(factor: float = 1.0, value: int | None = None, desc: str = "") -> tuple[int, bool]:
        size = _get(_find(model, datamodule, batch_arg_name), batch_arg_name)
        if not lengths:
            lengths.append(_dataset_length(model, datamodule, method))
        length = lengths[0]
        if size >= length:
            log.info(
                f"The batch size {size} is greater or equal than the length of your dataset: "
                f"{length}."
            )
            return size, False
        new = value if value is not None else int(size * factor)
        if new > max_val:
            if desc:
                log.info(f"Batch size {new} exceeds max_val limit {max_val}, capping at {max_val}")
            new = max_val
        if desc:
            log.info(f"Batch size {size} {desc}, trying batch size {new}")
        _set(model, datamodule, batch_arg_name, new)
        return new, new != size

    with _isolated(trainer, model, datamodule):
        size, _ = adjust(value=init_val)
        if mode == "power":
            size = _power_scaling(trial, adjust, size, max_trials, max_val)
        else:
            size = _binary_scaling(trial, adjust, size, max_trials, max_val)
            reduced = max(1, int(size * (1 - margin)))
            if margin > 0 and reduced != size:
                log.info(
                    f"Applying margin of {margin:.1%}, reducing batch size from {size} to {reduced}"
                )
                size = reduced
                _set(model, datamodule, batch_arg_name, size)
        _free_memory()
    log.info(f"Finished batch size finder, will continue with full run using batch size {size}")
    return size


def _power_scaling(trial: Any, adjust: Any, size: int, max_trials: int, max_val: int) -> int:
    """Double the size after each success; after a failure, halve it and stop once a size
    has run. The last trial's size is kept (no doubling after it)."""
    any_success = False
    for i in range(max_trials):
        _free_memory()
        if size >= max_val:
            log.info(f"Reached the maximum batch size limit of {max_val}. Stopping search.")
            break
        try:
            trial()
        except RuntimeError as exc:
            if not is_oom_error(exc):
                raise
            _free_memory()
            size, _ = adjust(factor=0.5, desc="failed")
            if any_success:
                break
            continue
        if i + 1 >= max_trials:
            break
        size, changed = adjust(factor=2.0, desc="succeeded")
        if not changed:
            break
        any_success = True
    return size


def _binary_scaling(trial: Any, adjust: Any, size: int, max_trials: int, max_val: int) -> int:
    """Double the size until a failure, then bisect between the last success and it."""
    low, high, count = 1, None, 0
    while True:
        _free_memory()
        if size >= max_val:
            log.info(f"Reached the maximum batch size limit of {max_val}. Stopping search.")
            break
        try:
            trial()
        except RuntimeError as exc:
            if not is_oom_error(exc):
                raise
            _free_memory()
            high = size
            size, _ = adjust(value=(high + low) // 2, desc="failed")
            if high - low <= 1:
                break
            continue
        count += 1
        if count >= max_trials:
            break
        low = size
        if high:
            if high - low <= 1:
                break
            size, changed = adjust(value=(high + low) // 2, desc="succeeded")
        else:
            size, changed = adjust(factor=2.0, desc="succeeded")
        if not changed:
            break
    return size


# -- the callbacks ----------------------------------------------------------------------------


class LearningRateFinder(Callback):
    """Runs :meth:`Tuner.lr_find`'s search when a fit starts (``on_fit_start``) and sets the
    suggestion on the model's learning-rate attribute and on the fit's optimizers, as
    Lightning's callback. ``optimal_lr`` holds the :class:`LRFinder`.

    To search at other times, override ``on_fit_start`` to do nothing and call
    ``self.lr_find(trainer, pl_module)`` from another hook (``on_train_epoch_start`` at some
    epochs, say), as with Lightning's."""

    def __init__(
        self,
        min_lr: float = 1e-8,
        max_lr: float = 1,
        num_training_steps: int = 100,
        mode: str = "exponential",
        early_stop_threshold: float | None = 4.0,
        update_attr: bool = True,
        attr_name: str = "",
    ) -> None:
        if mode not in ("linear", "exponential"):
            raise ConfigurationError(
                [
                    f"LearningRateFinder(mode={mode!r}): mode should be either `linear` or "
                    f"`exponential`: 'exponential' multiplies the learning rate by a constant "
                    f"each step, 'linear' adds one."
                ]
            )
        self._min_lr, self._max_lr = min_lr, max_lr
        self._num_training_steps = num_training_steps
        self._mode = mode
        self._early_stop_threshold = early_stop_threshold
        self._update_attr = update_attr
        self._attr_name = attr_name
        self.optimal_lr: LRFinder | None = None

    def lr_find(self, trainer: Any, pl_module: Any) -> None:
        """Run the search on the running fit's training data."""
        if _tuning[0]:  # in a search already (a finder from ``configure_callbacks``)
            return
        train_loader, _, datamodule = trainer._sources
        with _tuning_now():
            self.optimal_lr = lr_find(
                trainer,
                pl_module,
                train_dataloaders=train_loader,
                datamodule=datamodule,
                min_lr=self._min_lr,
                max_lr=self._max_lr,
                num_training=self._num_training_steps,
                mode=self._mode,
                early_stop_threshold=self._early_stop_threshold,
                update_attr=self._update_attr,
                attr_name=self._attr_name,
            )

    def on_fit_start(self, trainer: Any, pl_module: Any) -> None:
        self.lr_find(trainer, pl_module)


class BatchSizeFinder(Callback):
    """Runs :meth:`Tuner.scale_batch_size`'s search when a stage (fit, validate, test, predict)
    sets up, before its loaders are made, so that the stage runs with the size found;
    ``optimal_batch_size`` holds it.

    To search at other times, override ``on_fit_start`` (or ``on_validation_start``, ...) to
    do nothing and call ``self.scale_batch_size(trainer, pl_module)`` from another hook, as with
    Lightning's; a size found inside a running stage applies to the loaders made after it
    (``reload_dataloaders_every_n_epochs``, the next stage)."""

    def __init__(
        self,
        mode: str = "power",
        steps_per_trial: int = 3,
        init_val: int = 2,
        max_trials: int = 25,
        batch_arg_name: str = "batch_size",
        margin: float = 0.05,
        max_val: int = 8192,
    ) -> None:
        mode = mode.lower() if isinstance(mode, str) else mode
        if mode not in ("power", "binsearch"):
            raise ConfigurationError(
                [
                    f"BatchSizeFinder(mode={mode!r}): `mode` should be either of ('power', "
                    f"'binsearch'): 'power' doubles until out of memory, 'binsearch' then "
                    f"bisects between the last success and the failure."
                ]
            )
        self._mode = mode
        self._steps_per_trial = steps_per_trial
        self._init_val = init_val
        self._max_trials = max_trials
        self._batch_arg_name = batch_arg_name
        self._margin, self._max_val = margin, max_val
        self.optimal_batch_size: int | None = init_val

    def scale_batch_size(self, trainer: Any, pl_module: Any, stage: str | None = None) -> None:
        """Run the search for ``stage`` (default: the running entry point's)."""
        if _tuning[0]:
            return
        stage = stage or trainer.state.fn
        train_loader, eval_loaders, datamodule = trainer._sources  # the loaders as given
        if train_loader is not None or eval_loaders is not None:
            raise ConfigurationError([_GIVEN_LOADERS.format(fn=stage)])
        if trainer.world_size > 1:
            raise ValueError(
                "Tuning the batch size is currently not supported with distributed strategies."
            )
        with _tuning_now():
            self.optimal_batch_size = scale_batch_size(
                trainer,
                pl_module,
                datamodule=datamodule,
                method=stage,
                mode=self._mode,
                steps_per_trial=self._steps_per_trial,
                init_val=self._init_val,
                max_trials=self._max_trials,
                batch_arg_name=self._batch_arg_name,
                margin=self._margin,
                max_val=self._max_val,
            )

    def setup(self, trainer: Any, pl_module: Any, stage: str) -> None:
        start = {
            "fit": "on_fit_start",
            "validate": "on_validation_start",
            "test": "on_test_start",
            "predict": "on_predict_start",
        }[stage]
        if getattr(type(self), start) is getattr(BatchSizeFinder, start):  # not overridden
            self.scale_batch_size(trainer, pl_module, stage)

    # Lightning's callback searches in these; here ``setup`` does, before the loaders are
    # made. A subclass overriding one of them takes over the choice of when (see above).
    def on_fit_start(self, trainer: Any, pl_module: Any) -> None:
        pass

    def on_validation_start(self, trainer: Any, pl_module: Any) -> None:
        pass

    def on_test_start(self, trainer: Any, pl_module: Any) -> None:
        pass

    def on_predict_start(self, trainer: Any, pl_module: Any) -> None:
        pass


_tuning = [False]  # a search is running: a finder callback in it (configure_callbacks) waits


@contextmanager
def _tuning_now() -> Iterator[None]:
    _tuning[0] = True
    try:
        yield
    finally:
        _tuning[0] = False


__all__ = ["BatchSizeFinder", "LRFinder", "LearningRateFinder", "Tuner"]

from treadle import _lightning_paths  # noqa: E402

_lightning_paths.register(__name__)  # lightning.pytorch.tuner.tuning, ...: this module
