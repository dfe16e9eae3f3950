# Source: https://lightning.ai/docs/pytorch/stable/advanced/pruning_quantization.html
#   (pytorch-lightning docs/source-pytorch/advanced/pruning_quantization.rst; Apache-2.0,
#   Copyright The Lightning AI team)
# Edits: the page's pruning snippets each fitted with a small model over random tensors, and
#   what the page says is asserted: `ModelPruning("l1_unstructured", amount=0.5)` leaves half
#   of the weights and biases (together: global pruning, the default) at zero after an epoch;
#   `amount=compute_amount` (the page's function, epochs 10/50/75-99) prunes nothing in
#   epochs 0-9 and half of them at epoch 10 (11 short epochs of 1 batch). Left out: the
#   "Quantization" part (`QuantizationAwareTraining`, removed in Lightning 2.0: it is not in
#   Lightning 2.6.6) and the Intel Neural Compressor link.
import torch
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.callbacks import ModelPruning
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


class RegressionModel(LightningModule):
    def __init__(self):
        super().__init__()
        self.layer_0 = nn.Linear(16, 64)
        self.layer_0a = torch.nn.ReLU()
        self.layer_1 = nn.Linear(64, 64)
        self.layer_1a = torch.nn.ReLU()
        self.layer_end = nn.Linear(64, 1)

    def forward(self, x):
        x = self.layer_0(x)
        x = self.layer_0a(x)
        x = self.layer_1(x)
        x = self.layer_1a(x)
        x = self.layer_end(x)
        return x

    def training_step(self, batch, batch_idx):
        x, y = batch
        return nn.functional.mse_loss(self(x), y)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01)


def loader():
    g = torch.Generator().manual_seed(0)
    return DataLoader(TensorDataset(torch.randn(8, 16, generator=g), torch.randn(8, 1, generator=g)), batch_size=8)


def sparsity(model):
    """The fraction of zeros over every weight and bias (global unstructured pruning, the
    callback's default, prunes that fraction of them all together)."""
    values = torch.cat([p.detach().flatten() for p in model.parameters()])
    return round(float((values == 0).float().mean()), 2)


def small(**kwargs):
    return dict(
        logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
        limit_train_batches=1, **kwargs,
    )


# set the amount to be the fraction of parameters to prune
trainer = Trainer(callbacks=[ModelPruning("l1_unstructured", amount=0.5)], **small(max_epochs=1))
model = RegressionModel()
trainer.fit(model, loader())
assert sparsity(model) == 0.5, sparsity(model)


def compute_amount(epoch):
    # the sum of all returned values need to be smaller than 1
    if epoch == 10:
        return 0.5

    elif epoch == 50:
        return 0.25

    elif 75 < epoch < 99:
        return 0.01


# the amount can be also be a callable
trainer = Trainer(callbacks=[ModelPruning("l1_unstructured", amount=compute_amount)], **small(max_epochs=10))
model = RegressionModel()
trainer.fit(model, loader())
assert sparsity(model) == 0.0, sparsity(model)

trainer = Trainer(callbacks=[ModelPruning("l1_unstructured", amount=compute_amount)], **small(max_epochs=11))
model = RegressionModel()
trainer.fit(model, loader())
assert sparsity(model) == 0.5, sparsity(model)
print("pruning page: ok")
