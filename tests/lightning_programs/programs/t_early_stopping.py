# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/callbacks/test_early_stopping.py
#   (test_early_stopping_patience, test_early_stopping_thresholds, test_early_stopping_mode_options)
# Edits: the parametrized tests turned into loops in a __main__ program asserting what they
#   asserted; tmp_path -> a tempfile dir; pytest.raises -> try/except.
import tempfile

import torch
from lightning.pytorch import Trainer
from lightning.pytorch.callbacks import EarlyStopping
from lightning.pytorch.demos.boring_classes import BoringModel
from lightning.pytorch.utilities.exceptions import MisconfigurationException


def test_early_stopping_patience(tmp_path, loss_values, patience, expected_stop_epoch):
    class ModelOverrideValidationReturn(BoringModel):
        validation_return_values = torch.tensor(loss_values)

        def on_validation_epoch_end(self):
            loss = self.validation_return_values[self.current_epoch]
            self.log("test_val_loss", loss)

    model = ModelOverrideValidationReturn()
    early_stop_callback = EarlyStopping(monitor="test_val_loss", patience=patience, verbose=True)
    trainer = Trainer(
        default_root_dir=tmp_path,
        callbacks=[early_stop_callback],
        num_sanity_val_steps=0,
        max_epochs=10,
        enable_progress_bar=False,
    )
    trainer.fit(model)
    assert trainer.current_epoch - 1 == expected_stop_epoch


def test_early_stopping_thresholds(tmp_path, stopping_threshold, divergence_threshold, losses, expected_epoch):
    class CurrentModel(BoringModel):
        def on_validation_epoch_end(self):
            val_loss = losses[self.current_epoch]
            self.log("abc", val_loss)

    model = CurrentModel()
    early_stopping = EarlyStopping(
        monitor="abc", stopping_threshold=stopping_threshold, divergence_threshold=divergence_threshold
    )
    trainer = Trainer(
        default_root_dir=tmp_path,
        callbacks=[early_stopping],
        limit_train_batches=0.2,
        limit_val_batches=0.2,
        max_epochs=20,
    )
    trainer.fit(model)
    assert trainer.current_epoch - 1 == expected_epoch, "early_stopping failed"


def test_early_stopping_mode_options():
    try:
        EarlyStopping(monitor="foo", mode="unknown_option")
    except MisconfigurationException as exc:
        assert "`mode` can be" in str(exc)
    else:
        raise AssertionError("no error")


if __name__ == "__main__":
    for loss_values, patience, expected in [
        ([6, 5, 5, 5, 5, 5], 3, 4),
        ([6, 5, 4, 4, 3, 3], 1, 3),
        ([6, 5, 6, 5, 5, 5], 3, 4),
    ]:
        with tempfile.TemporaryDirectory() as d:
            test_early_stopping_patience(d, loss_values, patience, expected)
    for st, dt, losses, expected in [
        (None, None, [8, 4, 2, 3, 4, 5, 8, 10], 5),
        (2.9, None, [9, 8, 7, 6, 5, 6, 4, 3, 2, 1], 8),
        (None, 15.9, [9, 4, 2, 16, 32, 64], 3),
    ]:
        with tempfile.TemporaryDirectory() as d:
            test_early_stopping_thresholds(d, st, dt, losses, expected)
    test_early_stopping_mode_options()
    print("OK")
