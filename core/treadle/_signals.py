"""Preemption: SIGTERM, SIGUSR1 and SIGINT during ``fit()`` end the run with a checkpoint;
during ``validate()``, ``test()`` and ``predict()`` they end it after the batch running, with
nothing to save (:class:`EvaluationPreemption`).

While ``fit()`` trains, the handler only records the signal. The fit loop reads that record
once per training batch, after the batch (and any validation it triggers) finished: never in
the middle of a step. Then every rank writes ``<dir>/last.ckpt`` through
``trainer.save_checkpoint`` (rank zero writes, all ranks take part) and raises
:class:`treadle.errors.Preempted` (for SIGTERM its subclass ``SIGTERMException``, Lightning's
name), which ``fit()`` hands to ``on_exception`` and which exits
the process with 128 + the signal number. ``<dir>`` is the checkpoint callback's ``dirpath``,
else ``<default_root_dir>/checkpoints``: where ``fit(ckpt_path="last")`` looks.

Several ranks agree on the batch to stop at: a signal may reach them at different moments. They
compare with one max-reduce of two numbers (the signal received, the seconds per batch since the
last comparison) every ``k`` training batches, the same ``k`` on every rank: the next ``k``
comes from the reduced (slowest) batch time, so that a comparison comes about every
``AGREE_EVERY_S`` seconds, and at most every ``AGREE_MAX_BATCHES`` batches. A reduce after every
batch would add a round trip (on GPUs also a host sync) to every step, a large share of a small
model's step; this costs one reduce per half second, and the ranks stop at most that much
later. One process compares nothing: the loop reads an attribute and nothing more.

Handlers are installed from the main thread only, for signals whose handler is the default
(``SIG_DFL``; for SIGINT also Python's ``default_int_handler``). A SIGTERM handler someone else
set (a callable) is chained, as Lightning's ``_SignalConnector`` does: treadle's handler
records the signal, then calls it, and the run stops as with the default. Any other handler
someone else set (SIGUSR1's, SIGINT's, and ``SIG_IGN`` for any of the three) is left alone, as
is the handler of a run already going on in this process (a ``validate()`` called from a
``fit()``'s callback: the outer run acts). The previous handlers come back when the run ends.
After a first SIGINT the previous SIGINT handler is back at once, so a second Ctrl-C interrupts
whatever runs (the step, the save) with ``KeyboardInterrupt``.

``sigterm`` records that this process received SIGTERM during the run (whichever signal came
first): ``trainer.received_sigterm``, Lightning's flag.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import torch

from treadle.errors import preempted

# Read once: the signals that end a run with a checkpoint (SIGUSR1 does not exist on Windows).
SIGNALS = tuple(
    s for s in (signal.SIGTERM, getattr(signal, "SIGUSR1", None), signal.SIGINT) if s is not None
)


# Several ranks compare their signals about this often (seconds), and at most every this many
# training batches (which bounds the wait when batches suddenly get slower).
AGREE_EVERY_S = 0.5
AGREE_MAX_BATCHES = 256


def checkpoint_dir(trainer: Any) -> Path:
    """Where a preemption checkpoint goes: the checkpoint callback's ``dirpath`` when there is
    one (and it is set), else ``<default_root_dir>/checkpoints``."""
    callback = trainer.checkpoint_callback
    dirpath = getattr(callback, "dirpath", None) if callback is not None else None
    return Path(dirpath) if dirpath else Path(trainer.default_root_dir) / "checkpoints"


class Preemption:
    """The signals caught during one ``fit()``; a context manager around its training.

    ``signum`` is 0 until a caught signal arrives, then that signal's number (the first one);
    ``sigterm`` is True once SIGTERM arrived.
    """

    __slots__ = (
        "trainer",
        "signum",
        "sigterm",
        "chained",
        "previous",
        "several",
        "countdown",
        "window",
        "since",
    )

    def __init__(self, trainer: Any) -> None:
        self.trainer = trainer
        self.signum = 0
        self.sigterm = False
        self.chained: Any = None  # the SIGTERM handler set before the run, called after ours
        self.previous: dict[int, Any] = {}  # signal -> the handler to put back
        self.several = False  # several ranks: they compare every `window` batches
        self.countdown = self.window = 1  # batches to the next comparison; in this window
        self.since = 0.0  # time.monotonic() at the last comparison

    def __enter__(self) -> Preemption:
        self.signum = 0
        self.sigterm = False
        self.chained = None
        self.several = self.trainer.world_size > 1
        self.countdown = self.window = 1
        self.since = time.monotonic()
        if threading.current_thread() is not threading.main_thread():
            return self  # signal.signal works in the main thread only
        for signum in SIGNALS:
            current = signal.getsignal(signum)
            if signum == signal.SIGTERM and _chainable(current):
                self.chained = current  # as Lightning: the user's handler runs too
            elif current is not signal.SIG_DFL and not (
                signum == signal.SIGINT and current is signal.default_int_handler
            ):
                continue  # someone else's: left alone
            self.previous[signum] = signal.signal(signum, self._on_signal)
        return self

    def _on_signal(self, signum: int, frame: Any) -> None:
        # Only record it: the loop acts after the current training batch.
        if not self.signum:
            self.signum = signum
        if signum == signal.SIGTERM:
            self.sigterm = True
            if self.chained is not None:  # recorded first: its exception still stops the run
                self.chained(signum, frame)
        if signum == signal.SIGINT:  # a second Ctrl-C goes to the previous handler at once
            signal.signal(signum, self.previous.pop(signum))

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            # A signal that came too late for the batch loop (during the last batch's
            # validation, the epoch's end, on_train_end): the run is saved as it ended.
            if exc_type is None and self.several:
                self.agree()
            elif exc_type is None and self.signum:
                self.stop(self.signum)
        finally:
            for signum, handler in self.previous.items():
                signal.signal(signum, handler)
            self.previous, self.chained = {}, None

    def check(self) -> None:
        """After a training batch, when this process received a signal or there are several
        ranks: stop now (one process), or count down to the ranks' next comparison."""
        if not self.several:
            self.stop(self.signum)
        self.countdown -= 1
        if self.countdown <= 0:
            self.agree()

    def agree(self) -> None:
        """Every rank at once: stop when any received a signal, else set the next window."""
        trainer = self.trainer
        per_batch = (time.monotonic() - self.since) / self.window
        mine = torch.tensor([float(self.signum), per_batch], device=trainer.root_device)
        signum, slowest = trainer.reduce(mine, "max").tolist()
        if signum:
            self.stop(int(signum))
        # The same reduced numbers on every rank: the same window on every rank.
        window = int(AGREE_EVERY_S / slowest) if slowest > 0 else AGREE_MAX_BATCHES
        self.countdown = self.window = max(1, min(AGREE_MAX_BATCHES, window))
        self.since = time.monotonic()

    def stop(self, signum: int) -> None:
        """Save ``last.ckpt`` (every rank takes part) and raise :class:`Preempted`."""
        trainer, state = self.trainer, self.trainer.state
        path = str(checkpoint_dir(trainer) / "last.ckpt")
        trainer.save_checkpoint(path)
        error = preempted(signum, path)
        if trainer.is_global_zero:
            print(
                f"treadle: {error} (epoch {state.epoch}, {state.batches_done} batches done, "
                f"global step {state.global_step}); exiting with code {error.code}. Run the "
                f'same script with `trainer.fit(..., ckpt_path="last")` to resume.',
                file=sys.stderr,
                flush=True,
            )
        raise error


def _chainable(handler: Any) -> bool:
    """A SIGTERM handler set before the run that treadle's calls: a Python callable, not
    ``SIG_DFL``/``SIG_IGN``, nor None (set outside Python), nor the handler of a run already
    going on (that run acts on the signal)."""
    return callable(handler) and not isinstance(getattr(handler, "__self__", None), Preemption)


class EvaluationPreemption(Preemption):
    """The signals caught during ``validate()``, ``test()`` or ``predict()``: the batch running
    finishes, then the evaluation stops. Nothing is saved (an evaluation has no state to
    resume); ``on_exception`` gets :class:`Preempted` with ``ckpt_path=None``, the loggers are
    finalized (what was logged so far is on disk) and the process exits with 128 + the signal
    number, as ``fit()``'s.

    Several ranks agree on the batch as ``fit()``'s do, but only within the batches every
    rank runs (:meth:`start`; unpadded evaluation samplers may give a rank one batch more): a
    signal after those is acted on at the evaluation's end, where every rank agrees again.
    """

    __slots__ = ("common", "done")

    def __init__(self, trainer: Any) -> None:
        super().__init__(trainer)
        self.common = 0.0  # batches every rank runs (where ranks may compare)
        self.done = 0  # batches run so far

    def start(self, batches: float) -> None:
        """At the evaluation's start, on every rank (a collective under several ranks):
        ``batches``, this rank's batches to run, gives the batches every rank runs."""
        self.done = 0
        if self.several:
            mine = torch.tensor([-float(batches)], device=self.trainer.root_device)
            fewest = -self.trainer.reduce(mine, "max").item()
            self.common = fewest if fewest != float("inf") else 0.0  # (inf: lengths unknown)

    def after_batch(self) -> None:
        """After an evaluation batch, when this process received a signal or there are
        several ranks: stop now (one process), or count down to the ranks' next comparison."""
        self.done += 1
        if not self.several:
            self.stop(self.signum)
        if self.done <= self.common:
            self.check()

    def stop(self, signum: int) -> None:
        """Raise :class:`Preempted` (nothing saved), with one line on rank zero."""
        trainer, state = self.trainer, self.trainer.state
        error = preempted(signum, None, f"{state.fn}()")
        if trainer.is_global_zero:
            print(
                f"treadle: {error} after batch {state.batch_idx} of dataloader "
                f"{state.dataloader_idx}; nothing to save: an evaluation has no state to "
                f"resume. Exiting with code {error.code}.",
                file=sys.stderr,
                flush=True,
            )
        raise error
