# Source: https://lightning.ai/docs/pytorch/stable/common/trainer.html
#   (pytorch-lightning docs/source-pytorch/common/trainer.rst; Apache-2.0, Copyright The
#   Lightning AI team)
# Edits: the page's two examples with classes of the program's own, beside doc_trainer.py:
#   `accelerator=MyOwnAcc()` (a subclass of `CPUAccelerator`) and `plugins=[MyCluster()]` (a
#   `ClusterEnvironment` subclass; the page's three methods filled in with the rest of the
#   abstract ones, returning single-process values), each with a short CPU fit.
import torch
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.accelerators import CPUAccelerator
from lightning.pytorch.plugins.environments import ClusterEnvironment
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


class LitModel(LightningModule):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(8, 8), nn.BatchNorm1d(8), nn.Linear(8, 1))

    def training_step(self, batch, batch_idx):
        x, y = batch
        return nn.functional.mse_loss(self.net(x), y)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.05)


def loader():
    g = torch.Generator().manual_seed(0)
    return DataLoader(TensorDataset(torch.randn(32, 8, generator=g), torch.randn(32, 1, generator=g)), batch_size=8)


class MyOwnAcc(CPUAccelerator):
    ...


class MyCluster(ClusterEnvironment):
    def main_address(self):
        return "127.0.0.1"

    def main_port(self):
        return 12910

    def world_size(self):
        return 1

    # the rest of ClusterEnvironment's abstract methods (not on the page)
    @property
    def creates_processes_externally(self):
        return False

    @staticmethod
    def detect():
        return True

    def set_world_size(self, size):
        pass

    def global_rank(self):
        return 0

    def set_global_rank(self, rank):
        pass

    def local_rank(self):
        return 0

    def node_rank(self):
        return 0


def fit(**kwargs):
    trainer = Trainer(max_epochs=1, logger=False, enable_checkpointing=False, **kwargs)
    trainer.fit(LitModel(), loader())
    assert trainer.global_step == 4
    return trainer


if __name__ == "__main__":
    trainer = fit(accelerator=MyOwnAcc())
    assert isinstance(trainer.accelerator, MyOwnAcc)
    fit(plugins=[MyCluster()], accelerator="cpu", devices=1)
    print("OK")
