# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/models/test_fabric_integration.py
#   (test_fabric_boring_lightning_module_automatic, test_fabric_boring_lightning_module_manual,
#   test_fabric_call_lightning_module_hooks)
# (Apache-2.0, Copyright The Lightning AI team)
# Edits: the tests turned into one __main__ program asserting what they asserted; the assert on
#   the private `fabric._callbacks` dropped (the hooks called through `fabric.call` are still
#   checked).
# A difference (tests/test_lightning_programs.py DIFFERENCES): treadle has no `Fabric` class
# (docs/migration.md, 1); `from treadle.fabric import Fabric` raises an ImportError naming the
# treadle way, a Module with manual optimization run by the Trainer.
from copy import deepcopy
from unittest.mock import Mock

import torch
from typing_extensions import override

from lightning.fabric import Fabric
from lightning.pytorch.demos.boring_classes import BoringModel, ManualOptimBoringModel


def test_fabric_boring_lightning_module_automatic():
    """Test that basic LightningModules written for 'automatic optimization' work with Fabric."""
    fabric = Fabric(accelerator="cpu", devices=1)

    module = BoringModel()
    parameters_before = deepcopy(list(module.parameters()))

    optimizers, _ = module.configure_optimizers()
    dataloader = module.train_dataloader()

    model, optimizer = fabric.setup(module, optimizers[0])
    dataloader = fabric.setup_dataloaders(dataloader)

    batch = next(iter(dataloader))
    output = model.training_step(batch, 0)
    fabric.backward(output["loss"])
    optimizer.step()

    assert all(not torch.equal(before, after) for before, after in zip(parameters_before, model.parameters()))


def test_fabric_boring_lightning_module_manual():
    """Test that basic LightningModules written for 'manual optimization' work with Fabric."""
    fabric = Fabric(accelerator="cpu", devices=1)

    module = ManualOptimBoringModel()
    parameters_before = deepcopy(list(module.parameters()))

    optimizers, _ = module.configure_optimizers()
    dataloader = module.train_dataloader()

    model, _ = fabric.setup(module, optimizers[0])
    dataloader = fabric.setup_dataloaders(dataloader)

    batch = next(iter(dataloader))
    model.training_step(batch, 0)  # .backward() and optimizer.step() happen inside training_step()

    assert all(not torch.equal(before, after) for before, after in zip(parameters_before, model.parameters()))


def test_fabric_call_lightning_module_hooks():
    """Test that `Fabric.call` can call hooks on the LightningModule."""

    class HookedModel(BoringModel):
        @override
        def on_train_start(self):
            pass

        def on_my_custom_hook(self, arg, kwarg=None):
            pass

    fabric = Fabric(accelerator="cpu", devices=1)
    module = Mock(wraps=HookedModel())

    _ = fabric.setup(module)
    _ = fabric.setup(module)  # shouldn't add module to callbacks a second time

    fabric.call("on_train_start")
    module.on_train_start.assert_called_once_with()

    fabric.call("on_my_custom_hook", 1, kwarg="test")
    module.on_my_custom_hook.assert_called_once_with(1, kwarg="test")


if __name__ == "__main__":
    test_fabric_boring_lightning_module_automatic()
    test_fabric_boring_lightning_module_manual()
    test_fabric_call_lightning_module_hooks()
    print("ok")
