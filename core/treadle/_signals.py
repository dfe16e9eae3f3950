"""Preemption: SIGTERM, SIGUSR1 and SIGINT during ``fit()`` end the run with a checkpoint.

While ``fit()`` trains, the handler only records the signal. The fit loop reads that record
once per training batch, after the batch (and any validation it triggers) finished: never in
the middle of a step. Then every rank writes ``<dir>/last.ckpt`` through
``trainer.save_checkpoint`` (rank zero writes, all ranks take part) and raises
:class:`treadle.errors.Preempted`, which ``fit()`` hands to ``on_exception`` and which exits
the process with 128 + the signal number. ``<dir>`` is the checkpoint callback's ``dirpath``,
else ``<default_root_dir>/checkpoints``: where ``fit(ckpt_path="last")`` looks.

Several ranks agree on the batch to stop at: a signal may reach them at different moments, so
each training batch ends with one max-reduce of the signal number (only when
``world_size > 1``; one process reads an attribute and nothing more).

Handlers are installed from the main thread only, for signals whose handler is the default
(``SIG_DFL``; for SIGINT also Python's ``default_int_handler``): a handler someone else set,
``SIG_IGN`` included, is left alone. The previous handlers come back when training ends. After
a first SIGINT the previous SIGINT handler is back at once, so a second Ctrl-C interrupts
whatever runs (the step, the save) with ``KeyboardInterrupt``.
"""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path
from types import TracebackType
from typing import Any

import torch

from treadle.errors import Preempted

# Read once: the signals that end a run with a checkpoint (SIGUSR1 does not exist on Windows).
SIGNALS = tuple(
    s for s in (signal.SIGTERM, getattr(signal, "SIGUSR1", None), signal.SIGINT) if s is not None
)


def checkpoint_dir(trainer: Any) -> Path:
    """Where a preemption checkpoint goes: the checkpoint callback's ``dirpath`` when there is
    one (and it is set), else ``<default_root_dir>/checkpoints``."""
    callback = trainer.checkpoint_callback
    dirpath = getattr(callback, "dirpath", None) if callback is not None else None
    return Path(dirpath) if dirpath else Path(trainer.default_root_dir) / "checkpoints"


class Preemption:
    """The signals caught during one ``fit()``; a context manager around its training.

    ``signum`` is 0 until a caught signal arrives, then that signal's number (the first one).
    """

    __slots__ = ("trainer", "signum", "previous")

    def __init__(self, trainer: Any) -> None:
        self.trainer = trainer
        self.signum = 0
        self.previous: dict[int, Any] = {}  # signal -> the handler to put back

    def __enter__(self) -> Preemption:
        self.signum = 0
        if threading.current_thread() is not threading.main_thread():
            return self  # signal.signal works in the main thread only
        for signum in SIGNALS:
            current = signal.getsignal(signum)
            if current is signal.SIG_DFL or (
                signum == signal.SIGINT and current is signal.default_int_handler
            ):
                self.previous[signum] = signal.signal(signum, self._on_signal)
        return self

    def _on_signal(self, signum: int, frame: Any) -> None:
        # Only record it: the loop acts after the current training batch.
        if not self.signum:
            self.signum = signum
        if signum == signal.SIGINT:  # a second Ctrl-C goes to the previous handler at once
            signal.signal(signum, self.previous.pop(signum))

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if exc_type is None:
                # A signal that came too late for the batch loop (during the last batch's
                # validation, the epoch's end, on_train_end): the run is saved as it ended.
                self.check()
        finally:
            for signum, handler in self.previous.items():
                signal.signal(signum, handler)
            self.previous = {}

    def check(self) -> None:
        """After a training batch: stop the run when any rank received a signal."""
        trainer, signum = self.trainer, self.signum
        if trainer.world_size > 1:  # every rank stops at the same batch
            mine = torch.tensor(float(signum), device=trainer.root_device)
            signum = int(trainer.reduce(mine, "max").item())
        if signum:
            self.stop(signum)

    def stop(self, signum: int) -> None:
        """Save ``last.ckpt`` (every rank takes part) and raise :class:`Preempted`."""
        trainer, state = self.trainer, self.trainer.state
        path = str(checkpoint_dir(trainer) / "last.ckpt")
        trainer.save_checkpoint(path)
        error = Preempted(signum, path)
        if trainer.is_global_zero:
            print(
                f"treadle: {error} (epoch {state.epoch}, {state.batches_done} batches done, "
                f"global step {state.global_step}); exiting with code {error.code}. Run the "
                f'same script with `trainer.fit(..., ckpt_path="last")` to resume.',
                file=sys.stderr,
                flush=True,
            )
        raise error
