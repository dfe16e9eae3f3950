# Source: https://lightning.ai/docs/pytorch/stable/deploy/production_basic.html and
#   production_intermediate.html (pytorch-lightning docs/source-pytorch/deploy/production_basic.rst,
#   production_intermediate.rst; Apache-2.0, Copyright The Lightning AI team), with the
#   `to_torchscript` export the deploy pages link to (LightningModule.to_torchscript).
# Edits: the snippets joined into one program; `...` filled in with a small autoencoder over
#   random 64-feature tensors; what the pages say is asserted:
#  - `load_from_checkpoint("best_model.ckpt")`, eval, predict under `no_grad`;
#  - `predict_step` with `trainer.predict(model, data_loader)`; the MC-dropout `predict_step`
#    (`(x,) = batch` added: the page's snippet reads an `x` it never defines);
#  - `BasePredictionWriter` with `write_interval="epoch"` (and "batch"), files read back; the
#    page's `Trainer(accelerator="gpu", strategy="ddp", devices=8)` -> one CPU process;
#  - the checkpoint loaded without Lightning (`torch.load`, keys without `auto_encoder.`), as
#    `AutoEncoderProd`; the page's `AutoEncoderProd(**hyper_parameters)` (the page's model saves
#    none) is called with the empty dict the checkpoint has; `torch.load(weights_only=False)`;
#  - `to_torchscript()` (script and trace), saved and loaded with `torch.jit.load`.
import os

import lightning as L
import torch
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.callbacks import BasePredictionWriter
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


def features(n=32):
    return torch.randn(n, 64, generator=torch.Generator().manual_seed(0))


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 3))

    def forward(self, x):
        return self.net(x)


class Decoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(3, 16), nn.ReLU(), nn.Linear(16, 64))

    def forward(self, x):
        return self.net(x)


class AutoEncoderProd(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = Encoder()
        self.decoder = Decoder()

    def forward(self, x):
        return self.encoder(x)


class AutoEncoderSystem(LightningModule):
    def __init__(self):
        super().__init__()
        self.auto_encoder = AutoEncoderProd()

    def forward(self, x):
        return self.auto_encoder.encoder(x)

    def training_step(self, batch, batch_idx):
        (x,) = batch
        y_hat = self.auto_encoder.encoder(x)
        y_hat = self.auto_encoder.decoder(y_hat)
        loss = nn.functional.mse_loss(y_hat, x)
        return loss

    def validation_step(self, batch, batch_idx):
        (x,) = batch
        self.log("val_loss", nn.functional.mse_loss(self.auto_encoder.decoder(self(x)), x))

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=1e-3)


class MyModel(AutoEncoderSystem):
    def predict_step(self, batch, batch_idx, dataloader_idx=0):
        return self(batch)


train_dataloader = DataLoader(TensorDataset(features(64)), batch_size=8)
val_dataloader = DataLoader(TensorDataset(features(16)), batch_size=8)

# -- Use PyTorch as normal / Extract nn.Module from Lightning checkpoints --
# train it (the page: devices=2, accelerator="gpu", strategy="ddp")
trainer = Trainer(max_epochs=2, enable_progress_bar=False)
model = AutoEncoderSystem()
trainer.fit(model, train_dataloader, val_dataloader)
trainer.save_checkpoint("best_model.ckpt")

# -- Load a checkpoint and predict --
LitModel = AutoEncoderSystem
model = LitModel.load_from_checkpoint("best_model.ckpt")
model.eval()
x = torch.randn(1, 64)

with torch.no_grad():
    y_hat = model(x)
assert y_hat.shape == (1, 3), y_hat.shape
expected = y_hat

# create the PyTorch model and load the checkpoint weights
model = AutoEncoderProd()
checkpoint = torch.load("best_model.ckpt", weights_only=False)
hyper_parameters = checkpoint.get("hyper_parameters", {})
assert hyper_parameters == {}, hyper_parameters  # the page's model saves none

# if you want to restore any hyperparameters, you can pass them too
model = AutoEncoderProd(**hyper_parameters)

model_weights = checkpoint["state_dict"]

# update keys by dropping `auto_encoder.`
for key in list(model_weights):
    model_weights[key.replace("auto_encoder.", "")] = model_weights.pop(key)

model.load_state_dict(model_weights)
model.eval()

with torch.no_grad():
    y_hat = model(x)
assert torch.equal(y_hat, expected), (y_hat, expected)

# the same without the extraction: a plain nn.Module with the LightningModule's attributes
class MyTorchModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.auto_encoder = AutoEncoderProd()

    def forward(self, x):
        return self.auto_encoder.encoder(x)


model = MyTorchModel()
checkpoint = torch.load("best_model.ckpt", weights_only=False)
model.load_state_dict(checkpoint["state_dict"])
model.eval()
assert torch.equal(model(x), expected)

# -- Predict step with your LightningModule --
data_loader = DataLoader(features(20), batch_size=8)
model = MyModel()
trainer = Trainer(enable_progress_bar=False, logger=False)
predictions = trainer.predict(model, data_loader)
assert [p.shape for p in predictions] == [(8, 3), (8, 3), (4, 3)], [p.shape for p in predictions]
with torch.no_grad():
    # (batches of 8 against one of 20: BLAS may sum in another order, so not bit-equal)
    assert torch.allclose(torch.cat(predictions), model(features(20)), atol=1e-6)


# -- Enable complicated predict logic --
class LitMCdropoutModel(L.LightningModule):
    def __init__(self, model, mc_iteration):
        super().__init__()
        self.model = model
        self.dropout = nn.Dropout()
        self.mc_iteration = mc_iteration

    def predict_step(self, batch, batch_idx):
        (x,) = batch  # (edit: the page's snippet reads an `x` it never defines)
        # enable Monte Carlo Dropout
        self.dropout.train()

        # take average of `self.mc_iteration` iterations
        pred = [self.dropout(self.model(x)).unsqueeze(0) for _ in range(self.mc_iteration)]
        pred = torch.vstack(pred).mean(dim=0)
        return pred


class Checked(LitMCdropoutModel):
    def predict_step(self, batch, batch_idx):
        pred = super().predict_step(batch, batch_idx)
        self.modes = (self.dropout.training, self.model.training)
        return pred


torch.manual_seed(0)
mc = Checked(Encoder(), mc_iteration=10)
predictions = trainer.predict(mc, DataLoader(TensorDataset(features(8)), batch_size=4))
assert [p.shape for p in predictions] == [(4, 3)] * 2, [p.shape for p in predictions]
assert mc.modes == (True, False), mc.modes  # predict runs in eval mode; the dropout turned back on
assert mc.training  # the mode it had before predict, restored


# -- Enable distributed inference --
class CustomWriter(BasePredictionWriter):
    def __init__(self, output_dir, write_interval):
        super().__init__(write_interval)
        self.output_dir = output_dir

    def write_on_epoch_end(self, trainer, pl_module, predictions, batch_indices):
        # this will create N (num processes) files in `output_dir` each containing
        # the predictions of it's respective rank
        torch.save(predictions, os.path.join(self.output_dir, f"predictions_{trainer.global_rank}.pt"))

        # optionally, you can also save `batch_indices` to get the information about the data index
        # from your prediction data
        torch.save(batch_indices, os.path.join(self.output_dir, f"batch_indices_{trainer.global_rank}.pt"))


class BoringModel(MyModel):
    def predict_dataloader(self):
        return DataLoader(features(20), batch_size=8)


os.makedirs("pred_path", exist_ok=True)
# or you can set `write_interval="batch"` and override `write_on_batch_end` to save
# predictions at batch level
pred_writer = CustomWriter(output_dir="pred_path", write_interval="epoch")
trainer = Trainer(callbacks=[pred_writer], enable_progress_bar=False, logger=False)
model = BoringModel()
result = trainer.predict(model, return_predictions=False)
assert result is None, result
saved = torch.load("pred_path/predictions_0.pt")
indices = torch.load("pred_path/batch_indices_0.pt")
assert [p.shape for p in saved] == [(8, 3), (8, 3), (4, 3)], saved
assert indices == [[list(range(0, 8)), list(range(8, 16)), list(range(16, 20))]], indices


class BatchWriter(BasePredictionWriter):
    def __init__(self, output_dir):
        super().__init__(write_interval="batch")
        self.output_dir = output_dir

    def write_on_batch_end(self, trainer, pl_module, prediction, batch_indices, batch, batch_idx, dataloader_idx):
        torch.save(prediction, os.path.join(self.output_dir, f"batch_{dataloader_idx}_{batch_idx}.pt"))


trainer = Trainer(callbacks=[BatchWriter("pred_path")], enable_progress_bar=False, logger=False)
trainer.predict(model, return_predictions=False)
assert sorted(f for f in os.listdir("pred_path") if f.startswith("batch_0")) == ["batch_0_0.pt", "batch_0_1.pt", "batch_0_2.pt"]

# -- TorchScript export --
model = AutoEncoderSystem.load_from_checkpoint("best_model.ckpt")
script = model.to_torchscript()
torch.jit.save(script, "model.pt")
loaded = torch.jit.load("model.pt")
with torch.no_grad():
    assert torch.allclose(loaded(x), expected)
traced = model.to_torchscript(method="trace", example_inputs=torch.randn(1, 64), file_path="traced.pt")
assert os.path.isfile("traced.pt")
with torch.no_grad():
    assert torch.allclose(traced(x), expected) and torch.allclose(torch.jit.load("traced.pt")(x), expected)
print("deploy pages: ok")
