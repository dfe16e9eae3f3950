"""treadle: a plugin-based PyTorch research framework; the training loop as pluggy hooks.

``Trainer`` and ``TrainerConfig`` (which import pydantic), ``kinds``, ``callbacks`` and
``loggers`` load on first use, so that ``import treadle`` costs little more than ``import torch``.
"""

import os as _os
import warnings as _warnings

from treadle.providers import module_available as _module_available

with _warnings.catch_warnings():
    # Without numpy, this torch warns "Failed to initialize NumPy" when it is imported. treadle
    # uses numpy only where it is installed (RNG state, seeding), so nothing is missing: keep
    # the warning for a numpy that is there but broken, drop it for one that is not installed.
    if not _module_available("numpy"):
        _warnings.filterwarnings("ignore", "Failed to initialize NumPy", UserWarning)
    import torch  # noqa: F401  (first, under the filter)

from treadle.callback import Callback  # noqa: E402
from treadle.datamodule import DataModule  # noqa: E402
from treadle.errors import (  # noqa: E402
    CheckpointError,
    ConfigurationError,
    NonFiniteLossError,
    PluginError,
    TrainingSpikeException,
)
from treadle.hookspecs import hookimpl, hookspec  # noqa: E402
from treadle.module import Module  # noqa: E402
from treadle.providers import Provider, Setting, module_available  # noqa: E402
from treadle.utilities import disable_possible_user_warnings, seed_everything  # noqa: E402

__version__ = "0.1.0"

# As Lightning: POSSIBLE_USER_WARNINGS=0 (or "off") silences every PossibleUserWarning.
if _os.environ.get("POSSIBLE_USER_WARNINGS", "").lower() in ("0", "off"):
    disable_possible_user_warnings()


def cli_lightning_logo() -> None:
    """Print treadle's banner. Lightning's examples call this (Lightning's logo there) first
    thing in ``__main__``; a program moved to treadle keeps the call."""
    print()
    print(f"treadle {__version__}: Lightning programs on a pluggy core")
    print()


# Lightning's names for the same classes, so that a program's `import lightning as L` becomes
# `import treadle as L` and its `L.LightningModule` / `L.LightningDataModule` still resolve.
LightningModule = Module
LightningDataModule = DataModule

from treadle import _lightning_paths  # noqa: E402

_lightning_paths.register(__name__)  # ``treadle.core``, ``treadle.core.module``: this package

from treadle import _rank_zero_bridge  # noqa: E402

# As Lightning's import: lightning_utilities' `rank_zero_only.rank` set (when it is imported).
_rank_zero_bridge.install()

__all__ = [
    "Callback",
    "CheckpointError",
    "ConfigurationError",
    "DataModule",
    "LightningDataModule",
    "LightningModule",
    "Module",
    "NonFiniteLossError",
    "PluginError",
    "Provider",
    "Setting",
    "Trainer",
    "TrainerConfig",
    "TrainingSpikeException",
    "hookimpl",
    "hookspec",
    "hookspecs",
    "kinds",
    "module_available",
    "seed_everything",
]


def __getattr__(name):
    if name == "Trainer":
        from treadle.trainer import Trainer

        return Trainer
    if name == "TrainerConfig":
        from treadle.config import TrainerConfig

        return TrainerConfig
    if name == "hookspecs":
        from treadle import hookspecs

        return hookspecs
    if name == "pytorch":
        # Lightning's ``lightning.pytorch``: a program's ``import lightning.pytorch`` (or
        # ``import lightning as L``) becomes ``import treadle as lightning`` (``as L``), and its
        # ``lightning.pytorch.Trainer`` (``L.pytorch.Trainer``) reads this package.
        import sys

        return sys.modules[__name__]
    if name in ("callbacks", "loggers", "kinds"):
        # ``from treadle import callbacks`` would call this function again (the submodule is
        # not an attribute until imported): import it by its full name instead.
        import importlib

        return importlib.import_module(f"treadle.{name}")
    raise AttributeError(f"module 'treadle' has no attribute {name!r}")
