"""``32-true``: full precision; nothing to do, so no hooks."""
from __future__ import annotations

from treadle import Provider, hookimpl


class FP32Precision:
    name = "32-true"

    def __init__(self, trainer) -> None:
        pass


@hookimpl
def provide_precisions():
    return [Provider("precision", "32-true", FP32Precision, description="float32 weights and math.")]
