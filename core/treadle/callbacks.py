"""``treadle.callbacks``: the callbacks a Lightning user expects, under Lightning's names.

``from treadle.callbacks import EarlyStopping, ModelCheckpoint`` works as
``from lightning.pytorch.callbacks import ...`` does. The callbacks live in the first-party
plugins (``treadle_plugins``); each is imported on first use, so neither ``import treadle`` nor
``import treadle.callbacks`` loads them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from treadle import _lightning_paths
from treadle.callback import Callback

if TYPE_CHECKING:  # for editors and type checkers; at run time __getattr__ imports on first use
    from treadle.tuner import BatchSizeFinder, LearningRateFinder
    from treadle_plugins.callbacks.early_stopping import EarlyStopping, EarlyStoppingReason
    from treadle_plugins.callbacks.lambda_function import LambdaCallback
    from treadle_plugins.callbacks.lr_monitor import LearningRateMonitor
    from treadle_plugins.callbacks.model_summary import ModelSummary
    from treadle_plugins.callbacks.on_exception_checkpoint import OnExceptionCheckpoint
    from treadle_plugins.callbacks.timer import Timer
    from treadle_plugins.checkpointing import ModelCheckpoint
    from treadle_plugins.progress import (
        PlainProgressBar,
        ProgressBar,
        RichProgressBar,
        RichProgressBarTheme,
        TQDMProgressBar,
    )

# public name -> module that defines it
_LOCATIONS = {
    "BatchSizeFinder": "treadle.tuner",
    "EarlyStopping": "treadle_plugins.callbacks.early_stopping",
    "EarlyStoppingReason": "treadle_plugins.callbacks.early_stopping",
    "LambdaCallback": "treadle_plugins.callbacks.lambda_function",
    "LearningRateFinder": "treadle.tuner",
    "LearningRateMonitor": "treadle_plugins.callbacks.lr_monitor",
    "ModelCheckpoint": "treadle_plugins.checkpointing",
    "ModelSummary": "treadle_plugins.callbacks.model_summary",
    "OnExceptionCheckpoint": "treadle_plugins.callbacks.on_exception_checkpoint",
    "PlainProgressBar": "treadle_plugins.progress",
    "ProgressBar": "treadle_plugins.progress",
    "RichProgressBar": "treadle_plugins.progress",
    "RichProgressBarTheme": "treadle_plugins.progress",
    "TQDMProgressBar": "treadle_plugins.progress",
    "Timer": "treadle_plugins.callbacks.timer",
}

__all__ = [
    "BatchSizeFinder",
    "Callback",
    "EarlyStopping",
    "EarlyStoppingReason",
    "LambdaCallback",
    "LearningRateFinder",
    "LearningRateMonitor",
    "ModelCheckpoint",
    "ModelSummary",
    "OnExceptionCheckpoint",
    "PlainProgressBar",
    "ProgressBar",
    "RichProgressBar",
    "RichProgressBarTheme",
    "TQDMProgressBar",
    "Timer",
]
assert set(__all__) == {"Callback", *_LOCATIONS}  # one list to keep, checked on import


def __getattr__(name: str) -> Any:
    module = _LOCATIONS.get(name)
    if module is None:
        raise AttributeError(
            f"module 'treadle.callbacks' has no attribute {name!r}; it "
            f"provides {', '.join(__all__)}"
        )
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


# ``treadle.callbacks.early_stopping`` and Lightning's other submodule paths: this module.
_lightning_paths.register(__name__)
