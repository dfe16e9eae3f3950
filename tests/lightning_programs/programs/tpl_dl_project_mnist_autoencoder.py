# Source: https://github.com/Lightning-AI/deep-learning-project-template, two of its projects in
#   one file: project/lit_mnist.py (MyModule, LitClassifier with save_hyperparameters() of
#   positional arguments and add_model_specific_args(parent_parser), MNISTDataModule whose setup
#   makes the splits, `trainer.test(datamodule=)` with no model after fit) and
#   project/lit_autoencoder.py (LitAutoEncoder with no validation_step or test_step, fit with a
#   val loader, then `trainer.test(...)`).
# Edits: the two files inlined (cli_main -> mnist_main and autoencoder_main); torchvision's MNIST
#   -> random 1x28x28 images with labels (the 55000/5000 split -> 224/32, test set 32);
#   Trainer.add_argparse_args / Trainer.from_argparse_args (removed in Lightning 2) ->
#   --max_epochs/--accelerator/--default_root_dir added to the parser and `pl.Trainer(...)` built
#   from them; `trainer.test(test_dataloaders=...)` (Lightning 1) -> `dataloaders=`; the
#   autoencoder's test, which fails on Lightning 2.6.6 as published (no test_step), is checked to
#   fail with an error naming test_step instead of printing a result; the argument lists given
#   to parse_args (2 epochs); a tempfile dir as default_root_dir; asserts on the results. Tabs
#   (lit_mnist.py's indentation) -> spaces.
import tempfile
from argparse import ArgumentParser
from typing import Optional

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset, random_split


def MNIST(root, train=True, download=False, transform=None):
    """Stand-in for torchvision's MNIST: random images with labels."""
    g = torch.Generator().manual_seed(0 if train else 1)
    n = 256 if train else 32
    return TensorDataset(torch.rand(n, 1, 28, 28, generator=g), torch.randint(0, 10, (n,), generator=g))


# -- project/lit_mnist.py ---------------------------------------------------------------------
class MyModule(nn.Module):
    """
    Class_Discription
    """

    def __init__(self, hidden_dim) -> None:
        super().__init__()
        self.l1 = torch.nn.Linear(28 * 28, hidden_dim)
        self.l2 = torch.nn.Linear(hidden_dim, 10)

    def forward(self, x):
        x = x.view(x.size(0), -1)
        x = torch.relu(self.l1(x))
        x = torch.relu(self.l2(x))
        return x


class LitClassifier(pl.LightningModule):
    def __init__(self, hidden_dim=128, learning_rate=1e-3):
        super().__init__()
        self.save_hyperparameters()

        self.model = MyModule(self.hparams.hidden_dim)

    def forward(self, x):
        return self.model(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        y_hat = self(x)
        loss = F.cross_entropy(y_hat, y)
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        y_hat = self(x)
        loss = F.cross_entropy(y_hat, y)
        self.log("valid_loss", loss)

    def test_step(self, batch, batch_idx):
        x, y = batch
        y_hat = self(x)
        loss = F.cross_entropy(y_hat, y)
        self.log("test_loss", loss)

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=self.hparams.learning_rate)

    @staticmethod
    def add_model_specific_args(parent_parser):
        parser = ArgumentParser(parents=[parent_parser], add_help=False)
        parser.add_argument("--hidden_dim", type=int, default=128)
        parser.add_argument("--learning_rate", type=float, default=0.0001)
        return parser


class MNISTDataModule(pl.LightningDataModule):
    def __init__(self, data_dir: str = "", batch_size: int = 32):
        super().__init__()
        self.data_dir = data_dir
        self.batch_size = batch_size

    def setup(self, stage: Optional[str] = None):
        dataset = MNIST("", train=True, download=True)
        self.mnist_test = MNIST("", train=False, download=True)
        self.mnist_train, self.mnist_val = random_split(dataset, [224, 32])

    def train_dataloader(self):
        return DataLoader(self.mnist_train, batch_size=self.batch_size)

    def val_dataloader(self):
        return DataLoader(self.mnist_val, batch_size=self.batch_size)

    def test_dataloader(self):
        return DataLoader(self.mnist_test, batch_size=self.batch_size)


def add_trainer_args(parser):
    # (in place of pl.Trainer.add_argparse_args)
    parser.add_argument("--max_epochs", default=None, type=int)
    parser.add_argument("--accelerator", default="auto", type=str)
    parser.add_argument("--default_root_dir", default=None, type=str)
    return parser


def mnist_main(argv, root):
    pl.seed_everything(1234)

    # ------------
    # args
    # ------------
    parser = ArgumentParser()
    parser.add_argument("--batch_size", default=32, type=int)
    parser.add_argument("--num_workers", default=1, type=int)

    parser = add_trainer_args(parser)
    parser = LitClassifier.add_model_specific_args(parser)
    args = parser.parse_args(argv + ["--default_root_dir", root])

    # ------------
    # data
    # ------------
    mnist = MNISTDataModule("")

    # ------------
    # model
    # ------------
    model = LitClassifier(args.hidden_dim, args.learning_rate)

    # ------------
    # training
    # ------------
    trainer = pl.Trainer(max_epochs=args.max_epochs, accelerator=args.accelerator, default_root_dir=args.default_root_dir)
    trainer.fit(model, datamodule=mnist)

    # ------------
    # testing
    # ------------
    result = trainer.test(datamodule=mnist)
    return trainer, model, result


# -- project/lit_autoencoder.py ---------------------------------------------------------------
class LitAutoEncoder(pl.LightningModule):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(28 * 28, 64), nn.ReLU(), nn.Linear(64, 3))
        self.decoder = nn.Sequential(nn.Linear(3, 64), nn.ReLU(), nn.Linear(64, 28 * 28))

    def forward(self, x):
        # in lightning, forward defines the prediction/inference actions
        embedding = self.encoder(x)
        return embedding

    def training_step(self, batch, batch_idx):
        x, y = batch
        x = x.view(x.size(0), -1)
        z = self.encoder(x)
        x_hat = self.decoder(z)
        loss = F.mse_loss(x_hat, x)
        return loss

    def configure_optimizers(self):
        optimizer = torch.optim.Adam(self.parameters(), lr=1e-3)
        return optimizer


def autoencoder_main(argv, root):
    pl.seed_everything(1234)

    # ------------
    # args
    # ------------
    parser = ArgumentParser()
    parser.add_argument("--batch_size", default=32, type=int)
    parser.add_argument("--hidden_dim", type=int, default=128)
    parser = add_trainer_args(parser)
    args = parser.parse_args(argv + ["--default_root_dir", root])

    # ------------
    # data
    # ------------
    dataset = MNIST("", train=True, download=True)
    mnist_test = MNIST("", train=False, download=True)
    mnist_train, mnist_val = random_split(dataset, [224, 32])

    train_loader = DataLoader(mnist_train, batch_size=args.batch_size)
    val_loader = DataLoader(mnist_val, batch_size=args.batch_size)
    test_loader = DataLoader(mnist_test, batch_size=args.batch_size)

    # ------------
    # model
    # ------------
    model = LitAutoEncoder()

    # ------------
    # training
    # ------------
    trainer = pl.Trainer(max_epochs=args.max_epochs, accelerator=args.accelerator, default_root_dir=args.default_root_dir)
    trainer.fit(model, train_loader, val_loader)

    # ------------
    # testing
    # ------------
    try:
        result = trainer.test(dataloaders=test_loader)
    except Exception as err:  # (the model has no test_step: Lightning 2.6.6 refuses the test)
        assert "test_step" in str(err), err
        result = None
    else:
        raise AssertionError(f"test without test_step ran: {result}")
    return trainer, model, result


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as d:
        trainer, model, result = mnist_main(["--max_epochs", "2", "--accelerator", "cpu", "--hidden_dim", "16", "--learning_rate", "0.001"], d + "/mnist")
        print(result)
        assert dict(model.hparams) == {"hidden_dim": 16, "learning_rate": 0.001}
        assert trainer.current_epoch == 2 and trainer.global_step == 14
        assert isinstance(result, list) and len(result) == 1 and set(result[0]) == {"test_loss"}
        assert "valid_loss" in trainer.logged_metrics or "test_loss" in trainer.logged_metrics
        # test(datamodule=) with no model after fit: the best checkpoint's weights
        assert trainer.checkpoint_callback.best_model_path.endswith("epoch=1-step=14.ckpt")
        assert trainer.ckpt_path == trainer.checkpoint_callback.best_model_path

        trainer, model, result = autoencoder_main(["--max_epochs", "2", "--accelerator", "cpu"], d + "/ae")
        assert trainer.current_epoch == 2 and trainer.global_step == 14
        assert model(torch.rand(4, 28 * 28)).shape == (4, 3)
    print("OK")
