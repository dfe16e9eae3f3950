# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/strategies/launchers/test_multiprocessing.py
#   (test_memory_sharing_disabled; test_fit_twice_raises is
#   t_launcher_multiprocessing_differences.py)
# (Apache-2.0, Copyright The Lightning AI team)
# Edits: tests turned into one __main__ program asserting what they asserted; tmp_path -> a
#   tempfile dir.
#   Left out: the tests of the private `_MultiProcessingLauncher` and `_GlobalStateSnapshot`
#   (test_multiprocessing_launcher_*, test_global_state_snapshot, test_collect_rank_zero_results,
#   test_transfer_weights, test_non_strict_loading, test_kill, test_check_for_missing_main_guard:
#   each mocks `torch.multiprocessing` or calls the launcher's private methods).
import tempfile

import torch

from lightning.pytorch import Trainer
from lightning.pytorch.demos.boring_classes import BoringModel


class SimpleModel(BoringModel):
    def __init__(self):
        super().__init__()
        self.tied_layer = torch.nn.Linear(32, 2)
        self.tied_layer.weight = self.layer.weight
        self.register_buffer("buffer", torch.ones(3))

    def on_fit_start(self) -> None:
        assert not self.layer.weight.is_shared()
        assert not self.tied_layer.weight.is_shared()
        assert not self.buffer.is_shared()

        # weights remain tied
        assert self.layer.weight.data_ptr() == self.tied_layer.weight.data_ptr()
        assert torch.equal(self.layer.weight.data, self.tied_layer.weight.data)


def test_memory_sharing_disabled(tmp_path):
    """Test that the multiprocessing launcher disables memory sharing on model parameters and buffers to avoid race
    conditions on model updates."""
    model = SimpleModel()
    assert not model.layer.weight.is_shared()
    assert model.layer.weight.data_ptr() == model.tied_layer.weight.data_ptr()

    trainer = Trainer(
        default_root_dir=tmp_path, logger=False, accelerator="cpu", devices=2, strategy="ddp_spawn", max_steps=0
    )
    trainer.fit(model)


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        test_memory_sharing_disabled(tmp)
    print("ok")
