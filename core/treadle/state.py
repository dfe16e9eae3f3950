"""``trainer.state``: where the loop is, for plugins, callbacks and the user to read.

The loop is its only writer (``should_stop`` excepted: anyone may ask the run to stop). The
Lightning properties of the Trainer (``current_epoch``, ``global_step``, ``is_last_batch``,
``should_stop``, ``sanity_checking``, ``training``) read and write these fields.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from enum import Enum
from typing import Any

FNS = ("fit", "validate", "test", "predict")
STAGES = ("fit", "sanity", "validate", "test", "predict")


class FnName(str):
    """``trainer.state.fn``'s value: a plain string that also answers ``.value``, as Lightning's
    ``TrainerFn`` (a string enum: ``trainer.state.fn.value``, ``trainer.state.fn == "fit"``)."""

    __slots__ = ()

    @property
    def value(self) -> str:
        return str(self)


class StageName(str):
    """``trainer.state.stage``'s value: treadle's stage name (``"fit"``, ``"sanity"``, ...), a
    plain string that also answers ``.value`` with Lightning's ``RunningStage`` value
    (``"train"``, ``"sanity_check"``, ``"validate"``, ``"test"``, ``"predict"``) and equals
    that name too (``"fit" == "train"``; its hash stays treadle's name's)."""

    __slots__ = ()

    @property
    def value(self) -> str:
        return _LIGHTNING_STAGE.get(str(self), str(self))

    # ``RunningStage`` is not a subclass of this one, so Python would ask ``str.__eq__`` first
    # (``"fit" != "train"``): hand enum comparisons to the enum, which knows both names
    def __eq__(self, other: object) -> bool:
        if isinstance(other, Enum):
            return bool(other == str(self))
        # Lightning's name too (the Trainer docs page: ``stage in ("train", "sanity_check", ...)``)
        return str.__eq__(self, other) or _LIGHTNING_STAGE.get(str(self)) == other

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    __hash__ = str.__hash__


# The values the loops give ``state.stage``: made once, so a stage change costs a dict lookup
STAGE = {name: StageName(name) for name in ("fit", "sanity", "validate", "test", "predict")}


class LoopState:
    """The public loop state of one ``Trainer``.

    :ivar fn: the entry point running: ``"fit"``, ``"validate"``, ``"test"``, ``"predict"``,
        or None between runs.
    :ivar stage: what runs now: ``"fit"`` (training batches), ``"sanity"`` (the sanity check's
        validation), ``"validate"`` (``validate()`` or validation during ``fit()``), ``"test"``,
        ``"predict"``, or None. A string whose ``.value`` is Lightning's name of the stage
        (``RunningStage``: ``"train"``, ``"sanity_check"``, ...).
    :ivar epoch: the current epoch (0-based); advances when a training epoch ends.
    :ivar global_step: batches on which at least one optimizer stepped, over the whole fit.
    :ivar batch_idx: index of the current batch in its epoch (training or evaluation).
    :ivar dataloader_idx: index of the current evaluation dataloader (0 in training).
    :ivar num_dataloaders: evaluation dataloaders of the running stage (1 in training).
    :ivar batches_done: training batches finished in the current epoch (for mid-epoch resume).
    :ivar total_batches: training batches run over all epochs (restored on resume, so it counts
        the run, not only this ``fit()`` call).
    :ivar is_last_batch: the current training batch is the epoch's last.
    :ivar stepping: the current training batch steps the optimizer (automatic optimization:
        the last batch of an accumulation window). A strategy skips gradient sync otherwise.
    :ivar should_stop: set to stop ``fit()`` after the current batch (its epoch still ends).
    :ivar status: Lightning's ``TrainerStatus`` values: ``"initializing"`` before the first
        entry point, ``"running"`` during one, ``"finished"`` after one returned, and
        ``"interrupted"`` after one raised (Ctrl-C included). Read as ``finished``/``stopped``
        (``assert trainer.state.finished``, as Lightning's tests do).
    """

    __slots__ = (
        "fn",
        "stage",
        "epoch",
        "global_step",
        "batch_idx",
        "dataloader_idx",
        "num_dataloaders",
        "batches_done",
        "total_batches",
        "is_last_batch",
        "stepping",
        "should_stop",
        "status",
    )

    def __init__(self) -> None:
        self.fn: str | None = None
        self.stage: str | None = None
        self.epoch = 0
        self.global_step = 0
        self.batch_idx = 0
        self.dataloader_idx = 0
        self.num_dataloaders = 1
        self.batches_done = 0
        self.total_batches = 0
        self.is_last_batch = False
        self.stepping = False
        self.should_stop = False
        self.status = "initializing"

    @property
    def training(self) -> bool:
        """Training batches are running (not validation inside ``fit()``)."""
        return self.stage == "fit"

    @property
    def sanity_checking(self) -> bool:
        return self.stage == "sanity"

    @property
    def finished(self) -> bool:
        """The last entry point returned (Lightning's ``trainer.state.finished``)."""
        return self.status == "finished"

    @property
    def stopped(self) -> bool:
        """The last entry point is over, returned or raised (Lightning's ``state.stopped``)."""
        return self.status in ("finished", "interrupted")

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__)
        return f"LoopState({fields})"


# Lightning's stage names for treadle's ("train" is treadle's "fit", "sanity_check" its "sanity")
_LIGHTNING_STAGE = {"fit": "train", "sanity": "sanity_check"}


class _NamedEnum(str, Enum):
    """A ``str`` enum equal to its value in any case (Lightning's ``LightningEnum``), so
    ``trainer.state.fn == TrainerFn.FITTING`` holds for treadle's plain ``"fit"``."""

    def __eq__(self, other: object) -> bool:
        value = other.value if isinstance(other, Enum) else other
        if not isinstance(value, str):
            return False
        value = _LIGHTNING_STAGE.get(value, value) if isinstance(self, RunningStage) else value
        return bool(self.value.lower() == value.lower())

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    def __hash__(self) -> int:
        return hash(self.value.lower())


class TrainerStatus(_NamedEnum):
    """Lightning's values of ``trainer.state.status``."""

    INITIALIZING = "initializing"
    RUNNING = "running"
    FINISHED = "finished"
    INTERRUPTED = "interrupted"

    @property
    def stopped(self) -> bool:
        return self in (TrainerStatus.FINISHED, TrainerStatus.INTERRUPTED)


class TrainerFn(_NamedEnum):
    """Lightning's values of ``trainer.state.fn``: the entry point running."""

    FITTING = "fit"
    VALIDATING = "validate"
    TESTING = "test"
    PREDICTING = "predict"


class RunningStage(_NamedEnum):
    """Lightning's values of ``trainer.state.stage``; ``TRAINING`` equals treadle's ``"fit"``
    and ``SANITY_CHECKING`` its ``"sanity"``."""

    TRAINING = "train"
    SANITY_CHECKING = "sanity_check"
    VALIDATING = "validate"
    TESTING = "test"
    PREDICTING = "predict"

    @property
    def evaluating(self) -> bool:
        return self in (RunningStage.VALIDATING, RunningStage.TESTING, RunningStage.SANITY_CHECKING)


@dataclass(eq=False)
class TrainerState:
    """Lightning's ``TrainerState`` (status, fn, stage): equal to a ``LoopState`` in the same
    status, fn and stage, so ``trainer.state == TrainerState()`` reads as in Lightning."""

    status: Any = TrainerStatus.INITIALIZING
    fn: Any = None
    stage: Any = None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, (TrainerState, LoopState)):
            return NotImplemented

        stage = None if self.stage is None else RunningStage(self.stage)
        return bool(stage == other.stage and self.status == other.status and self.fn == other.fn)

    @property
    def finished(self) -> bool:
        return bool(self.status == TrainerStatus.FINISHED)

    @property
    def stopped(self) -> bool:
        return bool(self.status in (TrainerStatus.FINISHED, TrainerStatus.INTERRUPTED))


# Lightning's module path for these names: ``from lightning.pytorch.trainer.states import
# TrainerFn`` maps to ``treadle.trainer.states`` (``treadle.trainer`` is a module, and Python finds
# a submodule already in ``sys.modules`` right after importing its parent)
sys.modules.setdefault("treadle.trainer.states", sys.modules[__name__])
