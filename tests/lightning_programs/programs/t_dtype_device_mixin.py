# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/utilities/test_dtype_device_mixin.py
#   (test_submodules_multi_gpu_ddp_spawn, run on the CPU) and, for the CPU cases of the same
#   behaviour, tests/tests_fabric/utilities/test_device_dtype_mixin.py (test_submodules_device_and_dtype
#   with "cpu", test_to_combinations, test_dtype_conversions)
# (Apache-2.0, Copyright The Lightning AI team)
# Edits: tests turned into a __main__ program asserting what they asserted; parametrize -> loops.
#   The private `_DeviceDtypeModuleMixin` (the base that gives LightningModule `device` and
#   `dtype`) -> `LightningModule` as the base of the nested modules (its import line dropped,
#   `LightningModule` added to the `lightning.pytorch` import). The multi-GPU test runs on one CPU
#   device (`accelerator="cpu"`, no `strategy`/`devices`); the fabric file's tests use the pytorch
#   file's `TopModule` (a BoringModel). Left out: the cuda/mps parameters and
#   test_cuda_device, test_cuda_current_device (GPU).
import torch
import torch.nn as nn

from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.demos.boring_classes import BoringModel


class SubSubModule(LightningModule):
    pass


class SubModule(nn.Module):
    def __init__(self):
        super().__init__()
        self.module = SubSubModule()


class TopModule(BoringModel):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.module = SubModule()


class DeviceAssertCallback(Callback):
    def on_train_batch_start(self, trainer, model, batch, batch_idx):
        rank = trainer.local_rank
        assert isinstance(model, TopModule)
        # index = None also means first device
        assert (model.device.index is None and rank == 0) or model.device.index == rank
        assert model.device == model.module.module.device
        self.called = True


def test_submodules_cpu(tmp_path):
    model = TopModule()
    callback = DeviceAssertCallback()
    trainer = Trainer(
        default_root_dir=tmp_path,
        accelerator="cpu",
        callbacks=[callback],
        max_steps=1,
    )
    trainer.fit(model)
    assert callback.called


def test_submodules_device_and_dtype(dst_device_str, dst_type):
    """Test that the device and dtype property updates propagate through mixed nesting of regular nn.Modules and the
    special modules of type DeviceDtypeModuleMixin (e.g. Metric or LightningModule)."""
    dst_device = torch.device(dst_device_str)
    model = TopModule()
    assert model.device == torch.device("cpu")
    model = model.to(device=dst_device, dtype=dst_type)
    # nn.Module does not have these attributes
    assert not hasattr(model.module, "_device")
    assert not hasattr(model.module, "_dtype")
    # device and dtype change should propagate down into all children
    assert model.device == model.module.module.device == dst_device
    assert model.dtype == model.module.module.dtype == dst_type


class ExampleModule(LightningModule):
    def __init__(self, weight):
        super().__init__()
        self.register_buffer("weight", weight)


def test_to_combinations():
    module = ExampleModule(torch.rand(3, 4))
    # sanity check
    assert module.weight.shape == (3, 4)
    assert module.weight.dtype is torch.float32
    # positional dtype
    module.to(torch.double)
    assert module.weight.dtype is torch.float64
    # positional device
    module.to("cpu", dtype=torch.half, non_blocking=True)
    assert module.weight.dtype is torch.float16
    assert module.device == torch.device("cpu")
    assert module.dtype is torch.float16


def test_dtype_conversions():
    module = ExampleModule(torch.tensor(1))
    # different dtypes
    assert module.weight.dtype is torch.int64
    assert module.dtype is torch.float32
    # `.double()` skips non floating points
    module.double()
    assert module.weight.dtype is torch.int64
    assert module.dtype is torch.float64
    # but `type` doesn't
    module.type(torch.float)
    assert module.weight.dtype is torch.float32
    assert module.dtype is torch.float32
    # now, test the rest
    module.float()
    assert module.weight.dtype is torch.float32
    assert module.dtype is torch.float32
    module.half()
    assert module.weight.dtype is torch.float16
    assert module.dtype is torch.float16


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        test_submodules_cpu(tmp)
    for dst_type in (torch.half, torch.float, torch.double):
        test_submodules_device_and_dtype("cpu", dst_type)
    test_to_combinations()
    test_dtype_conversions()
    print("ok")
