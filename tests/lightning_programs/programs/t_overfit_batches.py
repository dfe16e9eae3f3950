# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/trainer/flags/test_overfit_batches.py
#   (test_overfit_basic, test_overfit_batches_raises_warning_in_case_of_sequential_sampler)
# (Apache-2.0, Copyright The Lightning AI team)
# Edits: tests turned into a __main__ program asserting what they asserted; parametrize -> a
#   loop; tmpdir -> a tempfile dir; pytest.warns(match=) -> warnings.catch_warnings(record=True)
#   and a search of the messages. Left out: test_overfit_batch_limits_eval,
#   test_overfit_batch_limits_train and test_distributed_sampler_with_overfit_batches (Lightning's
#   private `_data_connector`, `_active_loop.setup_data()`, `fit_loop.setup_data()`, and sklearn
#   helpers).
import re
import tempfile
import warnings

import torch
from torch.utils.data import Sampler, SequentialSampler

from lightning.pytorch import Trainer
from lightning.pytorch.demos.boring_classes import BoringModel, RandomDataset


def test_overfit_basic(tmpdir, overfit_batches):
    """Tests that only training_step can be used when overfitting."""

    model = BoringModel()
    model.validation_step = None
    total_train_samples = len(BoringModel().train_dataloader())

    trainer = Trainer(
        default_root_dir=tmpdir, max_epochs=1, overfit_batches=overfit_batches, enable_model_summary=False
    )
    trainer.fit(model)

    assert trainer.num_val_batches == []
    assert trainer.num_training_batches == int(
        overfit_batches * (1 if isinstance(overfit_batches, int) else total_train_samples)
    )


def test_overfit_batches_raises_warning_in_case_of_sequential_sampler(tmpdir):
    class NonSequentialSampler(Sampler):
        def __init__(self, data_source):
            self.data_source = data_source

        def __iter__(self):
            return iter(range(len(self.data_source)))

        def __len__(self):
            return len(self.data_source)

    class TestModel(BoringModel):
        def train_dataloader(self):
            dataset = RandomDataset(32, 64)
            sampler = NonSequentialSampler(dataset)
            return torch.utils.data.DataLoader(dataset, sampler=sampler)

        def val_dataloader(self):
            dataset = RandomDataset(32, 64)
            sampler = NonSequentialSampler(dataset)
            return torch.utils.data.DataLoader(dataset, sampler=sampler)

    model = TestModel()
    trainer = Trainer(default_root_dir=tmpdir, max_epochs=1, overfit_batches=2)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer.fit(model)
    messages = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
    assert any(re.search("requested to overfit but enabled train dataloader shuffling", m) for m in messages), messages

    assert isinstance(trainer.train_dataloader.sampler, SequentialSampler)
    assert isinstance(trainer.val_dataloaders.sampler, SequentialSampler)


if __name__ == "__main__":
    for overfit_batches in (1, 2, 0.1, 0.25, 1.0):
        with tempfile.TemporaryDirectory() as tmp:
            test_overfit_basic(tmp, overfit_batches)
    with tempfile.TemporaryDirectory() as tmp:
        test_overfit_batches_raises_warning_in_case_of_sequential_sampler(tmp)
    print("OK")
