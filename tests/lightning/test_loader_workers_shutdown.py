"""A run's end stops the worker processes of the loaders it read, persistent ones included and
after an exception too, as Lightning's teardown does (checked on Lightning 2.6.6: no child
process is left after ``fit`` in any of these cases, nor after the ``validate`` that follows).

Ported from tests/tests_pytorch/loops/test_loops.py::test_workers_are_shutdown (which watches
torch's private ``_shutdown_workers``; here the processes themselves are counted)."""

from __future__ import annotations

import multiprocessing

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

import treadle


class Net(treadle.Module):
    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(4, 1)

    def training_step(self, batch, batch_idx):
        return self.layer(batch[0]).sum()

    def validation_step(self, batch, batch_idx):
        self.log("v", self.layer(batch[0]).sum())

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


class FailAtSecondEpochEnd(treadle.Callback):
    def on_train_epoch_end(self, trainer, module) -> None:
        if trainer.current_epoch == 1:
            raise ValueError("boom")


def loader(persistent: bool) -> DataLoader:
    data = TensorDataset(torch.randn(64, 4))
    return DataLoader(data, num_workers=1, persistent_workers=persistent)


@pytest.mark.parametrize("persistent", [False, True])
@pytest.mark.parametrize("fail", [False, True])
def test_no_worker_left_after_a_run(tmp_path, persistent: bool, fail: bool) -> None:
    assert not multiprocessing.active_children()
    trainer = treadle.Trainer(
        default_root_dir=tmp_path,
        max_epochs=3,
        limit_train_batches=2,  # the loaders are not read to their end
        limit_val_batches=2,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[FailAtSecondEpochEnd()] if fail else [],
    )
    train, val = loader(persistent), loader(persistent)
    if fail:
        with pytest.raises(ValueError, match="boom"):
            trainer.fit(Net(), train, val)
    else:
        trainer.fit(Net(), train, val)
    assert trainer.current_epoch == (1 if fail else 3)
    assert not multiprocessing.active_children()  # the loaders are still referenced here
    trainer.validate(Net(), val)  # new workers for the next run, stopped at its end
    assert not multiprocessing.active_children()
