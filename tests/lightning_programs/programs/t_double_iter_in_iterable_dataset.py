# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/loops/test_double_iter_in_iterable_dataset.py
#   (test_resume_training_with: a queue-backed IterableDataset in a persistent worker, fit,
#   save_checkpoint, fit again from the checkpoint; each batch is taken off the queue once)
# (Apache-2.0, Copyright The Lightning AI team)
# Edits: the test turned into a __main__ program asserting what it asserted; tmp_path -> a
#   tempfile dir.
import multiprocessing as mp
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from queue import Queue

import numpy as np
from torch.utils.data import DataLoader, IterableDataset

from lightning.pytorch import Trainer
from lightning.pytorch.demos.boring_classes import BoringModel


class QueueDataset(IterableDataset):
    def __init__(self, queue: Queue) -> None:
        super().__init__()
        self.queue = queue

    def __iter__(self) -> Iterator:
        for _ in range(5):
            tensor, _ = self.queue.get(timeout=5)
            yield tensor


def create_queue() -> Queue:
    q = mp.Queue()
    arr = np.random.random([1, 32]).astype(np.float32)
    for ind in range(20):
        q.put((arr, ind))
    return q


def train_model(queue: Queue, max_epochs: int, ckpt_path: Path) -> Trainer:
    dataloader = DataLoader(QueueDataset(queue), num_workers=1, batch_size=None, persistent_workers=True)
    trainer = Trainer(
        max_epochs=max_epochs,
        enable_progress_bar=False,
        enable_checkpointing=False,
        devices=1,
        logger=False,
    )
    if ckpt_path.exists():
        trainer.fit(BoringModel(), dataloader, ckpt_path=str(ckpt_path))
    else:
        trainer.fit(BoringModel(), dataloader)
        trainer.save_checkpoint(str(ckpt_path))
    return trainer


def test_resume_training_with(tmp_path):
    """Test resuming training from checkpoint file using a IterableDataset."""
    queue = create_queue()
    max_epoch = 2
    ckpt_path = tmp_path / "model.ckpt"
    trainer = train_model(queue, max_epoch, ckpt_path)
    assert trainer is not None

    assert os.path.exists(ckpt_path), f"Checkpoint file '{ckpt_path}' wasn't created"

    ckpt_size = os.path.getsize(ckpt_path)
    assert ckpt_size > 0, f"Checkpoint file is empty (size: {ckpt_size} bytes)"

    trainer = train_model(queue, max_epoch + 2, ckpt_path)
    assert trainer is not None


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        test_resume_training_with(Path(tmp))
    print("ok")
