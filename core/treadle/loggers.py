"""Experiment loggers: the ``Logger`` base and Lightning's ``CSVLogger`` and ``TensorBoardLogger``.

A logger is an object the Trainer calls with the run's metrics; ``Trainer(logger=...)`` takes
``True`` (the default logger), a provider name (``"csv"``, ``"tensorboard"``, or one a
third-party distribution registers through ``provide_loggers``), a logger, or a list of them.
A third-party logger (W&B, MLflow, ...) subclasses :class:`Logger` and implements ``name``,
``version``, ``log_metrics`` and ``log_hyperparams``, as a Lightning ``Logger`` does.

``CSVLogger`` and ``TensorBoardLogger`` live in ``treadle_plugins.loggers`` and are imported
from there on first use, so ``import treadle`` never imports tensorboard.
"""

from __future__ import annotations

import enum
import functools
import os
import statistics
import warnings
from abc import ABC, abstractmethod
from argparse import Namespace
from collections.abc import Mapping, Sequence
from typing import Any, Callable, TypeVar

from treadle import _lightning_paths

# CSVLogger, TensorBoardLogger and DummyLogger come from __getattr__ (imported on first use).
__all__ = [
    "CSVLogger",
    "DummyLogger",
    "FileLogger",
    "Logger",
    "TensorBoardLogger",
    "rank_zero_experiment",  # noqa: F822
    "rank_zero_only",
]

_LAZY = {
    "CSVLogger": "treadle_plugins.loggers.csv",
    "DummyLogger": "treadle.trainer",  # what ``fast_dev_run`` puts in place of the loggers
    "TensorBoardLogger": "treadle_plugins.loggers.tensorboard",
    # Lightning's ``loggers.csv_logs.ExperimentWriter`` (the path is this module)
    "ExperimentWriter": "treadle_plugins.loggers.csv",
}

F = TypeVar("F", bound=Callable[..., Any])


# Lightning's loggers for outside services -> (Lightning's requirement, the logger name a
# plugin provides, the service). treadle ships none of them: the names import, as Lightning's
# do without the service's package, and constructing one raises (see ``_service_logger``).
_SERVICES = {
    "WandbLogger": ("wandb>=0.12.10", "wandb", "Weights & Biases"),
    "MLFlowLogger": ("mlflow>=1.0.0", "mlflow", "MLflow"),
    "CometLogger": ("comet-ml>=3.44.4", "comet", "Comet"),
    "LitLogger": ("litlogger", "litlogger", "Lightning AI's LitLogger"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    if name in _SERVICES or name == "NeptuneLogger":
        cls = globals()[name] = _service_logger(name)
        return cls
    raise AttributeError(f"module 'treadle.loggers' has no attribute {name!r}")


def _service_logger(name: str) -> type:
    """Lightning's ``name`` logger as a class that imports but cannot be constructed.

    A Lightning program imports ``WandbLogger`` and friends at the top and often builds one
    only when asked to (``if args.wandb``); on Lightning without the service's package the
    import works and the construction raises ``ModuleNotFoundError``. So here, always: the
    message says what treadle does instead (a logger plugin providing the name, or CSV and
    TensorBoard). ``isinstance(trainer.logger, WandbLogger)`` is False for every real logger.
    """
    if name == "NeptuneLogger":  # Lightning 2.6.6 keeps the name and refuses to build it
        return _sunset_logger(name)
    requirement, provided, service = _SERVICES[name]

    def __new__(cls: type, *args: Any, **kwargs: Any) -> Any:
        raise ModuleNotFoundError(
            f"treadle has no built-in `{name}` (Lightning's needs {requirement!r}): {service} "
            f"logging comes from a logger plugin, a distribution registered in the `treadle` "
            f"entry-point group that provides the logger {provided!r}; install one and pass "
            f"`Trainer(logger={provided!r})` (docs/loggers.md), or log with `CSVLogger` or "
            f"`TensorBoardLogger` from `treadle.loggers`."
        )

    doc = f"Lightning's ``{name}`` name; constructing it raises (see ``_service_logger``)."
    return type(name, (Logger,), {"__new__": __new__, "__module__": __name__, "__doc__": doc})


def _sunset_logger(name: str) -> type:
    """Lightning 2.6.6's ``NeptuneLogger``: the name imports, and building one raises
    ``RuntimeError`` as Lightning's does (Neptune was shut down)."""

    def __new__(cls: type, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(
            f"`{name}` is no longer supported (Neptune has been shut down; Lightning 2.6.6 "
            f"refuses it too). Log with `CSVLogger` or `TensorBoardLogger` from "
            f"`treadle.loggers`, or a logger plugin (docs/loggers.md)."
        )

    doc = f"Lightning's ``{name}`` name; constructing it raises ``RuntimeError``."
    return type(name, (Logger,), {"__new__": __new__, "__module__": __name__, "__doc__": doc})


def global_rank() -> int:
    """This process's rank: ``torch.distributed``'s once initialized, else the launcher's
    (Lightning's variables in Lightning's order: ``RANK``, ``LOCAL_RANK``, ``SLURM_PROCID``,
    ``JSM_NAMESPACE_RANK``)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank()
    for var in ("RANK", "LOCAL_RANK", "SLURM_PROCID", "JSM_NAMESPACE_RANK"):
        if os.environ.get(var, "").isdigit():
            return int(os.environ[var])
    return 0


class _RankZeroOnly:
    """Lightning's ``rank_zero_only``: a decorator, with the ``rank`` it checks as an attribute."""

    def __init__(self) -> None:
        self._rank: int | None = None

    @property
    def rank(self) -> int:
        """The rank the decorated functions check: the one set (``rank_zero_only.rank = r``,
        as Lightning lets you), else this process's :func:`global_rank`."""
        return global_rank() if self._rank is None else self._rank

    @rank.setter
    def rank(self, rank: int) -> None:
        self._rank = rank

    def __call__(self, fn: F) -> F:
        """Run ``fn`` on global rank zero only; elsewhere it returns None."""

        @functools.wraps(fn)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if self.rank == 0:
                return fn(*args, **kwargs)
            return None

        return wrapped  # type: ignore[return-value]


rank_zero_only = _RankZeroOnly()


class DummyExperiment:
    """What ``logger.experiment`` is on ranks other than zero: every call does nothing."""

    def nop(self, *args: Any, **kwargs: Any) -> None:
        return None

    def __getattr__(self, _: str) -> Callable[..., None]:
        return self.nop

    def __getitem__(self, _: Any) -> DummyExperiment:
        return self

    def __setitem__(self, *_: Any) -> None:
        pass


def merge_dicts(
    dicts: Sequence[Mapping[str, Any]],
    agg_key_funcs: Mapping[str, Any] | None = None,
    default_func: Callable[[Sequence[Any]], Any] = statistics.mean,
) -> dict[str, Any]:
    """One dict from several (Lightning's ``merge_dicts``): each key's non-None values across
    ``dicts`` aggregated by ``agg_key_funcs[key]`` or else ``default_func``; nested dicts are
    merged the same way, with ``agg_key_funcs[key]`` as their own mapping.

    >>> merge_dicts([{"a": 1, "b": {"c": 2}}, {"a": 3, "b": {"c": 4}}], {"b": {"c": max}})
    {'a': 2, 'b': {'c': 4}}
    """
    funcs = agg_key_funcs or {}
    keys = dict.fromkeys(key for d in dicts for key in d)
    merged: dict[str, Any] = {}
    for key in keys:
        values = [d[key] for d in dicts if d.get(key) is not None]
        if not values:
            continue
        func = funcs.get(key)
        if isinstance(values[0], Mapping):
            merged[key] = merge_dicts(values, func, default_func)
        else:
            merged[key] = (func or default_func)(values)
    return merged


def rank_zero_experiment(fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """For a logger's ``experiment`` property: the real object on rank zero, a
    :class:`DummyExperiment` elsewhere (so no rank but zero creates files)."""

    @functools.wraps(fn)
    def experiment(self: Any) -> Any:
        return fn(self) if global_rank() == 0 else DummyExperiment()

    return experiment


class Logger(ABC):
    """Base class of experiment loggers, as Lightning's ``lightning.pytorch.loggers.Logger``.

    Implement ``name``, ``version``, ``log_metrics`` and ``log_hyperparams``; override the rest
    as needed. The Trainer calls, on global rank zero: ``log_hyperparams(module.hparams_initial)``,
    ``log_graph(module)`` and ``save()`` when a stage starts; ``log_metrics(metrics, step)``
    every ``log_every_n_steps`` optimizer steps and at epoch ends (``metrics`` holds floats and
    ``"epoch"``; ``step`` is ``trainer.global_step``); ``save()`` at epoch ends; and, on every
    rank, ``finalize("success")`` or ``finalize("failed")`` when the stage ends.
    """

    @property
    @abstractmethod
    def name(self) -> str | None:
        """The experiment's name (the folder under ``save_dir`` for file-based loggers)."""

    @property
    @abstractmethod
    def version(self) -> int | str | None:
        """The run's version: an int (``version_N``) or a string."""

    @property
    def save_dir(self) -> str | None:
        """Where the logger writes its runs, or None when it writes no local files."""
        return None

    @property
    def root_dir(self) -> str | None:
        """``save_dir/name`` for file-based loggers."""
        return None

    @property
    def log_dir(self) -> str | None:
        """This run's own folder (``save_dir/name/version_N``) for file-based loggers."""
        return None

    @property
    def experiment(self) -> Any:
        """The logging library's own object (a ``SummaryWriter``, a W&B run, ...)."""
        return None

    @property
    def group_separator(self) -> str:
        """How a logger groups metric names (Lightning's ``group_separator``)."""
        return "/"

    @abstractmethod
    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        """Record ``metrics`` (name to number) at ``step``."""

    @abstractmethod
    def log_hyperparams(
        self, params: dict[str, Any] | Namespace, *args: Any, **kwargs: Any
    ) -> None:
        """Record the run's hyper-parameters (``module.hparams_initial``)."""

    def log_graph(self, model: Any, input_array: Any = None) -> None:
        """Record the model's graph; ``input_array`` defaults to ``model.example_input_array``."""

    def save(self) -> None:
        """Write what is buffered."""

    def finalize(self, status: str) -> None:
        """The stage ended: ``status`` is ``"success"`` or ``"failed"``. Saves by default."""
        self.save()

    def after_save_checkpoint(self, checkpoint_callback: Any) -> None:
        """A checkpoint callback saved a checkpoint (for loggers that upload them)."""


class FileLogger(Logger):
    """A logger that writes under ``save_dir/name/version_N`` (Lightning's layout), shared by
    ``CSVLogger`` and ``TensorBoardLogger``. Subclasses set ``_save_dir``, ``_name`` and
    ``_version`` (None: the next free ``version_N``, found on first use)."""

    _save_dir: str
    _name: str
    _version: int | str | None

    @property
    def name(self) -> str:
        return self._name

    @property
    def version(self) -> int | str:
        if self._version is None:
            self._version = next_version(self.root_dir)
        return self._version

    @property
    def save_dir(self) -> str:
        return self._save_dir

    @property
    def root_dir(self) -> str:
        return os.path.join(self._save_dir, self._name)


# -- what loggers share -----------------------------------------------------------------------


def params_dict(params: Mapping[str, Any] | Namespace | None) -> dict[str, Any]:
    """``params`` as a plain dict (a ``Namespace`` through ``vars``)."""
    if params is None:
        return {}
    if isinstance(params, Namespace):
        return vars(params).copy()
    return dict(params)


def next_version(root_dir: str) -> int:
    """One more than the highest ``version_N`` folder in ``root_dir`` (0 when there is none)."""
    try:
        names = os.listdir(root_dir)
    except OSError:
        return 0
    found = [
        int(n[8:])
        for n in names
        if n.startswith("version_") and n[8:].isdigit() and os.path.isdir(os.path.join(root_dir, n))
    ]
    return max(found) + 1 if found else 0


def _yaml_safe(value: Any) -> Any:
    """``value`` in a form ``yaml.safe_dump`` writes and ``yaml.safe_load`` reads back."""
    import torch

    if isinstance(value, enum.Enum):
        return value.name
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, torch.Tensor):
        return value.item() if value.numel() == 1 else value.tolist()
    if isinstance(value, Namespace):
        value = vars(value)
    if isinstance(value, Mapping):
        return {
            (k if isinstance(k, (str, int, float, bool)) else str(k)): _yaml_safe(v)
            for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [_yaml_safe(v) for v in value]
    return str(value)


def save_hparams_to_yaml(path: str, hparams: Mapping[str, Any] | Namespace) -> None:
    """Write ``hparams`` to ``path`` as YAML that ``yaml.safe_load`` reads back (no Python tags):
    tensors become numbers or lists, anything else that YAML cannot hold becomes its ``str``.

    As Lightning: a value that YAML cannot dump at all (``yaml.dump`` raises, e.g. a
    ``torch.dtype``, a generator, or a dict holding one) is left out with a warning
    "Skipping '<key>' parameter because it is not possible to safely dump to YAML."
    """
    import yaml

    written = {}
    for key, value in params_dict(hparams).items():
        if _dumpable(value):
            written[key] = value
        else:
            warnings.warn(
                f"Skipping '{key}' parameter because it is not possible to safely dump to YAML.",
                stacklevel=2,
            )
    with open(path, "w", newline="") as f:
        yaml.safe_dump(_yaml_safe(written), f, sort_keys=False)


def _dumpable(value: Any) -> bool:
    """Whether Lightning's ``save_hparams_to_yaml`` keeps ``value``: ``yaml.dump`` (Python tags
    allowed) writes it. Plain values, tensors and enums are kept without trying."""
    import torch
    import yaml

    if value is None or isinstance(value, (bool, int, float, str, enum.Enum, torch.Tensor)):
        return True
    try:
        yaml.dump(value)
    except (TypeError, ValueError):
        return False
    return True


def log_hyperparams(trainer: Any) -> None:
    """What the Trainer does with its loggers when a stage starts (Lightning's
    ``_log_hyperparams``).

    On global rank zero, for each logger: ``log_hyperparams`` with the module's (and the
    datamodule's) initial hyper-parameters when they asked to be logged
    (``save_hyperparameters(logger=True)``, the default), ``log_graph(module)``, ``save()``.
    """
    loggers = trainer.loggers
    if not loggers or not trainer.is_global_zero:
        return
    module = trainer.lightning_module
    hparams = _logged_hparams(module)
    data_hparams = _logged_hparams(getattr(trainer, "datamodule", None))
    if hparams is not None and data_hparams is not None:
        clash = [
            k
            for k in hparams.keys() & data_hparams.keys()
            if not _same(hparams[k], data_hparams[k])
        ]
        if clash:
            clash.sort(key=repr)  # (keys may mix types: 1 and "2")
            raise RuntimeError(
                f"Error while merging hparams: the keys {clash} are present in both the "
                f"LightningModule's and LightningDataModule's hparams but have different "
                f"values. Rename one, or keep one from the loggers with "
                f"`save_hyperparameters(logger=False)`."
            )
        hparams.update(data_hparams)
    elif data_hparams is not None:
        hparams = data_hparams
    for logger in loggers:
        if hparams is not None:
            logger.log_hyperparams(hparams)
        log_graph = getattr(logger, "log_graph", None)
        if log_graph is not None and module is not None:
            log_graph(module)
        save = getattr(logger, "save", None)
        if save is not None:
            save()


def _logged_hparams(obj: Any) -> dict[str, Any] | None:
    """``obj``'s initial hyper-parameters when it asked for them to be logged, else None."""
    if obj is None or not obj.__dict__.get("_log_hyperparams", False):
        return None
    return dict(obj.hparams_initial)


def _same(a: Any, b: Any) -> bool:
    import torch

    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return (
            isinstance(a, torch.Tensor)
            and isinstance(b, torch.Tensor)
            and a.shape == b.shape
            and bool((a == b).all())
        )
    return type(a) is type(b) and bool(a == b)  # (as Lightning: 1 and 1.0 differ)


# ``treadle.loggers.tensorboard``, ``...csv_logs``, ``...logger`` (Lightning's paths): this module.
_lightning_paths.register(__name__)
