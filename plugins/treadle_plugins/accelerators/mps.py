"""The ``mps`` accelerator: Apple silicon GPUs through Metal Performance Shaders.

One device per machine (``devices=1`` or ``"auto"``). MPS has no float64, so ``64-true`` is
refused at validation; fp16 and bf16 autocast and ``GradScaler("mps")`` are torch's own.
"""
from __future__ import annotations

import torch

from treadle import ConfigurationError, Provider, hookimpl

PRECISIONS = ("32-true", "16-mixed", "bf16-mixed", "bf16-true", "16-true")


class MPSAccelerator:
    name = "mps"

    def __init__(self, trainer) -> None:
        devices = trainer.config.devices
        if devices not in ("auto", 1, "1", [0]):
            raise ConfigurationError([f"mps: `devices={devices!r}`: a Mac has one MPS device; "
                                      f"pass devices=1 or 'auto'."])
        self.num_devices = 1
        self.root_device = torch.device("mps")

    @hookimpl
    def validate(self, trainer):
        precision = trainer.precision_plugin.name
        if precision not in PRECISIONS:
            why = " (MPS has no float64)" if precision == "64-true" else ""
            return [f"`precision={precision!r}` cannot run on `accelerator='mps'`{why}. MPS "
                    f"runs: {', '.join(PRECISIONS)}."]
        return None


def _available() -> bool:
    return torch.backends.mps.is_available()


@hookimpl
def provide_accelerators():
    return [Provider("accelerator", "mps", MPSAccelerator, available=_available, priority=10,
                     install_hint="a Mac with Apple silicon (M1 or later), macOS 12.3+ and the "
                                  "standard macOS torch wheels (`pip install torch`)",
                     description="Apple silicon GPUs (Metal Performance Shaders).")]
