# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/strategies/test_ddp_spawn_strategy.py
#   (test_ddp_cpu, test_ddp_spawn_add_get_queue's results; test_ddp_spawn_configure_ddp is
#   t_ddp_spawn_configure.py)
# (Apache-2.0, Copyright The Lightning AI team)
# Edits: tests turned into one __main__ program asserting what they asserted; tmpdir -> a
#   tempfile dir. test_ddp_spawn_add_get_queue: its `_MultiProcessingLauncher` subclass (a
#   private launcher put in through the private `_configure_launcher`) left out; what it
#   asserts of the public surface, `callback_metrics` of the spawned processes back in the
#   main one, kept (as test_ddp_spawn_get_results).
#   Left out: test_ddp_spawn_strategy_set_timeout (mocks `torch.distributed.init_process_group`
#   and calls the strategy's set-up steps by hand), test_ddp_kwargs_from_registry (the private
#   `strategy._ddp_kwargs`).
import tempfile

import torch

from lightning.pytorch import Trainer
from lightning.pytorch.demos.boring_classes import BoringDataModule, BoringModel
from lightning.pytorch.strategies import DDPStrategy


class BoringModelDDPCPU(BoringModel):
    def on_train_start(self) -> None:
        # make sure that the model is on CPU when training
        assert self.device == torch.device("cpu")


class BoringCallbackDDPSpawnModel(BoringModel):
    def __init__(self, name: str, val: float):
        super().__init__()
        self.name = name
        self.val = val

    def validation_step(self, batch, batch_idx):
        self.log(self.name, self.val)
        return super().validation_step(batch, batch_idx)


def test_ddp_cpu():
    """Tests if device is set correctly when training for DDPStrategy."""
    trainer = Trainer(devices=2, strategy="ddp_spawn", accelerator="cpu", fast_dev_run=True)
    # assert strategy attributes for device setting
    assert isinstance(trainer.strategy, DDPStrategy)
    assert trainer.strategy.root_device == torch.device("cpu")
    model = BoringModelDDPCPU()
    trainer.fit(model)


def test_ddp_spawn_get_results(tmpdir):
    trainer = Trainer(default_root_dir=tmpdir, fast_dev_run=True, accelerator="cpu", devices=2, strategy="ddp_spawn")

    val: float = 1.0
    val_name: str = "val_acc"
    model = BoringCallbackDDPSpawnModel(val_name, val)
    dm = BoringDataModule()
    trainer.fit(model, datamodule=dm)
    assert trainer.callback_metrics[val_name] == torch.tensor(val)


if __name__ == "__main__":
    test_ddp_cpu()
    with tempfile.TemporaryDirectory() as tmp:
        test_ddp_spawn_get_results(tmp)
    print("ok")
