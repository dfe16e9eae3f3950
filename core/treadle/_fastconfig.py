"""Trainer arguments checked without importing pydantic, for the common case.

``import pydantic`` costs ~0.15 s of CPU, a sixth of the budget between process start and the
first optimizer step. So ``Trainer(**kwargs)`` first tries this table: when every argument is
known and already of its canonical type and range, the values are exactly what
``TrainerConfig`` would produce and pydantic is never imported. Anything else -- an unknown
name, a value pydantic would coerce or reject -- goes to ``TrainerConfig`` (pydantic), which
owns every error message. This table never rejects: it only declines.

``tests/test_config_fastpath.py`` keeps it equal to ``TrainerConfig``: same names, same
defaults, and the same result for a battery of values on each side of every constraint.
"""

from __future__ import annotations

import math
import sys
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from treadle.errors import ConfigurationError

_DECLINE = object()  # "ask pydantic"

# Spellings that TrainerConfig rewrites (its _PRECISION_ALIASES): declined here.
_PRECISION_ALIASES = frozenset({"32", "64", "16", "bf16", "half", "double"})


def _int(lo: int, strict: bool = False) -> Callable[[Any], Any]:
    def check(v: Any) -> Any:
        return v if type(v) is int and (v > lo if strict else v >= lo) else _DECLINE

    return check


def _optional(check: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda v: None if v is None else check(v)


def _float(lo: float, strict: bool = False, hi: float = math.inf) -> Callable[[Any], Any]:
    def check(v: Any) -> Any:
        if type(v) not in (int, float):
            return _DECLINE
        return float(v) if (v > lo if strict else v >= lo) and v <= hi else _DECLINE

    return check


def _batches(strict: bool) -> Callable[[Any], Any]:
    """An int number of batches, or a float fraction of the epoch (<= 1.0)."""

    def check(v: Any) -> Any:
        if type(v) is int:
            return v if (v > 0 if strict else v >= 0) else _DECLINE
        if type(v) is float:
            return v if (v > 0 if strict else v >= 0) and v <= 1.0 else _DECLINE
        return _DECLINE

    return check


# what a time-based `val_check_interval` may be, as an error message lists it
TIME_INTERVAL_FORMS = (
    "a 'DD:HH:MM:SS' string (days:hours:minutes:seconds, each an int), a "
    "`datetime.timedelta`, or a dict of `datetime.timedelta` arguments (days, seconds, "
    "microseconds, milliseconds, minutes, hours, weeks)"
)
_TIMEDELTA_ARGUMENTS = frozenset(
    {"days", "seconds", "microseconds", "milliseconds", "minutes", "hours", "weeks"}
)


def time_interval(value: str | timedelta | dict[str, Any]) -> timedelta:
    """A time-based ``val_check_interval`` (Lightning's ``_parse_time_interval_seconds``) as a
    ``timedelta`` longer than zero; a ValueError that names ``value``, the accepted forms and
    an example otherwise."""
    example = "e.g. '00:00:05:00', `timedelta(minutes=5)` or {'minutes': 5} for five minutes"
    problem = None
    if isinstance(value, timedelta):
        interval = timedelta(value.days, value.seconds, value.microseconds)
    elif isinstance(value, dict):
        unknown = sorted(str(k) for k in value if k not in _TIMEDELTA_ARGUMENTS)
        not_numbers = sorted(
            str(k)
            for k, v in value.items()
            if isinstance(v, bool) or not isinstance(v, (int, float))
        )
        if unknown:
            problem = f"unknown `datetime.timedelta` argument(s): {', '.join(unknown)}"
        elif not_numbers:
            problem = f"not a number: the value of {', '.join(not_numbers)}"
        else:
            try:
                interval = timedelta(**value)
            except OverflowError:
                problem = "it is longer than a `datetime.timedelta` can hold"
    elif isinstance(value, str):
        parts = value.split(":")
        try:
            days, hours, minutes, seconds = (int(p) for p in parts)
        except ValueError:
            problem = (
                f"it has {len(parts)} fields, not 4"
                if len(parts) != 4
                else "each field must be an int"
            )
        else:
            try:
                interval = timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
            except OverflowError:
                problem = "it is longer than a `datetime.timedelta` can hold"
    else:
        problem = "it is not a duration"
    if problem is None and interval <= timedelta(0):
        problem = (
            "a duration must be longer than zero (to validate after every batch, pass "
            "`val_check_interval=1`)"
        )
    if problem is not None:
        raise ValueError(
            f"`val_check_interval={value!r}` is not a valid time interval: {problem}. A "
            f"time-based interval is {TIME_INTERVAL_FORMS}; {example}."
        )
    return interval


def _val_check_interval(v: Any) -> Any:
    """A number of batches, a fraction of the epoch, or a time interval (a ``timedelta``)."""
    if type(v) in (str, dict, timedelta):
        try:
            return time_interval(v)
        except ValueError:
            return _DECLINE  # pydantic says why
    return None if v is None else _batches(strict=True)(v)


def _str(v: Any) -> Any:
    return v if type(v) is str else _DECLINE


def _lower_str(v: Any) -> Any:  # a strategy's name, in any case (as Lightning's)
    return v.lower() if type(v) is str else _DECLINE


def _precision(v: Any) -> Any:
    return v if type(v) is str and v not in _PRECISION_ALIASES else _DECLINE


def _devices(v: Any) -> Any:
    if type(v) in (int, str):
        return v
    if type(v) is list and all(type(i) is int for i in v):
        return list(v)
    return _DECLINE


def _bool(v: Any) -> Any:
    return v if type(v) is bool else _DECLINE


def _plugins(field: str) -> Callable[[Any], Any]:
    def check(v: Any) -> Any:
        if v is None:
            return []
        if type(v) not in (list, tuple) or any(plugin_problem(x, field) for x in v):
            return _DECLINE
        return list(v)

    return check


def _logger(v: Any) -> Any:
    return _DECLINE if logger_problem(v) else v


# ``process_group_timeout``'s upper bound in seconds (~31 years): finite, and far inside the
# int64 milliseconds torch.distributed converts it to.
MAX_PROCESS_GROUP_TIMEOUT = 1e9

# Values that are never a plugin or a callback: ``callbacks=[1]`` would register and do nothing.
_NOT_PLUGINS = (bool, int, float, complex, str, bytes, list, tuple, dict, set, frozenset)


def shown(x: Any) -> str:
    """A value as an error message shows it: a scalar by its repr, a container by its items'
    types, anything else by its type (a repr with a memory address helps no one)."""
    if isinstance(x, (list, tuple)):
        return f"a {type(x).__name__} of [{', '.join(type(i).__name__ for i in x)}]"
    if x is None or isinstance(x, (bool, int, float, complex, str, bytes)):
        return f"`{x!r}`"
    name = type(x).__name__
    return f"{'an' if name[0].lower() in 'aeiou' else 'a'} {name}"


def plugin_problem(item: Any, field: str) -> str | None:
    """Why ``item`` cannot be one of ``Trainer(callbacks=...)``/``plugins=...``; None when it can."""
    what = "callback" if field == "callbacks" else "plugin"
    if isinstance(item, type):
        return (
            f"`{item.__name__}` is a class, not a {what}: pass an instance, "
            f"`{field}=[{item.__name__}(...)]`. Have you forgotten the `()`?"
        )
    if item is None or isinstance(item, _NOT_PLUGINS):
        if isinstance(item, str):
            fix = (
                "names are not looked up here (installed plugins load by themselves, through "
                "their entry points; `strategy=`, `precision=` and `accelerator=` pick those by "
                "name); pass the object itself"
            )
        else:
            fix = "pass the object itself"
        return (
            f"{shown(item)} is not a {what}: {fix} -- a "
            f"`treadle.Callback` instance, or an object or module with `@treadle.hookimpl` "
            f"functions"
        )
    return None


def logger_problem(value: Any) -> str | None:
    """Why ``value`` cannot be ``Trainer(logger=...)``; None when it can."""
    if value is None or isinstance(value, (bool, str)):
        return None  # off, the default logger, or a logger's name (checked when selected)
    items = list(value) if isinstance(value, (list, tuple)) else [value]
    for item in items:
        if isinstance(item, type):
            return (
                f"`{item.__name__}` is a class, not a logger: pass an instance, "
                f"`logger={item.__name__}(...)`. Have you forgotten the `()`?"
            )
        if not callable(getattr(item, "log_metrics", None)):
            return (
                f"{shown(item)} is not a logger. Pass True (the default "
                f"CSV logger), False or None (no logging), a logger's name ('csv', "
                f"'tensorboard'), a logger object (a `treadle.loggers.Logger`, with "
                f"`log_metrics`), or a list of logger objects"
            )
    return None


def _path(v: Any) -> Any:
    if v is None:
        return None
    if isinstance(v, str) and "://" in v:  # a URL: the model's validator (file:// or refused)
        return _DECLINE
    return Path(v) if isinstance(v, (str, Path)) else _DECLINE


def _one_of(*choices: Any) -> Callable[[Any], Any]:
    return lambda v: v if any(v is c or (type(v) is str and v == c) for c in choices) else _DECLINE


def _fast_dev_run(v: Any) -> Any:
    return v if type(v) is bool or (type(v) is int and v >= 0) else _DECLINE


def _duration(v: Any) -> Any:  # a dict goes to pydantic, which checks its values
    return v if v is None or type(v) in (str, timedelta) else _DECLINE


def _profiler(v: Any) -> Any:
    """None, a profiler's name in lower case, or a ``treadle.profilers.Profiler`` (its module is
    imported when one exists)."""
    if v is None or (type(v) is str and v in ("simple", "advanced", "pytorch")):
        return v
    profilers = sys.modules.get("treadle.profilers")
    return v if profilers is not None and isinstance(v, profilers.Profiler) else _DECLINE


# name -> (default, check). Defaults and constraints as TrainerConfig's fields.
FIELDS: dict[str, tuple[Any, Callable[[Any], Any]]] = {
    "accelerator": ("auto", _str),
    "strategy": ("auto", _lower_str),
    "devices": ("auto", _devices),
    "num_nodes": (1, _int(1)),
    "precision": ("32-true", _precision),
    "max_epochs": (None, _optional(_int(-1))),
    "max_steps": (-1, _int(-1)),
    "limit_train_batches": (None, _optional(_batches(strict=False))),
    "limit_val_batches": (None, _optional(_batches(strict=False))),
    "limit_test_batches": (None, _optional(_batches(strict=False))),
    "limit_predict_batches": (None, _optional(_batches(strict=False))),
    "check_val_every_n_epoch": (1, _optional(_int(1))),
    "val_check_interval": (None, _val_check_interval),
    "accumulate_grad_batches": (1, _int(1)),
    "gradient_clip_val": (None, _optional(_float(0.0))),
    "gradient_clip_algorithm": (None, _one_of(None, "norm", "value")),
    "callbacks": ([], _plugins("callbacks")),
    "plugins": ([], _plugins("plugins")),
    "logger": (True, _logger),
    "enable_progress_bar": (True, _bool),
    "enable_checkpointing": (True, _bool),
    "enable_model_summary": (True, _bool),
    "default_root_dir": (None, _path),
    "deterministic": (None, _one_of(None, True, False, "warn")),
    "log_every_n_steps": (50, _int(0)),
    "num_sanity_val_steps": (2, _int(-1)),
    "process_group_timeout": (
        1800.0,
        _float(0.0, strict=True, hi=MAX_PROCESS_GROUP_TIMEOUT),
    ),
    "fast_dev_run": (False, _fast_dev_run),
    "min_epochs": (None, _optional(_int(0))),
    "min_steps": (None, _optional(_int(0))),
    "max_time": (None, _duration),
    "overfit_batches": (0.0, _batches(strict=False)),
    "inference_mode": (True, _bool),
    "detect_anomaly": (False, _bool),
    "benchmark": (None, _one_of(None, True, False)),
    "reload_dataloaders_every_n_epochs": (0, _int(0)),
    "use_distributed_sampler": (True, _bool),
    "sync_batchnorm": (False, _bool),
    "nonfinite_loss": (None, _one_of(None, "raise", "skip")),
    "profiler": (None, _profiler),
    # barebones=True sets other arguments (TrainerConfig.from_kwargs): declined here
    "barebones": (False, lambda v: v if v is False else _DECLINE),
    "enable_autolog_hparams": (True, _bool),
}


class TrainerSettings:
    """The validated ``Trainer`` arguments, as attributes named like ``TrainerConfig``'s fields."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.__dict__.update(values)

    if TYPE_CHECKING:  # the fields are set from ``values``: any name, typed as TrainerConfig's

        def __getattr__(self, name: str) -> Any: ...

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self.__dict__.items())
        return f"TrainerSettings({inner})"

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def fast_validate(kwargs: dict[str, Any]) -> dict[str, Any] | None:
    """Every field's value when all of ``kwargs`` is canonical; None to ask pydantic."""
    values = {}
    for name, (default, check) in FIELDS.items():
        if name in kwargs:
            value = check(kwargs[name])
            if value is _DECLINE:
                return None
            values[name] = value
        else:
            values[name] = list(default) if isinstance(default, list) else default
    if len(values) != len(FIELDS) or any(name not in FIELDS for name in kwargs):
        return None
    return values


def _environ() -> Any:
    import os

    return os.environ


def env_defaults() -> dict[str, Any]:
    """Lightning's ``PL_TRAINER_<ARGUMENT>`` environment variables, as Trainer defaults (an
    argument passed explicitly wins): ``PL_TRAINER_MAX_STEPS=7`` is ``max_steps=7``; a value
    is read as a Python literal when it is one (``"False"``, ``"7"``), else as a string."""
    import os

    found: dict[str, Any] = {}
    for name in FIELDS:
        raw = os.environ.get(f"PL_TRAINER_{name.upper()}")
        if raw is None:
            continue
        try:
            from ast import literal_eval

            found[name] = literal_eval(raw)
        except (ValueError, SyntaxError):
            found[name] = raw
    return found


def validate_trainer_kwargs(kwargs: dict[str, Any]) -> TrainerSettings:
    """``Trainer(**kwargs)``'s arguments, through pydantic's ``TrainerConfig`` when needed;
    Lightning's ``PL_TRAINER_*`` environment variables give defaults (:func:`env_defaults`)."""
    if any(key.startswith("PL_TRAINER_") for key in _environ()):
        kwargs = {**env_defaults(), **kwargs}
    values = fast_validate(kwargs)
    if values is None:
        from treadle.config import TrainerConfig

        model = TrainerConfig.from_kwargs(**kwargs)
        values = {name: getattr(model, name) for name in type(model).model_fields}
    if (
        isinstance(values["val_check_interval"], float)
        and values["check_val_every_n_epoch"] is None
    ):
        raise ConfigurationError(  # as Lightning: a fraction of an epoch needs epochs
            [
                f"Trainer: `val_check_interval` should be an integer when "
                f"`check_val_every_n_epoch=None`, not {values['val_check_interval']!r} (a fraction "
                f"of an epoch); pass a number of batches or a time interval "
                f"('DD:HH:MM:SS', a `datetime.timedelta` or a dict of its arguments), or set "
                f"`check_val_every_n_epoch`."
            ]
        )
    return TrainerSettings(values)
