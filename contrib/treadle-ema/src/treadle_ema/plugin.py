"""The ``ema`` entry point (group ``treadle``): EMA for every run, opted into by environment.

treadle loads this module for every ``Trainer`` (unless ``TREADLE_BLOCK_PLUGINS=ema`` or
``TREADLE_DISABLE_PLUGIN_AUTOLOAD=1``). It does nothing unless ``TREADLE_EMA_DECAY`` is set:
then each ``Trainer`` that has no ``EMA`` callback of its own gets ``EMA(decay=...)``. A cluster
admin or a job script can turn EMA on for runs without touching their code; installing the
package alone never changes what a run computes or which weights it validates.
"""

from __future__ import annotations

import math
import os

from treadle import Setting, hookimpl
from treadle_ema.callback import EMA

ENV_DECAY = "TREADLE_EMA_DECAY"

# Declared so that `treadle plugins -v` shows it and a run names it when it is set.
treadle_settings = [
    Setting(
        ENV_DECAY,
        "adds EMA(decay=...) to every run without an EMA callback; a decay in [0, 1)",
        default="unset: no EMA",
    )
]


def _decay_from_env() -> tuple[float | None, str | None]:
    """``(decay, None)``, ``(None, None)`` when unset, or ``(None, problem)`` when invalid."""
    raw = os.environ.get(ENV_DECAY, "").strip()
    if not raw:
        return None, None
    try:
        decay = float(raw)
    except ValueError:
        decay = math.nan
    if math.isnan(decay) or not 0.0 <= decay < 1.0:
        return None, (
            f"`{ENV_DECAY}={raw}` is not a decay in [0, 1). Set it to a value such as "
            f"`{ENV_DECAY}=0.999`, or unset it to train without EMA."
        )
    return decay, None


@hookimpl
def configure_callbacks(trainer):
    """Add ``EMA(decay=$TREADLE_EMA_DECAY)`` unless the run already has an ``EMA``."""
    decay, _ = _decay_from_env()
    if decay is None or any(isinstance(cb, EMA) for cb in trainer.callbacks):
        return None
    return [EMA(decay=decay)]


@hookimpl
def validate(trainer) -> list[str] | None:
    """Report an invalid ``TREADLE_EMA_DECAY`` before anything is trained."""
    _, problem = _decay_from_env()
    return [problem] if problem else None
