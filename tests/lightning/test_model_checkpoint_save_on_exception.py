"""``ModelCheckpoint(save_on_exception=True)`` writes a checkpoint (and ``last.ckpt``) when the
run raises, as Lightning 2.6.6's (the same files and steps, checked there).

Ported from tests/tests_pytorch/checkpointing/test_training_metadata.py::test_training_metadata_on_exception
"""

from __future__ import annotations

import os

import pytest
import torch

import treadle
from treadle.callbacks import ModelCheckpoint
from treadle.demos.boring_classes import BoringModel


class RaiseAtStep(treadle.Callback):
    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_start(self, trainer, *args) -> None:
        if trainer.global_step == self.step:
            raise RuntimeError("Interrupted training")


def _fit(tmp_path, checkpoint: ModelCheckpoint, step: int) -> None:
    trainer = treadle.Trainer(
        default_root_dir=tmp_path,
        callbacks=[checkpoint, RaiseAtStep(step)],
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        max_epochs=1,
        limit_train_batches=4,
        limit_val_batches=0,
    )
    with pytest.raises(RuntimeError, match="Interrupted training"):
        trainer.fit(BoringModel())


def _step_of(path) -> int:
    return torch.load(path, weights_only=False)["global_step"]


def test_save_on_exception_writes_the_checkpoint_and_last(tmp_path) -> None:
    checkpoint = ModelCheckpoint(
        dirpath=tmp_path, filename="{step}", every_n_epochs=0, save_last=True,
        save_on_exception=True,
    )  # fmt: skip
    _fit(tmp_path, checkpoint, step=2)
    assert sorted(os.listdir(tmp_path)) == ["last.ckpt", "step=2.ckpt"]
    assert _step_of(tmp_path / "step=2.ckpt") == _step_of(tmp_path / "last.ckpt") == 2
    assert checkpoint.last_model_path == str(tmp_path / "last.ckpt")
    assert checkpoint.best_model_path == ""  # not a top-k save


def test_save_on_exception_named_file(tmp_path) -> None:
    checkpoint = ModelCheckpoint(dirpath=tmp_path, filename="exception", save_on_exception=True)
    _fit(tmp_path, checkpoint, step=1)
    saved = torch.load(tmp_path / "exception.ckpt", weights_only=True)
    assert "state_dict" in saved and saved["global_step"] == 1


def test_no_save_before_a_step_or_without_the_flag(tmp_path) -> None:
    _fit(tmp_path / "a", ModelCheckpoint(dirpath=tmp_path / "a", save_on_exception=True), step=0)
    _fit(tmp_path / "b", ModelCheckpoint(dirpath=tmp_path / "b", every_n_epochs=0), step=2)
    for folder in ("a", "b"):
        assert not (tmp_path / folder).exists() or not os.listdir(tmp_path / folder)
