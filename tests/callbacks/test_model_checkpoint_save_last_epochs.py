"""ModelCheckpoint(save_last=True): when ``last.ckpt`` is written at an epoch's end.

Lightning 2.6.6's rule (its ``ModelCheckpoint.on_train_epoch_end``/``on_validation_end`` and
``on_train_end``, Apache-2.0, Copyright The Lightning AI team): at an epoch's end ``last.ckpt``
follows a checkpoint saved at that step (an ``every_n_epochs`` epoch that saved a top-k file),
and when training ends without any checkpoint saved (``save_top_k=0``, or no epoch reached
``every_n_epochs``) it is written then. Each expectation below is what the same program gives
on Lightning 2.6.6 (the files after each epoch, and the epoch stored in ``last.ckpt``).
"""

from __future__ import annotations

import os

import pytest
import torch
from boring_model import BoringModel, quiet

import treadle
from treadle.callbacks import ModelCheckpoint


class Model(BoringModel):
    def validation_step(self, batch, batch_idx):
        self.log("const", 1.0)  # never improves after the first epoch
        return super().validation_step(batch, batch_idx)


class Files(treadle.Callback):
    def __init__(self, folder):
        self.folder, self.seen = folder, []

    def on_train_epoch_start(self, trainer, pl_module):
        self.seen.append(sorted(os.listdir(self.folder)) if self.folder.exists() else [])


LAST = ["last.ckpt"]


@pytest.mark.parametrize(
    "kwargs, trainer_kwargs, seen, last_epoch",
    [
        # no top-k checkpoint ever: last.ckpt when training ends (its epoch: the one after)
        (dict(save_top_k=0, save_last=True, every_n_epochs=2), {}, [[]] * 4, 4),
        (dict(save_top_k=0, save_last=True, every_n_epochs=1), {}, [[]] * 4, 4),
        (dict(save_top_k=0, save_last="link", every_n_epochs=1), {}, [[]] * 4, 4),
        (dict(save_top_k=0, save_last=True), dict(limit_val_batches=0), [[]] * 4, 4),
        # step saves write last.ckpt with them; the end finds it saved
        (dict(save_top_k=0, save_last=True, every_n_train_steps=3), {}, [[], [], LAST, LAST], 2),
        # every_n_epochs=3: the epoch that saves a top-k file writes last.ckpt too
        (dict(save_top_k=1, every_n_epochs=3, save_last=True), {}, [[]] * 3, 2),
        # a monitored value that never improves: last.ckpt stays the first epoch's
        (
            dict(save_top_k=1, monitor="const", save_last=True),
            {},
            [[]] + [["epoch=0-step=2.ckpt", *LAST]] * 3,
            0,
        ),
    ],
)
def test_last_checkpoint_at_epoch_ends_and_train_end(
    tmp_path, kwargs, trainer_kwargs, seen, last_epoch
):
    folder = tmp_path / "ckpts"
    checkpoint = ModelCheckpoint(dirpath=folder, **kwargs)
    files = Files(folder)
    options = dict(
        max_epochs=4, limit_train_batches=2, limit_val_batches=1, callbacks=[checkpoint, files]
    )
    trainer = treadle.Trainer(**quiet(tmp_path, **{**options, **trainer_kwargs}))
    trainer.fit(Model())
    assert files.seen[: len(seen)] == seen
    assert os.path.basename(checkpoint.last_model_path) == "last.ckpt"
    assert torch.load(folder / "last.ckpt", weights_only=False)["epoch"] == last_epoch


def test_fast_dev_run_writes_no_last_checkpoint(tmp_path):
    """fast_dev_run saves no checkpoint, ``save_last`` included (treadle keeps the documented
    rule; Lightning 2.6.6's ``on_train_end`` writes ``last.ckpt`` there)."""
    folder = tmp_path / "ckpts"
    checkpoint = ModelCheckpoint(dirpath=folder, save_last=True)
    treadle.Trainer(**quiet(tmp_path, fast_dev_run=True, callbacks=[checkpoint])).fit(Model())
    assert not folder.exists() or not os.listdir(folder)
    assert checkpoint.last_model_path == ""
