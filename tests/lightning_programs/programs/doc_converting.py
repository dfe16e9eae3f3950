# Source: https://lightning.ai/docs/pytorch/stable/starter/converting.html
#   (pytorch-lightning docs/source-pytorch/starter/converting.rst; Apache-2.0, Copyright The
#   Lightning AI team).
# Edits: the page's steps joined into one LitModel (the encoder of step 1 handed to step 2's
#   LitModel; the step 7 buffer's `num_features` = 10) trained on random 28x28 images with
#   labels; asserted what the page says happens:
#  - `[optimizer], [lr_scheduler]` from `configure_optimizers` (StepLR steps once per epoch);
#  - data and modules moved for the model, `self.device` in `training_step`, the buffer on the
#    model's device and in its `state_dict`;
#  - `trainer.validate()`/`test()`/`predict()` after a fit with checkpointing load the best
#    checkpoint ("by default"), `model.eval()` and `torch.no_grad()` in each; the test loop
#    runs only when `test` is called;
#  - `trainer.validate(model)`, `trainer.test(model)`, `trainer.predict(model)` of a new model.
#   The page's `import lightning_pytorch as LP` (a name no Lightning release has) -> `import
#   lightning.pytorch as L`, which its snippets use.
import os
import tempfile

import lightning.pytorch as L
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

os.chdir(tempfile.mkdtemp())
num_features = 10


class Encoder(nn.Module):  # step 1's `LitModel(nn.Module)`, named for what it is here
    def __init__(self):
        super().__init__()
        self.layer_1 = nn.Linear(28 * 28, 128)
        self.layer_2 = nn.Linear(128, 10)

    def forward(self, x):
        x = x.view(x.size(0), -1)
        x = self.layer_1(x)
        x = F.relu(x)
        x = self.layer_2(x)
        return x


class LitModel(L.LightningModule):
    def __init__(self, encoder=None):
        super().__init__()
        self.encoder = encoder if encoder is not None else Encoder()
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.calls = {"test": 0}

    def training_step(self, batch, batch_idx):
        x, y = batch
        z = torch.randn(4, 5, device=self.device)
        assert z.device == x.device == self.running_mean.device
        y_hat = self.encoder(x)
        loss = F.cross_entropy(y_hat, y)
        return loss

    def configure_optimizers(self):
        optimizer = torch.optim.Adam(self.encoder.parameters(), lr=1e-3)
        lr_scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1)
        return [optimizer], [lr_scheduler]

    def validation_step(self, batch, batch_idx):
        assert not self.training and not torch.is_grad_enabled()  # added: what the note says
        x, y = batch
        y_hat = self.encoder(x)
        val_loss = F.cross_entropy(y_hat, y)
        self.log("val_loss", val_loss)

    def test_step(self, batch, batch_idx):
        assert not self.training and not torch.is_grad_enabled()
        self.calls["test"] += 1
        x, y = batch
        y_hat = self.encoder(x)
        test_loss = F.cross_entropy(y_hat, y)
        self.log("test_loss", test_loss)

    def predict_step(self, batch, batch_idx):
        assert not self.training and not torch.is_grad_enabled()
        x, y = batch
        pred = self.encoder(x)
        return pred


def loader(n=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return DataLoader(TensorDataset(torch.rand(n, 1, 28, 28, generator=g), torch.randint(0, 10, (n,), generator=g)), batch_size=8)


model = LitModel(Encoder())
trainer = L.Trainer(max_epochs=2, enable_progress_bar=False)
trainer.fit(model, loader(), loader(16, 1))
assert trainer.global_step == 8 and model.calls["test"] == 0  # the test loop is not part of fit
assert trainer.lr_scheduler_configs[0].scheduler.get_last_lr()[0] < 1e-3  # StepLR stepped per epoch
assert "running_mean" in model.state_dict()
best = trainer.checkpoint_callback.best_model_path
assert best and os.path.isfile(best)

trainer.validate(dataloaders=loader(16, 1))
assert trainer.ckpt_path == best  # validate() loads the best checkpoint
trainer.test(dataloaders=loader(16, 2))
assert trainer.ckpt_path == best and model.calls["test"] == 2
preds = trainer.predict(dataloaders=loader(16, 2))
assert trainer.ckpt_path == best and len(preds) == 2 and preds[0].shape == (8, 10)

# Good to know: a new model, each loop alone
model = LitModel()
trainer.validate(model, dataloaders=loader(16, 1))
trainer.test(model, dataloaders=loader(16, 2))
trainer.predict(model, dataloaders=loader(16, 2))
assert model.calls["test"] == 2
print("doc_converting: ok")
