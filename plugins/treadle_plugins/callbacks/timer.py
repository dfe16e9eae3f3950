"""``Timer``: time the training and validation loops; stop training after a duration."""

from __future__ import annotations

import logging
import re
import time
from datetime import timedelta
from enum import Enum
from typing import Any

from treadle.callback import Callback
from treadle.errors import ConfigurationError
from treadle_plugins.callbacks._collective import from_rank_zero

log = logging.getLogger(__name__)

# Lightning's RunningStage values; treadle times the stages it runs (train, validate).
STAGES = ("train", "sanity_check", "validate", "test", "predict")
_DURATION = re.compile(r"(\d+):(\d\d):(\d\d):(\d\d)")


class Interval(str, Enum):
    """Lightning's ``Timer`` intervals: ``Timer(interval=Interval.epoch)`` is
    ``interval="epoch"``."""

    step = "step"
    epoch = "epoch"


class Timer(Callback):
    """Stop ``fit()`` once training has run for ``duration`` (as Lightning 2's ``Timer``).

    :param duration: ``"DD:HH:MM:SS"``, a :class:`datetime.timedelta`, a dict of ``timedelta``
        arguments (``dict(weeks=4, days=2)``), or None to time without a limit.
    :param interval: check after every training batch (``"step"``) or epoch (``"epoch"``).
    :param verbose: log when the limit is reached.

    ``time_elapsed(stage)``, ``start_time(stage)``, ``end_time(stage)`` and
    ``time_remaining(stage)`` give seconds (``time.monotonic``) for ``"train"`` (the
    default) and ``"validate"``. The training time elapsed is saved in checkpoints, so a
    resumed run counts the time the earlier run used.
    """

    def __init__(
        self,
        duration: str | timedelta | dict[str, int] | None = None,
        interval: str = "step",
        verbose: bool = True,
    ) -> None:
        if isinstance(duration, str):
            match = _DURATION.fullmatch(duration.strip())
            if not match:
                raise ConfigurationError(
                    f"Timer(duration={duration!r}) cannot be converted into a "
                    f"duration. Expected the DD:HH:MM:SS format, e.g. "
                    f"'00:12:00:00' for 12 hours."
                )
            days, hours, minutes, seconds = (int(g) for g in match.groups())
            duration = timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
        elif isinstance(duration, dict):
            duration = timedelta(**duration)
        if interval not in ("step", "epoch"):
            raise ConfigurationError(
                f"Unsupported parameter value `Timer(interval={interval!r})`. "
                f"Possible choices are: 'step', 'epoch'."
            )
        self._duration = duration.total_seconds() if duration is not None else None
        self._interval = Interval(interval).value  # (Lightning's enum or its value)
        self._verbose = verbose
        self._start_time: dict[str, float | None] = dict.fromkeys(STAGES)
        self._end_time: dict[str, float | None] = dict.fromkeys(STAGES)
        self._offset = 0.0

    def start_time(self, stage: str = "train") -> float | None:
        """When ``stage`` last started (``time.monotonic()`` seconds), or None."""
        return self._start_time[_stage(stage)]

    def end_time(self, stage: str = "train") -> float | None:
        """When ``stage`` last ended (``time.monotonic()`` seconds), or None."""
        return self._end_time[_stage(stage)]

    def time_elapsed(self, stage: str = "train") -> float:
        """Seconds ``stage`` has run (for ``"train"``, plus the resumed run's)."""
        start, end = self.start_time(stage), self.end_time(stage)
        offset = self._offset if _stage(stage) == "train" else 0.0
        if start is None:
            return offset
        return (time.monotonic() if end is None else end) - start + offset

    def time_remaining(self, stage: str = "train") -> float | None:
        """Seconds left of ``duration`` (None without one)."""
        if self._duration is None:
            return None
        return self._duration - self.time_elapsed(stage)

    def on_train_start(self, trainer, pl_module) -> None:
        self._start_time["train"] = time.monotonic()
        self._end_time["train"] = None

    def on_train_end(self, trainer, pl_module) -> None:
        self._end_time["train"] = time.monotonic()

    def on_validation_start(self, trainer, pl_module) -> None:
        self._start_time["validate"] = time.monotonic()

    def on_validation_end(self, trainer, pl_module) -> None:
        self._end_time["validate"] = time.monotonic()

    def on_test_start(self, trainer, pl_module) -> None:
        self._start_time["test"] = time.monotonic()

    def on_test_end(self, trainer, pl_module) -> None:
        self._end_time["test"] = time.monotonic()

    def on_predict_start(self, trainer, pl_module) -> None:
        self._start_time["predict"] = time.monotonic()

    def on_predict_end(self, trainer, pl_module) -> None:
        self._end_time["predict"] = time.monotonic()

    def on_fit_start(self, trainer, pl_module) -> None:
        # After a checkpoint is restored: a run resumed with its time already spent stops.
        if self._duration is not None:
            self._check_time_remaining(trainer)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self._interval == "step" and self._duration is not None:
            self._check_time_remaining(trainer)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if self._interval == "epoch" and self._duration is not None:
            self._check_time_remaining(trainer)

    def state_dict(self) -> dict[str, Any]:
        return {"time_elapsed": {stage: self.time_elapsed(stage) for stage in STAGES}}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._offset = state_dict.get("time_elapsed", {}).get("train", 0.0)

    def _check_time_remaining(self, trainer) -> None:
        assert self._duration is not None
        should_stop = from_rank_zero(trainer, self.time_elapsed() >= self._duration)
        trainer.should_stop = trainer.should_stop or should_stop
        if should_stop and self._verbose and trainer.is_global_zero:
            elapsed = timedelta(seconds=int(self.time_elapsed("train")))
            log.info(f"Time limit reached. Elapsed time is {elapsed}. Signaling Trainer to stop.")


def _stage(stage: str) -> str:
    if stage not in STAGES:
        raise ValueError(f"Timer: unknown stage {stage!r}; choose one of {', '.join(STAGES)}.")
    return stage
