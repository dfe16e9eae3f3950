# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/trainer/flags/test_min_max_epochs.py
#   (test_min_max_steps_epochs, test_max_epochs_not_set_warning: every test of the file)
# (Apache-2.0, Copyright The Lightning AI team)
# Edits: the tests run from a __main__ program (parametrize -> a loop over all the cases);
#   tmp_path -> a tempfile dir; pytest.warns -> warnings.catch_warnings(record=True) and a
#   look at the records; lightning_utilities' `no_warning_call` -> the same records, checked
#   to hold no such warning; `PossibleUserWarning` from `lightning.fabric.utilities.warnings`, as the test imports it.
import tempfile
import warnings

from lightning.fabric.utilities.warnings import PossibleUserWarning
from lightning.pytorch import Trainer
from lightning.pytorch.demos.boring_classes import BoringModel


def test_min_max_steps_epochs(tmp_path, min_epochs, max_epochs, min_steps, max_steps):
    """Tests that max_steps can be used without max_epochs."""
    model = BoringModel()

    trainer = Trainer(
        default_root_dir=tmp_path,
        min_epochs=min_epochs,
        max_epochs=max_epochs,
        min_steps=min_steps,
        max_steps=max_steps,
        enable_model_summary=False,
    )
    trainer.fit(model)

    # check training stopped at max_epochs or max_steps
    if trainer.max_steps and not trainer.max_epochs:
        assert trainer.global_step == trainer.max_steps


def _matching(records, match):
    return [w for w in records if issubclass(w.category, PossibleUserWarning) and match in str(w.message)]


def test_max_epochs_not_set_warning(tmp_path):
    """Test that a warning is only emitted when `max_epochs` was not set by the user."""

    class CustomModel(BoringModel):
        def training_step(self, *args, **kwargs):
            self.trainer.should_stop = True

    match = "`max_epochs` was not set. Setting it to 1000 epochs."

    model = CustomModel()
    trainer = Trainer(
        default_root_dir=tmp_path, logger=False, enable_checkpointing=False, max_epochs=None, limit_train_batches=1
    )
    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always")
        trainer.fit(model)
    assert _matching(records, match), [str(w.message) for w in records]

    assert trainer.max_epochs == 1000
    assert trainer.current_epoch == 1

    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always")
        Trainer(fast_dev_run=True)
        Trainer(fast_dev_run=1)
    assert not _matching(records, match), [str(w.message) for w in records]


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        for args in [
            (None, 3, None, -1),
            (None, None, None, 20),
            (None, 3, None, 20),
            (None, None, 10, 20),
            (1, 3, None, -1),
            (1, None, None, 20),
            (None, 3, 10, -1),
        ]:
            test_min_max_steps_epochs(tmp, *args)
        test_max_epochs_not_set_warning(tmp)
    print("OK")
