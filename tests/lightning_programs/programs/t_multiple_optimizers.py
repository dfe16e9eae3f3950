# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/trainer/optimization/test_multiple_optimizers.py
#   (test_multiple_optimizers_automatic_optimization_raises, test_multiple_optimizers_manual)
# (Apache-2.0, Copyright The Lightning AI team)
# Edits: tests turned into a __main__ program asserting what they asserted; tmpdir -> a
#   tempfile dir; pytest.raises(match=) -> try/except with re.search on the message; the
#   argument-less `pl.Trainer()` of the raising cases given a tempfile `default_root_dir` (no
#   files are written before the error in either case).
import re
import tempfile

import lightning.pytorch as pl
import torch
from lightning.pytorch.demos.boring_classes import BoringModel


class MultiOptModel(BoringModel):
    def configure_optimizers(self):
        opt_a = torch.optim.SGD(self.layer.parameters(), lr=0.001)
        opt_b = torch.optim.SGD(self.layer.parameters(), lr=0.001)
        return opt_a, opt_b


def _raises(error, match, fn):
    try:
        fn()
    except error as e:
        assert re.search(match, str(e)), str(e)
    else:
        raise AssertionError(f"{error.__name__} not raised")


def test_multiple_optimizers_automatic_optimization_raises(tmpdir):
    """Test that multiple optimizers in automatic optimization is not allowed."""

    class TestModel(BoringModel):
        def training_step(self, batch, batch_idx, optimizer_idx):
            return super().training_step(batch, batch_idx)

    model = TestModel()
    model.automatic_optimization = True

    trainer = pl.Trainer(default_root_dir=tmpdir)
    _raises(RuntimeError, "Remove the `optimizer_idx` argument from `training_step`", lambda: trainer.fit(model))

    class TestModel(BoringModel):
        def configure_optimizers(self):
            return torch.optim.Adam(self.parameters()), torch.optim.Adam(self.parameters())

    model = TestModel()
    model.automatic_optimization = True

    trainer = pl.Trainer(default_root_dir=tmpdir)
    _raises(RuntimeError, "multiple optimizers is only supported with manual optimization", lambda: trainer.fit(model))


def test_multiple_optimizers_manual(tmpdir):
    class TestModel(MultiOptModel):
        def __init__(self):
            super().__init__()
            self.automatic_optimization = False

        def training_step(self, batch, batch_idx):
            self.training_step_called = True

            # manual optimization
            opt_a, opt_b = self.optimizers()
            loss_1 = self.step(batch[0])

            # fake generator
            self.manual_backward(loss_1)
            opt_a.step()
            opt_a.zero_grad()

            # fake discriminator
            loss_2 = self.step(batch[0])
            self.manual_backward(loss_2)
            opt_b.step()
            opt_b.zero_grad()

    model = TestModel()
    model.val_dataloader = None

    trainer = pl.Trainer(
        default_root_dir=tmpdir, limit_train_batches=2, max_epochs=1, log_every_n_steps=1, enable_model_summary=False
    )
    trainer.fit(model)

    assert model.training_step_called


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        test_multiple_optimizers_automatic_optimization_raises(tmp)
        test_multiple_optimizers_manual(tmp)
    print("OK")
