# Source: https://github.com/Lightning-AI/pytorch-lightning/blob/master/tests/tests_pytorch/core/test_datamodules.py
#   (test_can_prepare_data-style hook calls, test_dm_checkpoint_save_and_load, test_full_loop,
#    test_dm_reload_dataloaders_every_n_epochs-free basic hooks)
# Edits: tests turned into a __main__ program asserting what they asserted; tmp_path -> a
#   tempfile dir; ClassifDataModule / ClassificationModel (tests_pytorch.helpers, built on
#   sklearn) -> small inline torch versions on a separable random problem; the private
#   `_checkpoint_connector._restore_modules_and_callbacks` replaced by `trainer.fit(ckpt_path=)`.
import tempfile
from typing import Any

import torch
import torch.nn.functional as F
from lightning.pytorch import LightningDataModule, LightningModule, Trainer, seed_everything
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.demos.boring_classes import BoringDataModule, BoringModel
from torch.utils.data import DataLoader, TensorDataset


class ClassifDataModule(LightningDataModule):
    def __init__(self, num_features=16, length=400, num_classes=3, batch_size=20):
        super().__init__()
        self.num_features, self.length, self.num_classes, self.batch_size = num_features, length, num_classes, batch_size

    def setup(self, stage: str) -> None:
        g = torch.Generator().manual_seed(0)
        centers = torch.randn(self.num_classes, self.num_features, generator=g) * 4
        y = torch.randint(0, self.num_classes, (self.length,), generator=g)
        x = centers[y] + torch.randn(self.length, self.num_features, generator=g)
        n = self.length // 4
        self.train = TensorDataset(x[: 2 * n], y[: 2 * n])
        self.val = TensorDataset(x[2 * n : 3 * n], y[2 * n : 3 * n])
        self.test = TensorDataset(x[3 * n :], y[3 * n :])

    def train_dataloader(self):
        return DataLoader(self.train, batch_size=self.batch_size, shuffle=True)

    def val_dataloader(self):
        return DataLoader(self.val, batch_size=self.batch_size)

    def test_dataloader(self):
        return DataLoader(self.test, batch_size=self.batch_size)


class ClassificationModel(LightningModule):
    def __init__(self, num_features=16, num_classes=3, lr=0.01):
        super().__init__()
        self.lr = lr
        self.layer = torch.nn.Sequential(torch.nn.Linear(num_features, 32), torch.nn.ReLU(), torch.nn.Linear(32, num_classes))

    def forward(self, x):
        return self.layer(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        logits = self(x)
        loss = F.cross_entropy(logits, y)
        self.log("train_loss", loss, prog_bar=True)
        self.log("train_acc", (logits.argmax(-1) == y).float().mean(), prog_bar=True)
        return {"loss": loss}

    def validation_step(self, batch, batch_idx):
        x, y = batch
        logits = self(x)
        self.log("val_loss", F.cross_entropy(logits, y), prog_bar=False)
        self.log("val_acc", (logits.argmax(-1) == y).float().mean(), prog_bar=True)

    def test_step(self, batch, batch_idx):
        x, y = batch
        logits = self(x)
        self.log("test_loss", F.cross_entropy(logits, y), prog_bar=False)
        self.log("test_acc", (logits.argmax(-1) == y).float().mean(), prog_bar=True)

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=self.lr)


def test_hooks_called(tmp_path):
    calls = []

    class DM(BoringDataModule):
        def prepare_data(self):
            calls.append("prepare_data")
            super().prepare_data()

        def setup(self, stage):
            calls.append("setup_" + stage)
            super().setup(stage)

        def teardown(self, stage):
            calls.append("teardown_" + stage)

    dm = DM()
    trainer = Trainer(default_root_dir=tmp_path, max_epochs=1, limit_train_batches=2, limit_val_batches=2, limit_test_batches=2, limit_predict_batches=2, enable_model_summary=False)
    trainer.fit(BoringModel(), datamodule=dm)
    assert trainer.datamodule is dm
    trainer.validate(datamodule=dm)
    trainer.test(datamodule=dm)
    trainer.predict(BoringModel(), datamodule=dm)
    assert calls == [
        "prepare_data", "setup_fit", "teardown_fit",
        "prepare_data", "setup_validate", "teardown_validate",
        "prepare_data", "setup_test", "teardown_test",
        "prepare_data", "setup_predict", "teardown_predict",
    ], calls


def test_dm_checkpoint_save_and_load(tmp_path):
    class CustomBoringModel(BoringModel):
        def validation_step(self, batch, batch_idx):
            out = super().validation_step(batch, batch_idx)
            self.log("early_stop_on", out["x"])
            return out

    class CustomBoringDataModule(BoringDataModule):
        def state_dict(self) -> dict[str, Any]:
            return {"my": "state_dict"}

        def load_state_dict(self, state_dict: dict[str, Any]) -> None:
            self.my_state_dict = state_dict

    dm = CustomBoringDataModule()
    model = CustomBoringModel()

    trainer = Trainer(
        default_root_dir=tmp_path,
        max_epochs=1,
        limit_train_batches=2,
        limit_val_batches=1,
        enable_model_summary=False,
        callbacks=[ModelCheckpoint(dirpath=tmp_path, monitor="early_stop_on")],
    )

    # fit model
    trainer.fit(model, datamodule=dm)
    assert trainer.state.finished, f"Training failed with {trainer.state}"
    checkpoint_path = list(trainer.checkpoint_callback.best_k_models.keys())[0]
    checkpoint = torch.load(checkpoint_path, weights_only=True)
    assert dm.__class__.__qualname__ in checkpoint
    assert checkpoint[dm.__class__.__qualname__] == {"my": "state_dict"}

    dm2 = CustomBoringDataModule()
    trainer = Trainer(default_root_dir=tmp_path, max_epochs=2, limit_train_batches=2, limit_val_batches=1, enable_model_summary=False)
    trainer.fit(CustomBoringModel(), datamodule=dm2, ckpt_path=checkpoint_path)
    assert dm2.my_state_dict == {"my": "state_dict"}


def test_full_loop(tmp_path):
    seed_everything(7)

    dm = ClassifDataModule()
    model = ClassificationModel()
    trainer = Trainer(default_root_dir=tmp_path, max_epochs=3, enable_model_summary=False, deterministic="warn")

    # fit model
    trainer.fit(model, dm)
    assert trainer.state.finished, f"Training failed with {trainer.state}"
    assert dm.trainer is not None

    # validate
    result = trainer.validate(model, dm)
    assert dm.trainer is not None
    assert result[0]["val_acc"] > 0.6

    # test
    result = trainer.test(model, dm)
    assert result[0]["test_acc"] > 0.57


if __name__ == "__main__":
    for fn in (test_hooks_called, test_dm_checkpoint_save_and_load, test_full_loop):
        with tempfile.TemporaryDirectory() as d:
            fn(d)
    print("OK")
