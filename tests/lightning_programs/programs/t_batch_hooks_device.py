# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/loops/test_all.py
#   (test_callback_batch_on_device)
# (Apache-2.0, Copyright The Lightning AI team)
# Edits: the test turned into a __main__ program asserting what it asserted; tmpdir -> a
#   tempfile dir; parametrize over "gpu" (with a CUDA GPU) and "mps" (on a Mac) -> a loop over
#   "cpu" plus "gpu" where CUDA is available and "mps" where MPS is (the check is the same on
#   each device).
import tempfile

import torch

from lightning.pytorch import Callback, Trainer
from lightning.pytorch.demos.boring_classes import BoringModel


def _device_check_helper(batch_device, module_device):
    assert batch_device.type == module_device.type
    if batch_device.index is not None and module_device.index is not None:
        assert batch_device.index == module_device.index
    else:
        # devices with index None are the same as with index 0
        assert batch_device.index in (0, None)
        assert module_device.index in (0, None)


class BatchHookObserverCallback(Callback):
    def on_train_batch_start(self, trainer, pl_module, batch, *_):
        _device_check_helper(batch.device, pl_module.device)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, *_):
        _device_check_helper(batch.device, pl_module.device)

    def on_validation_batch_start(self, trainer, pl_module, batch, *_):
        _device_check_helper(batch.device, pl_module.device)

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, *_):
        _device_check_helper(batch.device, pl_module.device)

    def on_test_batch_start(self, trainer, pl_module, batch, *_):
        _device_check_helper(batch.device, pl_module.device)

    def on_test_batch_end(self, trainer, pl_module, outputs, batch, *_):
        _device_check_helper(batch.device, pl_module.device)

    def on_predict_batch_start(self, trainer, pl_module, batch, *_):
        _device_check_helper(batch.device, pl_module.device)

    def on_predict_batch_end(self, trainer, pl_module, outputs, batch, *_):
        _device_check_helper(batch.device, pl_module.device)


class BatchHookObserverModel(BoringModel):
    def on_train_batch_start(self, batch, *_):
        _device_check_helper(batch.device, self.device)

    def on_train_batch_end(self, outputs, batch, *_):
        _device_check_helper(batch.device, self.device)

    def on_validation_batch_start(self, batch, *_):
        _device_check_helper(batch.device, self.device)

    def on_validation_batch_end(self, outputs, batch, *_):
        _device_check_helper(batch.device, self.device)

    def on_test_batch_start(self, batch, *_):
        _device_check_helper(batch.device, self.device)

    def on_test_batch_end(self, outputs, batch, *_):
        _device_check_helper(batch.device, self.device)

    def on_predict_batch_start(self, batch, *_):
        _device_check_helper(batch.device, self.device)

    def on_predict_batch_end(self, outputs, batch, *_):
        _device_check_helper(batch.device, self.device)


def test_callback_batch_on_device(tmpdir, accelerator):
    """Test that the batch object sent to the on_*_batch_start/end hooks is on the right device."""

    batch_callback = BatchHookObserverCallback()

    model = BatchHookObserverModel()
    trainer = Trainer(
        default_root_dir=tmpdir,
        max_steps=1,
        limit_train_batches=1,
        limit_val_batches=1,
        limit_test_batches=1,
        limit_predict_batches=1,
        accelerator=accelerator,
        devices=1,
        callbacks=[batch_callback],
    )
    trainer.fit(model)
    trainer.validate(model)
    trainer.test(model)
    trainer.predict(model)


if __name__ == "__main__":
    accelerators = ["cpu"]
    if torch.cuda.is_available():
        accelerators.append("gpu")
    if torch.backends.mps.is_available():
        accelerators.append("mps")
    for accelerator in accelerators:
        with tempfile.TemporaryDirectory() as tmp:
            test_callback_batch_on_device(tmp, accelerator)
    print("OK")
