"""``file://`` URLs where Lightning takes a folder or a checkpoint file, after Lightning's
docs/source-pytorch/common/remote_fs.rst ("Local filesystem: ``file://`` ... the default"):
``default_root_dir``, a logger's ``save_dir``, ``ModelCheckpoint(dirpath=)``,
``save_checkpoint`` and ``fit(ckpt_path=)`` read them as their local paths, as Lightning's
fsspec does; another filesystem's URL (``s3://``) is refused up front, naming the argument."""

from __future__ import annotations

import pytest
from lightning_boring import BoringModel

import treadle
from conftest_helpers import make_trainer
from treadle.callbacks import ModelCheckpoint
from treadle.loggers import CSVLogger, TensorBoardLogger


def test_file_urls_are_their_local_folders(tmp_path):
    url = f"file://{tmp_path}"
    trainer = treadle.Trainer(
        default_root_dir=f"{url}/root/",
        logger=CSVLogger(save_dir=f"{url}/csv"),
        callbacks=[ModelCheckpoint(dirpath=f"{url}/ckpts")],
        max_steps=2,
        enable_progress_bar=False,
    )
    assert trainer.default_root_dir == str(tmp_path / "root")
    trainer.fit(BoringModel())
    assert (tmp_path / "csv" / "lightning_logs" / "version_0").is_dir()
    assert trainer.log_dir == str(tmp_path / "csv" / "lightning_logs" / "version_0")
    assert [p.name for p in (tmp_path / "ckpts").iterdir()] == ["epoch=0-step=2.ckpt"]

    trainer.save_checkpoint(f"{url}/saved.ckpt")
    assert (tmp_path / "saved.ckpt").is_file()
    resumed = make_trainer(tmp_path, max_steps=3)
    resumed.fit(BoringModel(), ckpt_path=f"{url}/saved.ckpt")
    assert resumed.global_step == 3  # 2 from the checkpoint, 1 more
    assert resumed.ckpt_path == str(tmp_path / "saved.ckpt")


def test_tensorboard_save_dir_file_url(tmp_path):
    pytest.importorskip("tensorboard")
    logger = TensorBoardLogger(save_dir=f"file://{tmp_path}/tb")
    assert logger.save_dir == str(tmp_path / "tb")


@pytest.mark.parametrize(
    ("make", "where"),
    [
        (lambda: treadle.Trainer(default_root_dir="s3://bucket/runs"), "default_root_dir"),
        (lambda: CSVLogger(save_dir="gs://bucket/logs"), "CSVLogger(save_dir=...)"),
        (lambda: ModelCheckpoint(dirpath="s3://bucket/ckpts"), "ModelCheckpoint(dirpath=...)"),
    ],
)
def test_other_filesystems_are_refused_naming_the_argument(make, where):
    with pytest.raises((ValueError, treadle.ConfigurationError)) as info:
        make()
    message = str(info.value)
    assert where in message and "local folder" in message and "URL" in message
