"""``SpikeDetection``: stop training when the loss jumps (as Lightning 2's callback of the same
name, built there on Fabric's).

After each training batch from ``warmup`` on (the batch index within the epoch), the loss is
compared with the running mean of the last ``window`` losses: it is a spike when it is not an
improvement on the previous loss and differs from the mean by at least ``atol`` and by at
least ``rtol`` times the mean (a None tolerance does not count); with ``finite_only`` a NaN or
infinite loss is a spike too. On a spike the batch and the one before it (which may have
spoilt the weights) are added to the list of batches to skip, written as JSON to
``exclude_batches_path`` (default ``<default_root_dir>/skip_batches.json``), and
``treadle.TrainingSpikeException`` ends the run. With several processes each rank checks its
own loss and all stop when any finds a spike.

Lightning keeps the window in a torchmetrics ``Running(MeanMetric)``; here it is a plain list
of the last ``window`` (sum, count) pairs, so torchmetrics is not needed and the checkpointed
state is that list.
"""

from __future__ import annotations

import json
import math
import os
from collections import deque
from collections.abc import Mapping
from typing import Any, Literal

import torch

from treadle.callback import Callback
from treadle.errors import ConfigurationError, TrainingSpikeException


class SpikeDetection(Callback):
    """End training with ``TrainingSpikeException`` on a loss spike (as Lightning 2's
    ``SpikeDetection``).

    :param mode: ``"min"`` (a lower loss is better) or ``"max"``.
    :param window: how many recent losses the running mean covers.
    :param warmup: the batch index (within the epoch) checks start at.
    :param atol: the least absolute difference from the mean that makes a spike (None: any).
    :param rtol: the least difference relative to the mean that makes a spike (None: any).
    :param exclude_batches_path: the JSON file (or the folder for ``skip_batches.json``) the
        batches to skip are written to; None: ``trainer.default_root_dir``.
    :param finite_only: when True, a NaN or infinite loss is a spike (and never enters the
        mean); when False, non-finite losses are only kept out of the mean.
    """

    def __init__(
        self,
        mode: Literal["min", "max"] = "min",
        window: int = 10,
        warmup: int = 1,
        atol: float | None = None,
        rtol: float | None = 2.0,
        exclude_batches_path: str | os.PathLike | None = None,
        finite_only: bool = True,
    ) -> None:
        if mode not in ("min", "max"):
            raise ConfigurationError(
                f"SpikeDetection(mode={mode!r}): Invalid mode. Has to be min or max, found {mode}"
            )
        if not isinstance(window, int) or window < 1:
            raise ConfigurationError(
                f"SpikeDetection(window={window!r}): the running mean needs a window of at "
                f"least 1 loss (an int)."
            )
        self.mode = mode
        self.window = window
        self.warmup = warmup
        self.atol = atol
        self.rtol = rtol
        self.exclude_batches_path = exclude_batches_path
        self.finite_only = finite_only
        self.last_val: torch.Tensor | float = 0.0
        self.bad_batches: list[int] = []
        self._recent: deque[tuple[float, int]] = deque(maxlen=window)  # (sum, count) per loss

    @property
    def running_mean(self) -> float:
        """The mean of the last ``window`` losses (NaN before the first)."""
        count = sum(n for _, n in self._recent)
        return sum(s for s, _ in self._recent) / count if count else math.nan

    @torch.no_grad()
    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if isinstance(outputs, torch.Tensor):
            loss = outputs.detach()
        elif isinstance(outputs, Mapping):
            loss = outputs["loss"].detach()
        else:
            raise TypeError(
                f"SpikeDetection: outputs have to be of type torch.Tensor or Mapping, got "
                f"{type(outputs).__qualname__} (training_step returns the loss, or a dict with "
                f"'loss')"
            )
        if self.exclude_batches_path is None:
            self.exclude_batches_path = os.path.join(trainer.default_root_dir, "skip_batches.json")
        if not str(self.exclude_batches_path).endswith(".json"):
            self.exclude_batches_path = os.path.join(self.exclude_batches_path, "skip_batches.json")
        spike = batch_idx >= self.warmup and self._is_spike(loss)
        several = trainer.world_size > 1
        if several:  # any rank's spike stops every rank
            spike = bool(trainer.reduce(torch.tensor(float(spike)), "max") > 0)
        if spike:
            self._handle_spike(trainer, batch_idx)
        finite = bool(torch.isfinite(loss).all())
        if several and not self.finite_only:  # the mean takes a loss every rank has finite
            finite = bool(trainer.reduce(torch.tensor(float(finite)), "min") > 0)
        if self.finite_only or finite:
            self._update(loss)

    def _is_spike(self, loss: torch.Tensor) -> bool:
        if self.finite_only and not bool(torch.isfinite(loss).all()):
            return True
        diff = loss - self.last_val
        better = (diff <= 0).all() if self.mode == "min" else (diff >= 0).all()
        if bool(better):
            return False
        mean = self.running_mean
        distance = (loss - mean).abs()
        far_abs = self.atol is None or bool((distance >= abs(self.atol)).all())
        far_rel = self.rtol is None or bool((distance >= abs(self.rtol * mean)).all())
        return far_abs and far_rel

    def _handle_spike(self, trainer, batch_idx: int) -> None:
        self.bad_batches.extend([batch_idx - 1, batch_idx])
        if trainer.is_global_zero:
            path = str(self.exclude_batches_path)
            os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
            with open(path, "w") as f:
                json.dump(self.bad_batches, f, indent=4)
        raise TrainingSpikeException(batch_idx=batch_idx)

    def _update(self, loss: torch.Tensor) -> None:
        self._recent.append((float(loss.float().sum()), loss.numel()))
        self.last_val = loss

    def state_dict(self) -> dict[str, Any]:
        last = self.last_val
        return {
            "last_val": last.item() if isinstance(last, torch.Tensor) else last,
            "mode": self.mode,
            "warmup": self.warmup,
            "atol": self.atol,
            "rtol": self.rtol,
            "bad_batches": list(self.bad_batches),
            "bad_batches_path": self.exclude_batches_path,
            "recent": list(self._recent),
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.last_val = state_dict["last_val"]
        self.mode = state_dict["mode"]
        self.warmup = state_dict["warmup"]
        self.atol = state_dict["atol"]
        self.rtol = state_dict["rtol"]
        self.bad_batches = list(state_dict["bad_batches"])
        self.exclude_batches_path = state_dict["bad_batches_path"]
        self._recent = deque((tuple(r) for r in state_dict["recent"]), maxlen=self.window)
