"""Lightning's ``callbacks.progress.tqdm_progress`` names: ``TQDMProgressBar`` and ``Tqdm``.

``treadle.callbacks.progress.tqdm_progress`` is this module, imported on first use of the path
(``treadle._lightning_paths.LAZY``): it needs tqdm (extra ``[tqdm]``), which ``import treadle``
does not load.
"""

from __future__ import annotations

import math
from typing import Any

from treadle import module_available
from treadle_plugins.progress import INSTALL_HINT, TQDMProgressBar

if not module_available("tqdm"):
    raise ModuleNotFoundError(
        f"`Tqdm` (treadle.callbacks.progress.tqdm_progress) needs the `tqdm` package, which is not "
        f"installed. Install it with: {INSTALL_HINT['tqdm']}."
    )

# as Lightning's: the notebook-aware bar where ipywidgets can draw it
if module_available("ipywidgets"):
    from tqdm.auto import tqdm as _tqdm
else:
    from tqdm import tqdm as _tqdm

__all__ = ["TQDMProgressBar", "Tqdm", "convert_inf"]

_PAD_SIZE = 5


def convert_inf(x: int | float | None) -> int | float | None:
    """None for an infinite or NaN count (tqdm shows no total then), else ``x``; Lightning's
    helper of the same name."""
    if x is None or math.isinf(x) or math.isnan(x):
        return None
    return x


class Tqdm(_tqdm):
    """A tqdm bar whose float and string figures are padded with zeros to five characters
    (``1.2`` shows as ``1.200``), so that the postfix does not flicker as values change."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)

    @staticmethod
    def format_num(n: int | float | str) -> str:
        padded = isinstance(n, (float, str))
        text = n if isinstance(n, str) else _tqdm.format_num(n)
        if padded and "e" not in text:
            if "." not in text and len(text) < _PAD_SIZE:
                try:
                    float(text)
                except ValueError:
                    return text
                text += "."
            text += "0" * (_PAD_SIZE - len(text))
        return text
