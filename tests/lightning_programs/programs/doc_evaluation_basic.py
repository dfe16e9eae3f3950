# Source: https://lightning.ai/docs/pytorch/stable/common/evaluation_basic.html
#   (pytorch-lightning docs/source-pytorch/common/evaluation_basic.rst; Apache-2.0, Copyright
#   The Lightning AI team)
# Edits: MNIST (torchvision) -> random 1x28x28 tensors with labels in two TensorDatasets (train
#   and test split); the page's LitAutoEncoder filled in (encoder/decoder, training_step,
#   configure_optimizers as the 15-minute page's); 96 training images, `max_epochs=1`,
#   `limit_*` not needed; asserted: `trainer.test` returns the logged `test_loss` (computed
#   again by hand), the 80/20 `random_split` sizes, `fit(model, train_loader, valid_loader)`
#   runs the validation loop (`val_loss` in `callback_metrics`, its value the mean of the
#   validation batches' losses).
import lightning as L
import torch
import torch.nn.functional as F
import torch.utils.data as data
from lightning.pytorch import Trainer
from torch import nn
from torch.utils.data import DataLoader

# Load data sets (edit: random tensors in place of MNIST)
train_set = data.TensorDataset(torch.rand(96, 1, 28, 28), torch.randint(0, 10, (96,)))
test_set = data.TensorDataset(torch.rand(16, 1, 28, 28), torch.randint(0, 10, (16,)))


class LitAutoEncoder(L.LightningModule):
    def __init__(self):  # added: the 15-minute page's encoder and decoder
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(28 * 28, 64), nn.ReLU(), nn.Linear(64, 3))
        self.decoder = nn.Sequential(nn.Linear(3, 64), nn.ReLU(), nn.Linear(64, 28 * 28))

    def training_step(self, batch, batch_idx):
        x, y = batch
        x = x.view(x.size(0), -1)
        x_hat = self.decoder(self.encoder(x))
        return F.mse_loss(x_hat, x)

    def test_step(self, batch, batch_idx):
        # this is the test loop
        x, y = batch
        x = x.view(x.size(0), -1)
        z = self.encoder(x)
        x_hat = self.decoder(z)
        test_loss = F.mse_loss(x_hat, x)
        self.log("test_loss", test_loss)

    def validation_step(self, batch, batch_idx):
        # this is the validation loop
        x, y = batch
        x = x.view(x.size(0), -1)
        z = self.encoder(x)
        x_hat = self.decoder(z)
        val_loss = F.mse_loss(x_hat, x)
        self.log("val_loss", val_loss)

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=1e-3)


COMMON = dict(max_epochs=1, logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)

# Train with the test loop: once the model has finished training, call .test
model = LitAutoEncoder()
trainer = Trainer(**COMMON)
trainer.fit(model, DataLoader(train_set, batch_size=16))
results = trainer.test(model, dataloaders=DataLoader(test_set), verbose=False)
with torch.no_grad():
    x = test_set.tensors[0].view(16, -1)
    by_hand = torch.stack([F.mse_loss(model.decoder(model.encoder(x[i : i + 1])), x[i : i + 1]) for i in range(16)]).mean()
assert list(results[0]) == ["test_loss"], results
assert abs(results[0]["test_loss"] - by_hand.item()) < 1e-5, (results, by_hand)

# use 20% of training data for validation
train_set_size = int(len(train_set) * 0.8)
valid_set_size = len(train_set) - train_set_size

# split the train set into two
seed = torch.Generator().manual_seed(42)
train_set, valid_set = data.random_split(train_set, [train_set_size, valid_set_size], generator=seed)
assert (len(train_set), len(valid_set)) == (76, 20)

train_loader = DataLoader(train_set)
valid_loader = DataLoader(valid_set)

# train with both splits
model = LitAutoEncoder()
trainer = Trainer(**COMMON)
trainer.fit(model, train_loader, valid_loader)
assert trainer.num_val_batches == [20] and trainer.num_training_batches == 76
with torch.no_grad():
    x = torch.stack([valid_set[i][0] for i in range(20)]).view(20, -1)
    by_hand = torch.stack([F.mse_loss(model.decoder(model.encoder(x[i : i + 1])), x[i : i + 1]) for i in range(20)]).mean()
assert abs(trainer.callback_metrics["val_loss"].item() - by_hand.item()) < 1e-5
assert "test_loss" not in trainer.callback_metrics
print("evaluation basic: test and validation loops run and log as the page says")
