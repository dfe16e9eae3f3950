"""treadle's first-party plugins. Strategy objects for ``Trainer(strategy=...)`` are importable
from here (loaded on first use, so ``import treadle_plugins`` stays cheap):
``from treadle_plugins import FSDPStrategy``."""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["FSDPStrategy"]


def __getattr__(name: str) -> Any:
    if name == "FSDPStrategy":  # (by name: the core's type check stays out of the plugins)
        return importlib.import_module("treadle_plugins.strategies.fsdp").FSDPStrategy
    raise AttributeError(f"module 'treadle_plugins' has no attribute {name!r}")
