# Source: https://lightning.ai/docs/pytorch/stable/common/checkpointing_intermediate.html and
#   https://lightning.ai/docs/pytorch/stable/common/checkpointing_advanced.html
#   (pytorch-lightning docs/source-pytorch/common/checkpointing_intermediate.rst,
#   checkpointing_advanced.rst; Apache-2.0, Copyright The Lightning AI team)
# Edits: the pages' snippets joined into one program with a small classifier on random tensors
#   (the pages' `LitModel`/`LitAutoEncoder`/`MyLightningModule` bodies filled in); paths
#   "my/path/" and "example.ckpt" under the working folder; every ModelCheckpoint the pages build
#   is run for a few epochs and its files are asserted (the pages' `save_top_k=10` with 3 epochs,
#   the "last-K" one monitoring a logged `global_step`, `every_n_train_steps`, `every_n_epochs`,
#   `train_time_interval`, `save_on_train_epoch_end`, `save_last`, `save_weights_only`);
#   `trainer.save_checkpoint` (also with `weights_only=True`) and `load_from_checkpoint`; the
#   custom saving under `rank_zero_only`; the cloud pages' `default_root_dir`/`ckpt_path` with
#   local folders ("s3://..." needs an account); `on_save_checkpoint`/`on_load_checkpoint` of
#   the LightningModule and of a Callback (the page writes the callback's hooks as
#   `(self, checkpoint)`; Lightning calls them with `(trainer, pl_module, checkpoint)`, so they
#   take those, and the "pickable object" is a dict of plain values).
import glob
import os
from datetime import timedelta

import lightning as L
import torch
import torch.nn.functional as F
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.utilities import rank_zero_only
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


def loader(n=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return DataLoader(TensorDataset(torch.randn(n, 8, generator=g), torch.randint(0, 3, (n,), generator=g)), batch_size=8)


class LitAutoEncoder(LightningModule):
    def __init__(self, hidden=16):
        super().__init__()
        self.save_hyperparameters()
        self.backbone = nn.Sequential(nn.Linear(8, hidden), nn.ReLU(), nn.Linear(hidden, 3))
        self.loaded_cool = None

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = F.cross_entropy(self.backbone(x), y)
        self.log("my_metric", loss)
        # make sure you log it inside your LightningModule
        self.log("global_step", float(self.global_step))
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        y_hat = self.backbone(x)

        # 1. calculate loss
        loss = F.cross_entropy(y_hat, y)

        # 2. log val_loss
        self.log("val_loss", loss)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)

    def on_save_checkpoint(self, checkpoint):
        checkpoint["something_cool_i_want_to_save"] = {"epoch": self.current_epoch, "name": "cool"}

    def on_load_checkpoint(self, checkpoint):
        self.loaded_cool = checkpoint["something_cool_i_want_to_save"]


class LitCallback(L.Callback):
    def __init__(self):
        self.loaded = None

    def on_save_checkpoint(self, trainer, pl_module, checkpoint):
        checkpoint["callback_cool"] = {"step": trainer.global_step}

    def on_load_checkpoint(self, trainer, pl_module, checkpoint):
        self.loaded = checkpoint["callback_cool"]


def fit(callbacks, max_epochs=3, **kwargs):
    model = LitAutoEncoder()
    trainer = Trainer(callbacks=callbacks, max_epochs=max_epochs, logger=False, enable_progress_bar=False, **kwargs)
    trainer.fit(model, loader(), loader(16, seed=1))
    return trainer, model


def names(folder):
    return sorted(os.path.basename(p) for p in glob.glob(os.path.join(folder, "*.ckpt")))


if __name__ == "__main__":
    # Modify checkpointing behavior
    checkpoint_callback = ModelCheckpoint(dirpath="my/path/", save_top_k=2, monitor="val_loss")
    trainer, model = fit([checkpoint_callback])
    assert len(names("my/path/")) == 2, names("my/path/")
    assert os.path.basename(checkpoint_callback.best_model_path) in names("my/path/")
    # Access best and last model checkpoint directly from the callback
    print(checkpoint_callback.best_model_path)
    print(checkpoint_callback.last_model_path)
    # Or via the trainer
    assert trainer.checkpoint_callback.best_model_path == checkpoint_callback.best_model_path
    assert trainer.checkpoint_callback.last_model_path == checkpoint_callback.last_model_path
    assert checkpoint_callback.last_model_path == "", checkpoint_callback.last_model_path  # no save_last

    # 'my_metric' is now able to be monitored
    checkpoint_callback = ModelCheckpoint(dirpath="my_metric", monitor="my_metric")
    fit([checkpoint_callback])
    assert len(names("my_metric")) == 1 and checkpoint_callback.best_model_score is not None

    # When: every_n_train_steps, every_n_epochs, train_time_interval, save_on_train_epoch_end
    cb = ModelCheckpoint(dirpath="steps", every_n_train_steps=5, save_top_k=-1)
    fit([cb])
    assert names("steps") == ["epoch=1-step=5.ckpt", "epoch=2-step=10.ckpt"], names("steps")
    cb = ModelCheckpoint(dirpath="epochs", every_n_epochs=2, save_top_k=-1)
    fit([cb], max_epochs=4)
    assert names("epochs") == ["epoch=1-step=8.ckpt", "epoch=3-step=16.ckpt"], names("epochs")
    cb = ModelCheckpoint(dirpath="timed", train_time_interval=timedelta(hours=1))
    fit([cb], max_epochs=1)
    assert names("timed") == [], names("timed")  # an hour has not passed
    cb = ModelCheckpoint(dirpath="train_end", monitor="my_metric", save_on_train_epoch_end=True)
    fit([cb], max_epochs=2)
    assert len(names("train_end")) == 1

    # Which: save_last, top-K on val_loss, last-K on global_step
    cb = ModelCheckpoint(dirpath="last", save_last=True, monitor="val_loss")
    fit([cb])
    assert "last.ckpt" in names("last") and len(names("last")) == 2, names("last")
    assert cb.last_model_path.endswith("last.ckpt")

    # saves top-K checkpoints based on "val_loss" metric
    checkpoint_callback = ModelCheckpoint(
        save_top_k=10,
        monitor="val_loss",
        mode="min",
        dirpath="my/topk/",
        filename="sample-mnist-{epoch:02d}-{val_loss:.2f}",
    )
    fit([checkpoint_callback])
    files = names("my/topk/")
    assert len(files) == 3 and all(f.startswith("sample-mnist-epoch=0") for f in files), files
    assert len(checkpoint_callback.best_k_models) == 3

    # saves last-K checkpoints based on "global_step" metric
    checkpoint_callback = ModelCheckpoint(
        save_top_k=2,
        monitor="global_step",
        mode="max",
        dirpath="my/lastk/",
        filename="sample-mnist-{epoch:02d}-{global_step}",
    )
    fit([checkpoint_callback])
    assert names("my/lastk/") == [
        "sample-mnist-epoch=01-global_step=7.0.ckpt",
        "sample-mnist-epoch=02-global_step=11.0.ckpt",
    ], names("my/lastk/")

    # What: save_weights_only
    cb = ModelCheckpoint(dirpath="weights", save_weights_only=True)
    fit([cb], max_epochs=1)
    ckpt = torch.load(cb.best_model_path, weights_only=True)
    assert "state_dict" in ckpt and "optimizer_states" not in ckpt and "callbacks" not in ckpt, sorted(ckpt)
    assert LitAutoEncoder.load_from_checkpoint(cb.best_model_path).hparams.hidden == 16

    # Where: saves a file like: my/path/sample-mnist-epoch=02-val_loss=0.32.ckpt
    checkpoint_callback = ModelCheckpoint(
        dirpath="my/where/",
        filename="sample-mnist-{epoch:02d}-{val_loss:.2f}",
    )
    fit([checkpoint_callback])
    (only,) = names("my/where/")
    assert only.startswith("sample-mnist-epoch=02-val_loss=") and only.endswith(".ckpt"), only

    # Save checkpoints manually
    model = LitAutoEncoder(hidden=12)
    trainer = Trainer(max_epochs=1, logger=False, enable_checkpointing=False, enable_progress_bar=False)
    trainer.fit(model, loader())
    trainer.save_checkpoint("example.ckpt")
    # load the checkpoint later as normal
    new_model = LitAutoEncoder.load_from_checkpoint(checkpoint_path="example.ckpt")
    assert new_model.hparams.hidden == 12
    assert new_model.loaded_cool == {"epoch": 1, "name": "cool"}, new_model.loaded_cool
    for a, b in zip(model.parameters(), new_model.parameters()):
        assert torch.equal(a, b)
    trainer.save_checkpoint("weights_only.ckpt", weights_only=True)
    assert "optimizer_states" not in torch.load("weights_only.ckpt", weights_only=True)

    # custom saving functions: only on the main process
    @rank_zero_only
    def save_my_way(module, path):
        torch.save(module.state_dict(), path)

    save_my_way(model, "my_way.pt")
    assert os.path.exists("my_way.pt")

    # Cloud-based checkpoints, with a local folder: default_root_dir, then resume from ckpt_path
    model = LitAutoEncoder()
    trainer = Trainer(default_root_dir="data/", max_epochs=1, callbacks=[LitCallback()], logger=False, enable_progress_bar=False)
    trainer.fit(model, loader())
    (saved,) = glob.glob("data/checkpoints/*.ckpt")
    model = LitAutoEncoder()
    callback = LitCallback()
    trainer = Trainer(default_root_dir="resumed", max_steps=6, callbacks=[callback], logger=False, enable_progress_bar=False)
    trainer.fit(model, loader(), ckpt_path=saved)
    assert trainer.global_step == 6
    assert model.loaded_cool == {"epoch": 0, "name": "cool"}, model.loaded_cool  # saved in epoch 0's end
    assert callback.loaded == {"step": 4}, callback.loaded
    trainer.save_checkpoint("with_callback.ckpt")
    callback2 = LitCallback()
    trainer = Trainer(max_steps=8, callbacks=[callback2], logger=False, enable_progress_bar=False)
    trainer.fit(LitAutoEncoder(), loader(), ckpt_path="with_callback.ckpt")
    assert callback2.loaded == {"step": 6}, callback2.loaded
    print("OK")
