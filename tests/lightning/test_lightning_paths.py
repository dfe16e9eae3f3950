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
    "from treadle.utilities.imports import _TORCHVISION_AVAILABLE, _OMEGACONF_AVAILABLE",
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
            "ModelCheckpoint(mode='up'): `mode` can be 'min' or 'max' but got up.",
        ),
        (lambda: Timer(interval="invalid"), "Timer(interval='invalid')"),
    ],
)
def test_a_wrong_callback_argument_is_a_misconfiguration(build, message):
    with pytest.raises(MisconfigurationException, match=re.escape(message)):
        build()


# -- paths added for the progress bars and small utilities (Lightning 2.6.6's modules) ---------


def test_progress_bar_and_utility_submodule_paths_import():
    program = "\n".join(
        [
            "from treadle.callbacks.progress import TQDMProgressBar, RichProgressBar, ProgressBar",
            "from treadle.callbacks.progress.tqdm_progress import TQDMProgressBar as T",
            "from treadle.callbacks.progress.rich_progress import RichProgressBarTheme",
            "from treadle.callbacks.progress.progress_bar import ProgressBar as P",
            "from treadle.utilities.warnings import PossibleUserWarning",
            "from treadle.utilities.model_helpers import is_overridden",
            "from treadle.utilities.enums import GradClipAlgorithmType",
            "from treadle.utilities.grads import grad_norm",
            "assert T is TQDMProgressBar and issubclass(PossibleUserWarning, UserWarning)",
            "print('ok')",
        ]
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["ok"]


def test_is_overridden_as_lightning():
    # Lightning's tests/tests_pytorch/utilities/test_model_helpers.py (test_is_overridden), ported
    import functools

    from treadle.callbacks import Callback
    from treadle.utilities import is_overridden

    class Base(treadle.Module):
        pass

    class Over(treadle.Module):
        def training_step(self, batch, batch_idx):
            return None

    assert not is_overridden("training_step", None)
    assert not is_overridden("training_step", Base())
    assert is_overridden("training_step", Over())
    assert not is_overridden("on_train_start", Over())
    # a wrapped or partial method is looked through to what it wraps
    over = Over()
    over.on_fit_start = functools.partial(treadle.Module.on_fit_start, over)
    assert not is_overridden("on_fit_start", over)

    class CB(Callback):
        def on_train_start(self, trainer, pl_module):
            pass

    assert is_overridden("on_train_start", CB())
    assert not is_overridden("on_train_end", CB())
    with pytest.raises(ValueError, match=re.escape("pass parent=<its base class>")):
        is_overridden("training_step", object())
    assert not is_overridden("nope", Base())  # the instance has no such method: not overridden

    class Custom(treadle.Module):
        def custom(self):
            pass

    with pytest.raises(ValueError, match=re.escape("the parent has no 'custom' to compare with")):
        is_overridden("custom", Custom(), parent=treadle.Module)


def test_utilities_imports_flags_say_what_is_installed():
    # Lightning's lightning.pytorch.utilities.imports, which examples read
    # (domain_templates/generative_adversarial_net_ddp.py: `if _TORCHVISION_AVAILABLE:`)
    import importlib.util

    from treadle.utilities import imports

    for flag, package in [
        ("_TORCHVISION_AVAILABLE", "torchvision"),
        ("_OMEGACONF_AVAILABLE", "omegaconf"),
        ("_RICH_AVAILABLE", "rich"),
    ]:
        assert getattr(imports, flag) is (importlib.util.find_spec(package) is not None), flag
    assert imports._TORCH_GREATER_EQUAL_2_6 is True  # treadle needs a newer torch than 2.6
    assert imports._PYTHON_GREATER_EQUAL_3_11_0 is (sys.version_info >= (3, 11))
    assert imports._release("2.8.0+cpu") == (2, 8, 0) and imports._release("1.0.0rc1") == (1, 0, 0)
