# Source: https://lightning.ai/docs/pytorch/stable/common/notebooks.html
#   (pytorch-lightning docs/source-pytorch/common/notebooks.rst; Apache-2.0, Copyright The
#   Lightning AI team).
# Edits: the page's cells joined into one program and run as a script; what the page says
#   happens is asserted:
#  - `L.Trainer(accelerator="auto", devices="auto")` (built);
#  - the "Full example" LitAutoEncoder trained with `max_epochs=2, devices="auto"`;
#  - the multi-process part on the CPU: `strategy="ddp_notebook"` (processes started with
#    'fork', the notebooks' way) with 2 CPU processes, the data made inside
#    `train_dataloader` as the page's best practice says; after `fit` the main process holds
#    the trained weights and the logged metrics (its `global_step`, 0 on Lightning 2.6.6 after
#    a fork launch, is not compared).
#   torchvision's MNIST (a download) -> 256 random 1x28x28 images made in `train_dataloader`;
#   the CUDA lines of "Multi-GPU Limitations" (what not to do) left out.
import os
import tempfile

import lightning as L
import torch
from torch import nn, optim, utils

os.chdir(tempfile.mkdtemp())

# Works in Jupyter, Colab and Kaggle!
trainer = L.Trainer(accelerator="auto", devices="auto")
assert trainer.num_devices >= 1

encoder = nn.Sequential(nn.Linear(28 * 28, 64), nn.ReLU(), nn.Linear(64, 3))
decoder = nn.Sequential(nn.Linear(3, 64), nn.ReLU(), nn.Linear(64, 28 * 28))


class LitAutoEncoder(L.LightningModule):
    def __init__(self, encoder, decoder):
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder

    def training_step(self, batch, batch_idx):
        x, y = batch
        x = x.view(x.size(0), -1)
        z = self.encoder(x)
        x_hat = self.decoder(z)
        loss = nn.functional.mse_loss(x_hat, x)
        self.log("train_loss", loss)
        return loss

    def configure_optimizers(self):
        return optim.Adam(self.parameters(), lr=1e-3)

    def train_dataloader(self):
        # edit: torchvision.datasets.MNIST(".", download=True, transform=ToTensor()) -> random images
        g = torch.Generator().manual_seed(0)
        dataset = utils.data.TensorDataset(torch.rand(256, 1, 28, 28, generator=g), torch.randint(0, 10, (256,), generator=g))
        return utils.data.DataLoader(dataset, batch_size=64)


autoencoder = LitAutoEncoder(encoder, decoder)
trainer = L.Trainer(max_epochs=2, devices="auto")
trainer.fit(model=autoencoder)
assert trainer.global_step == 8 and "train_loss" in trainer.callback_metrics

# -- Multi-process with 'fork' (ddp_notebook), on 2 CPU processes ----------------------------------
model = LitAutoEncoder(
    nn.Sequential(nn.Linear(28 * 28, 64), nn.ReLU(), nn.Linear(64, 3)),
    nn.Sequential(nn.Linear(3, 64), nn.ReLU(), nn.Linear(64, 28 * 28)),
)
before = [p.detach().clone() for p in model.parameters()]
trainer = L.Trainer(accelerator="cpu", devices=2, strategy="ddp_notebook", max_epochs=2)
trainer.fit(model)
assert trainer.world_size == 2
# the workers' logged metrics and weights come back (Lightning 2.6.6 leaves the main process's
# global_step at 0 after a fork launch: not compared)
assert "train_loss" in trainer.callback_metrics
assert all(not torch.equal(a, b) for a, b in zip(before, model.parameters()))  # weights came back
print("doc_notebooks: ok")
