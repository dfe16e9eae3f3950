"""Files treadle writes respect the umask (issue 12, item 4): on a shared cluster, colleagues
read a run's checkpoints, logs and hparams when the umask lets them; with umask 077 nobody does.

Every file and directory a run leaves under ``default_root_dir`` is checked: checkpoints
(``ModelCheckpoint``, ``trainer.save_checkpoint``), the CSV and TensorBoard loggers' files and
``hparams.yaml``.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

import treadle
from treadle import checkpoint_io
from treadle.callbacks import ModelCheckpoint
from treadle.loggers import CSVLogger, TensorBoardLogger


@pytest.fixture(params=[0o022, 0o077, 0o002], ids=lambda m: f"umask{m:03o}")
def umask(request):
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


class Logged(treadle.Module):
    def __init__(self, width: int = 3):
        super().__init__()
        self.save_hyperparameters()
        self.layer = torch.nn.Linear(width, 1)

    def training_step(self, batch, batch_idx):
        loss = self.layer(batch[0]).pow(2).mean()
        self.log("train_loss", loss)
        return loss

    def validation_step(self, batch, batch_idx):
        self.log("val_loss", self.layer(batch[0]).pow(2).mean())

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def modes(root: Path) -> dict[str, int]:
    return {
        str(p.relative_to(root)): stat.S_IMODE(p.stat().st_mode)
        for p in sorted(root.rglob("*"))
        if p.is_file() or p.is_dir()
    }


def test_a_runs_checkpoints_logs_and_hparams_follow_the_umask(tmp_path, umask):
    loader = DataLoader(TensorDataset(torch.randn(8, 3)), batch_size=4)
    loggers = [CSVLogger(tmp_path / "csv"), TensorBoardLogger(tmp_path / "tb")]
    trainer = treadle.Trainer(
        default_root_dir=tmp_path,
        max_epochs=2,
        logger=loggers,
        callbacks=[ModelCheckpoint(dirpath=tmp_path / "ckpts", save_last=True, save_top_k=-1)],
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(Logged(), loader, loader)
    trainer.save_checkpoint(tmp_path / "by_hand" / "model.ckpt")

    found = modes(tmp_path)
    ckpts = [name for name in found if name.endswith(".ckpt")]
    assert len(ckpts) >= 3, found  # two epochs, last.ckpt, by hand
    assert any(name.endswith("metrics.csv") for name in found), found
    assert any(name.endswith("hparams.yaml") for name in found), found
    assert any("events.out.tfevents" in name for name in found), found
    files = {n: m for n, m in found.items() if (tmp_path / n).is_file()}
    dirs = {n: m for n, m in found.items() if (tmp_path / n).is_dir()}
    assert files == dict.fromkeys(files, 0o666 & ~umask)
    assert dirs == dict.fromkeys(dirs, 0o777 & ~umask)


def test_save_atomic_leaves_the_umask_as_it_was(tmp_path, umask):
    checkpoint_io.save_atomic({"x": torch.ones(1)}, tmp_path / "a.ckpt")
    assert stat.S_IMODE((tmp_path / "a.ckpt").stat().st_mode) == 0o666 & ~umask
    assert os.umask(umask) == umask  # unchanged by the call
