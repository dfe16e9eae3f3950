# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/loops/test_prediction_memory.py
#   (test_prediction_memory_usage, test_prediction_memory_with_gc: `predict` with and without
#   `return_predictions`, `trainer.predict_loop.return_predictions` read in predict_step)
# (Apache-2.0, Copyright The Lightning AI team)
# Edits: the tests turned into a __main__ program asserting what they asserted; parametrize ->
#   a loop; the autouse fixture restoring os.environ and the TPU skips dropped (no TPU here).
import gc
import os

import psutil
import torch
from torch.utils.data import DataLoader, Dataset

from lightning.pytorch import Trainer
from lightning.pytorch.demos.boring_classes import BoringModel


class LargeMemoryDataset(Dataset):
    def __init__(self, size=100, data_size=100000):
        self.size = size
        self.data_size = data_size
        self.data = [torch.randn(data_size) for _ in range(size)]

    def __len__(self):
        return self.size

    def __getitem__(self, idx):
        return self.data[idx]


class MemoryTestModel(BoringModel):
    def __init__(self):
        super().__init__()
        self.predictions = []

    def predict_step(self, batch, batch_idx):
        # Simulate large memory usage
        result = batch * 2
        if not self.trainer.predict_loop.return_predictions:
            # Clear memory if not returning predictions
            gc.collect()
        return result

    def predict_dataloader(self):
        return DataLoader(LargeMemoryDataset(), batch_size=16)


def get_memory_usage():
    process = psutil.Process(os.getpid())
    return process.memory_info().rss / 1024 / 1024  # Convert to MB


def test_prediction_memory_usage(return_predictions):
    """Test that memory usage doesn't grow unbounded during prediction."""
    model = MemoryTestModel()
    trainer = Trainer(accelerator="cpu", devices=1, max_epochs=1)

    initial_memory = get_memory_usage()
    predictions = trainer.predict(model, return_predictions=return_predictions)
    final_memory = get_memory_usage()
    memory_growth = final_memory - initial_memory

    # If return_predictions is False, memory growth should be minimal
    if not return_predictions:
        assert memory_growth < 500, f"Memory growth {memory_growth}MB exceeds threshold"
    else:
        # With return_predictions=True, some memory growth is expected
        assert memory_growth > 0, "Expected some memory growth with return_predictions=True"
    return predictions


def test_prediction_memory_with_gc():
    """Test that memory usage stays constant when using gc.collect()."""
    model = MemoryTestModel()
    trainer = Trainer(accelerator="cpu", devices=1, max_epochs=1)

    initial_memory = get_memory_usage()
    trainer.predict(model, return_predictions=False)
    final_memory = get_memory_usage()

    memory_growth = final_memory - initial_memory
    assert memory_growth < 500, f"Memory growth {memory_growth}MB exceeds threshold"


if __name__ == "__main__":
    for return_predictions in (True, False):
        test_prediction_memory_usage(return_predictions)
    test_prediction_memory_with_gc()
    print("ok")
