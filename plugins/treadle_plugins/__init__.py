"""treadle's first-party plugins. Strategy objects for ``Trainer(strategy=...)`` are importable
from here (loaded on first use, so ``import treadle_plugins`` stays cheap):
``from treadle_plugins import FSDPStrategy``."""

from __future__ import annotations

from typing import Any

__all__ = ["FSDPStrategy"]


def __getattr__(name: str) -> Any:
    if name == "FSDPStrategy":
        from treadle_plugins.strategies.fsdp import FSDPStrategy

        return FSDPStrategy
    raise AttributeError(f"module 'treadle_plugins' has no attribute {name!r}")
