# Source: https://lightning.ai/docs/pytorch/stable/cli/lightning_cli_expert.html and
#   https://lightning.ai/docs/pytorch/stable/cli/lightning_cli_advanced_3.html
#   (docs/source-pytorch/cli: a LightningCLI subclass whose add_arguments_to_parser links
#    data.batch_size to model.batch_size, adds EarlyStopping with add_lightning_class_args and
#    sets its defaults with set_defaults, adds a plain argument; before_fit)
# Edits: the pages' MyModel/MyDataModule filled in as small classes on random tensors; the command
#   lines given as `args=` lists; tiny limits; a tempfile dir as default_root_dir; asserts on
#   what the pages say happens.
import tempfile

import torch
from lightning.pytorch import LightningDataModule, LightningModule
from lightning.pytorch.callbacks import EarlyStopping
from lightning.pytorch.cli import LightningCLI
from torch.utils.data import DataLoader, TensorDataset


class MyModel(LightningModule):
    def __init__(self, batch_size: int = 1, hidden: int = 8, lr: float = 0.01):
        super().__init__()
        self.batch_size = batch_size
        self.net = torch.nn.Sequential(torch.nn.Linear(4, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 1))
        self.lr = lr

    def training_step(self, batch, batch_idx):
        x, y = batch
        assert x.shape[0] == self.batch_size
        return torch.nn.functional.mse_loss(self.net(x), y)

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val_loss", torch.nn.functional.mse_loss(self.net(x), y))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.lr)


class MyDataModule(LightningDataModule):
    def __init__(self, batch_size: int = 8, length: int = 64):
        super().__init__()
        self.batch_size = batch_size
        g = torch.Generator().manual_seed(0)
        x = torch.randn(length, 4, generator=g)
        self.data = TensorDataset(x, x.sum(1, keepdim=True))

    def train_dataloader(self):
        return DataLoader(self.data, batch_size=self.batch_size)

    def val_dataloader(self):
        return DataLoader(self.data, batch_size=self.batch_size)


class MyLightningCLI(LightningCLI):
    def add_arguments_to_parser(self, parser):
        parser.link_arguments("data.batch_size", "model.batch_size")
        parser.add_lightning_class_args(EarlyStopping, "my_early_stopping")
        parser.set_defaults({"my_early_stopping.monitor": "val_loss", "my_early_stopping.patience": 5})
        parser.add_argument("--notification_email", default="will@email.com")

    def before_fit(self):
        self.seen_email = self.config["fit"]["notification_email"]


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as d:
        cli = MyLightningCLI(
            MyModel,
            MyDataModule,
            args=["fit", "--data.batch_size=16", "--trainer.max_epochs=2", f"--trainer.default_root_dir={d}", "--notification_email=a@b.c"],
        )
        assert cli.model.batch_size == 16
        assert cli.datamodule.batch_size == 16
        assert cli.seen_email == "a@b.c"
        stoppers = [c for c in cli.trainer.callbacks if isinstance(c, EarlyStopping)]
        assert len(stoppers) == 1 and stoppers[0].monitor == "val_loss" and stoppers[0].patience == 5
        assert cli.trainer.global_step == 8

        cli = MyLightningCLI(
            MyModel,
            MyDataModule,
            args=["fit", "--my_early_stopping.patience=1", "--trainer.max_epochs=1", f"--trainer.default_root_dir={d}"],
        )
        assert cli.model.batch_size == 8
        stoppers = [c for c in cli.trainer.callbacks if isinstance(c, EarlyStopping)]
        assert stoppers[0].patience == 1
    print("OK")
