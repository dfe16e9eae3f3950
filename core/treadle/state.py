"""``trainer.state``: where the loop is, for plugins, callbacks and the user to read.

The loop is its only writer (``should_stop`` excepted: anyone may ask the run to stop). The
Lightning properties of the Trainer (``current_epoch``, ``global_step``, ``is_last_batch``,
``should_stop``, ``sanity_checking``, ``training``) read and write these fields.
"""

from __future__ import annotations

FNS = ("fit", "validate", "test", "predict")
STAGES = ("fit", "sanity", "validate", "test", "predict")


class FnName(str):
    """``trainer.state.fn``'s value: a plain string that also answers ``.value``, as Lightning's
    ``TrainerFn`` (a string enum: ``trainer.state.fn.value``, ``trainer.state.fn == "fit"``)."""

    __slots__ = ()

    @property
    def value(self) -> str:
        return str(self)


class LoopState:
    """The public loop state of one ``Trainer``.

    :ivar fn: the entry point running: ``"fit"``, ``"validate"``, ``"test"``, ``"predict"``,
        or None between runs.
    :ivar stage: what runs now: ``"fit"`` (training batches), ``"sanity"`` (the sanity check's
        validation), ``"validate"`` (``validate()`` or validation during ``fit()``), ``"test"``,
        ``"predict"``, or None.
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
