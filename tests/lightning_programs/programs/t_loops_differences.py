# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/loops/test_loops.py
#   (test_fit_loop_save_and_restore_dataloaders, its two cases with a loader that is not
#   stateful; the file's other tests of public behaviour are t_loops.py)
# (Apache-2.0, Copyright The Lightning AI team)
# Edits: the test turned into a __main__ program asserting what it asserted; parametrize -> a
#   loop over the two cases; tmp_path -> a tempfile dir; the assertion on the checkpoint's
#   `loops` entry (Lightning's internal layout) dropped.
# An expected failure on treadle (tests/test_lightning_programs.py DIFFERENCES): a fit resumed
#   mid-epoch skips the batches already run of a loader that is not stateful, so that it goes
#   on as the uninterrupted run (docs/checkpoints.md, "Skipping the batches already run");
#   Lightning reads such a loader again from its start (docs/migration.md, 11).
import tempfile
from pathlib import Path

from lightning.pytorch import Trainer
from lightning.pytorch.demos.boring_classes import BoringModel
from lightning.pytorch.utilities import CombinedLoader


class NotStatefulIterable:
    def __init__(self, start=0):
        self.index = start

    def __iter__(self):
        for i in range(self.index, len(self)):
            self.index = i
            yield self.index

    def __len__(self):
        return 10


class StatefulIterable(NotStatefulIterable):
    def state_dict(self):
        return {"index": self.index}

    def load_state_dict(self, state_dict):
        self.index = state_dict["index"] + 1


def test_fit_loop_save_and_restore_dataloaders(train_dataloader_factory, batches_before, batches_after, tmp_path):
    """Test that the CheckpointConnector saves the state of stateful dataloaders."""

    class DummyModel(BoringModel):
        def __init__(self):
            super().__init__()
            self.seen_data = []

        def training_step(self, batch, batch_idx):
            self.seen_data.append(batch)
            print(batch)

        def train_dataloader(self):
            return train_dataloader_factory()

    trainer_kwargs = {
        "default_root_dir": tmp_path,
        "accelerator": "cpu",
        "enable_checkpointing": False,
        "enable_model_summary": False,
        "enable_progress_bar": False,
        "logger": False,
        "num_sanity_val_steps": 0,
    }

    # Train for 2 steps
    model = DummyModel()
    trainer = Trainer(**trainer_kwargs, max_steps=2)
    trainer.fit(model)
    assert model.seen_data == batches_before

    # Save a checkpoint
    trainer.save_checkpoint(tmp_path / "checkpoint.ckpt")

    # Restore training from step 2 and continue 2 more steps
    model = DummyModel()
    trainer = Trainer(**trainer_kwargs, max_steps=4)
    trainer.fit(model, ckpt_path=(tmp_path / "checkpoint.ckpt"))
    assert model.seen_data == batches_after


if __name__ == "__main__":
    for factory, before, after in [
        # Single, not stateful DataLoader
        (lambda: CombinedLoader(NotStatefulIterable()), [0, 1], [0, 1]),
        # Mix of stateful and not stateful DataLoaders
        (
            lambda: CombinedLoader([NotStatefulIterable(3), StatefulIterable(1), NotStatefulIterable(2)]),
            [[3, 1, 2], [4, 2, 3]],
            [[3, 3, 2], [4, 4, 3]],
        ),
    ]:
        with tempfile.TemporaryDirectory() as tmp:
            test_fit_loop_save_and_restore_dataloaders(factory, before, after, Path(tmp))
    print("ok")
