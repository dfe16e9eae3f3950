# Source: https://lightning.ai/docs/pytorch/stable/accelerators/accelerator_prepare.html
#   (pytorch-lightning docs/source-pytorch/accelerators/accelerator_prepare.rst; Apache-2.0,
#   Copyright The Lightning AI team).
# Edits: the snippets joined into one model over random data, run on one CPU process (the page
#   is about multi-GPU: what it says of one device is asserted, the DDP runs left out):
#  - `forward` with `torch.Tensor(2, 3).to(x)` and no `.cuda()`; `register_buffer("sigma")`
#    moving with the module (`.to(torch.float64)` stands in for a device move), `self.device`;
#  - `self.log(..., on_step=True, on_epoch=True, sync_dist=True)` in validation and test steps;
#  - a torchmetrics `BinaryF1Score` logged as the metric object, checked against the metric
#    computed by hand; the page's `self(x)` logits -> `sigmoid` probabilities, as the metric
#    takes (the page leaves the model out);
#  - the manual `all_gather` in `on_validation_epoch_end` with `is_global_zero` and
#    `rank_zero_only=True` (`my_custom_metric` -> a mean over the gathered outputs);
#  - the pickling check on the model, its loaders and callbacks; the lambda's `PicklingError`.
import pickle

import torch
from lightning.pytorch import LightningModule, Trainer
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from torchmetrics.classification import BinaryF1Score


def data(n=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, generator=g)
    return TensorDataset(x, (x.sum(1) > 0).long())


def my_custom_metric(gathered):
    return torch.cat(list(gathered)).float().mean()


class LitModel(LightningModule):
    def __init__(self):
        super().__init__()
        self.layer_1 = nn.Linear(3, 1)
        self.register_buffer("sigma", torch.eye(3))
        # you can now access self.sigma anywhere in your module
        self.val_f1 = BinaryF1Score()
        self.val_outputs = []
        self.loss = nn.BCEWithLogitsLoss()
        self.seen = {}

    # after lightning
    def forward(self, x):
        z = torch.Tensor(2, 3)
        z = z.to(x)
        assert z.device == x.device and z.dtype == x.dtype
        assert self.sigma.device == self.device == x.device
        x_hat = self.layer_1(x @ self.sigma)
        return x_hat.squeeze(1)

    def training_step(self, batch, batch_idx):
        x, y = batch
        return self.loss(self(x), y.float())

    def validation_step(self, batch, batch_idx):
        x, y = batch
        logits = self(x)
        loss = self.loss(logits, y.float())
        # Add sync_dist=True to sync logging across all GPU workers (may have performance impact)
        self.log("validation_loss", loss, on_step=True, on_epoch=True, sync_dist=True)
        self.val_f1.update(torch.sigmoid(logits), y)
        # Passing the metric object to self.log triggers DDP sync at epoch end.
        self.log("val_f1", self.val_f1, on_epoch=True)
        predictions = logits
        self.val_outputs.append(predictions)
        self.seen.setdefault("preds", []).append((torch.sigmoid(logits) > 0.5).long())
        self.seen.setdefault("targets", []).append(y)
        return predictions

    def on_validation_epoch_end(self):
        # self.all_gather returns a tensor of shape [world_size, *tensor_shape] on every rank.
        gathered = self.all_gather(self.val_outputs)
        metric = my_custom_metric(gathered)
        self.seen["metric"] = metric
        self.seen["expected"] = torch.cat(self.val_outputs).mean()
        self.val_outputs.clear()  # free memory before the next epoch

        # When you call `self.log` only on rank 0, don't forget to add
        # `rank_zero_only=True` to avoid deadlocks on synchronization.
        if self.trainer.is_global_zero:
            self.log("my_custom_val_metric", metric, rank_zero_only=True)

    def test_step(self, batch, batch_idx):
        x, y = batch
        logits = self(x)
        loss = self.loss(logits, y.float())
        # Add sync_dist=True to sync logging across all GPU workers (may have performance impact)
        self.log("test_loss", loss, on_step=True, on_epoch=True, sync_dist=True)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


model = LitModel()
moved = LitModel().to(torch.float64)
assert moved.sigma.dtype == torch.float64  # a buffer moves with the module, a plain tensor would not

trainer = Trainer(max_epochs=1, enable_progress_bar=False, logger=False, enable_checkpointing=False, num_sanity_val_steps=0)
trainer.fit(model, DataLoader(data(), batch_size=8), DataLoader(data(16, seed=1), batch_size=4))
metrics = trainer.callback_metrics
assert {"validation_loss_epoch", "val_f1", "my_custom_val_metric"} <= set(metrics), sorted(metrics)
assert torch.allclose(metrics["my_custom_val_metric"], model.seen["expected"])
preds, targets = torch.cat(model.seen["preds"]), torch.cat(model.seen["targets"])
tp = ((preds == 1) & (targets == 1)).sum().float()
f1 = 2 * tp / (2 * tp + ((preds == 1) & (targets == 0)).sum() + ((preds == 0) & (targets == 1)).sum())
assert torch.allclose(metrics["val_f1"], f1), (metrics["val_f1"], f1)

results = trainer.test(model, DataLoader(data(16, seed=2), batch_size=4), verbose=False)
assert set(results[0]) == {"test_loss_epoch"}, results

# all_gather on one process: the collection as it is, each tensor unchanged
gathered = model.all_gather([torch.ones(2), torch.zeros(3)])
assert [t.shape for t in gathered] == [(2,), (3,)], gathered

# -- Make models pickleable --
pickle.dumps(model)
pickle.dumps(DataLoader(data(), batch_size=8))
pickle.dumps(trainer.callbacks)


class Lambdas(LitModel):
    def __init__(self):
        super().__init__()
        self.transform = lambda x: x


try:
    pickle.dumps(Lambdas())
except (pickle.PicklingError, AttributeError) as e:
    assert "lambda" in str(e), e
else:
    raise AssertionError("a lambda pickled")
print("accelerator_prepare page: ok")
