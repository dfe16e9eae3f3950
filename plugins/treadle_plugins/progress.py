"""Progress bars: Lightning's ``TQDMProgressBar`` and ``RichProgressBar``, and plain lines.

The default ``Trainer`` (``enable_progress_bar=True``) adds one bar, chosen by
``TREADLE_PROGRESS_BAR`` (``auto``, ``rich``, ``tqdm`` or ``plain``); ``auto`` takes Rich when
it is installed (the ``[rich]`` extra), else TQDM (the ``[tqdm]`` extra), else plain lines. A
bar passed in ``callbacks=[...]`` replaces the default one, as in Lightning.

Every bar shows training (one bar per epoch), validation, the sanity check, test and predict,
with the batches done, it/s, the time elapsed and left, and ``get_metrics()`` (the ``prog_bar``
metrics and ``v_num``), on global rank zero only. When stdout is not a terminal (CI, a SLURM
log file) a bar prints plain lines instead, without carriage returns: one every 10 % of an
epoch, at most one every ``LINE_MIN_S`` seconds, at least one a minute while batches come, and
one when each epoch and each validation ends. Neither ``tqdm`` nor ``rich`` is imported then.

The cost per batch is a counter and a comparison; the clock is read every ``refresh_rate``
batches, and the bar is drawn at most ten times a second (the metrics, which may need a
device sync, are read only then).
"""

from __future__ import annotations

import copy
import math
import os
import sys
import time
from dataclasses import dataclass
from typing import Any

from treadle import Callback, Setting, hookimpl, module_available
from treadle.errors import ConfigurationError

CHOICES = ("auto", "rich", "tqdm", "plain")
INSTALL_HINT = {"rich": "pip install 'treadle[rich]'", "tqdm": "pip install 'treadle[tqdm]'"}

treadle_settings = [
    Setting(
        "TREADLE_PROGRESS_BAR",
        "the default progress bar: auto (rich, else tqdm, else plain lines), rich, tqdm or plain",
        "auto",
    )
]


class ProgressBar(Callback):
    """Lightning's ``ProgressBar``: the base of every progress bar; shows nothing by itself.

    A subclass reads ``total_train_batches``, ``total_val_batches`` and :meth:`get_metrics`;
    ``trainer.progress_bar_callback`` is the run's progress bar.
    """

    def __init__(self) -> None:
        self._trainer: Any = None
        self._enabled = True

    @property
    def trainer(self) -> Any:
        if self._trainer is None:
            raise TypeError(f"The `{type(self).__name__}._trainer` reference has not been set yet.")
        return self._trainer

    _not_copied: tuple[str, ...] = ("_trainer",)  # attributes a deep copy shares

    def __deepcopy__(self, memo: dict[int, Any]) -> ProgressBar:
        """A copy that refers to the same trainer (``copy.deepcopy(trainer.callbacks)`` in a
        hook, as Lightning's tests of resuming do): the trainer, its plugins and modules are
        not copied with the bar."""
        new = type(self).__new__(type(self))
        memo[id(self)] = new
        for name, value in vars(self).items():
            shared = name in self._not_copied
            setattr(new, name, value if shared else copy.deepcopy(value, memo))
        return new

    @property
    def is_enabled(self) -> bool:
        return self._enabled

    @property
    def is_disabled(self) -> bool:
        return not self.is_enabled

    def enable(self) -> None:
        self._enabled = True

    def disable(self) -> None:
        self._enabled = False

    @property
    def total_train_batches(self) -> int | float:
        """Training batches per epoch (``inf`` for an iterable of unknown length)."""
        return self.trainer.num_training_batches

    @property
    def total_val_batches(self) -> int | float:
        """Validation batches of one validation run (every dataloader's together); 0 in an
        epoch that does not validate (``check_val_every_n_epoch``), as Lightning's."""
        every = self.trainer.check_val_every_n_epoch
        if every is not None and (self.trainer.current_epoch + 1) % every != 0:
            return 0
        return sum(self.trainer.num_val_batches)

    def get_metrics(self, trainer: Any, pl_module: Any) -> dict[str, Any]:
        """What the bar shows beside the counts: ``v_num`` (:func:`get_standard_metrics`) and the
        metrics logged with ``prog_bar=True``. Override it to show other items."""
        items: dict[str, Any] = get_standard_metrics(trainer)
        items.update(trainer.progress_bar_metrics)
        return items

    def setup(self, trainer: Any, pl_module: Any, stage: str) -> None:
        self._trainer = trainer
        if not trainer.is_global_zero:
            self.disable()


def get_standard_metrics(trainer: Any) -> dict[str, int | str]:
    """The items every bar shows (Lightning's function): ``v_num``, the loggers' version (one
    logger's, or the distinct versions of several joined by ``_``; a string's last 4
    characters), when there is a logger and it has one."""
    loggers = trainer.loggers
    if not loggers:
        return {}
    if len(loggers) == 1:
        version = loggers[0].version
    else:
        version = "_".join(dict.fromkeys(str(logger.version) for logger in loggers))
    if version in (None, ""):
        return {}
    return {"v_num": version[-4:] if isinstance(version, str) else version}


class _Task:
    """The numbers of one bar: batches done of ``total`` since ``start``; when to draw next."""

    __slots__ = ("desc", "total", "n", "start", "due_n", "due_t", "last_t", "mark", "handle")

    def __init__(self, desc: str, total: int | None) -> None:
        self.desc, self.total, self.n = desc, total, 0
        self.start = self.last_t = self.due_t = time.perf_counter()
        self.due_n = 1  # draw at the first batch (a terminal) or the first mark (lines)
        self.mark = 0  # lines: the next tenth of the epoch to report
        self.handle: Any = None  # the tqdm bar or the rich task id


def _total(n: Any) -> int | None:
    if isinstance(n, (list, tuple)):  # Lightning's per-dataloader lists
        n = sum(n)
    if n is None or n == math.inf:
        return None
    return int(n)


def _interactive(stream: Any) -> bool:
    """A terminal, or a Jupyter notebook's output (whose widgets tqdm and rich draw)."""
    isatty = getattr(stream, "isatty", None)
    if isatty is not None and isatty():
        return True
    return stream is sys.stdout and "ipykernel" in sys.modules


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    h, rest = divmod(seconds, 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}" if h else f"{rest // 60}:{rest % 60:02d}"


def _number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


class PlainProgressBar(ProgressBar):
    """Plain lines, for log files, and the base of the live bars.

    ``Epoch 0: 640/1000 (64%), 1234.5 it/s, 0:05 elapsed, 0:03 left | loss=0.123, v_num=0``

    :param refresh_rate: look at the clock every this many batches; 0 disables the bar.
    :param leave: live bars: keep each finished epoch's bar (a new bar per epoch).
    """

    # Lines: one every LINE_FRACTION of an epoch, at most one every LINE_MIN_S seconds, at
    # least one every LINE_MAX_S seconds while batches come.
    LINE_FRACTION = 0.1
    LINE_MIN_S = 5.0
    LINE_MAX_S = 60.0
    REFRESH_S = 0.1  # a live bar is redrawn at most this often

    def __init__(self, refresh_rate: int = 1, leave: bool = False) -> None:
        super().__init__()
        if not isinstance(refresh_rate, int) or refresh_rate < 0:
            raise ValueError(
                f"`{type(self).__name__}(refresh_rate={refresh_rate!r})`: give a whole number "
                f">= 0 (batches between updates; 0 disables the bar)."
            )
        self._refresh_rate = refresh_rate
        self._leave = leave
        self._live = False  # drawing on a terminal (set when a stage starts)
        self._train: _Task | None = None
        self._eval: _Task | None = None
        self._eval_stage = ""
        # each kind's latest bar, kept after its stage (Lightning's `train_progress_bar`, ...)
        self._bars: dict[str, _Task] = {}

    @property
    def refresh_rate(self) -> int:
        return self._refresh_rate

    @property
    def is_enabled(self) -> bool:
        return self._enabled and self._refresh_rate > 0

    def _stream(self) -> Any:
        return sys.stdout

    def _terminal(self) -> bool:
        """Draw a live bar (the subclasses do, when stdout is a terminal)."""
        return False

    # -- what the hooks do -------------------------------------------------------------------

    def _open(self, kind: str, total: Any) -> _Task | None:
        self._live = self.is_enabled and self._terminal()
        task = _Task(self._description(kind), _total(total))
        self._bars["val" if kind == "sanity" else kind] = task  # the sanity check's is "val"
        if not self.is_enabled:  # counted, never drawn (as Lightning's disabled tqdm bars)
            task.due_n = math.inf  # type: ignore[assignment]  # a count never reached
            return task
        if self._live:
            self._live_open(task, kind)
        else:
            self._plan_line(task)
        return task

    def _batch(self, task: _Task | None) -> None:
        if task is not None:
            task.n += 1
            if task.n >= task.due_n:
                self._due(task)

    def _due(self, task: _Task) -> None:
        now = time.perf_counter()
        if now >= task.due_t:
            self._show(task, now)
        elif self._live:
            task.due_n = task.n + self._live_step(task, now)
        else:  # the line's batch came before its time: look again when, at this speed, it comes
            elapsed = now - task.start
            ahead = task.n * (task.due_t - now) / elapsed if elapsed > 0 else 0.0
            task.due_n = task.n + max(1, int(ahead))

    def _metrics_of(self, task: _Task) -> dict[str, Any]:
        """What ``task``'s bar shows beside its counts: :meth:`get_metrics`."""
        return self.get_metrics(self.trainer, self.trainer.lightning_module)

    def _show(self, task: _Task, now: float, final: bool = False) -> None:
        metrics = self._metrics_of(task)
        if self._live:
            self._live_draw(task, metrics, final)
            task.due_t = now + self._live_interval()
            task.due_n = task.n + self._live_step(task, now)
        else:
            print(self._line(task, metrics, now), file=self._stream(), flush=True)
            task.last_t = now
            self._plan_line(task)

    def _live_interval(self) -> float:
        """Seconds between two draws of a live bar, at least."""
        return self.REFRESH_S

    def _live_step(self, task: _Task, now: float) -> int:
        """Batches until a live bar looks at the clock again: ``refresh_rate``."""
        return self._refresh_rate

    def _plan_line(self, task: _Task) -> None:
        """The next line: at the next tenth of the epoch, but not before LINE_MIN_S seconds;
        and by LINE_MAX_S seconds at the current speed."""
        now = time.perf_counter()
        speed = task.n / (now - task.start) if task.n and now > task.start else 0.0
        in_max = max(1, int(speed * self.LINE_MAX_S)) if speed else math.inf
        if task.total:
            at = task.n
            while at <= task.n:  # the batch of the next tenth (rounded: 3 * 0.1 * 20 is not 6)
                task.mark += 1
                at = math.ceil(round(task.mark * self.LINE_FRACTION * task.total, 6))
            task.due_n = task.n + max(1, int(min(at - task.n, in_max)))
        else:
            task.due_n = task.n + (1 if in_max == math.inf else int(in_max))
        task.due_t = task.last_t + self.LINE_MIN_S

    def _line(self, task: _Task, metrics: dict[str, Any], now: float) -> str:
        elapsed = now - task.start
        speed = task.n / elapsed if elapsed > 0 else 0.0
        if task.total:
            counts = f"{task.n}/{task.total} ({100 * task.n // task.total}%)"
            left = (task.total - task.n) / speed if speed else None
        else:
            counts, left = f"{task.n}", None
        text = f"{task.desc}: {counts}, {speed:.1f} it/s, {_clock(elapsed)} elapsed"
        if left is not None and task.n < (task.total or 0):
            text += f", {_clock(left)} left"
        if metrics:
            text += " | " + ", ".join(f"{k}={_number(v)}" for k, v in metrics.items())
        return text

    def _close(self, task: _Task | None, kind: str) -> None:
        if task is None or task.due_n == math.inf:  # none, or not drawn (disabled)
            return
        if self._live:
            self._live_draw(task, self._metrics_of(task))
            self._live_close(task, kind)
        elif kind != "sanity":  # the sanity check is quiet in a log file
            self._show(task, time.perf_counter(), final=True)

    # -- Lightning's bar attributes ---------------------------------------------------------------

    def _bar(self, kind: str) -> _Task:
        bar = self._bars.get(kind)
        if bar is None:
            raise TypeError(
                f"The `{type(self).__name__}._{kind}_progress_bar` reference has not been set "
                f"yet (no {kind} stage has started)."
            )
        return bar

    @property
    def train_progress_bar(self) -> _Task:
        """The latest training epoch's bar: ``n`` batches done of ``total``."""
        return self._bar("train")

    @property
    def val_progress_bar(self) -> _Task:
        """The latest validation's (or sanity check's) bar: ``n`` and ``total``."""
        return self._bar("val")

    @property
    def test_progress_bar(self) -> _Task:
        return self._bar("test")

    @property
    def predict_progress_bar(self) -> _Task:
        return self._bar("predict")

    def __getstate__(self) -> dict[str, Any]:
        # as Lightning's: the bars (live tqdm/rich handles) are not pickled; nor is the trainer
        # (its plugin manager holds modules): an unpickled bar is attached again by a Trainer
        state = {**vars(self), "_trainer": None, "_train": None, "_eval": None, "_bars": {}}
        return {k: v for k, v in state.items() if k not in ("_train_bar", "_progress")}

    # -- the live bar (subclasses) --------------------------------------------------------------

    def _live_open(self, task: _Task, kind: str) -> None: ...
    def _live_draw(self, task: _Task, metrics: dict[str, Any], final: bool = False) -> None: ...
    def _live_close(self, task: _Task, kind: str) -> None: ...

    # -- hooks ----------------------------------------------------------------------------------

    def _description(self, kind: str) -> str:
        """The label of a bar of ``kind`` (``train``, ``val``, ``sanity``, ``test``,
        ``predict``)."""
        trainer = self.trainer
        if kind == "train":
            return f"Epoch {trainer.current_epoch}"
        if kind == "val" and trainer.state.fn == "fit":
            return f"Validation (epoch {trainer.current_epoch})"
        return {
            "val": "Validation",
            "sanity": "Sanity Checking",
            "test": "Testing",
            "predict": "Predicting",
        }[kind]

    def on_train_epoch_start(self, trainer: Any, pl_module: Any) -> None:
        self._train = self._open("train", self.total_train_batches)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        task = self._train  # _batch, inlined: this runs every training step
        if task is not None:
            task.n += 1
            if task.n >= task.due_n:
                self._due(task)

    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        task, self._train = self._train, None
        self._close(task, "train")

    def on_train_end(self, trainer: Any, pl_module: Any) -> None:
        self._live_end()

    def on_exception(self, trainer: Any, pl_module: Any, exception: BaseException) -> None:
        self._live_end()

    def _live_end(self) -> None: ...

    def on_sanity_check_start(self, trainer: Any, pl_module: Any) -> None:
        self._eval_stage = "sanity"

    def on_sanity_check_end(self, trainer: Any, pl_module: Any) -> None:
        self._eval_stage = ""

    def on_validation_start(self, trainer: Any, pl_module: Any) -> None:
        if self._eval_stage == "sanity":
            steps, n = trainer.config.num_sanity_val_steps, sum(trainer.num_val_batches)
            total = n if steps == -1 else min(n, steps * trainer.state.num_dataloaders)
            self._eval = self._open("sanity", total)
        else:
            self._eval = self._open("val", self.total_val_batches)

    def on_validation_batch_end(
        self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0
    ):
        self._batch(self._eval)

    def on_validation_end(self, trainer: Any, pl_module: Any) -> None:
        task, self._eval = self._eval, None
        self._close(task, "sanity" if self._eval_stage == "sanity" else "val")
        if trainer.state.fn != "fit":
            self._live_end()

    def on_test_start(self, trainer: Any, pl_module: Any) -> None:
        total = getattr(trainer, "num_test_batches", None)
        self._eval = self._open("test", total)

    def on_test_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0):
        self._batch(self._eval)

    def on_test_end(self, trainer: Any, pl_module: Any) -> None:
        task, self._eval = self._eval, None
        self._close(task, "test")
        self._live_end()

    def on_predict_start(self, trainer: Any, pl_module: Any) -> None:
        total = getattr(trainer, "num_predict_batches", None)
        self._eval = self._open("predict", total)

    def on_predict_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0):
        self._batch(self._eval)

    def on_predict_end(self, trainer: Any, pl_module: Any) -> None:
        task, self._eval = self._eval, None
        self._close(task, "predict")
        self._live_end()


# the factory of each kind of bar (Lightning's TQDMProgressBar methods)
_INIT_TQDM = {
    "sanity": "init_sanity_tqdm",
    "train": "init_train_tqdm",
    "val": "init_validation_tqdm",
    "test": "init_test_tqdm",
    "predict": "init_predict_tqdm",
}


class TQDMProgressBar(PlainProgressBar):
    """Lightning's ``TQDMProgressBar`` (extra ``[tqdm]``): tqdm bars on a terminal, plain lines
    otherwise.

    :param refresh_rate: update the bar every this many batches (at most ten times a second);
        0 disables it.
    :param process_position: lines to leave above the bars (several runs side by side).
    :param leave: keep each finished epoch's bar (a new bar per epoch).
    """

    def __init__(self, refresh_rate: int = 1, process_position: int = 0, leave: bool = False):
        super().__init__(refresh_rate, leave)
        # as Lightning's: 20 on Colab (for the default 1), at least tqdm's TQDM_MINITERS
        if os.getenv("COLAB_GPU") and refresh_rate == 1:
            self._refresh_rate = 20
        elif "TQDM_MINITERS" in os.environ:
            self._refresh_rate = max(int(os.environ["TQDM_MINITERS"]), refresh_rate)
        self._process_position = process_position
        self._train_bar: Any = None

    @property
    def process_position(self) -> int:
        return self._process_position

    def _terminal(self) -> bool:
        if not _interactive(self._stream()):
            return False
        if not module_available("tqdm"):
            raise ModuleNotFoundError(
                f"`TQDMProgressBar` needs the `tqdm` package, which is not installed. Install it "
                f"with: {INSTALL_HINT['tqdm']} (or use `PlainProgressBar`)."
            )
        return True

    # -- Lightning's bar factories: override one to customise its bar ----------------------------

    def _tqdm(self, kind: str) -> Any:
        """A tqdm bar for ``kind``, drawn on a terminal (disabled otherwise)."""
        if not module_available("tqdm"):
            raise ModuleNotFoundError(
                f"`TQDMProgressBar` needs the `tqdm` package, which is not installed. Install it "
                f"with: {INSTALL_HINT['tqdm']} (or use `PlainProgressBar`)."
            )
        from tqdm.auto import tqdm

        below = kind in ("val", "sanity") and self._train is not None
        return tqdm(
            desc=self._description(kind),
            position=self._process_position + (1 if below else 0),
            leave=kind in ("train", "test", "predict"),
            file=self._stream(),
            dynamic_ncols=True,
            smoothing=0,
            unit="it",
            disable=not self._live,
        )

    def init_sanity_tqdm(self) -> Any:
        """The sanity check's bar (a tqdm)."""
        return self._tqdm("sanity")

    def init_train_tqdm(self) -> Any:
        """The training bar (a tqdm)."""
        return self._tqdm("train")

    def init_predict_tqdm(self) -> Any:
        """The prediction bar (a tqdm)."""
        return self._tqdm("predict")

    def init_validation_tqdm(self) -> Any:
        """The validation bar (a tqdm)."""
        return self._tqdm("val")

    def init_test_tqdm(self) -> Any:
        """The test bar (a tqdm)."""
        return self._tqdm("test")

    def _init_tqdm(self, kind: str) -> Any:
        return getattr(self, _INIT_TQDM[kind])()

    def _open(self, kind: str, total: Any) -> _Task | None:
        task = super()._open(kind, total)
        # outside a terminal, a subclass's bar factory still runs: its description (set there,
        # as Lightning's docs show) labels the plain lines
        if task is not None and self.is_enabled and not self._live:
            name = _INIT_TQDM[kind]
            if getattr(type(self), name) is not getattr(TQDMProgressBar, name):
                bar = self._init_tqdm(kind)
                # (a disabled tqdm has a ``desc`` only once ``set_description`` gave it one)
                task.desc = str(getattr(bar, "desc", "")).removesuffix(": ") or task.desc
                bar.close()
        return task

    def _live_open(self, task: _Task, kind: str) -> None:
        if kind == "train" and self._train_bar is not None:  # as Lightning: one bar per fit
            task.handle = self._train_bar
            task.handle.set_description(task.desc, refresh=False)
            task.handle.reset(total=task.total)
            return
        task.handle = self._init_tqdm(kind)
        task.handle.reset(total=task.total)
        task.desc = str(task.handle.desc).removesuffix(": ") or task.desc
        if kind == "train" and not self._leave:
            self._train_bar = task.handle

    def _live_draw(self, task: _Task, metrics: dict[str, Any], final: bool = False) -> None:
        bar = task.handle
        bar.n = task.n
        bar.set_postfix({k: _number(v) for k, v in metrics.items()}, refresh=False)
        bar.refresh()

    def _live_close(self, task: _Task, kind: str) -> None:
        if task.handle is not self._train_bar:  # the epoch's bar stays until training ends
            task.handle.close()

    def _live_end(self) -> None:
        if self._train_bar is not None:
            self._train_bar.close()
            self._train_bar = None


@dataclass
class RichProgressBarTheme:
    """Lightning's ``RichProgressBarTheme``: the styles of the parts of a ``RichProgressBar``
    (`rich styles <https://rich.readthedocs.io/en/stable/style.html>`_).

    :param description: the bar's label ("Epoch 0/9", "Validation", ...).
    :param progress_bar: the bar in progress.
    :param progress_bar_finished: the finished bar.
    :param progress_bar_pulse: the bar of an iterable of unknown length.
    :param batch_progress: the counts ("10/50").
    :param time: the time elapsed and left.
    :param processing_speed: the batches per second.
    :param metrics: the metrics (on the training bar).
    :param metrics_text_delimiter: between two metrics.
    :param metrics_format: the format of a number (``.3f``).
    """

    description: Any = ""
    progress_bar: Any = "#6206E0"
    progress_bar_finished: Any = "#6206E0"
    progress_bar_pulse: Any = "#6206E0"
    batch_progress: Any = ""
    time: Any = "dim"
    processing_speed: Any = "dim underline"
    metrics: Any = "italic"
    metrics_text_delimiter: str = " "
    metrics_format: str = ".3f"


# the public task id of each kind of bar (Lightning's attributes)
_TASK_IDS = {
    "train": "train_progress_bar_id",
    "sanity": "val_sanity_progress_bar_id",
    "val": "val_progress_bar_id",
    "test": "test_progress_bar_id",
    "predict": "predict_progress_bar_id",
}


class RichProgressBar(PlainProgressBar):
    """Lightning's ``RichProgressBar`` (extra ``[rich]``): Rich bars on a terminal, plain lines
    otherwise.

    On a terminal, ``progress`` is the ``rich.progress.Progress`` that draws the bars, and
    ``train_progress_bar_id``, ``val_sanity_progress_bar_id``, ``val_progress_bar_id``,
    ``test_progress_bar_id`` and ``predict_progress_bar_id`` are the ids of its tasks
    (``progress.tasks``); each stage (fit, validate, test, predict) starts a new ``Progress``.
    In a log file (not a terminal) the bar prints plain lines and ``progress`` stays ``None``.

    :param refresh_rate: redraw the bars at most this many times a second (as Lightning's; and
        never more than ten times a second); 0 disables them.
    :param leave: keep each finished epoch's bar on the screen.
    :param theme: a :class:`RichProgressBarTheme`.
    :param console_kwargs: passed to ``rich.console.Console`` (``force_terminal=True`` draws
        the bars even when stdout is not a terminal).
    """

    _not_copied = ("_trainer", "progress")

    def __init__(
        self,
        refresh_rate: int = 100,
        leave: bool = False,
        theme: RichProgressBarTheme | None = None,
        console_kwargs: dict[str, Any] | None = None,
    ) -> None:
        if not isinstance(refresh_rate, int) or refresh_rate < 0:
            raise ValueError(
                f"`RichProgressBar(refresh_rate={refresh_rate!r})`: give a whole number >= 0 "
                f"(redraws per second, at most; 0 disables the bar)."
            )
        super().__init__(refresh_rate, leave)
        self.theme = theme or RichProgressBarTheme()
        self._console_kwargs = console_kwargs or {}
        self.progress: Any = None  # the rich.progress.Progress, once a bar is drawn
        self._progress_stopped = False
        self.train_progress_bar_id: Any = None
        self.val_sanity_progress_bar_id: Any = None
        self.val_progress_bar_id: Any = None
        self.test_progress_bar_id: Any = None
        self.predict_progress_bar_id: Any = None

    def configure_columns(self, trainer: Any) -> list[Any]:
        """The columns of the bars, left to right (Lightning's): the label, the bar, the
        counts, the time elapsed and left, the speed. The metrics column always follows them.
        Override it to show other ``rich.progress.ProgressColumn`` s."""
        return _rich_columns(self.theme)

    def get_metrics(self, trainer: Any, pl_module: Any) -> dict[str, Any]:
        """As :meth:`ProgressBar.get_metrics`, with one-element tensors as Python numbers."""
        items = super().get_metrics(trainer, pl_module)
        return {k: v.item() if _is_scalar_tensor(v) else v for k, v in items.items()}

    def _terminal(self) -> bool:
        stream = self._console_kwargs.get("file", self._stream())
        if not (self._console_kwargs.get("force_terminal") or _interactive(stream)):
            return False
        if not module_available("rich"):
            raise ModuleNotFoundError(
                f"`RichProgressBar` needs the `rich` package, which is not installed. Install it "
                f"with: {INSTALL_HINT['rich']} (or use `PlainProgressBar`)."
            )
        return True

    def _description(self, kind: str) -> str:
        if not self._live:  # the plain lines' labels
            return super()._description(kind)
        if kind == "train":  # as Lightning's: "Epoch 3/9", as wide as "Validation"
            text = f"Epoch {self.trainer.current_epoch}"
            if self.trainer.max_epochs is not None:
                text += f"/{self.trainer.max_epochs - 1}"
            return f"{text:{len('Validation')}}"
        return "Validation" if kind == "val" else super()._description(kind)

    def _live_interval(self) -> float:
        return max(1.0 / self._refresh_rate, self.REFRESH_S)

    def _live_step(self, task: _Task, now: float) -> int:
        # the batches expected before the next draw is due, at the speed so far
        elapsed = now - task.start
        if task.n == 0 or elapsed <= 0:
            return 1
        return max(1, int(task.n * (task.due_t - now) / elapsed))

    def _metrics_of(self, task: _Task) -> dict[str, Any]:
        if self._live and task is not self._bars.get("train"):
            return {}  # as Lightning's: the metrics are shown on the training bar only
        return super()._metrics_of(task)

    def _metrics_text(self, metrics: dict[str, Any]) -> str:
        theme, texts = self.theme, []
        for name, value in metrics.items():
            if not isinstance(value, str):
                try:
                    value = format(value, theme.metrics_format)
                except (TypeError, ValueError):
                    value = str(value)
            texts.append(f"{name}: {value}")
        return theme.metrics_text_delimiter.join(texts)

    def _start_progress(self) -> None:
        from rich.console import Console
        from rich.progress import Progress, TextColumn

        for attr in _TASK_IDS.values():
            setattr(self, attr, None)
        self.progress = Progress(
            *self.configure_columns(self.trainer),
            TextColumn("{task.fields[metrics]}", style=self.theme.metrics, justify="left"),
            auto_refresh=False,
            console=Console(**self._console_kwargs),
        )
        self.progress.start()
        self._progress_stopped = False

    def on_train_start(self, trainer: Any, pl_module: Any) -> None:
        # as Lightning's: on a terminal the Progress is there from the start of training, so
        # that an interruption before the first bar (in an `on_train_start` hook) stops it
        stopped = self.progress is None or self._progress_stopped
        if stopped and self.is_enabled and self._terminal():
            self._start_progress()

    def _live_open(self, task: _Task, kind: str) -> None:
        if self.progress is None or self._progress_stopped:
            self._start_progress()
        elif kind == "train" and self._leave and self.train_progress_bar_id is not None:
            self.progress.stop()  # leave: the finished epoch's bar stays; a new Progress below
            self._start_progress()
        progress, attr = self.progress, _TASK_IDS[kind]
        old = getattr(self, attr)
        if kind == "train" and old is not None:  # one bar for every epoch, as Lightning's
            progress.reset(old, total=task.total, description=task.desc, visible=True)
            task.handle = old
            return
        if old is not None:  # the previous validation's (or test's) bar, hidden
            progress.update(old, visible=False)
        task.handle = progress.add_task(task.desc, total=task.total, metrics="")
        setattr(self, attr, task.handle)

    def _live_draw(self, task: _Task, metrics: dict[str, Any], final: bool = False) -> None:
        if task is self._bars.get("train"):
            self.progress.update(task.handle, completed=task.n, metrics=self._metrics_text(metrics))
        else:
            self.progress.update(task.handle, completed=task.n)
        self.progress.refresh()

    def _live_close(self, task: _Task, kind: str) -> None:
        fit = self.trainer.state.fn == "fit"
        if kind == "sanity" or (kind == "val" and fit):
            self.progress.update(task.handle, visible=False)  # the epoch's bar stays
            train = self._bars.get("train")
            if kind == "val" and train is not None and train.handle is not None:
                # the validation's metrics, on the training bar (Lightning's on_validation_end)
                metrics = self._metrics_text(super()._metrics_of(train))
                self.progress.update(train.handle, metrics=metrics)
        self.progress.refresh()

    def _live_end(self) -> None:
        if self.progress is not None and not self._progress_stopped:
            self.progress.stop()  # kept: its tasks hold the last counts, as Lightning's
            self._progress_stopped = True

    def __getstate__(self) -> dict[str, Any]:
        # as Lightning's: the Progress holds a console and locks, which do not pickle
        return {**super().__getstate__(), "progress": None, "_progress_stopped": False}


def _is_scalar_tensor(value: Any) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(value, torch.Tensor) and value.numel() == 1


def _rich_columns(theme: RichProgressBarTheme) -> list[Any]:
    """Lightning's columns: label, bar, counts, time elapsed and left, speed."""
    from datetime import timedelta

    from rich.progress import BarColumn, ProgressColumn, TextColumn
    from rich.text import Text

    class BatchesProcessedColumn(ProgressColumn):
        def __init__(self, style: Any) -> None:
            self.style = style
            super().__init__()

        def render(self, task: Any) -> Text:
            total = "--" if task.total is None else int(task.total)
            return Text(f"{int(task.completed)}/{total}", style=self.style)

    class TimeColumn(ProgressColumn):
        max_refresh = 0.5  # as Lightning's: twice a second, against jitter

        def __init__(self, style: Any) -> None:
            self.style = style
            super().__init__()

        def render(self, task: Any) -> Text:
            elapsed = task.finished_time if task.finished else task.elapsed
            left = task.time_remaining
            texts = [
                "-:--:--" if t is None else str(timedelta(seconds=int(t))) for t in (elapsed, left)
            ]
            return Text(" • ".join(texts), style=self.style)

    class ProcessingSpeedColumn(ProgressColumn):
        def __init__(self, style: Any) -> None:
            self.style = style
            super().__init__()

        def render(self, task: Any) -> Text:
            speed = "0.00" if task.speed is None else f"{task.speed:.2f}"
            return Text(f"{speed}it/s", style=self.style)

    return [
        TextColumn("[progress.description]{task.description}", style=theme.description),
        BarColumn(
            complete_style=theme.progress_bar,
            finished_style=theme.progress_bar_finished,
            pulse_style=theme.progress_bar_pulse,
        ),
        BatchesProcessedColumn(style=theme.batch_progress),
        TimeColumn(style=theme.time),
        ProcessingSpeedColumn(style=theme.processing_speed),
    ]


def default_progress_bar(choice: str | None = None) -> PlainProgressBar:
    """The bar ``TREADLE_PROGRESS_BAR`` (or ``choice``) names; ``auto``: Rich, else TQDM, else
    plain lines, whichever is installed."""
    choice = _chosen(choice)
    if choice not in CHOICES:
        raise ConfigurationError(
            [
                f"progress_bar: `TREADLE_PROGRESS_BAR={choice}` names no progress bar; choose "
                f"one of {', '.join(CHOICES)} (or unset it: auto)."
            ]
        )
    if choice == "auto":
        choice = next((c for c in ("rich", "tqdm") if module_available(c)), "plain")
    elif choice != "plain" and not module_available(choice):
        raise ConfigurationError(
            [
                f"progress_bar: `TREADLE_PROGRESS_BAR={choice}` needs the `{choice}` package, "
                f"which is not installed. Install it with: {INSTALL_HINT[choice]}; or choose "
                f"plain."
            ]
        )
    return {"rich": RichProgressBar, "tqdm": TQDMProgressBar, "plain": PlainProgressBar}[choice]()


def _chosen(choice: str | None = None) -> str:
    """``choice``, else ``TREADLE_PROGRESS_BAR``; ``auto`` when neither says."""
    return (choice if choice is not None else os.environ.get("TREADLE_PROGRESS_BAR", "")) or "auto"


def rich_is_the_default() -> bool:
    """Whether the default bar is Rich's: ``TREADLE_PROGRESS_BAR`` unset, ``auto`` or ``rich``,
    and rich installed (the default model summary follows it, as Lightning's follows rich)."""
    return _chosen() in ("auto", "rich") and module_available("rich")


@hookimpl
def configure_callbacks(trainer):
    bars = [c for c in trainer.callbacks if isinstance(c, ProgressBar)]
    if len(bars) > 1:  # as Lightning, when the Trainer is built
        raise ConfigurationError(
            "You added multiple progress bar callbacks to the Trainer, but currently only one "
            f"progress bar is supported (got {', '.join(type(b).__name__ for b in bars)}). "
            "Pass one."
        )
    if bars and not trainer.config.enable_progress_bar:
        raise ConfigurationError(
            "Trainer was configured with `enable_progress_bar=False` but found "
            f"`{type(bars[0]).__name__}` in callbacks list. Remove it or set "
            "`enable_progress_bar=True`."
        )
    if trainer.config.enable_progress_bar and not bars:
        return [default_progress_bar()]
    return None
