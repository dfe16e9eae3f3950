# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/trainer/optimization/test_backward_calls.py
#   (test_backward_count_simple, test_backward_count_with_grad_accumulation,
#    test_backward_count_with_closure)
# (Apache-2.0, Copyright The Lightning AI team)
# Edits: tests turned into a __main__ program asserting what they asserted; parametrize -> a
#   loop; the `@patch("torch.Tensor.backward")` decorator -> the same patch as a `with` block;
#   `lightning_pytorch` (the standalone package's name in the source) -> `lightning.pytorch`; run
#   in a tempfile working directory (the Trainers have no default_root_dir).
import os
import tempfile
from unittest.mock import patch

import torch
from lightning.pytorch import Trainer
from lightning.pytorch.demos.boring_classes import BoringModel


def test_backward_count_simple(torch_backward, num_steps):
    """Test that backward is called exactly once per step."""
    model = BoringModel()
    trainer = Trainer(max_steps=num_steps)
    trainer.fit(model)
    assert torch_backward.call_count == num_steps

    torch_backward.reset_mock()

    trainer.test(model)
    assert torch_backward.call_count == 0


def test_backward_count_with_grad_accumulation(torch_backward):
    """Test that backward is called the correct number of times when accumulating gradients."""
    model = BoringModel()
    trainer = Trainer(max_epochs=1, limit_train_batches=6, accumulate_grad_batches=2)
    trainer.fit(model)
    assert torch_backward.call_count == 6

    torch_backward.reset_mock()

    trainer = Trainer(max_steps=6, accumulate_grad_batches=2)
    trainer.fit(model)
    assert torch_backward.call_count == 12


def test_backward_count_with_closure(torch_backward):
    """Using a closure (e.g. with LBFGS) should lead to no extra backward calls."""

    class TestModel(BoringModel):
        def configure_optimizers(self):
            return torch.optim.LBFGS(self.parameters(), lr=0.1)

    model = TestModel()
    trainer = Trainer(max_steps=5)
    trainer.fit(model)
    assert torch_backward.call_count == 5

    torch_backward.reset_mock()

    trainer = Trainer(max_steps=5, accumulate_grad_batches=2)
    trainer.fit(model)
    assert torch_backward.call_count == 10


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)
        for num_steps in (1, 2, 3):
            with patch("torch.Tensor.backward") as torch_backward:
                test_backward_count_simple(torch_backward, num_steps)
        with patch("torch.Tensor.backward") as torch_backward:
            test_backward_count_with_grad_accumulation(torch_backward)
        with patch("torch.Tensor.backward") as torch_backward:
            test_backward_count_with_closure(torch_backward)
        os.chdir("/")
    print("OK")
