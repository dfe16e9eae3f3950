"""Lightning's accelerator classes (``lightning.pytorch.accelerators``) under treadle's names.

treadle's accelerators are plugins selected by name (``Trainer(accelerator="cpu")``). The
classes here are Lightning's: their static methods answer what Lightning's do
(``CUDAAccelerator.is_available()``, ``auto_device_count()``, ``parse_devices(devices)``,
``get_parallel_devices(devices)``); an instance passed as ``Trainer(accelerator=
CPUAccelerator())`` selects that accelerator by its name; and ``isinstance(trainer.accelerator,
CPUAccelerator)`` is true when treadle's ``cpu`` accelerator runs (likewise CUDA, MPS, XLA;
``Accelerator`` for any of treadle's). A program's subclass of one of these selects the
accelerator it extends; the methods it defines are not called (a warning names them when the
class is made): an accelerator of your own is an accelerator plugin (docs/plugins.md). The plugin
modules are looked up in ``sys.modules``, never imported here.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any, Union

import torch

from treadle import _lightning_paths
from treadle._shims import warn_unused_overrides
from treadle.errors import ConfigurationError
from treadle.kinds import AcceleratorBase

__all__ = [
    "Accelerator",
    "AcceleratorRegistry",
    "CPUAccelerator",
    "CUDAAccelerator",
    "MPSAccelerator",
    "XLAAccelerator",
    "find_usable_cuda_devices",
    "is_cuda_available",
    "num_cuda_devices",
]

_Devices = Union[int, str, list[int], None]


class _RunningCheck(type):
    """``isinstance(x, C)``: ``x`` is a ``C`` made by the program, or the running plugin
    accelerator (``_runs``: module and class name) that Lightning's ``C`` stands for."""

    _runs: tuple[str, str] | None = None

    def __init__(cls, name: str, bases: tuple[type, ...], namespace: dict[str, Any]) -> None:
        super().__init__(name, bases, namespace)
        # a program's subclass of one of Lightning's four accelerator classes (a subclass of the
        # base Accelerator alone is refused by the Trainer)
        extended = next((b for b in cls.__mro__[1:] if b.__module__ == __name__), None)
        if cls.__module__ != __name__ and extended not in (None, Accelerator):
            warn_unused_overrides(cls, namespace, __name__, "accelerator", ("name",))

    def __instancecheck__(cls, obj: Any) -> bool:
        if type.__instancecheck__(cls, obj):
            return True
        if cls._runs is None:  # Accelerator: any of treadle's
            return isinstance(obj, AcceleratorBase)
        module = sys.modules.get(cls._runs[0])
        return module is not None and isinstance(obj, getattr(module, cls._runs[1]))


class Accelerator(metaclass=_RunningCheck):
    """Lightning's accelerator base: ``isinstance(trainer.accelerator, Accelerator)`` holds for
    every accelerator treadle runs. ``name`` is the accelerator's name in treadle."""

    name: str = ""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class CPUAccelerator(Accelerator):
    """The CPU (treadle's ``cpu``); ``devices`` is the number of processes."""

    name = "cpu"
    _runs = ("treadle_plugins.accelerators.cpu", "CPUAccelerator")

    @staticmethod
    def parse_devices(devices: int | str) -> int:
        """The number of processes ``devices`` asks for (an int > 0, or its digits)."""
        if isinstance(devices, str) and devices.strip().isdigit():
            devices = int(devices)
        if not isinstance(devices, int) or isinstance(devices, bool) or devices <= 0:
            raise TypeError("`devices` selected with `CPUAccelerator` should be an int > 0.")
        return devices

    @staticmethod
    def get_parallel_devices(devices: int | str) -> list[torch.device]:
        return [torch.device("cpu")] * CPUAccelerator.parse_devices(devices)

    @staticmethod
    def auto_device_count() -> int:
        """One: ``devices="auto"`` on the CPU is one process."""
        return 1

    def get_device_stats(self, device: Any) -> dict[str, Any]:
        """System-wide CPU, RAM and swap use in percent (``cpu_percent``, ``cpu_vm_percent``,
        ``cpu_swap_percent``; needs ``psutil``), whatever ``device`` is, as Lightning's."""
        return _device_stats(torch.device("cpu"))

    @staticmethod
    def is_available() -> bool:
        return True


def _device_stats(device: torch.device) -> dict[str, Any]:
    """``DeviceStatsMonitor``'s statistics of ``device`` (the plugin that computes them)."""
    monitor = importlib.import_module("treadle_plugins.callbacks.device_stats_monitor")
    stats: dict[str, Any] = monitor.get_device_stats(device)
    return stats


class CUDAAccelerator(Accelerator):
    """NVIDIA GPUs (treadle's ``cuda``)."""

    name = "cuda"
    _runs = ("treadle_plugins.accelerators.cuda", "CUDAAccelerator")

    @staticmethod
    def parse_devices(devices: _Devices) -> list[int] | None:
        """GPU indices: an int N (the first N), -1 (all), a list, or a string of either
        (``"0,2"``, ``"2"``, ``"-1"``); None for 0 or an empty list."""
        return _parse_gpu_ids(devices, torch.cuda.device_count())

    @staticmethod
    def get_parallel_devices(devices: list[int]) -> list[torch.device]:
        return [torch.device("cuda", i) for i in devices]

    @staticmethod
    def auto_device_count() -> int:
        """The number of visible GPUs."""
        return torch.cuda.device_count()

    def get_device_stats(self, device: Any) -> dict[str, Any]:
        """``torch.cuda.memory_stats(device)``: the caching allocator's bytes and counts."""
        return _device_stats(torch.device(device))

    @staticmethod
    def is_available() -> bool:
        return torch.cuda.device_count() > 0


def _mps_available() -> bool:
    return bool(torch.backends.mps.is_available())


class MPSAccelerator(Accelerator):
    """Apple silicon's GPU (treadle's ``mps``): one device."""

    name = "mps"
    _runs = ("treadle_plugins.accelerators.mps", "MPSAccelerator")

    @staticmethod
    def parse_devices(devices: _Devices) -> list[int] | None:
        return _parse_gpu_ids(devices, 1 if _mps_available() else 0)

    @staticmethod
    def get_parallel_devices(devices: _Devices) -> list[torch.device]:
        parsed = MPSAccelerator.parse_devices(devices) or []
        return [torch.device("mps", i) for i in range(len(parsed))]

    @staticmethod
    def auto_device_count() -> int:
        return 1

    @staticmethod
    def is_available() -> bool:
        return _mps_available()


class XLAAccelerator(Accelerator):
    """TPUs through ``torch_xla`` (treadle's ``tpu``: one core per run)."""

    name = "tpu"
    _runs = ("treadle_plugins.accelerators.xla", "XLAAccelerator")

    @staticmethod
    def parse_devices(devices: int | str | list[int]) -> int | list[int]:
        """A number of cores, or a one-element list naming a core, as Lightning's."""
        if isinstance(devices, str) and devices.strip().isdigit():
            devices = int(devices)
        if isinstance(devices, list) and len(devices) == 1 and isinstance(devices[0], int):
            return devices
        if isinstance(devices, int) and not isinstance(devices, bool) and devices > 0:
            return devices
        raise TypeError(
            f"`devices` can only be a positive int or a one-element list of ints, got {devices!r}."
        )

    @staticmethod
    def get_parallel_devices(devices: int | list[int]) -> list[torch.device]:
        parsed = XLAAccelerator.parse_devices(devices)
        indices = parsed if isinstance(parsed, list) else range(parsed)
        return [torch.device("xla", i) for i in indices]

    @staticmethod
    def auto_device_count() -> int:
        """The TPU cores ``torch_xla`` sees (0 without it)."""
        if not XLAAccelerator.is_available():
            return 0
        runtime = importlib.import_module("torch_xla.runtime")  # (only on TPU VMs)
        return int(runtime.global_runtime_device_count())

    @staticmethod
    def is_available() -> bool:
        xla = importlib.import_module("treadle_plugins.accelerators.xla")
        return bool(xla._available())


class _AcceleratorRegistry:
    """Lightning's ``AcceleratorRegistry``: the accelerator names this install provides,
    first-party and third-party plugins' alike (``"cpu"``, ``"cuda"``, ``"mps"``, ``"tpu"``,
    ...). Read-only: an accelerator is added by installing a plugin (docs/plugins.md)."""

    def available_accelerators(self) -> list[str]:
        """The names ``Trainer(accelerator=...)`` takes, besides ``"auto"`` and ``"gpu"``."""
        from treadle import _defaults
        from treadle.plugin_manager import RunPluginManager

        manager = RunPluginManager()
        manager.register(_defaults, name="treadle.core")
        manager.load_entry_points()
        return sorted(manager.providers("accelerator"))

    def __contains__(self, name: object) -> bool:
        return name in self.available_accelerators()

    def __repr__(self) -> str:
        return f"AcceleratorRegistry({self.available_accelerators()})"


AcceleratorRegistry = _AcceleratorRegistry()


def num_cuda_devices() -> int:
    """Lightning Fabric's ``num_cuda_devices()``: the number of visible CUDA GPUs (0 without
    CUDA)."""
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def is_cuda_available() -> bool:
    """Lightning Fabric's ``is_cuda_available()``: whether a CUDA GPU can be used."""
    return num_cuda_devices() > 0


def find_usable_cuda_devices(num_devices: int = -1) -> list[int]:
    """The indices of ``num_devices`` visible GPUs that take a tensor now (all of them for
    -1), as Lightning's: for ``Trainer(accelerator="cuda", devices=find_usable_cuda_devices(2))``
    on a machine whose GPUs other jobs hold in exclusive mode."""
    if num_devices == 0:
        return []
    visible = list(range(torch.cuda.device_count()))
    if not visible:
        raise ValueError(
            f"You requested to find {num_devices} devices but there are no visible CUDA "
            f"devices on this machine."
        )
    if num_devices > len(visible):
        raise ValueError(
            f"You requested to find {num_devices} devices but this machine only has "
            f"{len(visible)} GPUs."
        )
    usable: list[int] = []
    busy: list[int] = []
    for index in visible:
        try:
            torch.tensor(0, device=torch.device("cuda", index))
        except RuntimeError:
            busy.append(index)
            continue
        usable.append(index)
        if len(usable) == num_devices:
            break
    if num_devices != -1 and len(usable) != num_devices:
        raise RuntimeError(
            f"You requested to find {num_devices} devices but only {len(usable)} are currently "
            f"available. The devices {busy} are occupied by other processes and can't be used "
            f"at the moment."
        )
    return usable


def _parse_gpu_ids(devices: _Devices, count: int) -> list[int] | None:
    if devices is None or isinstance(devices, bool):
        raise TypeError(
            f"Device IDs (GPU/TPU) must be an int, a string, a sequence of ints, but you "
            f"passed {devices!r}"
        )
    if isinstance(devices, str):
        text = devices.strip()
        if text == "-1":
            devices = -1
        elif "," in text:
            devices = [int(x) for x in text.split(",") if x.strip()]
        elif text.isdigit():
            devices = int(text)
        else:
            raise TypeError(f"Could not parse the device IDs {devices!r}.")
    if devices == 0 or devices == []:
        return None
    if devices == -1:
        if count == 0:
            raise ConfigurationError("GPUs requested but none are available.")
        return list(range(count))
    ids = list(range(devices)) if isinstance(devices, int) else list(devices)
    available = list(range(count))
    if any(i not in available for i in ids):
        raise ConfigurationError(
            f"You requested gpu: {ids}\n But your machine only has: {available}"
        )
    return ids


def accelerator_name(accelerator: Any, where: str = "TrainerConfig: `accelerator") -> str:
    """``Trainer(accelerator=CPUAccelerator())``: the name of the accelerator ``accelerator``
    stands for. A program's subclass stands for the class it extends (as Lightning's
    ``MyOwnAcc(CPUAccelerator)``); the methods it defines were named in a warning when the class
    was made: treadle runs its plugin, not the object's methods."""
    for cls in type(accelerator).__mro__:
        if cls in (CPUAccelerator, CUDAAccelerator, MPSAccelerator, XLAAccelerator):
            return cls.name
    raise ConfigurationError(
        [
            f"{where}={accelerator!r}`: treadle takes an accelerator name "
            f"('cpu', 'cuda', 'mps', 'tpu', 'gpu', 'auto') or one of treadle.accelerators' "
            f"CPUAccelerator(), CUDAAccelerator(), MPSAccelerator(), XLAAccelerator() (or a "
            f"subclass of one). A custom accelerator is a plugin that provides a new name "
            f"(docs/plugins.md)."
        ]
    )


_lightning_paths.register(__name__)
