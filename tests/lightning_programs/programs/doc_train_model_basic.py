# Source: https://lightning.ai/docs/pytorch/stable/model/train_model_basic.html
#   (pytorch-lightning docs/source-pytorch/model/train_model_basic.rst; Apache-2.0, Copyright
#   The Lightning AI team).
# Edits: the page's blocks in order; torchvision's MNIST (a download) -> 64 random 1x28x28
#   images with labels (and `transforms` dropped with it); `pl.Trainer()` -> `pl.Trainer(
#   max_epochs=1)` in a temporary folder (the default runs 1000 epochs); asserted: the fit's
#   steps (one per image: `DataLoader(dataset)` has batch size 1), the weights changed, and the
#   page's hand-written loop ("Eliminate the training loop") running the same LightningModule
#   without a Trainer.
import os
import tempfile

import lightning.pytorch as pl
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

os.chdir(tempfile.mkdtemp())


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Sequential(nn.Linear(28 * 28, 64), nn.ReLU(), nn.Linear(64, 3))

    def forward(self, x):
        return self.l1(x)


class Decoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Sequential(nn.Linear(3, 64), nn.ReLU(), nn.Linear(64, 28 * 28))

    def forward(self, x):
        return self.l1(x)


class LitAutoEncoder(pl.LightningModule):
    def __init__(self, encoder, decoder):
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder

    def training_step(self, batch, batch_idx):
        # training_step defines the train loop.
        x, y = batch
        x = x.view(x.size(0), -1)
        z = self.encoder(x)
        x_hat = self.decoder(z)
        loss = F.mse_loss(x_hat, x)
        return loss

    def configure_optimizers(self):
        optimizer = torch.optim.Adam(self.parameters(), lr=1e-3)
        return optimizer


# edit: MNIST(os.getcwd(), download=True, transform=transforms.ToTensor()) -> random images
g = torch.Generator().manual_seed(0)
dataset = TensorDataset(torch.rand(64, 1, 28, 28, generator=g), torch.randint(0, 10, (64,), generator=g))
train_loader = DataLoader(dataset)

# model
autoencoder = LitAutoEncoder(Encoder(), Decoder())
before = [p.detach().clone() for p in autoencoder.parameters()]

# train model
trainer = pl.Trainer(max_epochs=1)  # edit: max_epochs
trainer.fit(model=autoencoder, train_dataloaders=train_loader)
assert trainer.global_step == 64 and trainer.current_epoch == 1
assert all(not torch.equal(a, b) for a, b in zip(before, autoencoder.parameters()))
assert os.path.isdir(os.path.join("lightning_logs", "version_0", "checkpoints"))

# Under the hood, the Lightning Trainer runs the following training loop on your behalf
autoencoder = LitAutoEncoder(Encoder(), Decoder())
optimizer = autoencoder.configure_optimizers()

for batch_idx, batch in enumerate(train_loader):
    loss = autoencoder.training_step(batch, batch_idx)

    loss.backward()
    optimizer.step()
    optimizer.zero_grad()
assert batch_idx == 63 and torch.isfinite(loss)
print("doc_train_model_basic: ok")
