"""The ``cpu`` accelerator."""

from __future__ import annotations

import os
import warnings

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
    n = None
    if isinstance(devices, int) and not isinstance(devices, bool) and devices > 0:
        n = devices
    if isinstance(devices, str) and devices.isdigit() and int(devices) > 0:
        n = int(devices)
    if n is not None:
        cores = _cores()
        # As Lightning, more processes than cores is allowed (slow, but a way to try a 4-rank
        # run on a laptop); past OVERSUBSCRIBE per core it is a typo, not a plan.
        if n > OVERSUBSCRIBE * cores:
            raise ConfigurationError(
                [
                    f"cpu: `devices={devices!r}` asks for {n} processes, but this machine "
                    f"gives this process {cores} CPU core{'s' if cores != 1 else ''} (at most "
                    f"{OVERSUBSCRIBE * cores} processes are started on them). Pass "
                    f"devices<={cores} (one process per core), or 'auto' for one."
                ]
            )
        if n > cores:
            warnings.warn(
                f"cpu: `devices={devices!r}` starts {n} processes on {cores} CPU "
                f"core{'s' if cores != 1 else ''}: they will share the cores and each step will "
                f"be slower than with devices={cores}.",
                stacklevel=2,
            )
        return n
    raise ConfigurationError(
        [
            f"cpu: `devices={devices!r}` means nothing on the CPU; pass the "
            f"number of processes as an int (e.g. devices=2) or 'auto'."
        ]
    )


OVERSUBSCRIBE = 4  # processes per core beyond which `devices` is refused


def _cores() -> int:
    """The CPU cores this process may run on (its affinity where the OS reports it)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


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
