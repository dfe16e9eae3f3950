"""``DeviceStatsMonitor``: log the device's statistics around each batch (as Lightning 2's)."""

from __future__ import annotations

import importlib.util
from typing import Any

import torch

from treadle.callback import Callback
from treadle.errors import ConfigurationError


def get_cpu_stats() -> dict[str, float]:
    """System-wide CPU use, RAM use and swap use, in percent (``psutil``)."""
    try:
        import psutil  # type: ignore[import-untyped]  # psutil ships no type hints
    except ImportError as exc:
        raise ModuleNotFoundError(
            "Fetching CPU device stats requires `psutil` to be installed: `pip install psutil`."
        ) from exc
    return {
        "cpu_vm_percent": psutil.virtual_memory().percent,
        "cpu_percent": psutil.cpu_percent(),
        "cpu_swap_percent": psutil.swap_memory().percent,
    }


def get_device_stats(device: torch.device) -> dict[str, Any]:
    """Lightning's statistics of ``device``: the CPU's (``psutil``), CUDA's caching allocator
    (``torch.cuda.memory_stats``); none for other devices."""
    if device.type == "cpu":
        return get_cpu_stats()
    if device.type == "cuda":
        return dict(torch.cuda.memory_stats(device))
    return {}


class DeviceStatsMonitor(Callback):
    """Log device statistics before and after each training, validation and test batch, under
    ``DeviceStatsMonitor.<hook>/<stat>`` (e.g. ``DeviceStatsMonitor.on_train_batch_end/cpu_percent``),
    on the steps the loggers are written (``log_every_n_steps``).

    :param cpu_stats: None: the CPU's statistics when the run is on the CPU; True: also with
        another device; False: never.

    Needs a logger; the CPU's statistics need ``psutil`` (``pip install psutil``). CUDA's are
    ``torch.cuda.memory_stats`` (bytes and counts of the caching allocator).
    """

    def __init__(self, cpu_stats: bool | None = None) -> None:
        self._cpu_stats = cpu_stats

    def setup(self, trainer, pl_module, stage: str) -> None:
        if stage != "fit":
            return
        if not trainer.loggers:
            raise ConfigurationError(
                "Cannot use `DeviceStatsMonitor` callback with `Trainer(logger=False)`: it logs "
                "the statistics. Pass a logger (`logger=True`) or remove the callback."
            )
        on_cpu = trainer.root_device.type == "cpu"
        wants_cpu = self._cpu_stats or (self._cpu_stats is None and on_cpu)
        if wants_cpu and importlib.util.find_spec("psutil") is None:
            raise ModuleNotFoundError(
                "`DeviceStatsMonitor` cannot log CPU stats as `psutil` is not installed. "
                "Install it (`pip install psutil`) or pass `DeviceStatsMonitor(cpu_stats=False)`."
            )

    def _get_and_log_device_stats(self, trainer, key: str) -> None:
        step = trainer.global_step
        every = trainer.log_every_n_steps  # (0: never, as Lightning)
        if not every or ((step + 1) % every and not trainer.should_stop):
            return
        device = trainer.root_device
        if self._cpu_stats is False and device.type == "cpu":
            return
        stats = get_device_stats(device)
        if self._cpu_stats and device.type != "cpu":
            stats.update(get_cpu_stats())
        if not stats or not trainer.is_global_zero:
            return
        prefix = f"{type(self).__qualname__}.{key}"
        for logger in trainer.loggers:
            separator = logger.group_separator
            logger.log_metrics({f"{prefix}{separator}{k}": v for k, v in stats.items()}, step=step)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self._get_and_log_device_stats(trainer, "on_train_batch_start")

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self._get_and_log_device_stats(trainer, "on_train_batch_end")

    def on_validation_batch_start(
        self, trainer, pl_module, batch, batch_idx, dataloader_idx=0
    ) -> None:
        self._get_and_log_device_stats(trainer, "on_validation_batch_start")

    def on_validation_batch_end(
        self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0
    ) -> None:
        self._get_and_log_device_stats(trainer, "on_validation_batch_end")

    def on_test_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0) -> None:
        self._get_and_log_device_stats(trainer, "on_test_batch_start")

    def on_test_batch_end(
        self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0
    ) -> None:
        self._get_and_log_device_stats(trainer, "on_test_batch_end")
