# Source: https://lightning.ai/docs/pytorch/stable/common/child_modules.html
#   (pytorch-lightning docs/source-pytorch/common/child_modules.rst; Apache-2.0, Copyright The
#   Lightning AI team)
# Edits: the page's `Encoder`/`Decoder` (`...`) filled in as small MLPs over 1x28x28 images
#   (a 16-feature code), `train_dataloader`/`val_dataloader` as loaders of 32 random images
#   with labels, `Trainer()` given `max_epochs=1`, small limits, no logger or checkpoint; what
#   the page says is asserted: `fit` trains the child modules (their weights change),
#   `val_loss` logged from `_shared_eval`, `test` logging `test_loss`, and
#   `lightning_module(some_images)` giving the encoder's representations (32 x 16).
#   `torch.Tensor(32, 1, 28, 28)` (uninitialised memory) -> `torch.rand` of that shape.
import torch
from lightning.pytorch import LightningModule, Trainer
from torch.utils.data import DataLoader, TensorDataset


class Encoder(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(28 * 28, 64), torch.nn.ReLU(), torch.nn.Linear(64, 16))

    def forward(self, x):
        return self.net(x)


class Decoder(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Linear(16, 64), torch.nn.ReLU(), torch.nn.Linear(64, 28 * 28))

    def forward(self, z):
        return self.net(z).view(-1, 1, 28, 28)


class AutoEncoder(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = Encoder()
        self.decoder = Decoder()

    def forward(self, x):
        return self.decoder(self.encoder(x))


class LitAutoEncoder(LightningModule):
    def __init__(self, auto_encoder):
        super().__init__()
        self.auto_encoder = auto_encoder
        self.metric = torch.nn.MSELoss()

    def forward(self, x):
        return self.auto_encoder.encoder(x)

    def training_step(self, batch, batch_idx):
        x, _ = batch
        x_hat = self.auto_encoder(x)
        loss = self.metric(x, x_hat)
        return loss

    def validation_step(self, batch, batch_idx):
        self._shared_eval(batch, batch_idx, "val")

    def test_step(self, batch, batch_idx):
        self._shared_eval(batch, batch_idx, "test")

    def _shared_eval(self, batch, batch_idx, prefix):
        x, _ = batch
        x_hat = self.auto_encoder(x)
        loss = self.metric(x, x_hat)
        self.log(f"{prefix}_loss", loss)

    def configure_optimizers(self):  # edit: the page leaves it out of the snippet
        return torch.optim.Adam(self.parameters(), lr=1e-3)


def images(seed):
    g = torch.Generator().manual_seed(seed)
    return TensorDataset(torch.rand(32, 1, 28, 28, generator=g), torch.randint(0, 10, (32,), generator=g))


train_dataloader = DataLoader(images(0), batch_size=8)
val_dataloader = DataLoader(images(1), batch_size=8)

auto_encoder = AutoEncoder()
lightning_module = LitAutoEncoder(auto_encoder)
before = auto_encoder.decoder.net[0].weight.detach().clone()
trainer = Trainer(
    max_epochs=1, limit_val_batches=2, logger=False, enable_checkpointing=False,
    enable_progress_bar=False, enable_model_summary=False,
)
trainer.fit(lightning_module, train_dataloader, val_dataloader)
assert lightning_module.auto_encoder is auto_encoder
assert not torch.equal(before, auto_encoder.decoder.net[0].weight), "the child modules are trained"
assert "val_loss" in trainer.callback_metrics, trainer.callback_metrics
(result,) = trainer.test(lightning_module, val_dataloader, verbose=False)
assert set(result) == {"test_loss"}, result

some_images = torch.rand(32, 1, 28, 28)
representations = lightning_module(some_images)
assert representations.shape == (32, 16), representations.shape
assert torch.equal(representations, auto_encoder.encoder(some_images))
print("child modules page: ok")
