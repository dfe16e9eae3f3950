# Source: https://lightning.ai/docs/pytorch/stable/common/gradient_accumulation.html
#   (pytorch-lightning docs/source-pytorch/common/gradient_accumulation.rst; Apache-2.0,
#   Copyright The Lightning AI team)
# Edits: the page's Trainers built and run around a small model on random tensors, the
#   optimizer's steps counted per epoch: `accumulate_grad_batches=1` steps every batch, `=7`
#   every 7th batch and at the epoch's last one, and `GradientAccumulationScheduler(
#   scheduling={0: 8, 4: 4, 8: 1})` sets `trainer.accumulate_grad_batches` to 8, 4 and 1 from
#   epochs 0, 4 and 8 (10 epochs of 16 batches). The accumulated gradient is checked to be the
#   sum of the K batches' gradients (the loss divided by K). The CrossEntropyLoss part (a dict
#   batch with "labels", `reduction="sum"`) is run as written with a small `self.model`, a
#   dataset of dicts and `max_steps`; its "normalized by the number of valid targets" is not
#   asserted: Lightning 2.6.6 has no such normalization (the page describes a later release).
#   The DDP/DP warning is left out (several devices).
import lightning as L
import torch
import torch.nn.functional as F
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.callbacks import GradientAccumulationScheduler
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

torch.manual_seed(0)
COMMON = dict(logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0)


class Counting(LightningModule):
    def __init__(self):
        super().__init__()
        self.layer = nn.Linear(4, 1)
        self.steps = {}  # epoch -> optimizer steps
        self.accumulation = {}  # epoch -> trainer.accumulate_grad_batches

    def training_step(self, batch, batch_idx):
        x, y = batch
        return F.mse_loss(self.layer(x), y)

    def on_train_epoch_start(self):
        self.accumulation[self.current_epoch] = self.trainer.accumulate_grad_batches

    def optimizer_step(self, *args, **kwargs):
        self.steps[self.current_epoch] = self.steps.get(self.current_epoch, 0) + 1
        return super().optimizer_step(*args, **kwargs)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01)


data = TensorDataset(torch.randn(64, 4), torch.randn(64, 1))

# DEFAULT (ie: no accumulated grads)
trainer = Trainer(accumulate_grad_batches=1, max_epochs=1, **COMMON)
model = Counting()
trainer.fit(model, DataLoader(data, batch_size=4))
assert model.steps == {0: 16} and trainer.global_step == 16

# Accumulate gradients for 7 batches
trainer = Trainer(accumulate_grad_batches=7, max_epochs=2, **COMMON)
model = Counting()
trainer.fit(model, DataLoader(data, batch_size=4))
assert model.steps == {0: 3, 1: 3}, model.steps  # batches 7, 14 and the epoch's last (16)
assert trainer.global_step == 6


# The effective batch is K x N: K accumulated batches of N give the gradient of the K x N batch
class Grads(Counting):
    def on_before_optimizer_step(self, optimizer):
        self.grad = self.layer.weight.grad.clone()


x, y = torch.randn(8, 4), torch.randn(8, 1)
model = Grads()
expected = nn.Linear(4, 1)
expected.load_state_dict(model.layer.state_dict())
F.mse_loss(expected(x), y).backward()  # one batch of 8
trainer = Trainer(accumulate_grad_batches=4, max_steps=1, **COMMON)
trainer.fit(model, DataLoader(TensorDataset(x, y), batch_size=2))  # 4 batches of 2
assert torch.allclose(model.grad, expected.weight.grad, atol=1e-6), (model.grad, expected.weight.grad)

# till 5th epoch, it will accumulate every 8 batches. From 5th epoch
# till 9th epoch it will accumulate every 4 batches and after that no accumulation
# will happen. Note that you need to use zero-indexed epoch keys here
accumulator = GradientAccumulationScheduler(scheduling={0: 8, 4: 4, 8: 1})
trainer = Trainer(callbacks=accumulator, max_epochs=10, **COMMON)
model = Counting()
trainer.fit(model, DataLoader(data, batch_size=4))
assert model.accumulation == {e: 8 if e < 4 else 4 if e < 8 else 1 for e in range(10)}, model.accumulation
assert model.steps == {e: 2 if e < 4 else 4 if e < 8 else 16 for e in range(10)}, model.steps
assert trainer.global_step == 4 * 2 + 4 * 4 + 2 * 16


# Gradient Accumulation with CrossEntropyLoss
class MyLightningModule(L.LightningModule):
    def __init__(self):  # added: the page's self.model
        super().__init__()
        self.model = nn.Sequential(nn.Embedding(10, 8), nn.Flatten(), nn.Linear(8 * 5, 10))

    def training_step(self, batch, batch_idx):
        # batch is a dict with "labels" key from dataloader
        x = batch["input_ids"]
        x = x[:, :-1]  # Example input processing
        labels = batch["labels"]
        logits = self.model(x)
        # Use reduction="sum" for correct accumulation
        loss = F.cross_entropy(logits, labels, reduction="sum")
        return loss

    def configure_optimizers(self):  # added
        return torch.optim.SGD(self.parameters(), lr=0.01)


# In your dataloader:
def collate_fn(batch):
    # Return dict with "labels" key
    input_ids = torch.stack([item["input"] for item in batch])
    labels = torch.stack([item["label"] for item in batch])
    return {"input_ids": input_ids, "labels": labels}


dataset = [{"input": torch.randint(0, 10, (6,)), "label": torch.tensor(-100 if i % 5 == 0 else i % 10)} for i in range(32)]
dataloader = DataLoader(dataset, collate_fn=collate_fn, batch_size=4)
trainer = L.Trainer(accumulate_grad_batches=4, max_epochs=1, **COMMON)
model = MyLightningModule()
trainer.fit(model, dataloader)
assert trainer.global_step == 2  # 8 batches, a step every 4
print("gradient accumulation: steps every K batches, the scheduler's values per epoch")
