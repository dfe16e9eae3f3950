# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/models/test_amp.py
#   (test_amp_cpus, test_precision_16_clip_gradients)
# Edits: the tests turned into one __main__ program asserting what they asserted; parametrize ->
#   loops; tmpdir -> a tempfile dir; `mock.patch("torch.nn.utils.clip_grad_norm_")` -> a
#   recording wrapper around torch's own function (the clipping still runs); the flaky mark and
#   RunIf dropped. test_amp_cpus runs its two "single_device" cases; its "ddp_spawn" cases (two
#   CPU processes) are left out to keep the program within seconds on one core. Left out, as
#   they need a GPU: test_amp_gpus, test_amp_gpu_ddp_slurm_managed.
import tempfile

import torch

from lightning.pytorch import Trainer
from lightning.pytorch.demos.boring_classes import BoringModel


class AMPTestModel(BoringModel):
    def step(self, batch):
        self._assert_autocast_enabled()
        output = self(batch)
        is_bfloat16 = self.trainer.precision_plugin.precision == "bf16-mixed"
        assert output.dtype == torch.float16 if not is_bfloat16 else torch.bfloat16
        return self.loss(output)

    def predict_step(self, batch, batch_idx, dataloader_idx=0):
        self._assert_autocast_enabled()
        output = self(batch)
        is_bfloat16 = self.trainer.precision_plugin.precision == "bf16-mixed"
        assert output.dtype == torch.float16 if not is_bfloat16 else torch.bfloat16
        return output

    def _assert_autocast_enabled(self):
        if self.trainer.precision_plugin.device == "cpu":
            assert torch.is_autocast_cpu_enabled()
        else:
            assert torch.is_autocast_enabled()


def test_amp_cpus(tmpdir, strategy, precision, devices):
    """Make sure combinations of AMP and strategies work if supported."""
    trainer = Trainer(
        default_root_dir=tmpdir,
        accelerator="cpu",
        devices=devices,
        strategy=strategy,
        precision=precision,
        max_epochs=1,
        limit_train_batches=1,
        limit_val_batches=1,
        limit_test_batches=1,
        limit_predict_batches=1,
        logger=False,
        enable_checkpointing=False,
        enable_model_summary=False,
        enable_progress_bar=False,
    )
    model = AMPTestModel()
    trainer.fit(model)
    trainer.test(model)
    trainer.predict(model)


def test_precision_16_clip_gradients(clip_val, tmpdir):
    """Ensure that clip gradients is only called if the value is greater than 0."""
    calls = []
    original = torch.nn.utils.clip_grad_norm_

    def recording_clip_grad_norm(*args, **kwargs):
        calls.append(args)
        return original(*args, **kwargs)

    torch.nn.utils.clip_grad_norm_ = recording_clip_grad_norm
    try:
        model = BoringModel()
        trainer = Trainer(
            default_root_dir=tmpdir,
            enable_progress_bar=False,
            max_epochs=1,
            devices=1,
            precision="16-mixed",
            limit_train_batches=4,
            limit_val_batches=0,
            gradient_clip_val=clip_val,
        )
        trainer.fit(model)
    finally:
        torch.nn.utils.clip_grad_norm_ = original

    if clip_val > 0:
        assert calls
    else:
        assert not calls


if __name__ == "__main__":
    for strategy, precision, devices in [("single_device", "16-mixed", 1), ("single_device", "bf16-mixed", 1)]:
        with tempfile.TemporaryDirectory() as tmp:
            test_amp_cpus(tmp, strategy, precision, devices)
    for clip_val in (0, 10):
        with tempfile.TemporaryDirectory() as tmp:
            test_precision_16_clip_gradients(clip_val, tmp)
    print("t_amp: all passed")
