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
    from treadle_plugins.callbacks.checkpoint import Checkpoint
    from treadle_plugins.callbacks.device_stats_monitor import DeviceStatsMonitor
    from treadle_plugins.callbacks.early_stopping import EarlyStopping, EarlyStoppingReason
    from treadle_plugins.callbacks.finetuning import BackboneFinetuning, BaseFinetuning
    from treadle_plugins.callbacks.gradient_accumulation_scheduler import (
        GradientAccumulationScheduler,
    )
    from treadle_plugins.callbacks.lambda_function import LambdaCallback
    from treadle_plugins.callbacks.lr_monitor import LearningRateMonitor
    from treadle_plugins.callbacks.model_summary import ModelSummary
    from treadle_plugins.callbacks.on_exception_checkpoint import OnExceptionCheckpoint
    from treadle_plugins.callbacks.prediction_writer import BasePredictionWriter
    from treadle_plugins.callbacks.pruning import ModelPruning
    from treadle_plugins.callbacks.rich_model_summary import RichModelSummary
    from treadle_plugins.callbacks.spike import SpikeDetection
    from treadle_plugins.callbacks.stochastic_weight_avg import StochasticWeightAveraging
    from treadle_plugins.callbacks.throughput_monitor import ThroughputMonitor
    from treadle_plugins.callbacks.timer import Timer
    from treadle_plugins.callbacks.weight_averaging import EMAWeightAveraging, WeightAveraging
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
    "BackboneFinetuning": "treadle_plugins.callbacks.finetuning",
    "BaseFinetuning": "treadle_plugins.callbacks.finetuning",
    "BasePredictionWriter": "treadle_plugins.callbacks.prediction_writer",
    "Checkpoint": "treadle_plugins.callbacks.checkpoint",
    "DeviceStatsMonitor": "treadle_plugins.callbacks.device_stats_monitor",
    "BatchSizeFinder": "treadle.tuner",
    "EMAWeightAveraging": "treadle_plugins.callbacks.weight_averaging",
    "EarlyStopping": "treadle_plugins.callbacks.early_stopping",
    "EarlyStoppingReason": "treadle_plugins.callbacks.early_stopping",
    "GradientAccumulationScheduler": "treadle_plugins.callbacks.gradient_accumulation_scheduler",
    "LambdaCallback": "treadle_plugins.callbacks.lambda_function",
    "LearningRateFinder": "treadle.tuner",
    "LearningRateMonitor": "treadle_plugins.callbacks.lr_monitor",
    "ModelCheckpoint": "treadle_plugins.checkpointing",
    "ModelPruning": "treadle_plugins.callbacks.pruning",
    "ModelSummary": "treadle_plugins.callbacks.model_summary",
    "OnExceptionCheckpoint": "treadle_plugins.callbacks.on_exception_checkpoint",
    "PlainProgressBar": "treadle_plugins.progress",
    "ProgressBar": "treadle_plugins.progress",
    "RichModelSummary": "treadle_plugins.callbacks.rich_model_summary",
    "RichProgressBar": "treadle_plugins.progress",
    "RichProgressBarTheme": "treadle_plugins.progress",
    "SpikeDetection": "treadle_plugins.callbacks.spike",
    "StochasticWeightAveraging": "treadle_plugins.callbacks.stochastic_weight_avg",
    "TQDMProgressBar": "treadle_plugins.progress",
    "ThroughputMonitor": "treadle_plugins.callbacks.throughput_monitor",
    "Timer": "treadle_plugins.callbacks.timer",
    "WeightAveraging": "treadle_plugins.callbacks.weight_averaging",
}

__all__ = [
    "BackboneFinetuning",
    "BaseFinetuning",
    "BasePredictionWriter",
    "BatchSizeFinder",
    "Callback",
    "Checkpoint",
    "DeviceStatsMonitor",
    "EMAWeightAveraging",
    "EarlyStopping",
    "EarlyStoppingReason",
    "GradientAccumulationScheduler",
    "LambdaCallback",
    "LearningRateFinder",
    "LearningRateMonitor",
    "ModelCheckpoint",
    "ModelPruning",
    "ModelSummary",
    "OnExceptionCheckpoint",
    "PlainProgressBar",
    "ProgressBar",
    "RichModelSummary",
    "RichProgressBar",
    "RichProgressBarTheme",
    "SpikeDetection",
    "StochasticWeightAveraging",
    "TQDMProgressBar",
    "ThroughputMonitor",
    "Timer",
    "WeightAveraging",
]
assert set(__all__) == {"Callback", *_LOCATIONS}  # one list to keep, checked on import

# Names of Lightning's callback submodules that a program imports by their submodule path
# (``lightning.pytorch.callbacks.progress.tqdm_progress.Tqdm``, ``...timer.Interval``); the
# submodule paths are this module, so they resolve here. Not in ``__all__``: Lightning's
# ``callbacks`` package does not export them either (and ``Tqdm`` needs tqdm).
_SUBMODULE_NAMES = {
    "Interval": "treadle_plugins.callbacks.timer",
    "Tqdm": "treadle_plugins.tqdm_progress",
    "WriteInterval": "treadle_plugins.callbacks.prediction_writer",
    "convert_inf": "treadle_plugins.tqdm_progress",
    "get_standard_metrics": "treadle_plugins.progress",
    "multiplicative": "treadle_plugins.callbacks.finetuning",
}


def __getattr__(name: str) -> Any:
    module = _LOCATIONS.get(name) or _SUBMODULE_NAMES.get(name)
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
