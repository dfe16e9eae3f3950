# treadle port of Lightning's tutorial "Level 1/2: train, validate and test a model, save and
# load checkpoints" (docs/source-pytorch/model/train_model_basic.rst, common/evaluation_basic.rst,
# common/checkpointing_basic.rst in https://github.com/Lightning-AI/pytorch-lightning,
# Apache-2.0, Copyright The Lightning AI team), rewritten for treadle. The imports change
# (`import lightning as L` -> `import treadle as L`, `L.LightningModule` -> `L.Module`); the
# MNIST download becomes random low-rank images, which a 3-number code can reconstruct.
"""The LitAutoEncoder of Lightning's first tutorial: fit with validation, test, reload.

Run: ``python examples/lightning/lightning_module_tutorial.py [--fast]``.
"""

import argparse
import os

import torch
import torch.nn.functional as F
import torch.utils.data as data
from torch import nn, optim
from torch.utils.data import DataLoader, TensorDataset

import treadle as L
from treadle.callbacks import ModelCheckpoint


def random_mnist(n, seed):
    """``n`` 28x28 images in [0, 1] generated from 3 hidden numbers each, and dummy labels."""
    g = torch.Generator().manual_seed(seed)
    basis = torch.randn(3, 28 * 28, generator=torch.Generator().manual_seed(0))
    codes = torch.randn(n, 3, generator=g)
    images = torch.sigmoid(codes @ basis).view(n, 1, 28, 28)
    return TensorDataset(images, torch.randint(0, 10, (n,), generator=g))


# define any number of nn.Modules (or use your current ones); seeded first, so that a run is
# reproducible (the tutorial builds them before main() seeds, from an unseeded generator)
torch.manual_seed(0)
encoder = nn.Sequential(nn.Linear(28 * 28, 64), nn.ReLU(), nn.Linear(64, 3))
decoder = nn.Sequential(nn.Linear(3, 64), nn.ReLU(), nn.Linear(64, 28 * 28))


# define the LightningModule
class LitAutoEncoder(L.Module):
    def __init__(self, encoder, decoder, lr=1e-3):
        super().__init__()
        # the nn.Modules are in the state_dict already: leave them out of the hyper-parameters
        self.save_hyperparameters(ignore=["encoder", "decoder"])
        self.encoder = encoder
        self.decoder = decoder

    def training_step(self, batch, batch_idx):
        # training_step defines the train loop.
        # it is independent of forward
        x, _ = batch
        x = x.view(x.size(0), -1)
        z = self.encoder(x)
        x_hat = self.decoder(z)
        loss = F.mse_loss(x_hat, x)
        # Logging to the logger (TensorBoard by default, as in Lightning; CSV without it)
        self.log("train_loss", loss)
        return loss

    def validation_step(self, batch, batch_idx):
        x, _ = batch
        x = x.view(x.size(0), -1)
        x_hat = self.decoder(self.encoder(x))
        self.log("val_loss", F.mse_loss(x_hat, x))

    def test_step(self, batch, batch_idx):
        x, _ = batch
        x = x.view(x.size(0), -1)
        x_hat = self.decoder(self.encoder(x))
        self.log("test_loss", F.mse_loss(x_hat, x))

    def configure_optimizers(self):
        return optim.Adam(self.parameters(), lr=self.hparams.lr)


def main(fast):
    L.seed_everything(42)
    # init the autoencoder
    autoencoder = LitAutoEncoder(encoder, decoder)

    # setup data: train/validation split as in the tutorial
    dataset = random_mnist(1200 if fast else 12000, seed=1)
    train_set_size = int(len(dataset) * 0.8)
    valid_set_size = len(dataset) - train_set_size
    seed = torch.Generator().manual_seed(42)
    train_set, valid_set = data.random_split(
        dataset, [train_set_size, valid_set_size], generator=seed
    )
    train_loader = DataLoader(train_set, batch_size=32, shuffle=True)
    valid_loader = DataLoader(valid_set, batch_size=32)
    test_loader = DataLoader(random_mnist(320, seed=2), batch_size=32)

    # train the model (hint: here are some helpful Trainer arguments for rapid idea iteration)
    checkpoint = ModelCheckpoint(monitor="val_loss", mode="min")
    trainer = L.Trainer(
        limit_train_batches=100,
        max_epochs=3 if fast else 10,
        callbacks=[checkpoint],
        default_root_dir=os.getcwd(),
    )
    trainer.fit(model=autoencoder, train_dataloaders=train_loader, val_dataloaders=valid_loader)

    # test the model
    trainer.test(model=autoencoder, dataloaders=test_loader)

    # load the best checkpoint: the nn.Modules left out of the hyper-parameters are passed again
    model = LitAutoEncoder.load_from_checkpoint(
        checkpoint.best_model_path,
        encoder=nn.Sequential(nn.Linear(28 * 28, 64), nn.ReLU(), nn.Linear(64, 3)),
        decoder=nn.Sequential(nn.Linear(3, 64), nn.ReLU(), nn.Linear(64, 28 * 28)),
    )
    model.eval()
    x = test_loader.dataset.tensors[0].view(-1, 28 * 28)
    with torch.no_grad():
        reloaded = F.mse_loss(model.decoder(model.encoder(x)), x).item()
        baseline = F.mse_loss(x.mean(0, keepdim=True).expand_as(x), x).item()
    print(
        f"best checkpoint: {checkpoint.best_model_path} val_loss={float(checkpoint.best_model_score):.5f}"
    )
    print(
        f"reloaded model: test reconstruction mse={reloaded:.5f} lr={model.hparams.lr} "
        f"(the mean image: mse={baseline:.5f})"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--fast", action="store_true", help="a few seconds: less data, 3 epochs")
    main(parser.parse_args().fast)
