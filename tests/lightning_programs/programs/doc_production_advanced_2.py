# Source: https://lightning.ai/docs/pytorch/stable/deploy/production_advanced_2.html
#   (pytorch-lightning docs/source-pytorch/deploy/production_advanced_2.rst; Apache-2.0,
#   Copyright The Lightning AI team)
# Edits: the page's snippets joined into one program:
#  - `SimpleModel.to_torchscript()`, `torch.jit.save(script, "model.pt")`, `torch.jit.load` and
#    a call on `torch.rand(1, 64)`, asserted equal to the model's own output;
#  - `LitMCdropoutModel` with `@torch.jit.export predict_step`: the page's `LitMCdropoutModel(...)`
#    gets a small `nn.Linear` and `mc_iteration=4`, and its `predict_step` reads `x` from
#    `batch` (`x = batch`, a tensor: the page's snippet reads an `x` it never defines), and a
#    `forward` (scripting the page's class, which has none, fails on Lightning 2.6.6: its
#    `LightningModule.forward(*args, **kwargs)` cannot be compiled), and dropout in training mode
#    as `nn.functional.dropout(..., training=True)` (`self.dropout.train()` cannot be scripted
#    with torch 2.13: "Unknown type name 'Self'", on Lightning as on treadle);
#    `to_torchscript(file_path="model.pt", method="script")` writes the file; the loaded module's
#    `predict_step` runs (the MC average has the model's output shape), and `trainer.predict`
#    runs the same `predict_step` in Python.
#   The ONNX page (production_advanced.rst, `to_onnx`) is left out: `onnx` is not installed.
import os

import lightning as L
import torch
from lightning.pytorch import LightningModule, Trainer
from torch import nn
from torch.utils.data import DataLoader


class SimpleModel(LightningModule):
    def __init__(self):
        super().__init__()
        self.l1 = torch.nn.Linear(in_features=64, out_features=4)

    def forward(self, x):
        return torch.relu(self.l1(x.view(x.size(0), -1)))


# create the model
model = SimpleModel()
script = model.to_torchscript()

# save for use in production environment
torch.jit.save(script, "model.pt")

inp = torch.rand(1, 64)
scripted_module = torch.jit.load("model.pt")
output = scripted_module(inp)
assert torch.allclose(output, model(inp)) and output.shape == (1, 4)


class LitMCdropoutModel(L.LightningModule):
    def __init__(self, model, mc_iteration):
        super().__init__()
        self.model = model
        self.dropout = nn.Dropout()
        self.mc_iteration = mc_iteration

    def forward(self, x):  # edit: without one, scripting fails on Lightning 2.6.6 too
        return self.model(x)

    @torch.jit.export
    def predict_step(self, batch, batch_idx: int):
        x = batch  # edit: the page's snippet reads an undefined `x`
        # enable Monte Carlo Dropout (edit: `self.dropout.train()` cannot be scripted)
        p = self.dropout.p

        # take average of `self.mc_iteration` iterations
        pred = [nn.functional.dropout(self.model(x), p, True).unsqueeze(0) for _ in range(self.mc_iteration)]
        pred = torch.vstack(pred).mean(dim=0)
        return pred


model = LitMCdropoutModel(nn.Linear(64, 4), mc_iteration=4)
os.remove("model.pt")
script = model.to_torchscript(file_path="model.pt", method="script")
assert os.path.isfile("model.pt")
loaded = torch.jit.load("model.pt")
pred = loaded.predict_step(torch.rand(3, 64), 0)
assert pred.shape == (3, 4), pred.shape
assert script.predict_step(torch.ones(3, 64), 0).shape == (3, 4)

trainer = Trainer(logger=False, enable_progress_bar=False, enable_model_summary=False)
preds = trainer.predict(model, DataLoader(torch.rand(8, 64), batch_size=4))
assert len(preds) == 2 and preds[0].shape == (4, 4)
print("production advanced 2: ok")
