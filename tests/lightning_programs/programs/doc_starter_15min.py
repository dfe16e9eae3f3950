# Source: https://lightning.ai/docs/pytorch/stable/starter/introduction.html ("Lightning in 15
#   minutes"; pytorch-lightning docs/source-pytorch/starter/introduction.rst; Apache-2.0,
#   Copyright The Lightning AI team)
# Edits: the page's steps 2-5 and 7 joined into one program:
#  - MNIST (torchvision, a download) -> 100 random 1x28x28 images with labels (the page's own
#    `limit_train_batches=100` at batch size 1 gives the page's checkpoint name
#    `epoch=0-step=100.ckpt`, which step 5 loads by its literal path);
#  - step 7's GPU/DeepSpeed trainers left out (no GPU here); its "20+ helpful flags" trainer
#    (`max_epochs=10, min_epochs=5, overfit_batches=1`) and `StochasticWeightAveraging(...)`
#    (`swa_lrs=1e-2`) run; the "Customize training loop" `backward` override runs as a subclass;
#  - asserts on what the page says happens.
import os

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import StochasticWeightAveraging
from torch import Tensor, nn, optim, utils

# define any number of nn.Modules (or use your current ones)
encoder = nn.Sequential(nn.Linear(28 * 28, 64), nn.ReLU(), nn.Linear(64, 3))
decoder = nn.Sequential(nn.Linear(3, 64), nn.ReLU(), nn.Linear(64, 28 * 28))


# define the LightningModule
class LitAutoEncoder(pl.LightningModule):
    def __init__(self, encoder, decoder):
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder

    def training_step(self, batch, batch_idx):
        # training_step defines the train loop.
        # it is independent of forward
        x, y = batch
        x = x.view(x.size(0), -1)
        z = self.encoder(x)
        x_hat = self.decoder(z)
        loss = nn.functional.mse_loss(x_hat, x)
        # Logging to TensorBoard (if installed) by default
        self.log("train_loss", loss)
        return loss

    def configure_optimizers(self):
        optimizer = optim.Adam(self.parameters(), lr=1e-3)
        return optimizer


# init the autoencoder
autoencoder = LitAutoEncoder(encoder, decoder)


def MNIST(root, download=True, transform=None):  # edit: random tensors
    return utils.data.TensorDataset(torch.rand(100, 1, 28, 28), torch.randint(0, 10, (100,)))


def ToTensor():  # edit: torchvision.transforms.ToTensor (unused by the stand-in above)
    return None

# setup data
dataset = MNIST(os.getcwd(), download=True, transform=ToTensor())
train_loader = utils.data.DataLoader(dataset)

# train the model (hint: here are some helpful Trainer arguments for rapid idea iteration)
trainer = pl.Trainer(limit_train_batches=100, max_epochs=1)
trainer.fit(model=autoencoder, train_dataloaders=train_loader)
assert trainer.global_step == 100
assert "train_loss" in trainer.logged_metrics

# load checkpoint
checkpoint = "./lightning_logs/version_0/checkpoints/epoch=0-step=100.ckpt"
autoencoder = LitAutoEncoder.load_from_checkpoint(checkpoint, encoder=encoder, decoder=decoder)

# choose your trained nn.Module
encoder = autoencoder.encoder
encoder.eval()

# embed 4 fake images!
fake_image_batch = Tensor(4, 28 * 28)
embeddings = encoder(fake_image_batch)
print("⚡" * 20, "\nPredictions (4 image embeddings):\n", embeddings, "\n", "⚡" * 20)
assert embeddings.shape == (4, 3)

# 20+ helpful flags for rapid idea iteration
trainer = pl.Trainer(max_epochs=10, min_epochs=5, overfit_batches=1)
trainer.fit(model=LitAutoEncoder(encoder, decoder), train_dataloaders=train_loader)
assert trainer.current_epoch == 10 and trainer.global_step == 10, (trainer.current_epoch, trainer.global_step)
assert os.path.isfile("lightning_logs/version_1/checkpoints/epoch=9-step=10.ckpt"), os.listdir("lightning_logs/version_1/checkpoints")

# access the latest state of the art techniques
trainer = pl.Trainer(max_epochs=2, limit_train_batches=10, callbacks=[StochasticWeightAveraging(swa_lrs=1e-2)])
trainer.fit(model=LitAutoEncoder(encoder, decoder), train_dataloaders=train_loader)
assert trainer.global_step == 20


class CustomLoop(LitAutoEncoder):
    calls = 0

    def backward(self, loss):
        CustomLoop.calls += 1
        loss.backward()


trainer = pl.Trainer(max_epochs=1, limit_train_batches=5)
trainer.fit(model=CustomLoop(encoder, decoder), train_dataloaders=train_loader)
assert CustomLoop.calls == 5, CustomLoop.calls
print(sorted(os.listdir("lightning_logs")))
assert sorted(os.listdir("lightning_logs")) == ["version_0", "version_1", "version_2", "version_3"]
print("OK")
