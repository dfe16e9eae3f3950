# Source: https://lightning.ai/docs/pytorch/stable/common/precision_basic.html and
#   https://lightning.ai/docs/pytorch/stable/common/precision_intermediate.html
#   (pytorch-lightning docs/source-pytorch/common/precision_basic.rst,
#   precision_intermediate.rst; Apache-2.0, Copyright The Lightning AI team)
# Edits: the pages' `Trainer(precision=...)` lines built on the CPU and each fitted with a small
#   model over random tensors (the pages' `model`/`MyModel` filled in); what the pages say is
#   asserted: `trainer.precision` for every spelling ("32-true"/"32"/32, "64-true"/"64"/64),
#   "bf16-mixed" computing the forward in bfloat16 under autocast with float32 weights,
#   "16-true"/"bf16-true" casting the model ("model gets cast to torch.float16"),
#   `trainer.init_module()` creating the parameters in bfloat16, "64-true" in float64. The
#   page's table ("16 Mixed" on the CPU: No), Lightning 2.6.6 running "16-mixed" on the CPU
#   as "bf16-mixed" with a warning, is doc_precision_differences.py. Left out: `accelerator="gpu"`,
#   the autocast warning's LitModel (GPU code whose `torch.mm(target @ outs)` does not run),
#   TransformerEngine and bitsandbytes (CUDA only).
import torch
from lightning.pytorch import LightningModule, Trainer
from torch.utils.data import DataLoader, TensorDataset


class MyModel(LightningModule):
    def __init__(self):
        super().__init__()
        self.layer = torch.nn.Linear(8, 1)
        self.seen = []

    def training_step(self, batch, batch_idx):
        x, y = batch
        out = self.layer(x.to(self.layer.weight.dtype))
        self.seen.append((out.dtype, self.layer.weight.dtype))
        return torch.nn.functional.mse_loss(out.float(), y.float())

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01)


def loader():
    g = torch.Generator().manual_seed(0)
    return DataLoader(TensorDataset(torch.randn(16, 8, generator=g), torch.randn(16, 1, generator=g)), batch_size=4)


def fit(precision):
    trainer = Trainer(
        precision=precision, max_epochs=1, limit_train_batches=2, logger=False,
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
    )
    model = MyModel()
    trainer.fit(model, loader())
    return trainer, model


# 32-bit Precision: the default, three spellings
for p in ("32-true", "32", 32):
    assert Trainer(precision=p).precision == "32-true", p
assert Trainer().precision == "32-true"
trainer, model = fit("32-true")
assert model.seen[0] == (torch.float32, torch.float32)

# 64-bit Precision
for p in ("64-true", "64", 64):
    assert Trainer(precision=p).precision == "64-true", p
trainer, model = fit("64-true")
assert model.seen[0] == (torch.float64, torch.float64), model.seen

# BFloat16 Mixed Precision: "also possible ... on the CPU"; autocast to bfloat16, fp32 weights
Trainer(precision="bf16-mixed")
trainer, model = fit("bf16-mixed")
assert trainer.precision == "bf16-mixed"
assert model.seen[0] == (torch.bfloat16, torch.float32), model.seen
assert model.layer.weight.dtype == torch.float32

# True Half Precision: the model gets cast
trainer, model = fit("16-true")
assert trainer.precision == "16-true"
assert model.seen[0] == (torch.float16, torch.float16), model.seen
trainer, model = fit("bf16-true")
assert model.seen[0] == (torch.bfloat16, torch.bfloat16), model.seen

# init the model with parameters in half precision
trainer = Trainer(
    precision="bf16-true", max_epochs=1, limit_train_batches=2, logger=False,
    enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
)
with trainer.init_module():
    model = MyModel()
assert model.layer.weight.dtype == torch.bfloat16
trainer.fit(model, loader())
assert model.seen[0] == (torch.bfloat16, torch.bfloat16)
print("precision pages: ok")
