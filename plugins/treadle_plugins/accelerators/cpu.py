"""The ``cpu`` accelerator."""

from __future__ import annotations

import torch

from treadle import ConfigurationError, Provider, hookimpl
from treadle.kinds import FLOATING_DTYPES, AcceleratorBase


class CPUAccelerator(AcceleratorBase):
    """Its ``validate`` (from ``AcceleratorBase``) refuses a precision whose ``device_types``
    leave out ``"cpu"`` or whose dtypes are not among ``supported_dtypes``."""

    name = "cpu"
    device_type = "cpu"
    # fp16 and bf16 run in software on most CPUs: slow but correct.
    supported_dtypes = FLOATING_DTYPES

    def __init__(self, trainer) -> None:
        devices = trainer.config.devices
        self.num_devices = _parse_devices(devices)
        self.root_device = torch.device("cpu")


def _parse_devices(devices) -> int:
    if devices == "auto":
        return 1
    if isinstance(devices, int) and devices > 0:
        return devices
    if isinstance(devices, str) and devices.isdigit() and int(devices) > 0:
        return int(devices)
    raise ConfigurationError(
        [
            f"cpu: `devices={devices!r}` means nothing on the CPU; pass the "
            f"number of processes as an int (e.g. devices=2) or 'auto'."
        ]
    )


@hookimpl
def provide_accelerators():
    return [
        Provider(
            "accelerator",
            "cpu",
            CPUAccelerator,
            available=True,
            priority=0,
            description="The CPU: always available.",
        )
    ]
