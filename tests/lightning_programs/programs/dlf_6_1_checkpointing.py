# Source: https://github.com/Lightning-AI/dl-fundamentals/blob/main/unit06-dl-tips/6.1-checkpointing/6.1-part3-checkpointing.ipynb
# with its helper module unit06-dl-tips/6.1-checkpointing/shared_utilities.py
# (Sebastian Raschka, Lightning AI "Deep Learning Fundamentals", unit 6.1: ModelCheckpoint with
# `save_top_k=1, mode="max", monitor="val_acc", save_last=True`, CSVLogger and its metrics.csv,
# `trainer.test(..., ckpt_path="best")` and `"last"`, `trainer.checkpoint_callback.best_model_path`
# with `LightningModel.load_from_checkpoint(path, learning_rate=0.1, model=pytorch_model)`).
# Edits (nothing else changed):
#  - the notebook's code cells in order as one script; shared_utilities.py's LightningModel,
#    CustomDataset, CustomDataModule and plot_csv_logger inlined above them;
#  - sklearn's make_classification (20000 samples, 100 features, 2 classes) and train_test_split
#    (sklearn is not installed here) -> 2000 random float32 samples of 100 features, labelled by a
#    fixed random linear rule with 5% of labels flipped, split 80/20 then 90/10 as published;
#  - plot_csv_logger: pandas and matplotlib (not installed beside Lightning here) -> the `csv`
#    module: the same per-epoch means of metrics.csv's columns, printed instead of plotted;
#  - max_epochs 10 -> 3; the `%watermark` cell dropped.
import csv

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
import torchmetrics
from lightning.pytorch.loggers import CSVLogger
from torch.utils.data import DataLoader, Dataset


def make_classification(n_samples, n_features, random_state, flip_y=0.05):
    """Stand-in for sklearn's: features and 0/1 labels from a fixed random linear rule."""
    rng = np.random.default_rng(random_state)
    X = rng.normal(size=(n_samples, n_features))
    y = (X @ rng.normal(size=n_features) > 0).astype(np.int64)
    flip = rng.random(n_samples) < flip_y
    y[flip] = 1 - y[flip]
    return X, y


def train_test_split(X, y, test_size, random_state):
    """Stand-in for sklearn's: a shuffled split with ``test_size`` of the rows held out."""
    idx = np.random.default_rng(random_state).permutation(len(y))
    n_test = int(round(len(y) * test_size))
    test, train = idx[:n_test], idx[n_test:]
    return X[train], X[test], y[train], y[test]


class LightningModel(L.LightningModule):
    def __init__(self, model, learning_rate):
        super().__init__()

        self.learning_rate = learning_rate
        self.model = model

        self.train_acc = torchmetrics.Accuracy(task="multiclass", num_classes=2)
        self.val_acc = torchmetrics.Accuracy(task="multiclass", num_classes=2)
        self.test_acc = torchmetrics.Accuracy(task="multiclass", num_classes=2)

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
        loss, true_labels, predicted_labels = self._shared_step(batch)
        self.test_acc(predicted_labels, true_labels)
        self.log("test_acc", self.test_acc)

    def configure_optimizers(self):
        optimizer = torch.optim.SGD(self.parameters(), lr=self.learning_rate)
        return optimizer


class CustomDataset(Dataset):
    def __init__(self, feature_array, label_array, transform=None):

        self.x = feature_array
        self.y = label_array
        self.transform = transform

    def __getitem__(self, index):
        x = self.x[index]
        y = self.y[index]

        if self.transform is not None:
            x = self.transform(x)

        return x, y

    def __len__(self):
        return self.y.shape[0]


class CustomDataModule(L.LightningDataModule):
    def __init__(self, data_dir="./mnist", batch_size=32):
        super().__init__()
        self.data_dir = data_dir
        self.batch_size = batch_size

    def prepare_data(self):
        # download
        pass

    def setup(self, stage: str):

        X, y = make_classification(
            n_samples=2000,
            n_features=100,
            flip_y=0.05,
            random_state=123,
        )

        X_train, X_test, y_train, y_test = train_test_split(
            X, y, test_size=0.2, random_state=123
        )

        X_train, X_val, y_train, y_val = train_test_split(
            X_train, y_train, test_size=0.1, random_state=123
        )

        self.train_dataset = CustomDataset(
            feature_array=X_train.astype(np.float32),
            label_array=y_train.astype(np.int64),
        )

        self.val_dataset = CustomDataset(
            feature_array=X_val.astype(np.float32), label_array=y_val.astype(np.int64)
        )

        self.test_dataset = CustomDataset(
            feature_array=X_test.astype(np.float32), label_array=y_test.astype(np.int64)
        )

    def train_dataloader(self):
        train_loader = DataLoader(
            dataset=self.train_dataset,
            batch_size=self.batch_size,
            shuffle=True,
            drop_last=True,
            num_workers=0,
        )
        return train_loader

    def val_dataloader(self):
        val_loader = DataLoader(
            dataset=self.val_dataset,
            batch_size=self.batch_size,
            shuffle=False,
            num_workers=0,
        )
        return val_loader

    def test_dataloader(self):
        test_loader = DataLoader(
            dataset=self.test_dataset,
            batch_size=self.batch_size,
            shuffle=False,
            num_workers=0,
        )
        return test_loader


def plot_csv_logger(
    csv_path, loss_names=["train_loss", "val_loss"], eval_names=["train_acc", "val_acc"]
):

    with open(csv_path, newline="") as f:
        metrics = list(csv.DictReader(f))

    aggreg_metrics = []
    agg_col = "epoch"
    for i in sorted({int(row[agg_col]) for row in metrics}):
        dfg = [row for row in metrics if int(row[agg_col]) == i]
        agg = {}
        for name in loss_names + eval_names:
            values = [float(row[name]) for row in dfg if row.get(name)]
            # (pandas' mean: NaN where a column has no value in the epoch)
            agg[name] = sum(values) / len(values) if values else float("nan")
        agg[agg_col] = i
        aggreg_metrics.append(agg)

    for agg in aggreg_metrics:
        print(agg)


class PyTorchMLP(torch.nn.Module):
    def __init__(self, num_features, num_classes):
        super().__init__()

        self.all_layers = torch.nn.Sequential(
            # 1st hidden layer
            torch.nn.Linear(num_features, 100),
            torch.nn.ReLU(),
            # 2nd hidden layer
            torch.nn.Linear(100, 50),
            torch.nn.ReLU(),
            # output layer
            torch.nn.Linear(50, num_classes),
        )

    def forward(self, x):
        x = torch.flatten(x, start_dim=1)
        logits = self.all_layers(x)
        return logits


torch.manual_seed(123)

dm = CustomDataModule()

pytorch_model = PyTorchMLP(num_features=100, num_classes=2)

# NEW: ModelCheckpoint Callback

from lightning.pytorch.callbacks import ModelCheckpoint

callbacks = [
    ModelCheckpoint(save_top_k=1, mode="max", monitor="val_acc", save_last=True)
]

lightning_model = LightningModel(model=pytorch_model, learning_rate=0.05)

trainer = L.Trainer(
    callbacks=callbacks,  # New!!!
    max_epochs=3,
    accelerator="cpu",
    devices="auto",
    logger=CSVLogger(save_dir="logs/", name="my-model"),
    deterministic=True,
)

trainer.fit(model=lightning_model, datamodule=dm)

plot_csv_logger(csv_path=f"{trainer.logger.log_dir}/metrics.csv")

# Use the Best Checkpoint

trainer.test(model=lightning_model, datamodule=dm)

trainer.test(model=lightning_model, datamodule=dm, ckpt_path="best")

trainer.test(model=lightning_model, datamodule=dm, ckpt_path="last")

path = trainer.checkpoint_callback.best_model_path

lightning_model = LightningModel.load_from_checkpoint(
    path, learning_rate=0.1, model=pytorch_model
)
lightning_model.eval();

trainer.test(model=lightning_model, datamodule=dm)
