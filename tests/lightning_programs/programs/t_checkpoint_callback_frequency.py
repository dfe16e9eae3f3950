# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/checkpointing/test_checkpoint_callback_frequency.py
#   (test_disabled_checkpointing, test_default_checkpoint_freq, test_top_k)
# (Apache-2.0, Copyright The Lightning AI team)
# Edits: the tests run from a __main__ program (parametrize -> loops over all the values);
#   tmp_path -> a tempfile dir (a fresh one per case); `@mock.patch("torch.save")` -> the same
#   patch as a context manager (torch's function, not Lightning's: the count of checkpoint
#   writes); test_top_k_ddp left out (2 CUDA GPUs, DDP).
import tempfile
from unittest import mock

import torch
from lightning.pytorch import Trainer, callbacks
from lightning.pytorch.demos.boring_classes import BoringModel


def test_disabled_checkpointing(tmp_path):
    # no callback
    trainer = Trainer(default_root_dir=tmp_path, max_epochs=3, enable_checkpointing=False)
    assert not trainer.checkpoint_callbacks
    trainer.fit(BoringModel())
    assert not trainer.checkpoint_callbacks


def test_default_checkpoint_freq(tmp_path, epochs: int, val_check_interval: float, expected: int):
    with mock.patch("torch.save") as save_mock:
        model = BoringModel()
        trainer = Trainer(
            default_root_dir=tmp_path,
            max_epochs=epochs,
            enable_model_summary=False,
            val_check_interval=val_check_interval,
            limit_val_batches=1,
            enable_progress_bar=False,
        )
        trainer.fit(model)

    # make sure types are correct
    assert save_mock.call_count == expected, (save_mock.call_count, epochs, val_check_interval, expected)


def test_top_k(tmp_path, k, epochs, val_check_interval, expected, save_last):
    class TestModel(BoringModel):
        def __init__(self):
            super().__init__()
            self.last_coeff = 10.0

        def training_step(self, batch, batch_idx):
            loss = self.step(torch.ones(32, device=self.device))
            loss = loss / (loss + 0.0000001)
            loss += self.last_coeff
            self.log("my_loss", loss)
            self.last_coeff *= 0.999
            return loss

    with mock.patch("torch.save") as save_mock:
        model = TestModel()
        trainer = Trainer(
            callbacks=[
                callbacks.ModelCheckpoint(dirpath=tmp_path, monitor="my_loss", save_top_k=k, save_last=save_last)
            ],
            default_root_dir=tmp_path,
            max_epochs=epochs,
            enable_model_summary=False,
            val_check_interval=val_check_interval,
        )
        trainer.fit(model)

    # save_last=True: last epochs are saved every step (so double the save calls)
    expected = expected * 2 if save_last is True else expected
    assert save_mock.call_count == expected, (save_mock.call_count, k, epochs, val_check_interval, save_last, expected)


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        test_disabled_checkpointing(tmp)
    for epochs, val_check_interval, expected in [(1, 1.0, 1), (2, 1.0, 2), (1, 0.25, 4), (2, 0.3, 6)]:
        with tempfile.TemporaryDirectory() as tmp:
            test_default_checkpoint_freq(tmp, epochs, val_check_interval, expected)
    for save_last in (False, True, "link"):
        for k, epochs, val_check_interval, expected in [(1, 1, 1.0, 1), (2, 2, 1.0, 2), (2, 1, 0.25, 4), (2, 2, 0.3, 6)]:
            with tempfile.TemporaryDirectory() as tmp:
                test_top_k(tmp, k, epochs, val_check_interval, expected, save_last)
    print("OK")
