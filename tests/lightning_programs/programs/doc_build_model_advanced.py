# Source: https://lightning.ai/docs/pytorch/stable/model/build_model_advanced.html
#   (pytorch-lightning docs/source-pytorch/model/build_model_advanced.rst, "Own your loop";
#   Apache-2.0, Copyright The Lightning AI team).
# Edits: the page's `backward(self, loss)` override in a small model trained on random
#   tensors; asserted: the override runs once per training batch (and not in validation), in
#   place of Lightning's own backward, and the weights learn from it. The page's included
#   manual_optimization.rst is `doc_manual_optimization.py`.
import tempfile

import lightning as L
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


class LitModel(L.LightningModule):
    def __init__(self):
        super().__init__()
        self.layer = nn.Linear(8, 1)
        self.backward_calls = 0

    def training_step(self, batch, batch_idx):
        x, y = batch
        return nn.functional.mse_loss(self.layer(x), y)

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val_loss", nn.functional.mse_loss(self.layer(x), y))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)

    def backward(self, loss):
        loss.backward()
        self.backward_calls += 1  # added: counted
        assert all(p.grad is not None for p in self.parameters())


g = torch.Generator().manual_seed(0)
x = torch.randn(64, 8, generator=g)
data = TensorDataset(x, x @ torch.randn(8, 1, generator=g))
model = LitModel()
before = model.layer.weight.detach().clone()
trainer = L.Trainer(max_epochs=3, default_root_dir=tempfile.mkdtemp(), enable_progress_bar=False)
trainer.fit(model, DataLoader(data, batch_size=16), DataLoader(data, batch_size=32))
assert model.backward_calls == 12 and trainer.global_step == 12
assert not torch.equal(before, model.layer.weight)
print("doc_build_model_advanced: ok")
