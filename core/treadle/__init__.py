"""treadle: a plugin-based PyTorch research framework; the training loop as pluggy hooks.

``Trainer`` and ``TrainerConfig`` (which import pydantic), ``kinds``, ``callbacks`` and
``loggers`` load on first use, so that ``import treadle`` costs little more than ``import torch``.
"""

from treadle.callback import Callback
from treadle.datamodule import DataModule
from treadle.errors import ConfigurationError, PluginError
from treadle.hookspecs import hookimpl, hookspec
from treadle.module import Module
from treadle.providers import Provider, Setting, module_available
from treadle.utilities import seed_everything

__version__ = "0.1.0"

__all__ = [
    "Callback",
    "ConfigurationError",
    "DataModule",
    "Module",
    "PluginError",
    "Provider",
    "Setting",
    "Trainer",
    "TrainerConfig",
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
    if name in ("callbacks", "loggers", "kinds"):
        # ``from treadle import callbacks`` would call this function again (the submodule is
        # not an attribute until imported): import it by its full name instead.
        import importlib

        return importlib.import_module(f"treadle.{name}")
    raise AttributeError(f"module 'treadle' has no attribute {name!r}")
