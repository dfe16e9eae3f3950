# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/strategies/test_single_device.py
#   (test_single_cpu, test_strategy_pickle's public part) and its earlier name
#   tests/tests_pytorch/strategies/test_single_device_strategy.py (test_single_cpu with `Trainer()`)
# (Apache-2.0, Copyright The Lightning AI team)
# Edits: tests turned into one __main__ program asserting what they asserted.
#   test_strategy_pickle: the assertions on the private `strategy._lightning_optimizers` left
#   out; what it asserts of `strategy.optimizers` across a pickle round trip kept, and one
#   assertion added: the reloaded strategy's `root_device` is the device it was made with.
#   Left out: test_single_gpu (CUDA), test_process_dataloader_gets_called_as_expected (patches
#   the private `trainer._accelerator_connector`/`_data_connector` and calls the loops'
#   `setup_data`).
import pickle

import torch

from lightning.pytorch import Trainer
from lightning.pytorch.strategies import SingleDeviceStrategy


def test_single_cpu():
    """Tests if device is set correctly for single CPU strategy."""
    for kwargs in ({"accelerator": "cpu"}, {}):
        trainer = Trainer(**kwargs)
        assert isinstance(trainer.strategy, SingleDeviceStrategy)
        assert trainer.strategy.root_device == torch.device("cpu")


class MockOptimizer: ...


def test_strategy_pickle():
    strategy = SingleDeviceStrategy("cpu")
    optimizer = MockOptimizer()

    strategy.optimizers = [optimizer]
    assert isinstance(strategy.optimizers[0], MockOptimizer)

    state = pickle.dumps(strategy)
    assert isinstance(strategy.optimizers[0], MockOptimizer)
    strategy_reloaded = pickle.loads(state)
    assert isinstance(strategy_reloaded.optimizers[0], MockOptimizer)
    assert strategy_reloaded.root_device == torch.device("cpu")


if __name__ == "__main__":
    test_single_cpu()
    test_strategy_pickle()
    print("ok")
