# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/checkpointing/test_training_metadata.py
#   (test_training_metadata_on_exception, test_training_metadata_resume)
# (Apache-2.0, Copyright The Lightning AI team)
# Edits: the tests turned into one __main__ program; the parametrizes -> loops; tmp_path -> a
#   tempfile dir; pytest.raises -> a small context manager. The file tests the checkpoint's "training_metadata" key, which is newer than
#   Lightning 2.6.6 (2.6.6 writes no such key): the asserts on that key are dropped, leaving what
#   2.6.6 does too: `ModelCheckpoint(save_on_exception=True)` and `OnExceptionCheckpoint` write
#   `exception.ckpt` when fit raises (checked to hold a state_dict), and a fit resumes from a
#   saved checkpoint (with the legacy variant's deleted key and the other variant's changed
#   world_size written as an extra key, which resuming ignores). Left out:
#   test_training_metadata_before_dataloader_setup (only the new key) and
#   test_training_metadata_multiple_loaders (the new key, through `fit_loop._combined_loader` and
#   `_checkpoint_connector.dump_checkpoint`, Lightning internals).
import re
import tempfile
from pathlib import Path

import torch

from lightning.pytorch import Trainer
from lightning.pytorch.callbacks import Callback, ModelCheckpoint, OnExceptionCheckpoint
from lightning.pytorch.demos.boring_classes import BoringModel


class raises:
    def __init__(self, category, match):
        self.category, self.match = category, match

    def __enter__(self):
        return self

    def __exit__(self, kind, value, tb):
        assert kind is not None and issubclass(kind, self.category), kind
        assert re.search(self.match, str(value)), str(value)
        return True


def test_training_metadata_on_exception(tmp_path, callback_type):
    class RaiseAfterBatch(Callback):
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            raise RuntimeError("Interrupted training")

    kwargs = {"save_on_exception": True} if callback_type is ModelCheckpoint else {}
    callback = callback_type(dirpath=tmp_path, filename="exception", **kwargs)
    trainer = Trainer(
        accelerator="cpu",
        devices=1,
        default_root_dir=tmp_path,
        callbacks=[callback, RaiseAfterBatch()],
        logger=False,
        enable_progress_bar=False,
        max_steps=1,
        limit_val_batches=0,
        num_sanity_val_steps=0,
    )
    with raises(RuntimeError, match="Interrupted training"):
        trainer.fit(BoringModel())
    checkpoint = torch.load(tmp_path / "exception.ckpt", weights_only=True)
    assert "state_dict" in checkpoint


def test_training_metadata_resume(tmp_path, legacy):
    trainer = Trainer(
        accelerator="cpu",
        devices=1,
        default_root_dir=tmp_path,
        logger=False,
        enable_checkpointing=False,
        max_steps=1,
        limit_val_batches=0,
    )
    trainer.fit(BoringModel())
    path = tmp_path / "resume.ckpt"
    trainer.save_checkpoint(path, weights_only=False)
    checkpoint = torch.load(path, weights_only=True)
    if legacy:
        checkpoint.pop("training_metadata", None)
    else:
        # Metadata is informational: resuming with a different topology remains supported.
        checkpoint["training_metadata"] = {"world_size": 8}
    torch.save(checkpoint, path)
    trainer = Trainer(
        accelerator="cpu",
        devices=1,
        default_root_dir=tmp_path,
        logger=False,
        enable_checkpointing=False,
        max_steps=2,
        limit_val_batches=0,
    )
    trainer.fit(BoringModel(), ckpt_path=path)
    assert trainer.global_step == 2


if __name__ == "__main__":
    for callback_type in (ModelCheckpoint, OnExceptionCheckpoint):
        with tempfile.TemporaryDirectory() as tmp:
            test_training_metadata_on_exception(Path(tmp), callback_type)
    for legacy in (False, True):
        with tempfile.TemporaryDirectory() as tmp:
            test_training_metadata_resume(Path(tmp), legacy)
    print("ok")
