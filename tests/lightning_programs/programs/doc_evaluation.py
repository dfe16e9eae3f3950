# Source: https://lightning.ai/docs/pytorch/stable/common/evaluation_intermediate.html
#   (pytorch-lightning docs/source-pytorch/common/evaluation_intermediate.rst; Apache-2.0,
#   Copyright The Lightning AI team)
# Edits: the page's snippets joined into one program; its `LitModel`/`GANModel`/
#   `MyLightningModule`/`MyDataModule` filled in as small models and a DataModule of random
#   tensors; `Trainer(...)` given small limits, a temp folder, a `ModelCheckpoint(save_last=True,
#   monitor="val_loss")` so that "best" and "last" both exist; paths are the run's own; asserts
#   on what the page says happens.
import os
import tempfile

import lightning.pytorch as pl
import torch
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.callbacks import ModelCheckpoint
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


def data(n=64):
    g = torch.Generator().manual_seed(n)  # the same tensors at each call
    return TensorDataset(torch.randn(n, 8, generator=g), torch.randint(0, 2, (n,), generator=g))


class LitModel(LightningModule):
    def __init__(self, hidden: int = 16, lr: float = 0.05):
        super().__init__()
        self.save_hyperparameters()
        self.net = nn.Sequential(nn.Linear(8, hidden), nn.ReLU(), nn.Linear(hidden, 2))

    def forward(self, x):
        return self.net(x)

    def _loss(self, batch):
        x, y = batch
        return nn.functional.cross_entropy(self(x), y)

    def training_step(self, batch, batch_idx):
        return self._loss(batch)

    def validation_step(self, batch, batch_idx):
        self.log("val_loss", self._loss(batch))

    def test_step(self, batch, batch_idx, dataloader_idx=0):
        self.log("test_loss", self._loss(batch))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)

    def train_dataloader(self):
        return DataLoader(data(), batch_size=16)

    def val_dataloader(self):
        return DataLoader(data(32), batch_size=16)

    def test_dataloader(self):
        return DataLoader(data(32), batch_size=16)


class GANModel(LitModel):
    pass


MyLightningModule = LitModel


class MyDataModule(pl.LightningDataModule):
    def test_dataloader(self):
        return DataLoader(data(48), batch_size=16)

    def val_dataloader(self):
        return DataLoader(data(48), batch_size=16)


with tempfile.TemporaryDirectory() as root:
    model = LitModel()
    checkpoint = ModelCheckpoint(monitor="val_loss", save_last=True)
    trainer = Trainer(max_epochs=3, default_root_dir=root, callbacks=[checkpoint], enable_progress_bar=False)

    # run full training
    trainer.fit(model)

    # (1) load the best checkpoint automatically (lightning tracks this for you)
    best = trainer.test(ckpt_path="best")
    assert trainer.ckpt_path == checkpoint.best_model_path, trainer.ckpt_path

    # (2) load the last available checkpoint
    last = trainer.test(ckpt_path="last")
    assert trainer.ckpt_path == checkpoint.last_model_path, trainer.ckpt_path

    # (3) test using a specific checkpoint
    trainer.test(ckpt_path=checkpoint.best_model_path)
    assert trainer.ckpt_path == checkpoint.best_model_path

    # (4) test with an explicit model (will use this model and not load a checkpoint)
    explicit = trainer.test(model)
    assert trainer.ckpt_path is None
    assert set(best[0]) == set(last[0]) == set(explicit[0]) == {"test_loss"}

    # Test Multiple Models
    model1 = LitModel()
    model2 = GANModel()

    trainer = Trainer(default_root_dir=root, enable_progress_bar=False)
    r1 = trainer.test(model1)
    r2 = trainer.test(model2)
    assert r1[0]["test_loss"] != r2[0]["test_loss"]

    # Test Pre-Trained Model
    log_dir = checkpoint.best_model_path.split(os.sep + "checkpoints")[0]
    model = MyLightningModule.load_from_checkpoint(
        checkpoint_path=checkpoint.best_model_path,
        hparams_file=os.path.join(log_dir, "hparams.yaml"),
        map_location=None,
    )
    assert model.hparams.hidden == 16 and model.hparams.lr == 0.05

    # init trainer with whatever options
    trainer = Trainer(default_root_dir=root, enable_progress_bar=False)

    # test (pass in the model)
    assert trainer.test(model)[0]["test_loss"] == best[0]["test_loss"]

    # Test with Additional DataLoaders
    test_dataloader = DataLoader(data(16), batch_size=8)
    trainer.test(model, dataloaders=test_dataloader)
    results = trainer.test(model, dataloaders=[test_dataloader, DataLoader(data(8), batch_size=8)])
    assert len(results) == 2 and set(results[1]) == {"test_loss/dataloader_idx_1"}, results

    # setup your datamodule
    dm = MyDataModule()

    # test (pass in datamodule)
    trainer.test(model, datamodule=dm)

    # Validation: same API as .test
    (v,) = trainer.validate(model, datamodule=dm)
    assert set(v) == {"val_loss"}
    (v,) = trainer.validate(model, dataloaders=test_dataloader)
    assert set(v) == {"val_loss"}

print("OK")
