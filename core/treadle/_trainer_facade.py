"""The rest of Lightning's ``Trainer`` attributes, read from treadle's config and plugins.

``treadle.Trainer`` inherits these. Each reads what the run already holds (``trainer.config``,
``trainer.state``, the selected plugins, ``trainer.callbacks``) and returns it in the form
Lightning 2 documents, so a program moving over reads ``trainer.limit_val_batches`` or
``trainer.early_stopping_callback`` unchanged. Nothing here runs per batch.

Lightning's loop objects (``trainer.fit_loop`` & co.) are facades that work their values out
from ``trainer.state`` when read (``treadle._loop_facades``); their internals raise an
``AttributeError`` naming treadle's way, so the error says what to do instead.
"""

from __future__ import annotations

import builtins
import contextlib
import sys
from collections.abc import Iterator
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import torch

from treadle.utilities import _default_dtype

# precision name -> the dtype parameters are made in under ``init_module`` ("-true" precisions)
_TRUE_DTYPES = {
    "64-true": torch.float64,
    "32-true": torch.float32,
    "16-true": torch.float16,
    "bf16-true": torch.bfloat16,
}


class LightningTrainerFacade:
    """Lightning ``Trainer`` attributes beyond the core's (a mix-in of ``treadle.Trainer``)."""

    # set by treadle.Trainer.__init__
    config: Any
    state: Any
    callbacks: list[Any]
    strategy: Any
    precision_plugin: Any
    accelerator: Any
    _eval_loaders: dict[str, list[Any]]
    _fit_loop: Any
    _train_pending: bool
    num_training_batches: float
    if TYPE_CHECKING:  # treadle.Trainer's properties

        @property
        def lightning_module(self) -> Any: ...
        @property
        def local_rank(self) -> int: ...
        @property
        def world_size(self) -> int: ...
        @property
        def global_rank(self) -> int: ...
        @property
        def root_device(self) -> torch.device: ...

    # -- the Trainer arguments, as Lightning keeps them ------------------------------------------

    @property
    def limit_train_batches(self) -> int | float:
        """``Trainer(limit_train_batches=)``: 1.0 (all) unless given, as Lightning keeps it."""
        return _limit(self.config.limit_train_batches)

    @property
    def limit_val_batches(self) -> int | float:
        return _limit(self.config.limit_val_batches)

    @property
    def limit_test_batches(self) -> int | float:
        return _limit(self.config.limit_test_batches)

    @property
    def limit_predict_batches(self) -> int | float:
        return _limit(self.config.limit_predict_batches)

    @property
    def overfit_batches(self) -> int | float:
        return self.config.overfit_batches

    @property
    def val_check_interval(self) -> int | float | timedelta:
        """``Trainer(val_check_interval=)``: 1.0 (once per epoch) unless given; a time-based
        one as a ``datetime.timedelta`` (Lightning 2.6 leaves the attribute unset then)."""
        value = self.config.val_check_interval
        return 1.0 if value is None else value

    @property
    def val_check_batch(self) -> int | float | None:
        """Validation runs every this many training batches (Lightning's, set when ``fit()``
        counts its training batches): the int ``val_check_interval``, a fraction's
        ``max(1, int(num_training_batches * fraction))``, ``inf`` for the whole epoch of a
        loader without a length; None before ``fit()`` has counted them (or counted none) and
        for a time-based ``val_check_interval``."""
        n = self.num_training_batches
        if self._fit_loop is None or self._train_pending or n == 0:
            return None
        interval = self.val_check_interval
        if isinstance(interval, timedelta):
            return None
        if isinstance(interval, int):
            return interval
        if n == float("inf"):  # (a fraction is refused with such a loader)
            return float("inf") if interval == 1.0 else None
        return max(1, int(n * interval))

    @property
    def check_val_every_n_epoch(self) -> int | None:
        return self.config.check_val_every_n_epoch

    @property
    def log_every_n_steps(self) -> int:
        """The logging interval; 0 under ``barebones=True`` (nothing is logged), as Lightning."""
        return 0 if self.config.barebones else self.config.log_every_n_steps

    @property
    def num_sanity_val_steps(self) -> int | float:
        """Sanity-check batches per loader: ``inf`` for ``-1`` (all), 0 under ``fast_dev_run``."""
        value = self.config.num_sanity_val_steps
        return float("inf") if value == -1 else value

    @property
    def reload_dataloaders_every_n_epochs(self) -> int:
        return self.config.reload_dataloaders_every_n_epochs

    @property
    def gradient_clip_algorithm(self) -> Any:
        """``Trainer(gradient_clip_algorithm=)`` as a ``GradClipAlgorithmType`` (a str), or None."""
        from treadle.utilities import GradClipAlgorithmType

        value = self.config.gradient_clip_algorithm
        return None if value is None else GradClipAlgorithmType(value.lower())

    @property
    def num_nodes(self) -> int:
        return self.config.num_nodes

    @property
    def precision(self) -> str:
        """The precision's name in Lightning's form, e.g. ``"32-true"``, ``"bf16-mixed"``."""
        return self.config.precision

    @property
    def barebones(self) -> bool:
        """``Trainer(barebones=True)``: checkpointing, loggers, progress bar, model summary
        and sanity check off (Lightning's barebones mode)."""
        return self.config.barebones

    # -- devices -------------------------------------------------------------------------------

    @property
    def device_ids(self) -> list[int]:
        """The device indices this node's processes use (``[0]`` on one CPU or GPU 0)."""
        accelerator = self.accelerator
        ids = getattr(accelerator, "device_ids", None)
        if ids is not None:
            return list(ids)
        return list(range(getattr(accelerator, "num_devices", 1)))

    @property
    def num_devices(self) -> int:
        return len(self.device_ids)

    @property
    def distributed_sampler_kwargs(self) -> dict[str, int] | None:
        """What a ``DistributedSampler`` needs on this rank; None when one process runs."""
        if self.world_size <= 1:
            return None
        return {"num_replicas": self.world_size, "rank": self.global_rank}

    @property
    def scaler(self) -> Any:
        """The precision plugin's gradient scaler (``"16-mixed"`` on CUDA), else None."""
        return getattr(self.precision_plugin, "scaler", None)

    @contextlib.contextmanager
    def init_module(self, empty_init: bool | None = None) -> Iterator[None]:
        """Tensors made inside are made on the run's device, in the dtype of a ``"-true"``
        precision (``"bf16-true"`` makes bfloat16 parameters), as in Lightning.

        ``empty_init`` is accepted for Lightning's signature; treadle initializes as usual.
        """
        with self._init_dtype(), self.root_device:
            yield

    @contextlib.contextmanager
    def _init_dtype(self) -> Iterator[None]:
        """The default dtype is a ``"-true"`` precision's inside (``init_module`` and the
        Module's ``configure_model``, as Lightning's precision ``module_init_context``: a
        complex buffer made there is complex128 under ``"64-true"``)."""
        with _default_dtype(_TRUE_DTYPES.get(self.precision)):
            yield

    # -- callbacks -----------------------------------------------------------------------------

    @property
    def checkpoint_callbacks(self) -> list[Any]:
        """Every ``ModelCheckpoint`` (any callback keeping ``best_model_path``), in order."""
        return [c for c in self.callbacks if hasattr(c, "best_model_path")]

    @property
    def early_stopping_callbacks(self) -> list[Any]:
        module = sys.modules.get("treadle_plugins.callbacks.early_stopping")
        if module is None:  # none made without it
            return []
        return [c for c in self.callbacks if isinstance(c, module.EarlyStopping)]

    @property
    def early_stopping_callback(self) -> Any:
        """The first ``EarlyStopping`` callback, or None."""
        found = self.early_stopping_callbacks
        return found[0] if found else None

    # -- the run's status ----------------------------------------------------------------------

    @property
    def interrupted(self) -> bool:
        """True after a run ended by an exception (Ctrl-C included)."""
        return self.state.status == "interrupted"

    @property
    def evaluating(self) -> bool:
        """True while validation (the sanity check included) or a test runs."""
        return self.state.stage in ("validate", "sanity", "test")

    @property
    def enable_validation(self) -> bool:
        """True when ``fit()`` validates: a ``validation_step``, validation loaders set up by
        ``fit()`` and ``limit_val_batches > 0`` (False before ``fit()``, as in Lightning)."""
        from treadle.module import Module

        module = self.lightning_module
        if module is None or self.limit_val_batches == 0:
            return False
        if getattr(type(module), "validation_step", None) is Module.validation_step:
            return False
        return any(loader is not None for loader in self._eval_loaders.get("fit") or [])

    @property
    def val_dataloaders(self) -> Any:
        """The validation loader(s) of the last ``fit()`` or ``validate()`` (one, or a list)."""
        fn = "validate" if self.state.fn == "validate" else "fit"
        loaders = [v for v in self._eval_loaders.get(fn) or [] if v is not None]
        if fn == "fit" and self._fit_loop is not None:  # as reloaded by the running fit()
            loaders = getattr(self._fit_loop, "val_loaders", None) or loaders
        if not loaders:
            return None
        return loaders[0] if len(loaders) == 1 else list(loaders)

    @property
    def num_sanity_val_batches(self) -> list[int | float]:
        """Batches the last ``fit()``'s sanity check runs per validation loader ([] before)."""
        limits = getattr(self._fit_loop, "val_limits", None) or []
        n = self.num_sanity_val_steps
        return [min(n, limit) for limit in limits]

    @property
    def num_test_batches(self) -> list[int | float]:
        """Batches the last ``test()`` runs per loader (``inf`` for one without a length)."""
        return self._eval_batches("test", self.config.limit_test_batches)

    @property
    def num_predict_batches(self) -> list[int | float]:
        """Batches the last ``predict()`` runs per loader (``inf`` for one without a length)."""
        return self._eval_batches("predict", self.config.limit_predict_batches)

    def _eval_batches(self, fn: str, limit: Any) -> list[int | float]:
        from treadle.data import num_batches
        from treadle.loop import per_loader

        loaders = [v for v in self._eval_loaders.get(fn) or [] if v is not None]
        limits = [num_batches(v, limit) for v in loaders]
        return per_loader(limits, loaders) if any(limits) else limits

    def print(self, *args: Any, **kwargs: Any) -> None:
        """``print`` on each node's first process only."""
        if self.local_rank == 0:
            builtins.print(*args, **kwargs)

    # -- Lightning's loop objects, worked out from the state (treadle._loop_facades) ----------

    @property
    def fit_loop(self) -> Any:
        """Lightning's ``trainer.fit_loop``: ``max_epochs``/``max_steps``/``min_*`` (settable),
        ``epoch_progress``, ``epoch_loop.batch_progress``, ``done``... read from the state."""
        return self._loop_facade("fit")

    @property
    def validate_loop(self) -> Any:
        """Lightning's ``trainer.validate_loop``: the last ``validate()``'s ``batch_progress``."""
        return self._loop_facade("validate")

    @property
    def test_loop(self) -> Any:
        """Lightning's ``trainer.test_loop``: the last ``test()``'s ``batch_progress``."""
        return self._loop_facade("test")

    @property
    def predict_loop(self) -> Any:
        """Lightning's ``trainer.predict_loop``: the last ``predict()``'s ``batch_progress``
        and ``predictions``."""
        return self._loop_facade("predict")

    def _loop_facade(self, fn: str) -> Any:
        from treadle import _loop_facades

        facades = self.__dict__.setdefault("_loop_facades", {})
        found = facades.get(fn)
        if found is None:  # made once: ``trainer.fit_loop is trainer.fit_loop``, as Lightning
            found = facades[fn] = (
                _loop_facades.FitLoop(self)
                if fn == "fit"
                else _loop_facades.EvaluationLoop(self, fn)
            )
        return found


def _limit(value: int | float | None) -> int | float:
    return 1.0 if value is None else value
