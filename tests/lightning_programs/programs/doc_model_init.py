# Source: https://lightning.ai/docs/pytorch/stable/advanced/model_init.html
#   (pytorch-lightning docs/source-pytorch/advanced/model_init.rst; Apache-2.0, Copyright The
#   Lightning AI team).
# Edits: the snippets joined into one program around a small model on random tensors; each
#   Trainer is run and what the page says happens is asserted:
#  - `with trainer.init_module():` under `precision="bf16-true"` on the CPU (the page's
#    `accelerator="cuda", precision="16-true"`: GPU only) makes the parameters on the run's
#    device in bfloat16, then `trainer.fit(model)`;
#  - `with trainer.init_module(empty_init=True):` around `MyModel.load_from_checkpoint(...)`:
#    the checkpoint's weights, then `trainer.fit(model)` (32-bit);
#  - layers made in `configure_model` (the page's `nn.Sequential(...)` filled in): none after
#    `__init__`, made by `fit`, trained.
#   The page's first line `fabric = Trainer(...)` then `trainer.init_module()` is read as
#   `trainer = Trainer(...)`. FSDP/DeepSpeed left out (GPU).
import os
import tempfile

import torch
from lightning.pytorch import LightningModule, Trainer
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

ROOT = tempfile.mkdtemp()


def loader():
    g = torch.Generator().manual_seed(0)
    return DataLoader(TensorDataset(torch.randn(32, 16, generator=g), torch.randn(32, 4, generator=g)), batch_size=8)


class MyModel(LightningModule):
    def __init__(self, hidden=32):
        super().__init__()
        self.save_hyperparameters()
        self.net = nn.Sequential(nn.Linear(16, hidden), nn.ReLU(), nn.Linear(hidden, 4))

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = nn.functional.mse_loss(self.net(x.to(self.dtype)), y.to(self.dtype))
        self.log("train_loss", loss)
        return loss

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01)


# -- init_module: on the device, in the precision ------------------------------------------------
trainer = Trainer(accelerator="cpu", precision="bf16-true", max_epochs=1, default_root_dir=ROOT)

with trainer.init_module():
    # models created here will be on GPU and in float16 (here: the CPU, bfloat16)
    model = MyModel()

assert all(p.dtype == torch.bfloat16 for p in model.parameters())
assert all(p.device.type == "cpu" for p in model.parameters())
assert torch.get_default_dtype() == torch.float32  # restored after the block
trainer.fit(model, loader())
assert trainer.global_step == 4
assert all(p.dtype == torch.bfloat16 for p in model.parameters())

# -- empty_init=True around load_from_checkpoint -------------------------------------------------
trainer = Trainer(max_epochs=1, default_root_dir=ROOT)
source = MyModel()
trainer.fit(source, loader())
path = os.path.join(ROOT, "my_checkpoint.ckpt")
trainer.save_checkpoint(path)

trainer = Trainer(max_epochs=2, default_root_dir=ROOT)
with trainer.init_module(empty_init=True):
    # creation of the model is very fast
    model = MyModel.load_from_checkpoint(path)

for a, b in zip(model.parameters(), source.parameters()):
    assert torch.equal(a, b)
trainer.fit(model, loader())
assert trainer.global_step == 8


# -- configure_model ------------------------------------------------------------------------------
class MyShardedModel(LightningModule):
    def __init__(self):
        super().__init__()
        # don't instantiate layers here
        # move the creation of layers to `configure_model`
        self.layers = None

    def configure_model(self):
        # create all your layers here
        if self.layers is None:  # added: the hook runs at each entry point
            self.layers = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 4))

    def training_step(self, batch, batch_idx):
        x, y = batch
        return nn.functional.mse_loss(self.layers(x), y)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01)


model = MyShardedModel()
assert len(list(model.parameters())) == 0
trainer = Trainer(max_epochs=1, default_root_dir=ROOT)
trainer.fit(model, loader())
assert len(list(model.parameters())) == 4 and trainer.global_step == 4
print("doc_model_init: ok")
