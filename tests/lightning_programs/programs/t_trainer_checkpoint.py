# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/checkpointing/test_trainer_checkpoint.py
#   (test_finetuning_with_ckpt_path, test_trainer_save_checkpoint_storage_options)
# (Apache-2.0, Copyright The Lightning AI team)
# Edits: the tests run from a __main__ program; tmp_path -> a tempfile dir; pytest.raises ->
#   try/except. In test_trainer_save_checkpoint_storage_options the patches of
#   `TorchCheckpointIO.save_checkpoint`, of the strategy's `save_checkpoint` and of the private
#   `trainer._checkpoint_connector.dump_checkpoint` (Lightning internals) left out: the program
#   saves through the default CheckpointIO instead (the positional `weights_only`/
#   `storage_options` forms, and `storage_options` refused by it with the message the test
#   matches); `TorchCheckpointIO`/`XLACheckpointIO` constructed by hand left out (they are
#   `lightning.fabric`'s, and the XLA one needs torch_xla, whose presence the test fakes).
import os
import tempfile
from pathlib import Path

import lightning.pytorch as pl
import torch
from lightning.pytorch import Trainer
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.demos.boring_classes import BoringModel


def test_finetuning_with_ckpt_path(tmp_path):
    """This test validates that generated ModelCheckpoint is pointing to the right best_model_path during test."""
    checkpoint_callback = ModelCheckpoint(monitor="val_loss", dirpath=tmp_path, filename="{epoch:02d}", save_top_k=-1)

    class ExtendedBoringModel(BoringModel):
        def configure_optimizers(self):
            optimizer = torch.optim.SGD(self.layer.parameters(), lr=0.001)
            lr_scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1)
            return [optimizer], [lr_scheduler]

        def validation_step(self, batch, batch_idx):
            loss = self.step(batch)
            self.log("val_loss", loss, on_epoch=True, prog_bar=True)

    model = ExtendedBoringModel()
    trainer = Trainer(
        default_root_dir=tmp_path,
        max_epochs=1,
        limit_train_batches=12,
        limit_val_batches=6,
        limit_test_batches=12,
        callbacks=[checkpoint_callback],
        logger=False,
    )
    trainer.fit(model)
    assert os.listdir(tmp_path) == ["epoch=00.ckpt"], os.listdir(tmp_path)

    best_model_paths = [checkpoint_callback.best_model_path]
    for idx in range(3, 6):
        # load from checkpoint
        trainer = pl.Trainer(
            default_root_dir=tmp_path,
            max_epochs=idx,
            limit_train_batches=12,
            limit_val_batches=12,
            limit_test_batches=12,
            enable_progress_bar=False,
        )
        trainer.fit(model, ckpt_path=best_model_paths[-1])
        trainer.test()
        best_model_paths.append(trainer.checkpoint_callback.best_model_path)

    for idx, best_model_path in enumerate(best_model_paths):
        if idx == 0:
            assert best_model_path.endswith(f"epoch=0{idx}.ckpt"), best_model_path
        else:
            assert f"epoch={idx + 1}" in best_model_path, (idx, best_model_path)


def test_trainer_save_checkpoint_storage_options(tmp_path):
    """This test validates that storage_options argument is properly passed to ``CheckpointIO``"""
    model = BoringModel()
    trainer = Trainer(
        default_root_dir=tmp_path,
        fast_dev_run=True,
        enable_checkpointing=False,
    )
    trainer.fit(model)
    instance_path = tmp_path / "path.ckpt"
    instance_storage_options = "my instance storage options"

    # edit: the default CheckpointIO itself, in place of mocks of it and of the trainer's internals
    trainer.save_checkpoint(instance_path)
    assert instance_path.is_file()
    instance_path.unlink()
    trainer.save_checkpoint(instance_path, True)
    assert "optimizer_states" not in torch.load(instance_path, weights_only=False)
    trainer.save_checkpoint(instance_path, False, None)
    assert "optimizer_states" in torch.load(instance_path, weights_only=False)
    instance_path.unlink()
    try:
        trainer.save_checkpoint(instance_path, False, instance_storage_options)
    except TypeError as err:
        assert (
            "`Trainer.save_checkpoint(..., storage_options=...)` with `storage_options` arg"
            " is not supported for `TorchCheckpointIO`. Please implement your custom `CheckpointIO`"
            " to define how you'd like to use `storage_options`."
        ) in str(err), err
    else:
        raise AssertionError("no TypeError")
    assert not instance_path.exists()


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        test_finetuning_with_ckpt_path(Path(tmp))
    with tempfile.TemporaryDirectory() as tmp:
        test_trainer_save_checkpoint_storage_options(Path(tmp))
    print("OK")
