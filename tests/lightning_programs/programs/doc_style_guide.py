# Source: https://lightning.ai/docs/pytorch/stable/starter/style_guide.html
#   (pytorch-lightning docs/source-pytorch/starter/style_guide.rst; Apache-2.0, Copyright The
#   Lightning AI team).
# Edits: the page's recommended structure filled in and run on random tensors: Encoder/Decoder
#   in an AutoEncoder model held by an AutoEncoderSystem LightningModule with an explicit,
#   typed `__init__` (`encoder: nn.Module, coef_x: float = 0.2, lr: float = 1e-3`), the
#   methods in the page's order (forward for inference, training/validation/test hooks with
#   their epoch-end hooks, configure_optimizers, an extra hook), data in a DataModule; asserted:
#   the hooks run, `forward` returns embeddings while `training_step` goes through the decoder,
#   and the system drops into a Trainer as it is. The page's counter-examples
#   (`nn.Linear()` without sizes, an `__init__(self, params)` without `super().__init__()`)
#   are defined, not built: they fail by design.
import tempfile

import lightning as L
import torch
from lightning.pytorch import LightningDataModule, LightningModule
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Linear(16, 3)

    def forward(self, x):
        return self.net(x)


class Decoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Linear(3, 16)

    def forward(self, z):
        return self.net(z)


class AutoEncoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = Encoder()
        self.decoder = Decoder()

    def forward(self, x):
        return self.encoder(x)


class LitModel(LightningModule):  # not recommended (defined only: nn.Linear() needs sizes)
    def __init__(self):
        super().__init__()
        self.layer_1 = nn.Linear()
        self.layer_2 = nn.Linear()
        self.layer_3 = nn.Linear()


class LitModel(LightningModule):  # not recommended (defined only): what is coef_x?
    def __init__(self, params):
        self.lr = params.lr
        self.coef_x = params.coef_x


class AutoEncoderSystem(L.LightningModule):
    def __init__(self, encoder: nn.Module = None, coef_x: float = 0.2, lr: float = 1e-3):
        super().__init__()
        self.auto_encoder = AutoEncoder()
        if encoder is not None:
            self.auto_encoder.encoder = encoder
        self.coef_x, self.lr = coef_x, lr
        self.calls = []

    def forward(self, x):
        embeddings = self.auto_encoder.encoder(x)
        return embeddings

    def training_step(self, batch, batch_idx):
        x, _ = batch
        z = self.auto_encoder.encoder(x)
        pred = self.auto_encoder.decoder(z)
        loss = self.coef_x * nn.functional.mse_loss(pred, x)
        self.log("train_loss", loss)
        return loss

    def on_train_epoch_end(self):
        self.calls.append("on_train_epoch_end")

    def validation_step(self, batch, batch_idx):
        x, _ = batch
        self.log("val_loss", nn.functional.mse_loss(self.auto_encoder.decoder(self(x)), x))

    def on_validation_epoch_end(self):
        self.calls.append("on_validation_epoch_end")

    def test_step(self, batch, batch_idx):
        x, _ = batch
        self.log("test_loss", nn.functional.mse_loss(self.auto_encoder.decoder(self(x)), x))

    def on_test_epoch_end(self):
        self.calls.append("on_test_epoch_end")

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=self.lr)

    def any_extra_hook(self):
        return "extra"


class RandomDataModule(LightningDataModule):
    def __init__(self, batch_size: int = 8):
        super().__init__()
        self.batch_size = batch_size

    def setup(self, stage):
        # What dataset splits were used? How many samples overall and in each split?
        g = torch.Generator().manual_seed(0)
        data = TensorDataset(torch.randn(48, 16, generator=g), torch.zeros(48))
        self.train, self.val, self.test = torch.utils.data.random_split(data, [32, 8, 8], generator=g)

    def train_dataloader(self):
        return DataLoader(self.train, batch_size=self.batch_size)

    def val_dataloader(self):
        return DataLoader(self.val, batch_size=self.batch_size)

    def test_dataloader(self):
        return DataLoader(self.test, batch_size=self.batch_size)


system = AutoEncoderSystem(encoder=Encoder(), coef_x=0.5)
trainer = L.Trainer(max_epochs=2, default_root_dir=tempfile.mkdtemp(), enable_progress_bar=False)
dm = RandomDataModule()
trainer.fit(system, datamodule=dm)
trainer.test(system, datamodule=dm)
assert trainer.global_step == 8
assert system.calls.count("on_train_epoch_end") == 2 and system.calls.count("on_test_epoch_end") == 1
assert system.calls.count("on_validation_epoch_end") == 3  # sanity check + 2 epochs
assert system(torch.randn(4, 16)).shape == (4, 3)  # forward: embeddings, for inference
assert system.any_extra_hook() == "extra"
print("doc_style_guide: ok")
