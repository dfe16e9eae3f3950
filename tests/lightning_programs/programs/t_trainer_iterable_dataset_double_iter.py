# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/loops/test_trainer_iterable_dataset_double_iter.py
#   (test_training: a queue-backed IterableDataset in a persistent worker; fit, fit again,
#   save_checkpoint, then a new Trainer fits and resumes from the checkpoint)
# (Apache-2.0, Copyright The Lightning AI team)
# Edits: the test turned into a __main__ program asserting what it asserted; "model.ckpt" in
#   the working folder -> a tempfile dir; the queue holds 20 items, not 10 (with 10 the test
#   fails on Lightning 2.6.6 with queue.Empty: its second fit on a finished Trainer trains
#   nothing but its persistent worker still takes 2 items off the queue).
import multiprocessing as mp
import os
import tempfile
from queue import Queue
from typing import Iterator

import numpy as np
from torch.utils.data import DataLoader, IterableDataset

from lightning import Trainer
from lightning.pytorch.demos.boring_classes import BoringModel


class QueueDataset(IterableDataset):
    def __init__(self, queue: Queue) -> None:
        super().__init__()
        self.queue = queue

    def __iter__(self) -> Iterator:
        for _ in range(5):
            tensor, _ = self.queue.get(timeout=10)
            yield tensor


def create_queue():
    q = mp.Queue()
    arr = np.random.random([1, 32]).astype(np.float32)
    for ind in range(20):
        q.put((arr, ind))
    return q


def train_model(queue, maxEpochs, ckptPath):
    dataloader = DataLoader(QueueDataset(queue), num_workers=1, batch_size=None, persistent_workers=True)
    trainer = Trainer(max_epochs=maxEpochs, enable_progress_bar=False, devices=1)
    trainer.fit(BoringModel(), dataloader)
    if os.path.exists(ckptPath):
        trainer.fit(BoringModel(), dataloader, ckpt_path=ckptPath)
    else:
        trainer.fit(BoringModel(), dataloader)
        trainer.save_checkpoint(ckptPath)
    return trainer


def test_training(tmp):
    """
    Test that reproduces issue in calling iter twice on a queue-based
    IterableDataset leads to Queue Empty errors when resuming from a checkpoint.
    """
    queue = create_queue()

    ckpt_path = os.path.join(tmp, "model.ckpt")
    trainer = train_model(queue, 1, ckpt_path)
    assert trainer is not None

    assert os.path.exists(ckpt_path), "Checkpoint file wasn't created"

    ckpt_size = os.path.getsize(ckpt_path)
    assert ckpt_size > 0, f"Checkpoint file is empty (size: {ckpt_size} bytes)"

    trainer = train_model(queue, 1, ckpt_path)
    assert trainer is not None


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        test_training(tmp)
    print("ok")
