# Source: https://github.com/ashleve/lightning-hydra-template
#   src/models/mnist_module.py (MNISTLitModule), src/models/components/simple_dense_net.py
#   (SimpleDenseNet), src/data/mnist_datamodule.py (MNISTDataModule), the run of src/train.py
#   (fit, then test with ckpt_path=best) with configs/callbacks/default.yaml's callbacks, and
#   tests/test_datamodules.py's checks.
# Edits: hydra dropped: the objects the configs name are built in __main__ (optimizer and
#   scheduler as functools.partial, as hydra's `_partial_: true` gives); torchvision's MNIST ->
#   random 1x28x28 images with labels (prepare_data writes them to data_dir, setup reads them);
#   sizes tiny (train_val_test_split (256, 64, 64), 2 epochs); RichModelSummary/RichProgressBar ->
#   ModelSummary and the default bar (rich is not a treadle dependency); the CSV logger of
#   configs/logger/csv.yaml; a tempfile dir as paths.output_dir; `weights_only=False` given to
#   trainer.test (the hparams hold the net and partials, which torch >= 2.6 will not load
#   otherwise: Lightning 2.6.6 fails without it).
import functools
import os
import tempfile
from typing import Any, Dict, Optional, Tuple

import torch
from lightning import LightningDataModule, LightningModule, Trainer
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint, ModelSummary
from lightning.pytorch.loggers import CSVLogger
from torch import nn
from torch.utils.data import ConcatDataset, DataLoader, Dataset, TensorDataset, random_split
from torchmetrics import MaxMetric, MeanMetric
from torchmetrics.classification.accuracy import Accuracy


class SimpleDenseNet(nn.Module):
    def __init__(self, input_size: int = 784, lin1_size: int = 256, lin2_size: int = 256, lin3_size: int = 256, output_size: int = 10) -> None:
        super().__init__()
        self.model = nn.Sequential(
            nn.Linear(input_size, lin1_size),
            nn.BatchNorm1d(lin1_size),
            nn.ReLU(),
            nn.Linear(lin1_size, lin2_size),
            nn.BatchNorm1d(lin2_size),
            nn.ReLU(),
            nn.Linear(lin2_size, lin3_size),
            nn.BatchNorm1d(lin3_size),
            nn.ReLU(),
            nn.Linear(lin3_size, output_size),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch_size, channels, width, height = x.size()
        x = x.view(batch_size, -1)
        return self.model(x)


def MNIST(root, train=True, download=False, transform=None):
    """Stand-in for torchvision's MNIST: random images saved under root/MNIST."""
    path = os.path.join(root, "MNIST", "train.pt" if train else "test.pt")
    if download and not os.path.exists(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        g = torch.Generator().manual_seed(0 if train else 1)
        n = 320 if train else 64
        torch.save({"x": torch.rand(n, 1, 28, 28, generator=g), "y": torch.randint(0, 10, (n,), generator=g)}, path)
    data = torch.load(path)
    return TensorDataset((data["x"] - 0.1307) / 0.3081, data["y"])


class MNISTDataModule(LightningDataModule):
    def __init__(
        self,
        data_dir: str = "data/",
        train_val_test_split: Tuple[int, int, int] = (55_000, 5_000, 10_000),
        batch_size: int = 64,
        num_workers: int = 0,
        pin_memory: bool = False,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(logger=False)
        self.data_train: Optional[Dataset] = None
        self.data_val: Optional[Dataset] = None
        self.data_test: Optional[Dataset] = None
        self.batch_size_per_device = batch_size

    @property
    def num_classes(self) -> int:
        return 10

    def prepare_data(self) -> None:
        MNIST(self.hparams.data_dir, train=True, download=True)
        MNIST(self.hparams.data_dir, train=False, download=True)

    def setup(self, stage: Optional[str] = None) -> None:
        # Divide batch size by the number of devices.
        if self.trainer is not None:
            if self.hparams.batch_size % self.trainer.world_size != 0:
                raise RuntimeError(
                    f"Batch size ({self.hparams.batch_size}) is not divisible by the number of devices ({self.trainer.world_size})."
                )
            self.batch_size_per_device = self.hparams.batch_size // self.trainer.world_size

        # load and split datasets only if not loaded already
        if not self.data_train and not self.data_val and not self.data_test:
            trainset = MNIST(self.hparams.data_dir, train=True)
            testset = MNIST(self.hparams.data_dir, train=False)
            dataset = ConcatDataset(datasets=[trainset, testset])
            self.data_train, self.data_val, self.data_test = random_split(
                dataset=dataset,
                lengths=self.hparams.train_val_test_split,
                generator=torch.Generator().manual_seed(42),
            )

    def train_dataloader(self) -> DataLoader[Any]:
        return DataLoader(dataset=self.data_train, batch_size=self.batch_size_per_device, num_workers=self.hparams.num_workers, pin_memory=self.hparams.pin_memory, shuffle=True)

    def val_dataloader(self) -> DataLoader[Any]:
        return DataLoader(dataset=self.data_val, batch_size=self.batch_size_per_device, num_workers=self.hparams.num_workers, pin_memory=self.hparams.pin_memory, shuffle=False)

    def test_dataloader(self) -> DataLoader[Any]:
        return DataLoader(dataset=self.data_test, batch_size=self.batch_size_per_device, num_workers=self.hparams.num_workers, pin_memory=self.hparams.pin_memory, shuffle=False)

    def teardown(self, stage: Optional[str] = None) -> None:
        pass

    def state_dict(self) -> Dict[Any, Any]:
        return {}

    def load_state_dict(self, state_dict: Dict[str, Any]) -> None:
        pass


class MNISTLitModule(LightningModule):
    def __init__(
        self,
        net: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        scheduler: torch.optim.lr_scheduler,
        compile: bool,
    ) -> None:
        super().__init__()

        # this line allows to access init params with 'self.hparams' attribute
        # also ensures init params will be stored in ckpt
        self.save_hyperparameters(logger=False)

        self.net = net

        # loss function
        self.criterion = torch.nn.CrossEntropyLoss()

        # metric objects for calculating and averaging accuracy across batches
        self.train_acc = Accuracy(task="multiclass", num_classes=10)
        self.val_acc = Accuracy(task="multiclass", num_classes=10)
        self.test_acc = Accuracy(task="multiclass", num_classes=10)

        # for averaging loss across batches
        self.train_loss = MeanMetric()
        self.val_loss = MeanMetric()
        self.test_loss = MeanMetric()

        # for tracking best so far validation accuracy
        self.val_acc_best = MaxMetric()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def on_train_start(self) -> None:
        # by default lightning executes validation step sanity checks before training starts,
        # so it's worth to make sure validation metrics don't store results from these checks
        self.val_loss.reset()
        self.val_acc.reset()
        self.val_acc_best.reset()

    def model_step(self, batch: Tuple[torch.Tensor, torch.Tensor]) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x, y = batch
        logits = self.forward(x)
        loss = self.criterion(logits, y)
        preds = torch.argmax(logits, dim=1)
        return loss, preds, y

    def training_step(self, batch: Tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss, preds, targets = self.model_step(batch)

        # update and log metrics
        self.train_loss(loss)
        self.train_acc(preds, targets)
        self.log("train/loss", self.train_loss, on_step=False, on_epoch=True, prog_bar=True)
        self.log("train/acc", self.train_acc, on_step=False, on_epoch=True, prog_bar=True)

        # return loss or backpropagation will fail
        return loss

    def on_train_epoch_end(self) -> None:
        pass

    def validation_step(self, batch: Tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        loss, preds, targets = self.model_step(batch)

        # update and log metrics
        self.val_loss(loss)
        self.val_acc(preds, targets)
        self.log("val/loss", self.val_loss, on_step=False, on_epoch=True, prog_bar=True)
        self.log("val/acc", self.val_acc, on_step=False, on_epoch=True, prog_bar=True)

    def on_validation_epoch_end(self) -> None:
        acc = self.val_acc.compute()  # get current val acc
        self.val_acc_best(acc)  # update best so far val acc
        # log `val_acc_best` as a value through `.compute()` method, instead of as a metric object
        # otherwise metric would be reset by lightning after each epoch
        self.log("val/acc_best", self.val_acc_best.compute(), sync_dist=True, prog_bar=True)

    def test_step(self, batch: Tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        loss, preds, targets = self.model_step(batch)

        # update and log metrics
        self.test_loss(loss)
        self.test_acc(preds, targets)
        self.log("test/loss", self.test_loss, on_step=False, on_epoch=True, prog_bar=True)
        self.log("test/acc", self.test_acc, on_step=False, on_epoch=True, prog_bar=True)

    def on_test_epoch_end(self) -> None:
        pass

    def setup(self, stage: str) -> None:
        if self.hparams.compile and stage == "fit":
            self.net = torch.compile(self.net)

    def configure_optimizers(self) -> Dict[str, Any]:
        optimizer = self.hparams.optimizer(params=self.trainer.model.parameters())
        if self.hparams.scheduler is not None:
            scheduler = self.hparams.scheduler(optimizer=optimizer)
            return {
                "optimizer": optimizer,
                "lr_scheduler": {
                    "scheduler": scheduler,
                    "monitor": "val/loss",
                    "interval": "epoch",
                    "frequency": 1,
                },
            }
        return {"optimizer": optimizer}


def test_mnist_datamodule(data_dir, batch_size: int) -> None:
    dm = MNISTDataModule(data_dir=data_dir, batch_size=batch_size, train_val_test_split=(256, 64, 64))
    dm.prepare_data()

    assert not dm.data_train and not dm.data_val and not dm.data_test
    assert os.path.exists(os.path.join(data_dir, "MNIST"))

    dm.setup()
    assert dm.data_train and dm.data_val and dm.data_test
    assert dm.train_dataloader() and dm.val_dataloader() and dm.test_dataloader()

    num_datapoints = len(dm.data_train) + len(dm.data_val) + len(dm.data_test)
    assert num_datapoints == 384

    batch = next(iter(dm.train_dataloader()))
    x, y = batch
    assert len(x) == batch_size
    assert len(y) == batch_size
    assert x.dtype == torch.float32
    assert y.dtype == torch.int64


def train(output_dir: str) -> Dict[str, Any]:
    datamodule = MNISTDataModule(data_dir=os.path.join(output_dir, "data"), batch_size=32, train_val_test_split=(256, 64, 64))
    model = MNISTLitModule(
        net=SimpleDenseNet(input_size=784, lin1_size=64, lin2_size=128, lin3_size=64, output_size=10),
        optimizer=functools.partial(torch.optim.Adam, lr=0.001, weight_decay=0.0),
        scheduler=functools.partial(torch.optim.lr_scheduler.ReduceLROnPlateau, mode="min", factor=0.1, patience=10),
        compile=False,
    )
    callbacks = [
        ModelCheckpoint(
            dirpath=os.path.join(output_dir, "checkpoints"),
            filename="epoch_{epoch:03d}",
            monitor="val/acc",
            mode="max",
            save_last=True,
            auto_insert_metric_name=False,
        ),
        EarlyStopping(monitor="val/acc", patience=100, mode="max"),
        ModelSummary(max_depth=-1),
    ]
    logger = [CSVLogger(save_dir=output_dir, name="csv/", prefix="")]
    trainer = Trainer(
        default_root_dir=output_dir,
        min_epochs=1,
        max_epochs=2,
        accelerator="cpu",
        devices=1,
        check_val_every_n_epoch=1,
        deterministic=False,
        callbacks=callbacks,
        logger=logger,
    )

    trainer.fit(model=model, datamodule=datamodule, ckpt_path=None)
    train_metrics = trainer.callback_metrics

    ckpt_path = trainer.checkpoint_callback.best_model_path
    assert ckpt_path != ""
    trainer.test(model=model, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=False)
    test_metrics = trainer.callback_metrics

    metric_dict = {**train_metrics, **test_metrics}
    return metric_dict


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as d:
        for batch_size in (32, 128):
            test_mnist_datamodule(os.path.join(d, "data"), batch_size)
        metrics = train(d)
        for key in ("train/loss", "train/acc", "val/loss", "val/acc", "val/acc_best", "test/loss", "test/acc"):
            assert key in metrics, (key, sorted(metrics))
        assert 0.0 <= float(metrics["test/acc"]) <= 1.0
        assert sorted(os.listdir(os.path.join(d, "checkpoints"))) == ["epoch_000.ckpt", "epoch_001.ckpt", "last.ckpt"] or "last.ckpt" in os.listdir(os.path.join(d, "checkpoints"))
        assert os.path.isfile(os.path.join(d, "csv", "version_0", "metrics.csv"))
    print("OK")
