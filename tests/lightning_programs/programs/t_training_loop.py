# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/loops/test_training_loop.py
#   (test_outputs_format, test_training_starts_with_seed, test_on_train_batch_start_return_minus_one,
#   test_should_stop_mid_epoch)
# (Apache-2.0, Copyright The Lightning AI team)
# Edits: tests turned into a __main__ program asserting what they asserted; parametrize -> loops;
#   tmp_path -> a tempfile dir. Left out: test_fit_loop_done_log_messages and
#   test_should_stop_early_stopping_conditions_met (a Mock Trainer in Lightning's private
#   `_FitLoop`, its progress counters set by hand), and the asserts on `trainer.fit_loop.batch_idx`
#   (Lightning's loop object, which treadle refused then; `trainer.fit_loop.batch_idx` is
#   checked in tests/lightning/test_loop_facades.py now).
import tempfile

import torch

from lightning.pytorch import Trainer, seed_everything
from lightning.pytorch.demos.boring_classes import BoringModel


def test_outputs_format(tmp_path):
    """Tests that outputs objects passed to model hooks and methods are consistent and in the correct format."""

    class HookedModel(BoringModel):
        def training_step(self, batch, batch_idx):
            output = super().training_step(batch, batch_idx)
            self.log("foo", 123)
            output["foo"] = 123
            return output

        @staticmethod
        def _check_output(output):
            assert "loss" in output
            assert "foo" in output
            assert output["foo"] == 123

        def on_train_batch_end(self, outputs, *_):
            HookedModel._check_output(outputs)

    model = HookedModel()

    # fit model
    trainer = Trainer(
        default_root_dir=tmp_path,
        max_epochs=1,
        limit_val_batches=1,
        limit_train_batches=2,
        limit_test_batches=1,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(model)


def test_training_starts_with_seed(tmp_path, seed_once):
    """Test the behavior of seed_everything on subsequent Trainer runs in combination with different settings of
    num_sanity_val_steps (which must not affect the random state)."""

    class SeededModel(BoringModel):
        def __init__(self):
            super().__init__()
            self.seen_batches = []

        def training_step(self, batch, batch_idx):
            self.seen_batches.append(batch.view(-1))
            return super().training_step(batch, batch_idx)

    def run_training(**trainer_kwargs):
        model = SeededModel()
        trainer = Trainer(**trainer_kwargs)
        trainer.fit(model)
        return torch.cat(model.seen_batches)

    if seed_once:
        seed_everything(123)
        sequence0 = run_training(default_root_dir=tmp_path, max_steps=2, num_sanity_val_steps=0)
        sequence1 = run_training(default_root_dir=tmp_path, max_steps=2, num_sanity_val_steps=2)
        assert not torch.allclose(sequence0, sequence1)
    else:
        seed_everything(123)
        sequence0 = run_training(default_root_dir=tmp_path, max_steps=2, num_sanity_val_steps=0)
        seed_everything(123)
        sequence1 = run_training(default_root_dir=tmp_path, max_steps=2, num_sanity_val_steps=2)
        assert torch.allclose(sequence0, sequence1)


def test_on_train_batch_start_return_minus_one(max_epochs, batch_idx_, tmp_path):
    class CurrentModel(BoringModel):
        def on_train_batch_start(self, batch, batch_idx):
            if batch_idx == batch_idx_:
                return -1
            return None

    model = CurrentModel()
    trainer = Trainer(default_root_dir=tmp_path, max_epochs=max_epochs, limit_train_batches=10)
    trainer.fit(model)
    if batch_idx_ > trainer.num_training_batches - 1:
        assert trainer.global_step == trainer.num_training_batches * max_epochs
    else:
        assert trainer.global_step == batch_idx_ * max_epochs


def test_should_stop_mid_epoch(tmp_path):
    """Test that training correctly stops mid epoch and that validation is still called at the right time."""

    class TestModel(BoringModel):
        def __init__(self):
            super().__init__()
            self.validation_called_at = None

        def training_step(self, batch, batch_idx):
            if batch_idx == 4:
                self.trainer.should_stop = True
            return super().training_step(batch, batch_idx)

        def validation_step(self, *args):
            self.validation_called_at = (self.trainer.current_epoch, self.trainer.global_step)
            return super().validation_step(*args)

    model = TestModel()
    trainer = Trainer(default_root_dir=tmp_path, max_epochs=1, limit_train_batches=10, limit_val_batches=1)
    trainer.fit(model)

    # even though we stopped mid epoch, the fit loop finished normally and the current epoch was increased
    assert trainer.current_epoch == 1
    assert trainer.global_step == 5
    assert model.validation_called_at == (0, 5)


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        test_outputs_format(tmp)
    for seed_once in (True, False):
        with tempfile.TemporaryDirectory() as tmp:
            test_training_starts_with_seed(tmp, seed_once)
    for max_epochs, batch_idx_ in [(2, 5), (3, 8), (4, 12)]:
        with tempfile.TemporaryDirectory() as tmp:
            test_on_train_batch_start_return_minus_one(max_epochs, batch_idx_, tmp)
    with tempfile.TemporaryDirectory() as tmp:
        test_should_stop_mid_epoch(tmp)
    print("OK")
