"""Callbacks appended to ``trainer.callbacks`` after the Trainer is made (before ``fit``, or
between ``fit`` and ``test``) take part in the run, and a removed one does not: Lightning's
hooks read the list at each call (checked on Lightning 2.6.6: the same calls)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

import treadle


class Net(treadle.Module):
    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(4, 4)

    def training_step(self, batch, batch_idx):
        return F.mse_loss(self.layer(batch[0]), batch[0])

    def test_step(self, batch, batch_idx):
        pass

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


class Record(treadle.Callback):
    def __init__(self, seen: list, tag: str) -> None:
        self.seen, self.tag = seen, tag

    def on_train_batch_start(self, *args) -> None:
        self.seen.append((self.tag, "fit"))

    def on_test_batch_start(self, *args) -> None:
        self.seen.append((self.tag, "test"))


def test_appended_and_removed_callbacks(tmp_path) -> None:
    loader = DataLoader(TensorDataset(torch.rand(8, 4)), batch_size=4)
    seen: list = []
    trainer = treadle.Trainer(
        default_root_dir=tmp_path,
        max_epochs=1,
        accelerator="cpu",
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
    )
    first = Record(seen, "a")
    trainer.callbacks.append(first)
    trainer.fit(Net(), loader)
    assert seen == [("a", "fit")] * 2
    seen.clear()
    trainer.callbacks.append(Record(seen, "b"))
    trainer.test(Net(), loader, verbose=False)
    assert seen == [("a", "test"), ("b", "test")] * 2
    seen.clear()
    trainer.callbacks.remove(first)
    trainer.test(Net(), loader, verbose=False)
    assert seen == [("b", "test")] * 2
