# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/trainer/flags/test_fast_dev_run.py
#   (test_skip_on_fast_dev_run_tuner; the file's other test,
#   test_callbacks_and_logger_not_called_with_fastdevrun, is in t_trainer_flags.py)
# (Apache-2.0, Copyright The Lightning AI team)
# Edits: the test turned into a __main__ program asserting what it asserted; tmp_path -> a
#   tempfile dir; pytest.warns -> warnings.catch_warnings.
import re
import tempfile
import warnings

from lightning.pytorch import Trainer
from lightning.pytorch.demos.boring_classes import BoringModel
from lightning.pytorch.tuner.tuning import Tuner


class warns:
    def __init__(self, category, match):
        self.category, self.match = category, match

    def __enter__(self):
        self.catcher = warnings.catch_warnings(record=True)
        self.caught = self.catcher.__enter__()
        warnings.simplefilter("always")
        return self

    def __exit__(self, *exc):
        self.catcher.__exit__(*exc)
        assert any(
            issubclass(w.category, self.category) and re.search(self.match, str(w.message)) for w in self.caught
        ), (self.match, [str(w.message) for w in self.caught])


def test_skip_on_fast_dev_run_tuner(tmp_path):
    """Test that tuner algorithms are skipped if fast dev run is enabled."""
    model = BoringModel()
    model.lr = 0.1  # avoid no-lr-found exception
    model.batch_size = 8
    trainer = Trainer(
        default_root_dir=tmp_path,
        max_epochs=2,
        fast_dev_run=True,
    )
    tuner = Tuner(trainer)

    with warns(UserWarning, match="Skipping learning rate finder since `fast_dev_run` is enabled."):
        tuner.lr_find(model)

    with warns(UserWarning, match="Skipping batch size scaler since `fast_dev_run` is enabled."):
        tuner.scale_batch_size(model)


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        test_skip_on_fast_dev_run_tuner(tmp)
    print("OK")
