# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/loops/test_training_loop_flow_scalar.py
#   (test_train_step_no_return, test_training_step_no_return_when_even,
#   test_training_step_none_batches)
# (Apache-2.0, Copyright The Lightning AI team)
# Edits: tests turned into a __main__ program asserting what they asserted; tmpdir -> a tempfile
#   dir; pytest.warns/no_warning_call -> warnings.catch_warnings; `Closure.warning_cache.clear()`
#   (Lightning's private once-per-process warning cache) -> each test run in a fresh process
#   (the program runs itself with the test's name). Left
#   out: the tests built on the suite's `DeterministicModel` helper (not part of Lightning) and
#   the parts calling the private `fit_loop.epoch_loop.automatic_optimization`.
import re
import subprocess
import sys
import tempfile
import warnings

from torch.utils.data import DataLoader
from torch.utils.data._utils.collate import default_collate

from lightning.pytorch import Trainer
from lightning.pytorch.demos.boring_classes import BoringModel, RandomDataset


class warns:
    def __init__(self, category, match, expected=True):
        self.category, self.match, self.expected = category, match, expected

    def __enter__(self):
        self.catcher = warnings.catch_warnings(record=True)
        self.caught = self.catcher.__enter__()
        warnings.simplefilter("always")
        return self

    def __exit__(self, *exc):
        self.catcher.__exit__(*exc)
        found = any(
            issubclass(w.category, self.category) and re.search(self.match, str(w.message)) for w in self.caught
        )
        assert found is self.expected, (self.match, [str(w.message) for w in self.caught])


def test_train_step_no_return(tmpdir):
    """Tests that only training_step raises a warning when nothing is returned in case of automatic_optimization."""

    class TestModel(BoringModel):
        def training_step(self, batch):
            self.training_step_called = True
            loss = self.step(batch[0])
            self.log("a", loss, on_step=True, on_epoch=True)

        def validation_step(self, batch, batch_idx):
            self.validation_step_called = True

    model = TestModel()
    trainer_args = {"default_root_dir": tmpdir, "fast_dev_run": 2}
    trainer = Trainer(**trainer_args)

    with warns(UserWarning, match=r"training_step` returned `None"):
        trainer.fit(model)

    assert model.training_step_called
    assert model.validation_step_called

    model = TestModel()
    model.automatic_optimization = False
    trainer = Trainer(**trainer_args)

    with warns(UserWarning, match=r"training_step` returned `None", expected=False):
        trainer.fit(model)


def test_training_step_no_return_when_even(tmpdir):
    """Tests correctness when some training steps have been skipped."""

    class TestModel(BoringModel):
        def training_step(self, batch, batch_idx):
            self.training_step_called = True
            loss = self.step(batch[0])
            self.log("a", loss, on_step=True, on_epoch=True)
            return loss if batch_idx % 2 else None

    model = TestModel()
    trainer = Trainer(
        default_root_dir=tmpdir,
        limit_train_batches=4,
        limit_val_batches=1,
        max_epochs=4,
        enable_model_summary=False,
        logger=False,
        enable_checkpointing=False,
    )

    with warns(UserWarning, match=r".*training_step` returned `None.*"):
        trainer.fit(model)


def test_training_step_none_batches(tmpdir):
    """Tests correctness when the train dataloader gives None for some steps."""

    class TestModel(BoringModel):
        def __init__(self):
            super().__init__()
            self.counter = 0

        def collate_none_when_even(self, batch):
            result = None if self.counter % 2 == 0 else default_collate(batch)
            self.counter += 1
            return result

        def train_dataloader(self):
            return DataLoader(RandomDataset(32, 4), collate_fn=self.collate_none_when_even)

        def on_train_batch_end(self, outputs, batch, batch_idx):
            if batch_idx % 2 == 0:
                assert outputs is None
            else:
                assert outputs

    model = TestModel()
    trainer = Trainer(
        default_root_dir=tmpdir,
        limit_val_batches=1,
        max_epochs=4,
        enable_model_summary=False,
        logger=False,
        enable_checkpointing=False,
    )

    with warns(UserWarning, match=r".*train_dataloader yielded None.*"):
        trainer.fit(model)


if __name__ == "__main__":
    tests = [test_train_step_no_return, test_training_step_no_return_when_even, test_training_step_none_batches]
    if len(sys.argv) > 1:
        with tempfile.TemporaryDirectory() as tmp:
            {t.__name__: t for t in tests}[sys.argv[1]](tmp)
        sys.exit(0)
    for test in tests:
        subprocess.run([sys.executable, __file__, test.__name__], check=True, timeout=120)
    print("OK")
