"""``trainer.fit_loop``, ``validate_loop``, ``test_loop``, ``predict_loop``: Lightning's loop
objects, read-mostly, with the public surface of Lightning 2.6.6's.

treadle's loops keep no progress objects. Each value here is worked out when it is read, from
``trainer.state`` (epoch, global_step, batch_idx, batches_done, total_batches, stage) and from
what the loops mark once per epoch or per evaluation run (``FitLoop.epoch_mark``,
``FitLoop.epoch_first_total``, ``EvaluationLoop.batches_before``...): nothing is counted per
batch. The loop limits (``max_epochs``, ``max_steps``, ``min_epochs``, ``min_steps``) read and
write ``trainer.config``, so ``trainer.fit_loop.max_epochs = 10`` then ``trainer.fit(model,
ckpt_path=...)`` trains to epoch 10, as in Lightning.

Lightning's other loop internals (anything underscored, ``restarting``, the optimizer loops'
own objects, the data fetchers) raise an ``AttributeError`` naming what to read instead.
"""

from __future__ import annotations

from typing import Any

_COUNTS = ("ready", "started", "processed", "completed")


class Tracker:
    """One of Lightning's progress trackers (``_ProcessedTracker``): how many items were made
    ready, started, processed and completed. A snapshot, made when read; only the epoch
    trackers of ``trainer.fit_loop.epoch_progress`` take a value (see ``FitLoop``)."""

    __slots__ = ("ready", "started", "processed", "completed", "_write")
    ready: int
    started: int
    processed: int
    completed: int
    _write: Any

    def __init__(
        self, ready: int, started: int, processed: int, completed: int, write: Any = None
    ) -> None:
        for name, value in zip(_COUNTS, (ready, started, processed, completed)):
            object.__setattr__(self, name, value)
        object.__setattr__(self, "_write", write)

    def __setattr__(self, name: str, value: Any) -> None:
        if self._write is None or name not in _COUNTS:
            raise AttributeError(
                f"`{name}` of this treadle progress tracker is read-only: treadle works it out "
                f"from `trainer.state` when it is read. Change the run with "
                f"`trainer.current_epoch`, `trainer.global_step` or `trainer.should_stop`."
            )
        self._write(name, value)
        object.__setattr__(self, name, value)

    def state_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in _COUNTS}

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Tracker):
            return NotImplemented
        return self.state_dict() == other.state_dict()

    __hash__ = None  # type: ignore[assignment]  # as Lightning's dataclass: unhashable

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)}" for name in _COUNTS)
        return f"Tracker({fields})"


def _tracker(done: int, in_flight: tuple[int, int, int], write: Any = None) -> Tracker:
    """A tracker ``done`` items completed, plus one item in flight: ``in_flight`` says whether
    it is ready, started, processed (1) or not (0)."""
    ready, started, processed = in_flight
    return Tracker(done + ready, done + started, done + processed, done, write)


class Progress:
    """Lightning's ``_Progress``: ``current`` (this run or epoch) and ``total`` trackers."""

    __slots__ = ("_read",)

    def __init__(self, read: Any) -> None:
        self._read = read  # () -> (current, total)

    @property
    def current(self) -> Tracker:
        return self._read()[0]

    @property
    def total(self) -> Tracker:
        return self._read()[1]

    def state_dict(self) -> dict[str, Any]:
        current, total = self._read()
        return {"current": current.state_dict(), "total": total.state_dict()}

    def __repr__(self) -> str:
        current, total = self._read()
        return f"Progress(current={current!r}, total={total!r})"


class BatchProgress(Progress):
    """Lightning's ``_BatchProgress``: a ``Progress`` that also says ``is_last_batch``."""

    __slots__ = ("_trainer",)

    def __init__(self, read: Any, trainer: Any) -> None:
        super().__init__(read)
        self._trainer = trainer

    @property
    def is_last_batch(self) -> bool:
        return bool(self._trainer.state.is_last_batch)


def _refuse(owner: str, name: str, instead: str) -> AttributeError:
    return AttributeError(
        f"`trainer.{owner}.{name}` is Lightning's and treadle has none: {instead}"
    )


_INTERNALS = (
    "treadle keeps no loop internals; `trainer.{owner}` offers Lightning's public progress "
    "and limits ({names}). Read `trainer.state` (epoch, global_step, batch_idx, stage) for the "
    "rest, and stop a run with `trainer.should_stop = True`."
)


class _Facade:
    _owner = ""
    _names = ""

    def __getattr__(self, name: str) -> Any:  # only names the class does not have
        if name.startswith("__"):
            raise AttributeError(name)
        if name == "restarting":
            raise _refuse(
                self._owner,
                name,
                "a resumed run is not marked; compare `trainer.ckpt_path` (the checkpoint "
                "the run resumed from) or `trainer.state.epoch` with what you expect.",
            )
        raise _refuse(self._owner, name, _INTERNALS.format(owner=self._owner, names=self._names))

    def __setattr__(self, name: str, value: Any) -> None:
        found = getattr(type(self), name, None)
        if name.startswith("_") or (isinstance(found, property) and found.fset is not None):
            object.__setattr__(self, name, value)
            return
        if isinstance(found, property):
            raise AttributeError(
                f"`trainer.{self._owner}.{name}` is read-only in treadle: it is worked out from "
                f"`trainer.state` when it is read."
            )
        raise _refuse(
            self._owner,
            name,
            f"it cannot be set. {_INTERNALS.format(owner=self._owner, names=self._names)}",
        )


def _check_limit(owner: str, name: str, value: Any, lowest: int, optional: bool) -> None:
    if value is None and optional:
        return
    if not isinstance(value, int) or isinstance(value, bool) or value < lowest:
        kind = f"an int >= {lowest}" + (" or None" if optional else "")
        raise ValueError(f"`trainer.{owner}.{name} = {value!r}`: expected {kind}.")


class FitLoop(_Facade):
    """``trainer.fit_loop``: the epochs of ``fit()``, as Lightning's ``_FitLoop`` shows them."""

    _owner = "fit_loop"
    _names = (
        "max_epochs, min_epochs, max_steps, min_steps, epoch_progress, epoch_loop, "
        "batch_idx, total_batch_idx, max_batches, done, setup_data()"
    )

    def __init__(self, trainer: Any) -> None:
        self._trainer = trainer
        self._epoch_progress = Progress(self._read_epochs)
        self._epoch_loop = TrainingEpochLoop(trainer, self)

    # -- limits: trainer.config, so a later fit() (or the running one, at its next epoch) uses them

    @property
    def max_epochs(self) -> int | None:
        return self._trainer.max_epochs

    @max_epochs.setter
    def max_epochs(self, value: int | None) -> None:
        _check_limit(self._owner, "max_epochs", value, -1, optional=True)
        self._trainer.config.max_epochs = value

    @property
    def min_epochs(self) -> int | None:
        """``Trainer(min_epochs=)``; from a ``fit()`` on, as that fit reads it (0 when unset,
        1 when only ``min_steps`` is set), as Lightning's."""
        loop = self._trainer._fit_loop
        return self._trainer.config.min_epochs if loop is None else loop.min_epochs

    @min_epochs.setter
    def min_epochs(self, value: int | None) -> None:
        _check_limit(self._owner, "min_epochs", value, 0, optional=True)
        self._trainer.config.min_epochs = value
        loop = self._trainer._fit_loop
        if loop is not None:  # the running fit() checks it when asked to stop
            loop.min_epochs = value or 0

    @property
    def max_steps(self) -> int:
        return self._epoch_loop.max_steps

    @max_steps.setter
    def max_steps(self, value: int) -> None:
        self._epoch_loop.max_steps = value

    @property
    def min_steps(self) -> int | None:
        return self._epoch_loop.min_steps

    @min_steps.setter
    def min_steps(self, value: int | None) -> None:
        self._epoch_loop.min_steps = value

    # -- progress ----------------------------------------------------------------------------

    @property
    def epoch_progress(self) -> Progress:
        """Epochs made ready (``on_train_epoch_start`` runs), started (its batches run),
        processed (``on_train_epoch_end`` runs) and completed; ``current`` equals ``total``."""
        return self._epoch_progress

    def _read_epochs(self) -> tuple[Tracker, Tracker]:
        trainer = self._trainer
        loop = trainer._fit_loop
        mark = "completed" if loop is None else loop.epoch_mark
        in_flight = {
            "ready": (1, 0, 0),
            "started": (1, 1, 0),
            "processed": (1, 1, 1),
            "completed": (0, 0, 0),
        }[mark]
        write = self._write_epochs if mark == "completed" else None
        return _tracker(trainer.state.epoch, in_flight, write), _tracker(
            trainer.state.epoch, in_flight, write
        )

    def _write_epochs(self, name: str, value: int) -> None:
        """``epoch_progress.current.completed = N`` (or another count) between epochs: the
        run's epoch becomes N, as Lightning programs set ``trainer.current_epoch`` this way."""
        _check_limit(self._owner, f"epoch_progress.current.{name}", value, 0, optional=False)
        self._trainer.state.epoch = value

    @property
    def epoch_loop(self) -> TrainingEpochLoop:
        return self._epoch_loop

    @property
    def batch_idx(self) -> int:
        """The current training batch's index in its epoch (-1 before the first)."""
        return self._epoch_loop.batch_idx

    @property
    def total_batch_idx(self) -> int:
        """The current training batch's index over the run (-1 before the first)."""
        return self._epoch_loop.total_batch_idx

    @property
    def max_batches(self) -> int | float:
        """Training batches per epoch (``trainer.num_training_batches``)."""
        return self._trainer.num_training_batches

    @max_batches.setter
    def max_batches(self, value: int | float) -> None:
        """As Lightning's attribute (the next ``fit()`` counts its loader again)."""
        self._trainer.num_training_batches = value

    @property
    def done(self) -> bool:
        """As Lightning's: no training batches, ``max_steps`` or ``max_epochs`` reached (epochs
        counted once their end hooks start), or a stop asked with the minimums met."""
        trainer = self._trainer
        state = trainer.state
        if trainer.num_training_batches == 0:
            return True
        if 0 <= self.max_steps <= state.global_step:
            return True
        processed = self._read_epochs()[0].processed
        max_epochs = self.max_epochs
        if max_epochs is not None and 0 <= max_epochs <= processed:
            return True
        min_steps, min_epochs = self.min_steps or 0, self.min_epochs or 0
        return bool(
            state.should_stop and processed >= min_epochs and state.global_step >= min_steps
        )

    def setup_data(self) -> None:
        """Ask for ``fit()``'s training loader now (it counts ``trainer.num_training_batches``),
        from a hook of a running ``fit()``; once asked for, a no-op, as Lightning's."""
        trainer = self._trainer
        if trainer.state.fn != "fit" or trainer.state.status != "running":
            raise RuntimeError(
                "`trainer.fit_loop.setup_data()` asks for the training loader of a running "
                "`fit()`, and treadle has its sources only then: call it from a hook during "
                "`fit()` (`setup`, `configure_optimizers`, `on_fit_start`), or read "
                "`trainer.num_training_batches` and `trainer.train_dataloader` after `fit()`."
            )
        trainer._train_loader()


class TrainingEpochLoop(_Facade):
    """``trainer.fit_loop.epoch_loop``: one epoch's training batches (Lightning's
    ``_TrainingEpochLoop``)."""

    _owner = "fit_loop.epoch_loop"
    _names = (
        "batch_progress, batch_idx, total_batch_idx, global_step, max_steps, min_steps, "
        "val_loop, automatic_optimization.optim_progress.optimizer_steps"
    )

    def __init__(self, trainer: Any, fit_loop: FitLoop) -> None:
        self._trainer = trainer
        self._batch_progress = BatchProgress(self._read_batches, trainer)
        self._val_loop = EvaluationLoop(trainer, "fit")
        self._automatic = _AutomaticOptimization(trainer)

    @property
    def max_steps(self) -> int:
        return self._trainer.config.max_steps

    @max_steps.setter
    def max_steps(self, value: int) -> None:
        """Forwarded to ``trainer.config``: a ``fit()`` running takes it at its next epoch."""
        _check_limit(self._owner, "max_steps", value, -1, optional=False)
        self._trainer.config.max_steps = value

    @property
    def min_steps(self) -> int | None:
        return self._trainer.config.min_steps

    @min_steps.setter
    def min_steps(self, value: int | None) -> None:
        _check_limit(self._owner, "min_steps", value, 0, optional=True)
        self._trainer.config.min_steps = value
        loop = self._trainer._fit_loop
        if loop is not None:  # the running fit() checks it when asked to stop
            loop.min_steps = value or 0

    @property
    def global_step(self) -> int:
        return self._trainer.state.global_step

    @property
    def batch_progress(self) -> BatchProgress:
        """Training batches: ``current`` in this epoch, ``total`` over the run."""
        return self._batch_progress

    def _read_batches(self) -> tuple[Tracker, Tracker]:
        trainer = self._trainer
        state, loop = trainer.state, trainer._fit_loop
        total = state.total_batches
        if loop is None:
            return _tracker(0, (0, 0, 0)), _tracker(total, (0, 0, 0))
        first = loop.epoch_first_total
        # before this fit()'s first epoch (a resumed one): the epoch the checkpoint finished
        current = total - first if first is not None else min(total, trainer.num_training_batches)
        in_flight = (0, 0, 0)
        if state.stage == "fit" and trainer._metrics.in_step and loop.epoch_mark == "started":
            # inside a batch's hooks: its step has run once batches_done counts it. (The
            # batch's on_train_batch_start reads it as started, one ahead of Lightning.)
            in_flight = (1, 1, int(state.batches_done > state.batch_idx))
        elif loop.ended_at_start:  # on_train_batch_start returned -1: that batch was ready
            in_flight = (1, 0, 0)
        return _tracker(int(current), in_flight), _tracker(total, in_flight)

    @property
    def batch_idx(self) -> int:
        return self._batch_progress.current.ready - 1

    @property
    def total_batch_idx(self) -> int:
        return self._batch_progress.total.ready - 1

    @property
    def val_loop(self) -> EvaluationLoop:
        """The validation inside ``fit()`` (not ``trainer.validate_loop``, as in Lightning)."""
        return self._val_loop

    @property
    def automatic_optimization(self) -> _AutomaticOptimization:
        return self._automatic


class _OptimizationProgress(_Facade):
    _owner = "fit_loop.epoch_loop.automatic_optimization.optim_progress"
    _names = "optimizer_steps"

    def __init__(self, trainer: Any) -> None:
        self._trainer = trainer

    @property
    def optimizer_steps(self) -> int:
        """Optimizer steps under automatic optimization (``trainer.global_step``; 0 under
        manual optimization, as Lightning's)."""
        module = self._trainer.lightning_module
        if module is not None and not module.automatic_optimization:
            return 0
        return int(self._trainer.state.global_step)


class _AutomaticOptimization(_Facade):
    _owner = "fit_loop.epoch_loop.automatic_optimization"
    _names = "optim_progress.optimizer_steps"

    def __init__(self, trainer: Any) -> None:
        self._trainer = trainer
        self._progress = _OptimizationProgress(trainer)

    @property
    def optim_progress(self) -> _OptimizationProgress:
        return self._progress


class EvaluationLoop(_Facade):
    """``trainer.validate_loop``, ``test_loop``, ``predict_loop`` and
    ``trainer.fit_loop.epoch_loop.val_loop`` (``fn="fit"``): the last run of that stage."""

    def __init__(self, trainer: Any, fn: str) -> None:
        self._trainer, self._fn = trainer, fn
        self._owner = "fit_loop.epoch_loop.val_loop" if fn == "fit" else f"{fn}_loop"
        self._names = "batch_progress, max_batches, num_dataloaders" + (
            ", predictions, return_predictions" if fn == "predict" else ""
        )
        reader = self._read_batches
        self._batch_progress = BatchProgress(reader, trainer) if fn != "predict" else None
        if fn == "predict":  # Lightning's predict loop counts with a plain _Progress
            self._batch_progress = Progress(reader)  # type: ignore[assignment]

    def __getattr__(self, name: str) -> Any:
        if name in ("predictions", "return_predictions"):  # (their properties refused it)
            raise AttributeError(
                f"`trainer.{self._owner}.{name}`: only `trainer.predict_loop` has "
                f"`{name}`, as in Lightning."
            )
        return super().__getattr__(name)

    def _loop(self) -> Any:
        trainer = self._trainer
        if self._fn == "fit":
            fit = trainer._fit_loop
            return None if fit is None else fit.evaluation
        return trainer._eval_runs.get(self._fn)

    @property
    def batch_progress(self) -> Any:
        """Batches of the last run, over its dataloaders: ``current`` in this run; ``total``
        the same, except inside ``fit()``: this training epoch's validation runs together."""
        return self._batch_progress

    def _read_batches(self) -> tuple[Tracker, Tracker]:
        trainer = self._trainer
        state, loop = trainer.state, self._loop()
        zero = _tracker(0, (0, 0, 0))
        if loop is None or loop.ran is None:
            return zero, zero
        if loop.ran == "sanity" and state.stage != "sanity":
            return zero, zero  # as Lightning: reset once the sanity check ends
        done, in_flight = loop.batches_before, (0, 0, 0)
        if loop.in_loaders:
            done += state.batch_idx
            if trainer._metrics.in_step and state.stage == loop.ran:
                in_flight = (1, 1, 1)  # (read in its batch end hooks, as callbacks do)
        current = _tracker(done, in_flight)
        if loop.ran != "validate" or self._fn != "fit":
            return current, current
        if loop.fresh_epoch:  # as Lightning: reset when a training epoch's batches start
            return current, zero
        return current, _tracker(loop.epoch_before + done, in_flight)

    @property
    def max_batches(self) -> list[int | float]:
        """Batches the stage runs per dataloader (the sanity check's, while it runs)."""
        trainer = self._trainer
        if self._fn in ("fit", "validate"):
            if trainer.state.stage == "sanity":
                return trainer.num_sanity_val_batches
            return list(trainer.num_val_batches)
        return trainer.num_test_batches if self._fn == "test" else trainer.num_predict_batches

    @property
    def num_dataloaders(self) -> int:
        loop = self._loop()
        return 0 if loop is None else len(loop.limits)

    @property
    def predictions(self) -> list[Any]:
        """The last ``predict()``'s predictions: a list, or a list per dataloader when there
        are several (``[]`` with ``return_predictions=False``), as Lightning's."""
        if self._fn != "predict":
            raise AttributeError("predictions")  # (__getattr__ says where they are)
        loop = self._loop()
        kept = [] if loop is None else loop.predictions
        if not kept:
            return []
        return kept[0] if len(kept) == 1 else kept

    @property
    def return_predictions(self) -> bool:
        if self._fn != "predict":
            raise AttributeError("return_predictions")  # (__getattr__ says where it is)
        loop = self._loop()
        return bool(loop is not None and loop.keep_predictions)
