"""The ``cpu`` accelerator."""
from __future__ import annotations

import torch

from treadle import ConfigurationError, Provider, hookimpl

# What this CPU can run (fp16 and bf16 run in software on most CPUs: slow but correct).
SUPPORTED_PRECISIONS = ("32-true", "64-true", "16-mixed", "bf16-mixed", "bf16-true", "16-true")


class CPUAccelerator:
    name = "cpu"

    def __init__(self, trainer) -> None:
        devices = trainer.config.devices
        self.num_devices = _parse_devices(devices)
        self.root_device = torch.device("cpu")

    @hookimpl
    def validate(self, trainer):
        precision = trainer.precision_plugin.name
        if precision not in SUPPORTED_PRECISIONS:
            return [f"`precision={precision!r}` cannot run on `accelerator='cpu'`. CPU runs: "
                    f"{', '.join(SUPPORTED_PRECISIONS)}."]
        return None


def _parse_devices(devices) -> int:
    if devices == "auto":
        return 1
    if isinstance(devices, int) and devices > 0:
        return devices
    if isinstance(devices, str) and devices.isdigit() and int(devices) > 0:
        return int(devices)
    raise ConfigurationError([f"cpu: `devices={devices!r}` means nothing on the CPU; pass the "
                              f"number of processes as an int (e.g. devices=2) or 'auto'."])


@hookimpl
def provide_accelerators():
    return [Provider("accelerator", "cpu", CPUAccelerator, available=True, priority=0,
                     description="The CPU: always available.")]
