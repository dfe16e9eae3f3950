# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/accelerators/test_cpu.py
#   (test_availability, test_get_device_stats), tests/tests_pytorch/accelerators/test_registry.py
#   (test_available_accelerators_in_registry), tests/tests_pytorch/strategies/test_single_device.py
#   (test_single_cpu), tests/tests_pytorch/strategies/test_ddp_strategy.py
#   (test_ddp_strategy_find_unused_parameters_exception)
# (Apache-2.0, Copyright The Lightning AI team)
# Edits: tests turned into one __main__ program asserting what they asserted;
#   `pytest.raises(match=)` -> try/except and `re.search`. test_get_device_stats: the `Mock()`
#   device -> `torch.device("cpu")` (the CPU accelerator does not look at it).
#   Left out: test_cpu.py's test_restore_checkpoint_after_pre_setup(_default) (a
#   SingleDeviceStrategy subclass overriding `setup`/`load_checkpoint`, and `precision_plugin=`:
#   treadle's strategies are plugins, not subclasses, migration.md 3); test_common.py's
#   test_pluggable_accelerator (an `Accelerator` subclass with mocked CUDA counts: treadle's
#   accelerators are plugins); strategies/test_common.py (test_evaluate needs a GPU or MPS;
#   test_model_parallel_setup_called's `configure_sharded_model` is gone in Lightning 2);
#   test_single_device.py's test_single_gpu (GPU), test_strategy_pickle (the private
#   `_lightning_optimizers`), test_process_dataloader_gets_called_as_expected (patches the
#   private `_accelerator_connector`/`_data_connector`); test_ddp_strategy.py's other tests
#   (GPU-only, or mocking `torch.distributed`/setting private strategy state).
import re

import torch

from lightning.pytorch import Trainer
from lightning.pytorch.accelerators import AcceleratorRegistry, CPUAccelerator
from lightning.pytorch.demos.boring_classes import BoringModel
from lightning.pytorch.strategies import SingleDeviceStrategy


def test_availability():
    assert CPUAccelerator.is_available()


def test_get_device_stats():
    gpu_stats = CPUAccelerator().get_device_stats(torch.device("cpu"))
    fields = ["cpu_vm_percent", "cpu_percent", "cpu_swap_percent"]

    for f in fields:
        assert any(f in h for h in gpu_stats)


def test_available_accelerators_in_registry():
    """Tests the accelerators available by default, not including external, third-party accelerators."""
    available = set(AcceleratorRegistry.available_accelerators())
    expected = {"cpu", "cuda", "mps", "tpu"}
    # Note: the registry is global, other tests may register new strategies as a side effect
    assert expected.issubset(available)


def test_single_cpu():
    """Tests if device is set correctly for single CPU strategy."""
    trainer = Trainer(accelerator="cpu")
    assert isinstance(trainer.strategy, SingleDeviceStrategy)
    assert trainer.strategy.root_device == torch.device("cpu")


class UnusedParametersModel(BoringModel):
    def __init__(self):
        super().__init__()
        self.intermediate_layer = torch.nn.Linear(32, 32)

    def training_step(self, batch, batch_idx):
        with torch.no_grad():
            batch = self.intermediate_layer(batch)
        return super().training_step(batch, batch_idx)


def test_ddp_strategy_find_unused_parameters_exception():
    """Test that the DDP strategy can change PyTorch's error message so that it's more useful for Lightning users."""
    trainer = Trainer(accelerator="cpu", devices=1, strategy="ddp", max_steps=2)
    try:
        trainer.fit(UnusedParametersModel())
    except RuntimeError as exc:
        assert re.search("It looks like your LightningModule has parameters that were not used in", str(exc))
    else:
        raise AssertionError("DID NOT RAISE RuntimeError")


if __name__ == "__main__":
    test_availability()
    test_get_device_stats()
    test_available_accelerators_in_registry()
    test_single_cpu()
    test_ddp_strategy_find_unused_parameters_exception()
    print("ok")
