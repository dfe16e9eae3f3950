"""``TrainerConfig``: every ``Trainer`` argument, validated by pydantic v2, all problems at once."""

from __future__ import annotations

import difflib
import math
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import PydanticCustomError

from treadle._fastconfig import (
    MAX_PROCESS_GROUP_TIMEOUT,
    TIME_INTERVAL_FORMS,
    logger_problem,
    plugin_problem,
    time_interval,
)
from treadle.errors import ConfigurationError, ConfigurationTypeError

# Lightning accepts these spellings too; they mean the canonical names.
_PRECISION_ALIASES = {
    "32": "32-true",
    32: "32-true",
    "64": "64-true",
    64: "64-true",
    "16": "16-mixed",
    16: "16-mixed",
    "bf16": "bf16-mixed",
    "half": "16-mixed",
    "double": "64-true",
}


NONFINITE_POLICIES = ("raise", "skip")

# Fields that take numbers: a bool there is a mistake (``max_steps=True``), not 1.
_NUMBER_FIELDS = (
    "devices",
    "num_nodes",
    "max_epochs",
    "max_steps",
    "limit_train_batches",
    "limit_val_batches",
    "limit_test_batches",
    "limit_predict_batches",
    "check_val_every_n_epoch",
    "val_check_interval",
    "accumulate_grad_batches",
    "gradient_clip_val",
    "log_every_n_steps",
    "num_sanity_val_steps",
    "process_group_timeout",
    "min_epochs",
    "min_steps",
    "overfit_batches",
    "reload_dataloaders_every_n_epochs",
)


class TrainerConfig(BaseModel):
    """Every argument of :class:`treadle.Trainer`, with Lightning 2's meanings and defaults."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True, validate_default=False)

    accelerator: str = "auto"
    strategy: str = "auto"
    devices: Union[int, list[int], str] = "auto"
    num_nodes: int = 1
    precision: str = "32-true"
    max_epochs: Optional[int] = Field(None, ge=-1)
    max_steps: int = Field(-1, ge=-1)
    limit_train_batches: Optional[Union[int, float]] = Field(None, ge=0)
    limit_val_batches: Optional[Union[int, float]] = Field(None, ge=0)
    limit_test_batches: Optional[Union[int, float]] = Field(None, ge=0)
    limit_predict_batches: Optional[Union[int, float]] = Field(None, ge=0)
    check_val_every_n_epoch: Optional[int] = Field(1, ge=1)
    # a number of batches, a fraction of the epoch, or a time interval ('DD:HH:MM:SS', a
    # timedelta or a dict of its arguments: a timedelta here)
    val_check_interval: Optional[Union[int, float, timedelta]] = None
    accumulate_grad_batches: int = Field(1, ge=1)
    gradient_clip_val: Optional[float] = Field(None, ge=0)
    gradient_clip_algorithm: Optional[Literal["norm", "value"]] = None
    callbacks: list[Any] = Field(default_factory=list)
    plugins: list[Any] = Field(default_factory=list)
    logger: Any = True
    enable_progress_bar: bool = True
    enable_checkpointing: bool = True
    enable_model_summary: bool = True
    default_root_dir: Optional[Path] = None
    deterministic: Optional[Union[bool, Literal["warn"]]] = None
    log_every_n_steps: int = Field(50, ge=0)  # 0: no step-level logging, as Lightning
    num_sanity_val_steps: int = Field(2, ge=-1)
    process_group_timeout: float = Field(1800.0, gt=0, le=MAX_PROCESS_GROUP_TIMEOUT)
    fast_dev_run: Union[bool, int] = False
    min_epochs: Optional[int] = Field(None, ge=0)
    min_steps: Optional[int] = Field(None, ge=0)
    max_time: Optional[Union[str, timedelta, dict[str, int]]] = None
    overfit_batches: Union[int, float] = Field(0.0, ge=0)
    inference_mode: bool = True
    detect_anomaly: bool = False
    benchmark: Optional[bool] = None
    reload_dataloaders_every_n_epochs: int = Field(0, ge=0)
    use_distributed_sampler: bool = True
    # as Lightning: the batch norms become SyncBatchNorm for fit() when several processes run
    sync_batchnorm: bool = False
    nonfinite_loss: Optional[str] = None
    profiler: Any = None
    barebones: bool = False
    enable_autolog_hparams: bool = True

    @field_validator("precision", mode="before")
    @classmethod
    def _precision_alias(cls, v: Any) -> Any:
        if isinstance(v, (str, int)):
            v = _PRECISION_ALIASES.get(v, v)
        if not isinstance(v, str):  # Lightning's words (1, 12, None: not a precision)
            raise ValueError(
                f"Precision {v!r} is invalid. Allowed precision values: a name such as "
                f"'32-true', '16-mixed', 'bf16-mixed', '16-true', 'bf16-true', '64-true' (or "
                f"Lightning's 32, 16, 64, 'bf16')"
            )
        return v

    @field_validator("default_root_dir", mode="before")
    @classmethod
    def _local_root(cls, v: Any) -> Any:
        from treadle.utilities import local_folder

        return local_folder(v, "Trainer(default_root_dir=...)")

    @field_validator("num_nodes")
    @classmethod
    def _positive_nodes(cls, v: int) -> int:
        if v < 1:  # Lightning's words
            raise ValueError(f"`num_nodes` must be a positive integer, but got {v}.")
        return v

    @field_validator("callbacks", "plugins", mode="before")
    @classmethod
    def _listify(cls, v: Any) -> Any:
        if v is None:
            return []
        return list(v) if isinstance(v, (list, tuple)) else [v]

    @field_validator("gradient_clip_algorithm", mode="before")
    @classmethod
    def _clip_algorithm_lower(cls, v: Any) -> Any:
        return v.lower() if isinstance(v, str) else v  # Lightning takes "Norm", "VALUE"

    @field_validator("strategy", mode="before")
    @classmethod
    def _strategy_lower(cls, v: Any) -> Any:
        return v.lower() if isinstance(v, str) else v  # Lightning takes "DDP"

    @field_validator(*_NUMBER_FIELDS, mode="before")
    @classmethod
    def _not_a_bool(cls, v: Any) -> Any:
        if isinstance(v, bool):  # pydantic's lax mode would read True as 1
            raise ValueError("a bool is not a number here; pass an int (or a float where allowed)")
        return v

    @field_validator("process_group_timeout", mode="before")
    @classmethod
    def _seconds(cls, v: Any) -> Any:
        if isinstance(v, timedelta):  # as Lightning's DDPStrategy(timeout=timedelta(...))
            return v.total_seconds()
        if isinstance(v, float) and not math.isfinite(v):
            raise ValueError(
                f"the timeout must be a finite number of seconds > 0 (at most "
                f"{MAX_PROCESS_GROUP_TIMEOUT:.0e}); for a very long wait pass e.g. "
                f"`process_group_timeout=7 * 24 * 3600` (a week)"
            )
        return v

    @field_validator("val_check_interval", mode="before")
    @classmethod
    def _time_interval(cls, v: Any) -> Any:
        if isinstance(v, (str, dict, timedelta)):  # as Lightning: a time-based interval
            return time_interval(v)
        return v

    @field_validator("val_check_interval")
    @classmethod
    def _positive_interval(cls, v: Any) -> Any:
        if isinstance(v, (int, float)) and v <= 0:
            raise PydanticCustomError("greater_than", "Input should be greater than 0")
        return v

    @field_validator("callbacks", "plugins")
    @classmethod
    def _plugin_objects(cls, v: Any, info: Any) -> Any:
        found = [p for p in (plugin_problem(x, info.field_name) for x in v) if p]
        if found:
            raise ValueError("; ".join(found))
        return v

    @field_validator("profiler")
    @classmethod
    def _profiler(cls, v: Any) -> Any:
        from treadle.profilers import profiler_problem

        found = profiler_problem(v)
        if found:
            raise ValueError(found)
        return v

    @field_validator("logger")
    @classmethod
    def _logger(cls, v: Any) -> Any:
        found = logger_problem(v)
        if found:
            raise ValueError(found)
        return v

    @field_validator("nonfinite_loss", mode="before")
    @classmethod
    def _nonfinite_policy(cls, v: Any) -> Any:
        if v is not None and v not in NONFINITE_POLICIES:
            raise ValueError(
                "choose None (the default: no check, no host sync), 'raise' (stop at the "
                "first non-finite loss) or 'skip' (skip that batch's backward and step)"
            )
        return v

    @field_validator("fast_dev_run")
    @classmethod
    def _not_negative(cls, v: Any) -> Any:
        if v < 0:  # Lightning's wording
            raise ValueError(
                f"fast_dev_run={v!r} is not a valid configuration. It should be "
                f">= 0: True or 1 runs one batch of each loop, n runs n, False or 0 "
                f"turns it off"
            )
        return v

    @field_validator(
        "limit_train_batches",
        "limit_val_batches",
        "limit_test_batches",
        "limit_predict_batches",
        "val_check_interval",
        "overfit_batches",
    )
    @classmethod
    def _fraction_at_most_one(cls, v: Any) -> Any:
        if isinstance(v, float) and v > 1.0:
            raise ValueError(
                "a float means a fraction of the epoch and must be <= 1.0; "
                "pass an int for a number of batches"
            )
        return v

    @classmethod
    def from_kwargs(cls, **kwargs: Any) -> TrainerConfig:
        """Validate ``Trainer(**kwargs)``; every problem is reported in one ``ConfigurationError``."""
        kwargs = dict(kwargs)
        problems = barebones_arguments(kwargs)  # sets its switches in kwargs
        problems += refused_arguments(kwargs)  # takes them out of kwargs
        try:
            model = cls(**kwargs)
        except ValidationError as exc:
            by_argument: dict = {}  # a Union argument fails once per member type: one problem
            for err in exc.errors():
                by_argument.setdefault(str((err.get("loc") or ("?",))[0]), []).append(err)
            problems += [_describe(errs, kwargs) for errs in by_argument.values()]
            # Python refuses an unknown keyword with a TypeError, and Lightning a clip value
            # that is not a number: with either among the problems the error is a TypeError
            # too (at least one, not every: Python raises it whatever else is wrong).
            unknown = [n for n, errs in by_argument.items() if _is_unknown(errs)]
            if unknown or any(_is_type_problem(n, errs) for n, errs in by_argument.items()):
                raise ConfigurationTypeError(problems, unknown[0] if unknown else None) from None
        if problems:
            raise ConfigurationError(problems) from None
        return model


# Lightning 2 ``Trainer`` arguments treadle does not implement: (the value that means "off",
# which a program may spell out and is accepted; why not, and the treadle way).
REFUSED: dict[str, tuple] = {
    "model_registry": (
        None,
        "Lightning's model registry uploads checkpoints to Lightning AI's "
        "service, which treadle does not talk to. Upload "
        "`trainer.checkpoint_callback.best_model_path` yourself after `fit()`.",
    ),
}


# Lightning's barebones mode: (argument, the value it sets, what it turns off). An argument
# given with another value is refused, as Lightning refuses it.
_BAREBONES: tuple[tuple[str, Any, str], ...] = (
    ("enable_checkpointing", False, "Checkpointing can impact raw speed"),
    ("logger", False, "Logging can impact raw speed"),
    ("enable_progress_bar", False, "The progress bar can impact raw speed"),
    ("log_every_n_steps", 0, "Logging can impact raw speed"),
    ("enable_model_summary", False, "Model summary can impact raw speed"),
    ("num_sanity_val_steps", 0, "Sanity checking can impact raw speed"),
    ("fast_dev_run", None, "Development run is not meant for raw speed evaluation"),
    ("detect_anomaly", None, "Anomaly detection can impact raw speed"),
    ("profiler", None, "Profiling can impact raw speed"),
)


def barebones_arguments(kwargs: dict[str, Any]) -> list[str]:
    """Lightning's ``Trainer(barebones=True)``: checkpointing, loggers, the progress bar, the
    model summary and the sanity check turned off (set in ``kwargs``); a problem for each of
    those, or of ``log_every_n_steps``, ``fast_dev_run``, ``detect_anomaly``, ``profiler``,
    given a value that turns it on."""
    if kwargs.get("barebones") is not True:
        return []
    problems = []
    for name, value, why in _BAREBONES:
        given = kwargs.get(name)
        if given is not None and given is not False and given != 0:
            problems.append(
                f"TrainerConfig: `Trainer(barebones=True, {name}={given!r})` was passed. {why} "
                f"so it is disabled in barebones mode. Drop `{name}` or `barebones=True`."
            )
        elif value is not None:
            kwargs[name] = value
    return problems


def refused_arguments(kwargs: dict[str, Any]) -> list[str]:
    """A problem for each Lightning argument in :data:`REFUSED` given a value other than its
    "off" value; removes every such argument from ``kwargs``."""
    problems = []
    for name, (off, why) in REFUSED.items():
        if name not in kwargs:
            continue
        value = kwargs.pop(name)
        if value is off or (type(value) is type(off) and value == off):
            continue
        problems.append(
            f"TrainerConfig: `Trainer({name}={value!r})`: Lightning's `{name}` is "
            f"not supported: {why}"
        )
    return problems


# arguments read as a fraction of the epoch (float in [0, 1]) or a number of batches (int)
_BATCH_LIMITS = frozenset(
    {
        "limit_train_batches",
        "limit_val_batches",
        "limit_test_batches",
        "limit_predict_batches",
        "val_check_interval",
        "overfit_batches",
    }
)


def _is_unknown(errs: list) -> bool:
    return errs[0].get("type") == "extra_forbidden"


def _is_type_problem(name: str, errs: list) -> bool:
    """A problem Lightning's ``Trainer`` raises a ``TypeError`` for (its only one: a
    ``gradient_clip_val`` that is not an int or a float)."""
    return name == "gradient_clip_val" and str(errs[0].get("type", "")).startswith("float_")


def _describe(errs: list, kwargs: dict) -> str:
    err = errs[0]
    name = str((err.get("loc") or ("?",))[0])
    if err.get("type") == "extra_forbidden":
        known = list(TrainerConfig.model_fields)
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.8)  # as treadle._cli_checks
        hint = f" Did you mean `{close[0]}`?" if close else ""
        return (
            f"TrainerConfig: `Trainer({name}=...)` is not a Trainer argument.{hint} "
            f"Valid arguments: {', '.join(known)}"
        )
    value = kwargs.get(name, err.get("input"))
    if (
        name in _BATCH_LIMITS
        and isinstance(value, (int, float))
        and not isinstance(value, bool)
        and (value < 0 or isinstance(value, float) and value > 1)
    ):  # Lightning's wording (its tests match "passed invalid value")
        return (
            f"TrainerConfig: `Trainer({name}={value!r})`: You have passed invalid value {value} "
            f"for {name}, it has to be in [0.0, 1.0] (a fraction of the epoch) or an int (a "
            f"number of batches)."
        )
    if name in ("max_epochs", "max_steps") and err.get("type") == "greater_than_equal":
        return (  # Lightning's wording (its tests match "must be a non-negative integer or -1")
            f"TrainerConfig: `Trainer({name}={value!r})`: `{name}` must be a non-negative "
            f"integer or -1 (no limit). You passed in {value}."
        )
    kind = err.get("type", "")
    if name == "check_val_every_n_epoch" and kind.startswith("int_"):
        return (  # Lightning's wording (its tests match "should be an integer.")
            f"TrainerConfig: `Trainer({name}={value!r})`: `check_val_every_n_epoch` should be "
            f"an integer, found {value!r}. Pass how many epochs apart validation runs (or None "
            f"to validate by `val_check_interval` alone)."
        )
    if name == "reload_dataloaders_every_n_epochs":
        return (  # Lightning's wording (its tests match "should be an int >")
            f"TrainerConfig: `Trainer({name}={value!r})`: `reload_dataloaders_every_n_epochs` "
            f"should be an int >= 0, got {value}. Pass how many epochs apart the loaders are "
            f"asked for again (0: never)."
        )
    if name == "gradient_clip_val" and kind.startswith("float_"):
        return (  # Lightning's wording (its TypeError reads "should be an int or a float")
            f"TrainerConfig: `Trainer({name}={value!r})`: `gradient_clip_val` should be an int "
            f"or a float. Got {value}."
        )
    if name == "gradient_clip_algorithm" and kind == "literal_error":
        return (  # Lightning's wording (its tests match "`gradient_clip_algorithm` norm2 is invalid")
            f"TrainerConfig: `Trainer({name}={value!r})`: `gradient_clip_algorithm` {value} is "
            f"invalid. Allowed algorithms: ['value', 'norm']."
        )
    members = [str(e["loc"][1]) for e in errs if len(e.get("loc") or ()) > 1]
    if name == "val_check_interval" and len(members) > 1:
        return (
            f"TrainerConfig: `Trainer({name}={value!r})`: Input should be an int (a number of "
            f"batches), a float in (0.0, 1.0] (a fraction of the epoch) or a time interval: "
            f"{TIME_INTERVAL_FORMS}; e.g. `val_check_interval=0.25` or '00:00:05:00'."
        )
    if len(errs) > 1 and len(members) == len(errs) and all(not m.isdigit() for m in members):
        msg = f"Input should be one of: {', '.join(dict.fromkeys(members))}"
    else:
        msg = "; ".join(e.get("msg", "invalid") for e in errs)
    return f"TrainerConfig: `Trainer({name}={value!r})`: {msg}"
