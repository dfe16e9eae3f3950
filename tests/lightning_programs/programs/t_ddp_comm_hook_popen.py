# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/strategies/test_ddp_integration_comm_hook.py
#   (test_ddp_fp16_compress_wrap_sgd_comm_hook; test_ddp_spawn_fp16_compress_comm_hook is
#   t_ddp_comm_hook.py)
# (Apache-2.0, Copyright The Lightning AI team)
# Edits: tests turned into one __main__ program asserting what they asserted; tmp_path -> a
#   tempfile dir; `accelerator="gpu", devices=2` -> `accelerator="cpu", devices=2` (gloo); the
#   `TestDDPStrategy` subclass, whose `teardown` reads the hook's name from the private
#   `DistributedDataParallel._get_ddp_logging_data()`, -> `DDPStrategy` itself (the fit with the
#   hook's arguments must finish); `sync_batchnorm=True` dropped (BoringModel has no batch norm).
#   Left out: test_ddp_fp16_compress_comm_hook and test_ddp_sgd_comm_hook (the same arguments
#   as those kept, one hook each), the post-local-SGD tests (`model_averaging_period`, CUDA
#   model averaging, a mocked `PeriodicModelAverager`).
import tempfile

import torch
from torch.distributed.algorithms.ddp_comm_hooks import default_hooks as default
from torch.distributed.algorithms.ddp_comm_hooks import powerSGD_hook as powerSGD

from lightning.pytorch import Trainer
from lightning.pytorch.demos.boring_classes import BoringModel
from lightning.pytorch.strategies import DDPStrategy


def test_ddp_fp16_compress_wrap_sgd_comm_hook(tmp_path):
    """Test for DDP FP16 compress wrapper for SGD hook."""
    model = BoringModel()
    strategy = DDPStrategy(
        ddp_comm_state=powerSGD.PowerSGDState(process_group=None),
        ddp_comm_hook=powerSGD.powerSGD_hook,
        ddp_comm_wrapper=default.fp16_compress_wrapper,
    )
    trainer = Trainer(
        max_epochs=1,
        accelerator="cpu",
        devices=2,
        strategy=strategy,
        default_root_dir=tmp_path,
        fast_dev_run=True,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(model)
    assert trainer.state.finished, f"Training failed with {trainer.state}"


if __name__ == "__main__":
    assert torch.distributed.is_available()
    with tempfile.TemporaryDirectory() as tmp:
        test_ddp_fp16_compress_wrap_sgd_comm_hook(tmp)
    print("ok")
