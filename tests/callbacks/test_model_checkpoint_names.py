"""ModelCheckpoint: Lightning's file names, ``kth_best_model_path``, ``every_n_epochs=0``.

The expected names in ``test_format_checkpoint_name`` are those of Lightning's doctest of
``ModelCheckpoint.format_checkpoint_name`` and of ``test_model_checkpoint_format_checkpoint_name``
in ``tests/tests_pytorch/checkpointing/test_model_checkpoint.py`` (Apache-2.0, Copyright The
Lightning AI team). The other tests are our own.
"""

from __future__ import annotations

import os
import re

import pytest
import torch
from boring_model import BoringModel, quiet

import treadle
from treadle.callbacks import ModelCheckpoint


class LossPerEpoch(BoringModel):
    def __init__(self, losses):
        super().__init__()
        self.losses = losses

    def on_validation_epoch_end(self):
        self.log("val_loss", self.losses[self.current_epoch])


def fit(tmp_path, callback, model=None, **kwargs):
    trainer = treadle.Trainer(
        **quiet(
            tmp_path, callbacks=[callback], limit_train_batches=2, limit_val_batches=1, **kwargs
        )
    )
    trainer.fit(model or BoringModel())
    return trainer


def names(directory):
    return sorted(os.listdir(directory))


@pytest.mark.parametrize(
    ("filename", "metrics", "auto_insert", "expected"),
    [
        ("{epoch}", {"epoch": 0}, True, "epoch=0.ckpt"),
        ("{epoch:03d}", {"epoch": 5}, True, "epoch=005.ckpt"),
        (
            "{epoch}-{val_loss:.2f}",
            {"epoch": 2, "val_loss": 0.123456},
            True,
            "epoch=2-val_loss=0.12.ckpt",
        ),
        (
            "epoch={epoch}-validation_loss={val_loss:.2f}",
            {"epoch": 2, "val_loss": 0.123456},
            False,
            "epoch=2-validation_loss=0.12.ckpt",
        ),
        ("{missing:d}", {}, True, "missing=0.ckpt"),
        ("{step}", {"step": 0}, True, "step=0.ckpt"),
        (None, {"epoch": 3, "step": 2}, True, "epoch=3-step=2.ckpt"),
        ("ckpt", {}, True, "ckpt.ckpt"),
        ("{epoch:03d}-{acc}", {"epoch": 3, "acc": 0.03}, True, "epoch=003-acc=0.03.ckpt"),
        ("{epoch}-{acc}", {"epoch": 3}, True, "epoch=3-acc=0.ckpt"),
        ("{epoch}-{val/loss:.2f}", {"epoch": 1, "val/loss": 0.5}, False, "1-0.50.ckpt"),
        ("{epoch_test}-{epoch}", {"epoch": 1, "epoch_test": 2}, True, "epoch_test=2-epoch=1.ckpt"),
    ],
)
def test_format_checkpoint_name(tmp_path, filename, metrics, auto_insert, expected):
    checkpoint = ModelCheckpoint(
        dirpath=tmp_path, filename=filename, auto_insert_metric_name=auto_insert
    )
    assert checkpoint.format_checkpoint_name(metrics) == str(tmp_path / expected)


def test_format_checkpoint_name_overrides(tmp_path):
    checkpoint = ModelCheckpoint(dirpath=tmp_path, filename="{epoch}-{val_loss:.2f}")
    assert checkpoint.format_checkpoint_name(
        {"epoch": 2, "val_loss": 0.12}, filename="{epoch:d}"
    ) == str(tmp_path / "epoch=2.ckpt")
    assert checkpoint.format_checkpoint_name({"epoch": 2}, filename="{epoch}", ver=1) == str(
        tmp_path / "epoch=2-v1.ckpt"
    )
    assert ModelCheckpoint(filename="{step}").format_checkpoint_name({"step": 0}) == "step=0.ckpt"


def test_default_names_in_a_run(tmp_path):
    fit(tmp_path, ModelCheckpoint(dirpath=tmp_path / "ck", save_top_k=-1), max_epochs=2)
    assert names(tmp_path / "ck") == ["epoch=0-step=2.ckpt", "epoch=1-step=4.ckpt"]


def test_metric_in_the_name_and_kth_best(tmp_path):
    callback = ModelCheckpoint(
        dirpath=tmp_path, filename="{epoch}-{val_loss:.1f}", monitor="val_loss", save_top_k=2
    )
    fit(tmp_path, callback, LossPerEpoch([3.0, 1.0, 2.0, 4.0, 0.5]), max_epochs=5)
    assert names(tmp_path) == ["epoch=1-val_loss=1.0.ckpt", "epoch=4-val_loss=0.5.ckpt"]
    assert callback.best_model_path == str(tmp_path / "epoch=4-val_loss=0.5.ckpt")
    assert callback.kth_best_model_path == str(tmp_path / "epoch=1-val_loss=1.0.ckpt")
    assert callback.kth_value == 1.0
    saved = torch.load(callback.best_model_path, weights_only=True)["callbacks"][callback.state_key]
    assert saved["kth_best_model_path"] == str(tmp_path / "epoch=1-val_loss=1.0.ckpt")


def test_kth_best_in_max_mode(tmp_path):
    callback = ModelCheckpoint(dirpath=tmp_path, monitor="val_loss", mode="max", save_top_k=2)
    fit(tmp_path, callback, LossPerEpoch([3.0, 1.0, 2.0]), max_epochs=3)
    assert callback.best_model_score == 3.0
    assert callback.kth_value == 2.0
    assert callback.kth_best_model_path == str(tmp_path / "epoch=2-step=6.ckpt")


def test_kth_best_is_empty_until_k_are_kept(tmp_path):
    callback = ModelCheckpoint(dirpath=tmp_path, monitor="val_loss", save_top_k=3)
    fit(tmp_path, callback, LossPerEpoch([3.0, 1.0]), max_epochs=2)
    assert callback.kth_best_model_path == ""
    assert callback.kth_value == float("inf")


def test_every_n_epochs_zero_saves_no_epoch_checkpoint(tmp_path):
    """Lightning: every_n_epochs=0 turns epoch-end top-k saves off (was ZeroDivisionError)."""
    fit(tmp_path, ModelCheckpoint(dirpath=tmp_path / "a", every_n_epochs=0), max_epochs=2)
    assert not (tmp_path / "a").exists()
    callback = ModelCheckpoint(dirpath=tmp_path / "b", every_n_epochs=0, save_last=True)
    fit(tmp_path, callback, max_epochs=2)
    assert names(tmp_path / "b") == ["last.ckpt"]
    assert callback.best_model_path == ""


def test_every_n_epochs_two(tmp_path):
    fit(tmp_path, ModelCheckpoint(dirpath=tmp_path, save_top_k=-1, every_n_epochs=2), max_epochs=4)
    assert names(tmp_path) == ["epoch=1-step=4.ckpt", "epoch=3-step=8.ckpt"]


def test_negative_every_n_epochs_is_refused():
    with pytest.raises(
        ValueError,
        match=re.escape(
            "ModelCheckpoint(every_n_epochs=-1): invalid value. Must be >= 0 (0 saves no top-k "
            "checkpoint at "
            "epoch ends)."
        ),
    ):
        ModelCheckpoint(every_n_epochs=-1)


def test_state_key_is_lightnings():
    assert ModelCheckpoint(monitor="val_loss").state_key == (
        "ModelCheckpoint{'monitor': 'val_loss', 'mode': 'min', 'every_n_train_steps': 0, "
        "'every_n_epochs': 1, 'train_time_interval': None}"
    )
