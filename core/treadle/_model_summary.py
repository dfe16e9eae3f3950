"""Lightning's ``utilities.model_summary`` path (and its ``.model_summary`` module).

``from lightning.pytorch.utilities.model_summary import ModelSummary, summarize`` is the summary
object, not the callback: here ``ModelSummary`` is treadle's ``Summary`` (the table of a
module's layers, ``str(summary)`` prints it). The names live in the first-party plugin
``treadle_plugins.callbacks.model_summary`` and are imported on first use;
``treadle.utilities`` registers this module under both of Lightning's paths
(``_lightning_paths.ELSEWHERE``).
"""

from __future__ import annotations

import importlib
from typing import Any

# Lightning's name -> the name in the plugin module
_NAMES = {
    "ModelSummary": "Summary",
    "LayerSummary": "LayerSummary",
    "summarize": "summarize",
    "get_human_readable_count": "get_human_readable_count",
    "get_formatted_model_size": "get_formatted_model_size",
    "parse_batch_shape": "parse_batch_shape",
    "UNKNOWN_SIZE": "UNKNOWN_SIZE",
    "LEFTOVER_PARAMS_NAME": "LEFTOVER_PARAMS_NAME",
    "NOT_APPLICABLE": "NOT_APPLICABLE",
}

__all__ = sorted(_NAMES)


def __getattr__(name: str) -> Any:
    if name not in _NAMES:
        raise AttributeError(
            f"module 'treadle.utilities.model_summary' has no attribute {name!r}; it "
            f"provides {', '.join(__all__)}"
        )
    module = importlib.import_module("treadle_plugins.callbacks.model_summary")
    value = getattr(module, _NAMES[name])
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
