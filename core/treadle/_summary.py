"""Where a run's results went: the summary ``fit()`` logs when it ends, and Ctrl-C's message.

At the end of ``fit()`` (finished, stopped by a signal or failed), global rank zero logs one
record on logger ``treadle`` (quiet with ``TREADLE_QUIET=1``, as the run-start lines are)::

    treadle: fit finished at epoch 2, global step 32; results:
      logs: /runs/lightning_logs/version_3 (CSVLogger)
      best checkpoint: /runs/lightning_logs/version_3/checkpoints/epoch=1-step=32.ckpt (val_loss=0.1234)
      last checkpoint: /runs/lightning_logs/version_3/checkpoints/last.ckpt

It reads public Trainer API only: ``trainer.loggers`` and ``trainer.checkpoint_callback``.
"""

from __future__ import annotations

import math
import os
import signal
import sys
import threading
from typing import Any

from treadle.errors import Preempted


def outcome(error: BaseException | None) -> str:
    """How ``fit()`` ended, in words."""
    if error is None:
        return "finished"
    if isinstance(error, Preempted):
        return f"stopped by {error.args[0].split(' ', 1)[0]}"
    if isinstance(error, KeyboardInterrupt):
        return "interrupted (Ctrl-C)"
    return f"failed ({type(error).__name__})"


def lines(trainer: Any, error: BaseException | None) -> list[str]:
    """The summary's lines: how fit ended, the log folders, the checkpoints."""
    state = trainer.state
    out = [
        f"fit {outcome(error)} at epoch {state.epoch}, global step {state.global_step}; results:"
    ]
    folders = []
    for logger in trainer.loggers:
        where = getattr(logger, "log_dir", None) or getattr(logger, "save_dir", None)
        if where and isinstance(where, (str, os.PathLike)):  # not a Mock logger's attribute
            folders.append(f"{os.path.abspath(where)} ({type(logger).__name__})")
    out.append("  logs: " + (", ".join(folders) if folders else "none (no logger writes files)"))
    if isinstance(error, Preempted):  # written by the signal handling, callback or not
        out.append(f"  checkpoint on {outcome(error)[11:]}: {error.ckpt_path}")
    callback = trainer.checkpoint_callback
    if callback is None:
        if not isinstance(error, Preempted):
            out.append("  checkpoints: none (no checkpoint callback)")
        return out
    best, last = callback.best_model_path, getattr(callback, "last_model_path", "")
    if not best and not last:
        if not isinstance(error, Preempted):
            where = getattr(callback, "dirpath", None)
            out.append(f"  checkpoints: none saved{f' (folder {where})' if where else ''}")
        return out
    monitor = getattr(callback, "monitor", None)
    if best and monitor is not None:
        score = callback.best_model_score
        value = "?" if score is None else f"{float(score):.6g}"
        if score is not None and not math.isfinite(float(score)):
            value += ", not finite"
        out.append(f"  best checkpoint: {best} ({monitor}={value})")
    elif best:
        out.append(f"  latest checkpoint: {best}")
    if last and last != best:
        out.append(f"  last checkpoint: {last}")
    return out


def report(trainer: Any, error: BaseException | None) -> None:
    """Log :func:`lines` on rank zero (logger ``treadle``); nothing with ``TREADLE_QUIET=1``."""
    from treadle.plugin_manager import _env_flag, run_logger

    if _env_flag("TREADLE_QUIET") or not trainer.is_global_zero:
        return
    run_logger().info("treadle: %s", "\n".join(lines(trainer, error)))


def interrupted(trainer: Any) -> Any:
    """Ctrl-C reached ``fit()``/``validate()``/...: say so in one line (rank zero) and ignore
    further Ctrl-C while the run shuts down, as Lightning does. Returns the SIGINT handler to
    put back (None when it was left alone)."""
    if trainer.is_global_zero:
        print(
            "\ntreadle: Detected KeyboardInterrupt, attempting graceful shutdown ... (exit code "
            "130)",
            file=sys.stderr,
            flush=True,
        )
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGINT, signal.SIG_IGN)
