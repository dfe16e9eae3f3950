# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/loops/test_loops.py
#   (test_restart_parity, test_restart_parity_with_val, test_fit_can_fail_during_validation,
#   test_validation_during_gradient_accumulation_window,
#   test_fit_loop_save_and_restore_dataloaders: what is seen through fit() and checkpoints)
# (Apache-2.0, Copyright The Lightning AI team)
# Edits: the tests turned into a __main__ program asserting what they asserted; parametrize ->
#   loops; tmp_path -> a fresh tempfile dir per case (a pathlib.Path); pytest.raises -> a
#   small context manager (pytest is not installed with Lightning here).
#   The assertions on Lightning's loop internals dropped: the checkpoints' `loops` entries and
#   `trainer.fit_loop.state_dict()` progress counters (test_restart_parity*,
#   test_fit_can_fail_during_validation, test_fit_loop_save_and_restore_dataloaders); in
#   test_validation_during_gradient_accumulation_window the batch index read from
#   `fit_loop.epoch_loop.batch_progress.current.completed` -> a count of on_train_batch_end.
#   Left out: test_restarting_loops_recursive, test_loop_restore, test_loop_hierarchy (the
#   private `_Loop` class), test_loop_restart_progress_multiple_dataloaders,
#   test_loop_state_on_exception, test_loop_state_on_complete_run, test_fit_loop_reset (they
#   assert the progress counters in `fit_loop` and in the checkpoint's `loops`), and
#   test_workers_are_shutdown (it overrides torch's private `DataLoader._get_iterator` and
#   `_MultiProcessingDataLoaderIter._shutdown_workers`).
#   test_fit_loop_save_and_restore_dataloaders's two cases with a loader that is not stateful
#   (resumed mid-epoch, Lightning reads it again from its start; treadle skips the batches
#   already run: migration.md 11) are in t_loops_differences.py.
import itertools
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from torch.utils.data.dataloader import DataLoader

from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.callbacks import ModelCheckpoint, OnExceptionCheckpoint
from lightning.pytorch.demos.boring_classes import BoringModel, RandomDataset
from lightning.pytorch.utilities import CombinedLoader
from lightning.pytorch.utilities.types import STEP_OUTPUT


class CustomException(Exception):
    pass


class raises:
    def __init__(self, exc):
        self.exc = exc

    def __enter__(self):
        return self

    def __exit__(self, typ, value, tb):
        assert typ is not None, f"DID NOT RAISE {self.exc}"
        assert issubclass(typ, self.exc), (typ, value)
        return True


def compare_state_dicts(dict1, dict2):
    def compare_leaves(d1, d2):
        result = {}
        all_keys = set(d1.keys()).union(d2.keys())

        for key in all_keys:
            val1 = d1.get(key, None)
            val2 = d2.get(key, None)

            if isinstance(val1, dict) and isinstance(val2, dict):
                res = compare_leaves(val1, val2)
                if res:
                    result[key] = res
            elif isinstance(val1, dict) or isinstance(val2, dict):
                raise ValueError("dicts have different leaves")
            elif isinstance(val1, torch.Tensor) and isinstance(val2, torch.Tensor):
                diff = torch.norm(val1 - val2)
                if diff > 1e-8:
                    result[key] = f"{diff} > 1e-8"
            elif isinstance(val1, float) and isinstance(val2, float):
                if abs(val1 - val2) > 1e-8:
                    result[key] = f"{val1} != {val2}"
            elif val1 != val2:
                result[key] = f"{val1} != {val2}"
        return result

    return compare_leaves(dict1, dict2)


class RangeDataset(torch.utils.data.Dataset):
    def __init__(self, size: int, length: int):
        self.len = length
        data = torch.arange(0, size) / size
        self.data = data.unsqueeze(0).repeat(length, 1)

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.data[index]

    def __len__(self) -> int:
        return self.len


class PredictableBoringModel(BoringModel):
    def __init__(self) -> None:
        super().__init__()
        self.last_loss = float("inf")

    def train_dataloader(self) -> DataLoader:
        return DataLoader(RangeDataset(32, 64))

    def val_dataloader(self) -> DataLoader:
        return DataLoader(RangeDataset(32, 64))

    def test_dataloader(self) -> DataLoader:
        return DataLoader(RangeDataset(32, 64))

    def predict_dataloader(self) -> DataLoader:
        return DataLoader(RangeDataset(32, 64))

    def training_step(self, batch: Any, batch_idx: int) -> STEP_OUTPUT:
        loss = self.step(batch)
        self.last_loss = loss
        return {"loss": loss}


def _check_parity(tmp_path):
    for name in ("epoch=0-step=4", "epoch=1-step=6", "epoch=1-step=8"):
        ckpt = torch.load(str(tmp_path / f"{name}.ckpt"), weights_only=True)
        ckpt_v1 = torch.load(str(tmp_path / f"{name}-v1.ckpt"), weights_only=True)
        assert compare_state_dicts(ckpt["lr_schedulers"][0], ckpt_v1["lr_schedulers"][0]) == {}
        assert ckpt["epoch"] == ckpt_v1["epoch"]
        assert ckpt["global_step"] == ckpt_v1["global_step"]
        assert compare_state_dicts(ckpt["state_dict"], ckpt_v1["state_dict"]) == {}


def test_restart_parity(tmp_path, **val_kwargs):
    model = PredictableBoringModel()
    checkpoint_callback = ModelCheckpoint(
        dirpath=tmp_path,
        every_n_train_steps=2,
        save_top_k=-1,
    )
    trainer = Trainer(
        default_root_dir=tmp_path,
        limit_train_batches=4,
        max_epochs=4,
        callbacks=[checkpoint_callback],
        logger=False,
        enable_model_summary=False,
        **val_kwargs,
    )
    trainer.fit(model)
    loss = model.last_loss

    trainer = Trainer(
        default_root_dir=tmp_path,
        limit_train_batches=4,
        max_epochs=4,
        callbacks=[checkpoint_callback],
        logger=False,
        enable_model_summary=False,
        **val_kwargs,
    )
    trainer.fit(model, ckpt_path=str(tmp_path / "epoch=0-step=2.ckpt"))
    loss_v1 = model.last_loss

    assert abs(loss - loss_v1) < 1e-8
    _check_parity(tmp_path)


def test_restart_parity_with_val(tmp_path):
    test_restart_parity(
        tmp_path, enable_progress_bar=False, limit_val_batches=4, val_check_interval=2
    )


def test_fit_can_fail_during_validation(train_datasets, val_datasets, val_check_interval, tmp_path):
    size, n_batches = 2, 4
    stop_batch = 1
    n_val_dataloaders = len(val_datasets)
    stop_dataloader = n_val_dataloaders - 1

    class TestModel(LightningModule):
        def __init__(self, should_fail):
            super().__init__()
            self.layer = torch.nn.Linear(size, 2)
            self.should_fail = should_fail

        def step(self, batch):
            return sum(self.layer(b).sum() for b in batch)

        def training_step(self, batch, batch_idx):
            return self.step(batch)

        def validation_step(self, batch, batch_idx, dataloader_idx=0):
            if self.should_fail and dataloader_idx == stop_dataloader and batch_idx == stop_batch:
                raise CustomException
            return self.step(batch)

        def configure_optimizers(self):
            return torch.optim.SGD(self.layer.parameters(), lr=0.1)

        def train_dataloader(self):
            return [DataLoader(cls(size, n_batches)) for cls in train_datasets]

        def val_dataloader(self):
            return [DataLoader(cls(size, n_batches)) for cls in val_datasets]

    model = TestModel(False)
    trainer = Trainer(
        default_root_dir=tmp_path,
        max_epochs=1,
        val_check_interval=val_check_interval,
        num_sanity_val_steps=0,
        enable_progress_bar=False,
        callbacks=OnExceptionCheckpoint(tmp_path),
    )
    trainer.fit(model)

    ckpt_path = os.path.join(tmp_path, "on_exception.ckpt")
    assert not os.path.exists(ckpt_path), "Shouldn't have failed"
    expected_global_step = trainer.global_step

    model = TestModel(True)
    trainer = Trainer(
        default_root_dir=tmp_path,
        max_epochs=1,
        val_check_interval=val_check_interval,
        num_sanity_val_steps=0,
        enable_progress_bar=False,
        callbacks=OnExceptionCheckpoint(tmp_path),
    )
    with raises(CustomException):
        # will stop during validation
        trainer.fit(model)

    assert os.path.exists(ckpt_path)

    model = TestModel(False)
    trainer = Trainer(
        default_root_dir=tmp_path,
        max_epochs=1,
        val_check_interval=val_check_interval,
        enable_progress_bar=False,
    )
    trainer.fit(model, ckpt_path=ckpt_path)

    assert trainer.global_step == expected_global_step


def test_validation_during_gradient_accumulation_window(tmp_path):
    """Test that gradients don't get erased when the validation interval falls within the gradient accumulation
    phase."""

    class ValidationModel(BoringModel):
        batches_done = 0

        def on_train_batch_end(self, outputs, batch, batch_idx):
            self.batches_done += 1

        def on_validation_start(self):
            batch_idx = self.batches_done
            grad_expected = batch_idx % self.trainer.accumulate_grad_batches != 0
            if grad_expected:
                assert batch_idx in (2, 4)
                assert all(p.grad is not None for p in self.parameters())
            else:
                assert batch_idx == 6
                assert all(p.grad is None for p in self.parameters())
            self.ran_assert = True

    model = ValidationModel()
    trainer = Trainer(
        default_root_dir=tmp_path,
        limit_train_batches=6,
        limit_val_batches=1,
        accumulate_grad_batches=3,
        # validation happens in the middle of the first two accumulations, and at the end of the third
        val_check_interval=2,
        max_epochs=1,
        num_sanity_val_steps=0,
    )
    trainer.fit(model)
    assert model.ran_assert


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


def run(fn, *args):
    with tempfile.TemporaryDirectory() as tmp:
        fn(*args, Path(tmp)) if fn is not test_restart_parity else fn(Path(tmp))


if __name__ == "__main__":
    run(test_restart_parity)
    run(test_restart_parity_with_val)
    for (train_datasets, val_datasets), val_check_interval in itertools.product(
        [([RandomDataset], [RandomDataset]), ([RandomDataset], [RandomDataset, RandomDataset])], [0.5, 1.0]
    ):
        run(test_fit_can_fail_during_validation, train_datasets, val_datasets, val_check_interval)
    run(test_validation_during_gradient_accumulation_window)
    for factory, before, after in [
        # No dataloader
        (lambda: [], [], []),
        # Single stateful DataLoader
        (lambda: StatefulIterable(), [0, 1], [2, 3]),
        # Single stateful DataLoader
        (lambda: CombinedLoader(StatefulIterable()), [0, 1], [2, 3]),
        # Multiple stateful DataLoaders
        (lambda: CombinedLoader([StatefulIterable(3), StatefulIterable(1)]), [[3, 1], [4, 2]], [[5, 3], [6, 4]]),
    ]:
        run(test_fit_loop_save_and_restore_dataloaders, factory, before, after)
    print("ok")
