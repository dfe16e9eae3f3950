"""``TrainerConfig``: every ``Trainer`` argument, validated by pydantic v2, all problems at once."""
from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, List, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from treadle.errors import ConfigurationError

# Lightning accepts these spellings too; they mean the canonical names.
_PRECISION_ALIASES = {
    "32": "32-true", 32: "32-true", "64": "64-true", 64: "64-true", "16": "16-mixed",
    16: "16-mixed", "bf16": "bf16-mixed", "half": "16-mixed", "double": "64-true",
}


class TrainerConfig(BaseModel):
    """Every argument of :class:`treadle.Trainer`, with Lightning 2's meanings and defaults."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True, validate_default=False)

    accelerator: str = "auto"
    strategy: str = "auto"
    devices: Union[int, List[int], str] = "auto"
    num_nodes: int = Field(1, ge=1)
    precision: str = "32-true"
    max_epochs: Optional[int] = Field(None, ge=-1)
    max_steps: int = Field(-1, ge=-1)
    limit_train_batches: Optional[Union[int, float]] = Field(None, ge=0)
    limit_val_batches: Optional[Union[int, float]] = Field(None, ge=0)
    limit_test_batches: Optional[Union[int, float]] = Field(None, ge=0)
    limit_predict_batches: Optional[Union[int, float]] = Field(None, ge=0)
    check_val_every_n_epoch: Optional[int] = Field(1, ge=1)
    val_check_interval: Optional[Union[int, float]] = Field(None, gt=0)
    accumulate_grad_batches: int = Field(1, ge=1)
    gradient_clip_val: Optional[float] = Field(None, ge=0)
    gradient_clip_algorithm: Optional[Literal["norm", "value"]] = None
    callbacks: List[Any] = Field(default_factory=list)
    plugins: List[Any] = Field(default_factory=list)
    logger: Any = True
    enable_progress_bar: bool = True
    enable_checkpointing: bool = True
    enable_model_summary: bool = True
    default_root_dir: Optional[Path] = None
    deterministic: Optional[Union[bool, Literal["warn"]]] = None
    log_every_n_steps: int = Field(50, ge=1)
    num_sanity_val_steps: int = Field(2, ge=-1)
    process_group_timeout: float = Field(1800.0, gt=0)

    @field_validator("precision", mode="before")
    @classmethod
    def _precision_alias(cls, v: Any) -> Any:
        return _PRECISION_ALIASES.get(v, v) if isinstance(v, (str, int)) else v

    @field_validator("callbacks", "plugins", mode="before")
    @classmethod
    def _listify(cls, v: Any) -> Any:
        if v is None:
            return []
        return list(v) if isinstance(v, (list, tuple)) else [v]

    @field_validator("limit_train_batches", "limit_val_batches", "limit_test_batches",
                     "limit_predict_batches", "val_check_interval")
    @classmethod
    def _fraction_at_most_one(cls, v: Any) -> Any:
        if isinstance(v, float) and v > 1.0:
            raise ValueError("a float means a fraction of the epoch and must be <= 1.0; "
                             "pass an int for a number of batches")
        return v

    @classmethod
    def from_kwargs(cls, **kwargs: Any) -> "TrainerConfig":
        """Validate ``Trainer(**kwargs)``; every problem is reported in one ``ConfigurationError``."""
        try:
            return cls(**kwargs)
        except ValidationError as exc:
            by_argument: dict = {}  # a Union argument fails once per member type: one problem
            for err in exc.errors():
                by_argument.setdefault(str((err.get("loc") or ("?",))[0]), []).append(err)
            raise ConfigurationError([_describe(errs, kwargs) for errs in by_argument.values()]) \
                from None


def _describe(errs: list, kwargs: dict) -> str:
    err = errs[0]
    name = str((err.get("loc") or ("?",))[0])
    if err.get("type") == "extra_forbidden":
        known = list(TrainerConfig.model_fields)
        close = difflib.get_close_matches(name, known, n=1)
        hint = f" Did you mean `{close[0]}`?" if close else ""
        return (f"TrainerConfig: `Trainer({name}=...)` is not a Trainer argument.{hint} "
                f"Valid arguments: {', '.join(known)}")
    value = kwargs.get(name, err.get("input"))
    members = [str(e["loc"][1]) for e in errs if len(e.get("loc") or ()) > 1]
    if len(errs) > 1 and len(members) == len(errs) and all(not m.isdigit() for m in members):
        msg = f"Input should be one of: {', '.join(dict.fromkeys(members))}"
    else:
        msg = "; ".join(e.get("msg", "invalid") for e in errs)
    return f"TrainerConfig: `Trainer({name}={value!r})`: {msg}"
