# Source: https://github.com/Lightning-AI/dl-fundamentals/blob/main/unit05-lightning/5.5-datamodules/5.5-part2-datamodules.py
# with its helper module unit05-lightning/5.5-datamodules/shared_utilities.py
# (Sebastian Raschka, Lightning AI "Deep Learning Fundamentals", unit 5.5: organizing data loaders
# with a LightningDataModule; torchmetrics Accuracy logged with prog_bar, `trainer.fit(model=...,
# datamodule=...)`, `trainer.validate(dataloaders=dm.train_dataloader())`, `validate`/`test` with
# `datamodule=dm` after fit).
# Edits (nothing else changed):
#  - shared_utilities.py (PyTorchMLP, LightningModel, MNISTDataModule) inlined above the script;
#  - MNIST (torchvision `datasets.MNIST`, a download, `transforms.ToTensor()`) -> random
#    class-patterned 1x28x28 tensors (1200 train split 1100/100 as the 55000/5000 split, 200 test),
#    so `prepare_data` downloads nothing; torchvision is not installed beside Lightning here;
#  - max_epochs 10 -> 2;
#  - `watermark` (not installed) dropped: its print line.
import lightning as L
import torch
import torch.nn.functional as F
import torchmetrics
from torch.utils.data import DataLoader, TensorDataset
from torch.utils.data.dataset import random_split


def random_mnist(train):
    """MNIST-shaped data: a fixed random pattern per digit plus noise, values in [0, 1]."""
    n = 1200 if train else 200
    patterns = torch.rand(10, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    g = torch.Generator().manual_seed(1 if train else 2)
    labels = torch.randint(0, 10, (n,), generator=g)
    images = (0.7 * patterns[labels] + 0.3 * torch.rand(n, 1, 28, 28, generator=g)).clamp(0, 1)
    return TensorDataset(images, labels)


class PyTorchMLP(torch.nn.Module):
    def __init__(self, num_features, num_classes):
        super().__init__()

        self.all_layers = torch.nn.Sequential(
            # 1st hidden layer
            torch.nn.Linear(num_features, 50),
            torch.nn.ReLU(),
            # 2nd hidden layer
            torch.nn.Linear(50, 25),
            torch.nn.ReLU(),
            # output layer
            torch.nn.Linear(25, num_classes),
        )

    def forward(self, x):
        x = torch.flatten(x, start_dim=1)
        logits = self.all_layers(x)
        return logits


class LightningModel(L.LightningModule):
    def __init__(self, model, learning_rate):
        super().__init__()

        self.learning_rate = learning_rate
        self.model = model

        self.train_acc = torchmetrics.Accuracy(task="multiclass", num_classes=10)
        self.val_acc = torchmetrics.Accuracy(task="multiclass", num_classes=10)
        self.test_acc = torchmetrics.Accuracy(task="multiclass", num_classes=10)

    def forward(self, x):
        return self.model(x)

    def _shared_step(self, batch):
        features, true_labels = batch
        logits = self(features)

        loss = F.cross_entropy(logits, true_labels)
        predicted_labels = torch.argmax(logits, dim=1)
        return loss, true_labels, predicted_labels

    def training_step(self, batch, batch_idx):
        loss, true_labels, predicted_labels = self._shared_step(batch)

        self.log("train_loss", loss)
        self.train_acc(predicted_labels, true_labels)
        self.log(
            "train_acc", self.train_acc, prog_bar=True, on_epoch=True, on_step=False
        )
        return loss

    def validation_step(self, batch, batch_idx):
        loss, true_labels, predicted_labels = self._shared_step(batch)

        self.log("val_loss", loss, prog_bar=True)
        self.val_acc(predicted_labels, true_labels)
        self.log("val_acc", self.val_acc, prog_bar=True)

    def test_step(self, batch, batch_idx):
        _, true_labels, predicted_labels = self._shared_step(batch)
        self.test_acc(predicted_labels, true_labels)
        self.log("test_acc", self.test_acc)

    def configure_optimizers(self):
        optimizer = torch.optim.SGD(self.parameters(), lr=self.learning_rate)
        return optimizer


# NEW !!!


class MNISTDataModule(L.LightningDataModule):
    def __init__(self, data_dir="./mnist", batch_size=64):
        super().__init__()
        self.data_dir = data_dir
        self.batch_size = batch_size

    def prepare_data(self):
        # download
        random_mnist(train=True)
        random_mnist(train=False)

    def setup(self, stage: str):
        self.mnist_test = random_mnist(train=False)
        self.mnist_predict = random_mnist(train=False)
        mnist_full = random_mnist(train=True)
        self.mnist_train, self.mnist_val = random_split(mnist_full, [1100, 100], generator=torch.Generator().manual_seed(42))

    def train_dataloader(self):
        return DataLoader(
            self.mnist_train, batch_size=self.batch_size, shuffle=True, drop_last=True
        )

    def val_dataloader(self):
        return DataLoader(self.mnist_val, batch_size=self.batch_size, shuffle=False)

    def test_dataloader(self):
        return DataLoader(self.mnist_test, batch_size=self.batch_size, shuffle=False)

    def predict_dataloader(self):
        return DataLoader(self.mnist_predict, batch_size=self.batch_size, shuffle=False)


# Unit 5.5. Organizing Your Data Loaders with Data Modules

if __name__ == "__main__":

    print("Torch CUDA available?", torch.cuda.is_available())

    torch.manual_seed(123)

    # NEW !!!
    dm = MNISTDataModule()

    pytorch_model = PyTorchMLP(num_features=784, num_classes=10)

    lightning_model = LightningModel(model=pytorch_model, learning_rate=0.05)

    trainer = L.Trainer(
        max_epochs=2, accelerator="cpu", devices="auto", deterministic=True
    )

    # NEW !!!
    # trainer.fit(model=lightning_model,
    #             train_dataloaders=train_loader, val_dataloaders=val_loader)
    trainer.fit(model=lightning_model, datamodule=dm)

    train_acc = trainer.validate(dataloaders=dm.train_dataloader())[0]["val_acc"]
    val_acc = trainer.validate(datamodule=dm)[0]["val_acc"]
    test_acc = trainer.test(datamodule=dm)[0]["test_acc"]
    print(
        f"Train Acc {train_acc*100:.2f}%"
        f" | Val Acc {val_acc*100:.2f}%"
        f" | Test Acc {test_acc*100:.2f}%"
    )


PATH = "lightning.pt"
torch.save(pytorch_model.state_dict(), PATH)

# To load model:
# model = PyTorchMLP(num_features=784, num_classes=10)
# model.load_state_dict(torch.load(PATH))
# model.eval()
