# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/tuner/test_tuning.py
#   (test_tuner_with_distributed_strategies, test_tuner_with_already_configured_batch_size_finder,
#    test_tuner_with_already_configured_learning_rate_finder)
# (Apache-2.0, Copyright The Lightning AI team)
# Edits: the tests turned into one __main__ program asserting what they asserted;
#   pytest.raises -> try/except with re.search (Lightning's environment has no pytest).
import re

from lightning.pytorch import Trainer
from lightning.pytorch.callbacks import BatchSizeFinder, LearningRateFinder
from lightning.pytorch.demos.boring_classes import BoringModel
from lightning.pytorch.tuner.tuning import Tuner


def _raises(error, match, fn):
    try:
        fn()
    except error as e:
        assert re.search(match, str(e)), str(e)
    else:
        raise AssertionError(f"{error.__name__} not raised")


def test_tuner_with_distributed_strategies():
    """Test that an error is raised when tuner is used with multi-device strategy."""
    trainer = Trainer(devices=2, strategy="ddp", accelerator="cpu")
    tuner = Tuner(trainer)
    model = BoringModel()

    _raises(
        ValueError,
        r"not supported with distributed strategies",
        lambda: tuner.scale_batch_size(model),
    )


def test_tuner_with_already_configured_batch_size_finder():
    """Test that an error is raised when tuner is already configured with BatchSizeFinder."""
    trainer = Trainer(callbacks=[BatchSizeFinder()])
    tuner = Tuner(trainer)
    model = BoringModel()

    _raises(
        ValueError,
        r"Trainer is already configured with a `BatchSizeFinder`",
        lambda: tuner.scale_batch_size(model),
    )


def test_tuner_with_already_configured_learning_rate_finder():
    """Test that an error is raised when tuner is already configured with LearningRateFinder."""
    trainer = Trainer(callbacks=[LearningRateFinder()])
    tuner = Tuner(trainer)
    model = BoringModel()

    _raises(
        ValueError,
        r"Trainer is already configured with a `LearningRateFinder`",
        lambda: tuner.lr_find(model),
    )


if __name__ == "__main__":
    test_tuner_with_distributed_strategies()
    test_tuner_with_already_configured_batch_size_finder()
    test_tuner_with_already_configured_learning_rate_finder()
    print("OK")
