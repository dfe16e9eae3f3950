# Source: https://lightning.ai/docs/pytorch/stable/data/datamodule.html
#   (docs/source-pytorch/data/datamodule.rst: the MNISTDataModule, "Using a DataModule",
#    fit/validate/test/predict with a datamodule, using it by hand (prepare_data/setup(stage)),
#    DataModule state in checkpoints, LightningDataModule.from_datasets, hyperparameters in
#    DataModules)
# Edits: torchvision's MNIST -> random 1x28x28 images with labels (prepare_data writes them,
#   setup reads them); the 55000/5000 split -> 224/32; the page's `LitClassifier`/`Model` filled
#   in as a small classifier; asserts on what the page says happens.
import os
import tempfile

import lightning as L
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset, random_split


def MNIST(data_dir, train=True, download=False):
    path = os.path.join(data_dir, "train.pt" if train else "test.pt")
    if download and not os.path.exists(path):
        g = torch.Generator().manual_seed(0 if train else 1)
        n = 256 if train else 64
        torch.save((torch.rand(n, 1, 28, 28, generator=g), torch.randint(0, 10, (n,), generator=g)), path)
    x, y = torch.load(path)
    return TensorDataset(x, y)


class MNISTDataModule(L.LightningDataModule):
    def __init__(self, data_dir: str = "path/to/dir", batch_size: int = 32):
        super().__init__()
        self.data_dir = data_dir
        self.batch_size = batch_size
        self.num_classes = 10
        self.dims = (1, 28, 28)
        self.steps = 0

    def prepare_data(self):
        # download
        MNIST(self.data_dir, train=True, download=True)
        MNIST(self.data_dir, train=False, download=True)

    def setup(self, stage: str):
        # Assign train/val datasets for use in dataloaders
        if stage == "fit":
            mnist_full = MNIST(self.data_dir, train=True)
            self.mnist_train, self.mnist_val = random_split(mnist_full, [224, 32], generator=torch.Generator().manual_seed(42))

        # Assign test dataset for use in dataloader(s)
        if stage == "test":
            self.mnist_test = MNIST(self.data_dir, train=False)

        if stage == "predict":
            self.mnist_predict = MNIST(self.data_dir, train=False)

    def train_dataloader(self):
        return DataLoader(self.mnist_train, batch_size=self.batch_size)

    def val_dataloader(self):
        return DataLoader(self.mnist_val, batch_size=self.batch_size)

    def test_dataloader(self):
        return DataLoader(self.mnist_test, batch_size=self.batch_size)

    def predict_dataloader(self):
        return DataLoader(self.mnist_predict, batch_size=self.batch_size)

    def on_before_batch_transfer(self, batch, dataloader_idx):
        x, y = batch
        return x.flatten(1), y

    def state_dict(self):
        # track whatever you want here
        state = {"current_train_batch_index": self.steps}
        return state

    def load_state_dict(self, state_dict):
        # restore the state based on what you tracked in (def state_dict)
        self.steps = state_dict["current_train_batch_index"]


class LitClassifier(L.LightningModule):
    def __init__(self, num_classes=10, width=28):
        super().__init__()
        self.net = nn.Linear(width * width, num_classes)

    def forward(self, x):
        return self.net(x)

    def on_train_batch_end(self, outputs, batch, batch_idx):
        if isinstance(self.trainer.datamodule, MNISTDataModule):
            self.trainer.datamodule.steps += 1

    def training_step(self, batch, batch_idx):
        x, y = batch
        assert x.dim() == 2  # flattened by the datamodule's on_before_batch_transfer
        return nn.functional.cross_entropy(self(x), y)

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val_loss", nn.functional.cross_entropy(self(x), y))

    def test_step(self, batch, batch_idx):
        x, y = batch
        self.log("test_acc", (self(x).argmax(-1) == y).float().mean())

    def predict_step(self, batch, batch_idx):
        x, y = batch
        return self(x).argmax(-1)

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=1e-3)


class HparamsDataModule(L.LightningDataModule):
    def __init__(self, batch_size: int = 8, *args, **kwargs):
        super().__init__()
        self.save_hyperparameters()
        # Now possible to access batch_size from hparams
        self.hparams.batch_size


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as d:
        dm = MNISTDataModule(d)
        model = LitClassifier()
        trainer = L.Trainer(max_epochs=2, default_root_dir=d)
        trainer.fit(model, datamodule=dm)
        assert dm.steps == 2 * 7

        trainer.validate(datamodule=dm)
        results = trainer.test(datamodule=dm)
        assert set(results[0]) == {"test_acc"}
        predictions = trainer.predict(datamodule=dm)
        assert len(predictions) == 2 and predictions[0].shape == (32,)

        # the datamodule's state is in the checkpoint and restored with it
        ckpt = os.path.join(d, "lightning_logs", "version_0", "checkpoints", "epoch=1-step=14.ckpt")
        checkpoint = torch.load(ckpt)
        assert checkpoint["MNISTDataModule"] == {"current_train_batch_index": 14}
        dm2 = MNISTDataModule(d)
        trainer = L.Trainer(max_epochs=3, default_root_dir=d)
        trainer.fit(LitClassifier(), datamodule=dm2, ckpt_path=ckpt)
        assert dm2.steps == 14 + 7

        # using a DataModule by hand
        dm = MNISTDataModule(d)
        dm.prepare_data()
        dm.setup(stage="fit")
        model = LitClassifier(num_classes=dm.num_classes, width=dm.dims[1])
        trainer = L.Trainer(max_epochs=1, default_root_dir=d)
        trainer.fit(model, dm)
        dm.setup(stage="test")
        trainer.test(datamodule=dm)

        # from_datasets
        x = torch.rand(64, 784)
        y = torch.randint(0, 10, (64,))
        dm = L.LightningDataModule.from_datasets(train_dataset=TensorDataset(x, y), val_dataset=TensorDataset(x, y), batch_size=16)
        trainer = L.Trainer(max_epochs=1, default_root_dir=d)
        trainer.fit(LitClassifier(), datamodule=dm)
        assert trainer.global_step == 4

        # hyperparameters in DataModules
        dm = HparamsDataModule(batch_size=4)
        assert dm.hparams.batch_size == 4
    print("OK")
