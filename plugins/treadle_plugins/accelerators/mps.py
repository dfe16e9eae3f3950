"""The ``mps`` accelerator: Apple silicon GPUs through Metal Performance Shaders.

One device per machine (``devices=1`` or ``"auto"``). MPS has no float64, so a precision in
float64 (``64-true``) is refused at validation; fp16 and bf16 autocast and ``GradScaler("mps")`` are torch's own.
"""

from __future__ import annotations

import torch

from treadle import ConfigurationError, Provider, hookimpl
from treadle.kinds import AcceleratorBase


class MPSAccelerator(AcceleratorBase):
    name = "mps"
    device_type = "mps"
    supported_dtypes = (torch.float32, torch.float16, torch.bfloat16)  # no float64 on MPS

    def __init__(self, trainer) -> None:
        devices = trainer.config.devices
        if devices not in ("auto", 1, "1", [0]):
            raise ConfigurationError(
                [f"mps: `devices={devices!r}`: a Mac has one MPS device; pass devices=1 or 'auto'."]
            )
        self.num_devices = 1
        self.root_device = torch.device("mps")


def _available() -> bool:
    return torch.backends.mps.is_available()


@hookimpl
def provide_accelerators():
    return [
        Provider(
            "accelerator",
            "mps",
            MPSAccelerator,
            available=_available,
            priority=10,
            install_hint="a Mac with Apple silicon (M1 or later), macOS 12.3+ and the "
            "standard macOS torch wheels (`pip install torch`)",
            description="Apple silicon GPUs (Metal Performance Shaders).",
        )
    ]
