# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/strategies/test_ddp_integration.py
#   (test_ddp_all_dataloaders_passed_to_fit, test_find_unused_parameters_exception_ddp_spawn)
# (Apache-2.0, Copyright The Lightning AI team)
# Edits: tests turned into one __main__ program asserting what they asserted; tmpdir -> a
#   tempfile dir; `pytest.raises(match=)` -> try/except and `re.search`.
#   test_ddp_all_dataloaders_passed_to_fit: `accelerator="gpu", devices=[0, 1]` ->
#   `accelerator="cpu", devices=2`.
#   Left out: the GPU-only tests (test_multi_gpu_*, test_ddp_wrapper,
#   test_ddp_strategy_checkpoint_zero_redundancy_optimizer, test_ddp_with_2_gpus, ...), the ones
#   mocking Lightning or torch internals (test_ddp_torch_dist_is_available_in_setup,
#   test_ddp_barrier_non_consecutive_device_ids, test_configure_launcher_create_processes_externally,
#   the `_MultiProcessingLauncher` subclass of test_ddp_spawn_add_get_queue), and
#   test_ddp_cpu/test_ddp_spawn_add_get_queue, which are test_ddp_spawn_strategy.py's
#   (t_ddp_spawn_strategy.py).
import re
import tempfile

import torch
from torch.multiprocessing import ProcessRaisedException

from lightning.pytorch import Trainer
from lightning.pytorch.demos.boring_classes import BoringModel


def test_ddp_all_dataloaders_passed_to_fit(tmpdir):
    """Make sure DDP works with dataloaders passed to fit()"""
    model = BoringModel()

    trainer = Trainer(
        default_root_dir=tmpdir,
        enable_progress_bar=False,
        max_epochs=1,
        limit_train_batches=0.2,
        limit_val_batches=0.2,
        accelerator="cpu",
        devices=2,
        strategy="ddp_spawn",
    )
    trainer.fit(model, train_dataloaders=model.train_dataloader(), val_dataloaders=model.val_dataloader())
    assert trainer.state.finished, "DDP doesn't work with dataloaders passed to fit()."


class UnusedParametersModel(BoringModel):
    def __init__(self):
        super().__init__()
        self.intermediate_layer = torch.nn.Linear(32, 32)

    def training_step(self, batch, batch_idx):
        with torch.no_grad():
            batch = self.intermediate_layer(batch)
        return super().training_step(batch, batch_idx)


def test_find_unused_parameters_exception_ddp_spawn():
    """Test that the DDP strategy can change PyTorch's error message so that it's more useful for Lightning users."""
    trainer = Trainer(accelerator="cpu", devices=1, strategy="ddp_spawn", max_steps=2)
    try:
        trainer.fit(UnusedParametersModel())
    except ProcessRaisedException as exc:
        assert re.search("It looks like your LightningModule has parameters that were not used in", str(exc))
    else:
        raise AssertionError("DID NOT RAISE ProcessRaisedException")


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        test_ddp_all_dataloaders_passed_to_fit(tmp)
    test_find_unused_parameters_exception_ddp_spawn()
    print("ok")
