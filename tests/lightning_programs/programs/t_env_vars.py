# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/trainer/flags/test_env_vars.py
#   (test_passing_no_env_variables, test_passing_env_variables_only,
#   test_passing_env_variables_defaults)
# (Apache-2.0, Copyright The Lightning AI team)
# Edits: tests turned into a __main__ program asserting what they asserted (the
#   `mock.patch.dict(os.environ, ...)` decorators as `with` blocks). Left out:
#   test_passing_env_variables_devices (its fixtures fake two CUDA devices).
import os
from unittest import mock

from lightning.pytorch import Trainer
from lightning.pytorch.demos.boring_classes import BoringModel


def test_passing_no_env_variables():
    """Testing overwriting trainer arguments."""
    trainer = Trainer()
    model = BoringModel()
    assert trainer.logger is not None
    assert trainer.max_steps == -1
    assert trainer.max_epochs is None
    trainer = Trainer(logger=False, max_steps=1)
    trainer.fit(model)
    assert trainer.logger is None
    assert trainer.max_steps == 1
    assert trainer.max_epochs == -1


def test_passing_env_variables_only():
    """Testing overwriting trainer arguments."""
    trainer = Trainer()
    assert trainer.logger is None
    assert trainer.max_steps == 7


def test_passing_env_variables_defaults():
    """Testing overwriting trainer arguments."""
    trainer = Trainer(logger=False, max_steps=42)
    assert trainer.logger is None
    assert trainer.max_steps == 42


if __name__ == "__main__":
    test_passing_no_env_variables()
    with mock.patch.dict(os.environ, {"PL_TRAINER_LOGGER": "False", "PL_TRAINER_MAX_STEPS": "7"}):
        test_passing_env_variables_only()
    with mock.patch.dict(os.environ, {"PL_TRAINER_LOGGER": "True", "PL_TRAINER_MAX_STEPS": "7"}):
        test_passing_env_variables_defaults()
    print("OK")
