"""A plain-text progress bar: one line per epoch with the progress-bar metrics."""

from __future__ import annotations

import sys
import time

from treadle import Callback, hookimpl


class ProgressBar(Callback):
    """Prints ``Epoch 3/10 | 64/64 batches | 1.2s | loss=0.123`` at each epoch end (rank 0)."""

    def __init__(self, stream=None) -> None:
        self.stream = stream
        self._start = 0.0

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self._start = time.perf_counter()

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if not trainer.is_global_zero:
            return
        metrics = " | ".join(f"{k}={float(v):.4g}" for k, v in trainer.progress_bar_metrics.items())
        total = "?" if trainer.max_epochs < 0 else trainer.max_epochs
        line = (
            f"Epoch {trainer.current_epoch + 1}/{total} | {trainer.state.batches_done} batches | "
            f"step {trainer.global_step} | {time.perf_counter() - self._start:.2f}s"
        )
        print(
            line + (f" | {metrics}" if metrics else ""), file=self.stream or sys.stdout, flush=True
        )


@hookimpl
def configure_callbacks(trainer):
    if trainer.config.enable_progress_bar and not any(
        isinstance(c, ProgressBar) for c in trainer.callbacks
    ):
        return [ProgressBar()]
    return None
