"""Lightning's ``AcceleratorRegistry`` and ``Accelerator.get_device_stats`` under treadle's
``treadle.accelerators`` (``lightning.pytorch.accelerators``).

Ported from tests/tests_pytorch/accelerators/test_registry.py::test_available_accelerators_in_registry
and tests/tests_pytorch/accelerators/test_cpu.py::test_get_device_stats (Copyright The Lightning
AI team, Apache-2.0).
"""

from __future__ import annotations

import pytest
import torch

from treadle import Trainer
from treadle.accelerators import AcceleratorRegistry, CPUAccelerator, CUDAAccelerator


def test_the_registry_names_every_accelerator_the_trainer_takes():
    available = AcceleratorRegistry.available_accelerators()
    assert {"cpu", "cuda", "mps", "tpu"} <= set(available)
    assert available == sorted(available)
    assert "cpu" in AcceleratorRegistry and "nope" not in AcceleratorRegistry
    for name in available:  # each is a name Trainer(accelerator=...) knows
        if name == "cpu":
            assert Trainer(accelerator=name).accelerator.name == "cpu"


def test_cpu_device_stats_are_psutil_percentages():
    pytest.importorskip("psutil")
    stats = CPUAccelerator().get_device_stats(torch.device("cpu"))
    assert set(stats) == {"cpu_vm_percent", "cpu_percent", "cpu_swap_percent"}
    assert all(0.0 <= v <= 100.0 for v in stats.values())
    # the device is not looked at, as in Lightning (its test passes a Mock)
    assert set(CPUAccelerator().get_device_stats("anything")) == set(stats)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_cuda_device_stats_are_the_caching_allocators():
    stats = CUDAAccelerator().get_device_stats(torch.device("cuda", 0))
    assert "allocated_bytes.all.current" in stats
