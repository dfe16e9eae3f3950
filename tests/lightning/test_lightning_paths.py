"""Lightning's submodule import paths under treadle's names (``treadle._lightning_paths``).

A Lightning program imports from submodules (``lightning.pytorch.callbacks.early_stopping``,
``...utilities.exceptions``, ...); with ``lightning.pytorch`` mapped to ``treadle`` those paths
must import, each in a fresh interpreter (the aliases must work before anything else imported
the parent module).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

import treadle
from treadle.callbacks import EarlyStopping, ModelCheckpoint, Timer
from treadle.utilities import MisconfigurationException

IMPORTS = [
    "from treadle.callbacks.early_stopping import EarlyStopping",
    "from treadle.callbacks.model_checkpoint import ModelCheckpoint",
    "from treadle.callbacks.lr_monitor import LearningRateMonitor",
    "from treadle.callbacks.timer import Timer",
    "from treadle.callbacks.finetuning import BaseFinetuning, BackboneFinetuning",
    "from treadle.callbacks.stochastic_weight_avg import StochasticWeightAveraging",
    "from treadle.callbacks.gradient_accumulation_scheduler import GradientAccumulationScheduler",
    "from treadle.callbacks.prediction_writer import BasePredictionWriter",
    "from treadle.callbacks.checkpoint import Checkpoint",
    "from treadle.callbacks.rich_model_summary import RichModelSummary",
    "from treadle.callbacks.device_stats_monitor import DeviceStatsMonitor",
    "from treadle.callbacks.throughput_monitor import ThroughputMonitor",
    "from treadle.loggers.tensorboard import TensorBoardLogger",
    "from treadle.loggers.csv_logs import CSVLogger",
    "from treadle.loggers.logger import Logger",
    "from treadle.utilities.exceptions import MisconfigurationException",
    "from treadle.utilities.rank_zero import rank_zero_only, rank_zero_info, rank_zero_warn",
    "from treadle.utilities.types import STEP_OUTPUT",
    "from treadle.utilities.parsing import AttributeDict",
    "from treadle.utilities.seed import seed_everything",
    "from treadle.utilities.model_summary import ModelSummary, summarize, LayerSummary",
    "from treadle.utilities.model_summary.model_summary import UNKNOWN_SIZE",
    "from treadle.core import Module",
    "from treadle.core.module import Module",
    "from treadle.core.datamodule import DataModule",
]


def test_each_lightning_submodule_path_imports_in_a_fresh_interpreter():
    program = "\n".join(f"{line}; print('ok')" for line in IMPORTS)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["ok"] * len(IMPORTS)


def test_an_aliased_path_is_the_module_holding_the_names():
    import treadle.callbacks.early_stopping as es
    import treadle.utilities.exceptions as exc

    assert es.EarlyStopping is EarlyStopping
    assert exc.MisconfigurationException is treadle.ConfigurationError


# Lightning raises MisconfigurationException for a callback's wrong argument
# (tests/tests_pytorch/callbacks/test_early_stopping.py::test_early_stopping_mode_options,
# test_timer.py::test_timer_interval_choice; Copyright The Lightning AI team, Apache-2.0).
@pytest.mark.parametrize(
    ("build", "message"),
    [
        (
            lambda: EarlyStopping(monitor="foo", mode="unknown_option"),
            "EarlyStopping(mode='unknown_option'): `mode` can be 'min' or 'max'.",
        ),
        (
            lambda: ModelCheckpoint(monitor="foo", mode="up"),
            "ModelCheckpoint(mode='up'): use 'min' or 'max'.",
        ),
        (lambda: Timer(interval="invalid"), "Timer(interval='invalid')"),
    ],
)
def test_a_wrong_callback_argument_is_a_misconfiguration(build, message):
    with pytest.raises(MisconfigurationException, match=re.escape(message)):
        build()
