# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/strategies/test_custom_plugin.py
#   (test_strategy_lightning_restore_optimizer_and_schedulers)
# (Apache-2.0, Copyright The Lightning AI team)
# Edits: the test turned into a __main__ program asserting what it asserted; tmp_path -> a
#   tempfile dir; parametrize -> a loop.
# A difference (tests/test_lightning_programs.py DIFFERENCES): the test subclasses
#   `SingleDeviceStrategy` and overrides `lightning_restore_optimizer` and
#   `load_optimizer_state_dict`; treadle's strategies are plugins, and a subclass of its
#   `SingleDeviceStrategy` runs treadle's `single_device` strategy without those overrides
#   (docs/migration.md 3: custom Strategy subclasses are not taken).
import os
import tempfile
from typing import Any, Mapping

import torch

from lightning.pytorch import Trainer
from lightning.pytorch.demos.boring_classes import BoringModel
from lightning.pytorch.strategies import SingleDeviceStrategy


def test_strategy_lightning_restore_optimizer_and_schedulers(tmp_path, restore_optimizer_and_schedulers):
    class TestStrategy(SingleDeviceStrategy):
        load_optimizer_state_dict_called = False

        @property
        def lightning_restore_optimizer(self) -> bool:
            return restore_optimizer_and_schedulers

        def load_optimizer_state_dict(self, checkpoint: Mapping[str, Any]) -> None:
            self.load_optimizer_state_dict_called = True

    # create ckpt to resume from
    checkpoint_path = os.path.join(tmp_path, "model.ckpt")
    model = BoringModel()
    trainer = Trainer(default_root_dir=tmp_path, fast_dev_run=True)
    trainer.fit(model)
    trainer.save_checkpoint(checkpoint_path)

    model = BoringModel()
    strategy = TestStrategy(torch.device("cpu"))
    trainer = Trainer(default_root_dir=tmp_path, fast_dev_run=True, strategy=strategy, accelerator="cpu")
    trainer.fit(model, ckpt_path=checkpoint_path)
    assert strategy.load_optimizer_state_dict_called == restore_optimizer_and_schedulers


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        for restore_optimizer_and_schedulers in [True, False]:
            test_strategy_lightning_restore_optimizer_and_schedulers(tmp, restore_optimizer_and_schedulers)
    print("ok")
