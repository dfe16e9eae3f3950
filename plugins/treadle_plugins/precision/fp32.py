"""``32-true``: full precision; nothing to do, so no hooks."""

from __future__ import annotations

import torch

from treadle import Provider, hookimpl
from treadle.kinds import PrecisionBase


class FP32Precision(PrecisionBase):
    name = "32-true"
    param_dtype = compute_dtype = torch.float32
    device_types = None  # every device that computes in float32

    def __init__(self, trainer) -> None:
        pass


@hookimpl
def provide_precisions():
    return [
        Provider("precision", "32-true", FP32Precision, description="float32 weights and math.")
    ]
