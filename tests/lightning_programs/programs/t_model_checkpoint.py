# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/checkpointing/test_model_checkpoint.py
#   (test_model_checkpoint_topk_all, test_model_checkpoint_save_last_none_monitor,
#    test_model_checkpoint_format_checkpoint_name)
# Edits: tests turned into a __main__ program asserting what they asserted; tmp_path -> a
#   tempfile dir (a pathlib.Path); LogInTwoMethods -> BoringModel (the metric is not used).
import os
import tempfile
from pathlib import Path

import torch
from lightning.pytorch import Trainer, seed_everything
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.demos.boring_classes import BoringModel


def test_model_checkpoint_topk_all(tmp_path):
    """Tests that save_top_k=-1 tracks the best models when monitor key is provided."""
    seed_everything(1000)
    epochs = 3

    model = BoringModel()
    checkpoint_callback = ModelCheckpoint(
        dirpath=tmp_path, filename="{epoch}", monitor="epoch", mode="max", save_top_k=-1
    )
    trainer = Trainer(
        default_root_dir=tmp_path,
        callbacks=[checkpoint_callback],
        max_epochs=epochs,
        logger=False,
        val_check_interval=1.0,
        limit_train_batches=4,
        limit_val_batches=2,
    )
    trainer.fit(model)

    assert checkpoint_callback.monitor == "epoch"
    assert checkpoint_callback.best_model_path == str(tmp_path / "epoch=2.ckpt")
    assert checkpoint_callback.best_model_score == epochs - 1
    assert len(os.listdir(tmp_path)) == len(checkpoint_callback.best_k_models) == epochs
    assert set(checkpoint_callback.best_k_models.keys()) == {str(tmp_path / f"epoch={i}.ckpt") for i in range(epochs)}
    assert checkpoint_callback.kth_best_model_path == str(tmp_path / "epoch=0.ckpt")


def test_model_checkpoint_save_last_none_monitor(tmp_path):
    """Test that it is possible to save all checkpoints when monitor=None."""
    seed_everything()
    model = BoringModel()

    epochs = 2
    checkpoint_callback = ModelCheckpoint(monitor=None, dirpath=tmp_path, save_top_k=-1, save_last=True)
    trainer = Trainer(
        default_root_dir=tmp_path,
        callbacks=[checkpoint_callback],
        limit_train_batches=10,
        limit_val_batches=10,
        max_epochs=epochs,
        logger=False,
    )
    trainer.fit(model)

    # these should not be set if monitor is None
    assert checkpoint_callback.monitor is None
    assert checkpoint_callback.best_model_path == str(tmp_path / "epoch=1-step=20.ckpt")
    assert checkpoint_callback.last_model_path == str(tmp_path / "last.ckpt")
    assert checkpoint_callback.best_model_score is None
    assert checkpoint_callback.best_k_models == {}
    assert checkpoint_callback.kth_best_model_path == ""

    # check that the correct ckpts were created
    expected = [f"epoch={i}-step={j}.ckpt" for i, j in zip(range(epochs), [10, 20])]
    expected.append("last.ckpt")
    assert set(os.listdir(tmp_path)) == set(expected)

    ckpt = torch.load(tmp_path / "last.ckpt", weights_only=True)
    assert ckpt["epoch"] == 1
    assert ckpt["global_step"] == 20


def test_model_checkpoint_format_checkpoint_name(tmp_path):
    # empty filename:
    ckpt_name = ModelCheckpoint(dirpath=tmp_path).format_checkpoint_name({"epoch": 3, "step": 2})
    assert ckpt_name == str(tmp_path / "epoch=3-step=2.ckpt")
    # with a filename template
    ckpt = ModelCheckpoint(dirpath=tmp_path, filename="{epoch}-{val_loss:.2f}")
    ckpt_name = ckpt.format_checkpoint_name({"epoch": 3, "val_loss": torch.tensor(0.03)})
    assert ckpt_name == str(tmp_path / "epoch=3-val_loss=0.03.ckpt")
    # without auto inserting the metric names
    ckpt = ModelCheckpoint(dirpath=tmp_path, filename="epoch_{epoch:02d}", auto_insert_metric_name=False)
    assert ckpt.format_checkpoint_name({"epoch": 3}) == str(tmp_path / "epoch_03.ckpt")
    # a metric name with a slash
    ckpt = ModelCheckpoint(dirpath=tmp_path, filename="{epoch}-{val/acc:.2f}")
    ckpt_name = ckpt.format_checkpoint_name({"epoch": 3, "val/acc": torch.tensor(0.5)})
    assert ckpt_name == str(tmp_path / "epoch=3-val/acc=0.50.ckpt")


if __name__ == "__main__":
    for fn in (
        test_model_checkpoint_topk_all,
        test_model_checkpoint_save_last_none_monitor,
        test_model_checkpoint_format_checkpoint_name,
    ):
        with tempfile.TemporaryDirectory() as d:
            fn(Path(d))
    print("OK")
