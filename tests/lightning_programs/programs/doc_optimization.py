# Source: https://lightning.ai/docs/pytorch/stable/common/optimization.html ("Automatic
#   Optimization" part; pytorch-lightning docs/source-pytorch/common/optimization.rst) and the
#   page it includes, common/gradient_accumulation.rst (Apache-2.0, Copyright The Lightning AI
#   team); the manual-optimization part it also includes is doc_manual_optimization.py.
# Edits: the snippets joined into one program, each `...` filled in with a small model over
#   random tensors; asserts on what the page says happens:
#  - the scheduler dict with `interval`/`frequency` (the page's table, each row run, the steps
#    counted); `accumulate_grad_batches=7` and `GradientAccumulationScheduler({0: 8, 4: 4, 8: 1})`
#    (the optimizer steps counted; 16 batches a epoch, 10 epochs);
#  - both `optimizer_step` overrides (the LightningOptimizer and `optimizer.optimizer`);
#  - "Bring your own scheduler": `timm.scheduler.TanhLRScheduler` (not installed) -> a small
#    class with timm's `step(epoch)` API, stepped through the page's `lr_scheduler_step`;
#  - `configure_gradient_clipping` doubling the value after epoch 5 (`> 0` here, 2 epochs):
#    as published it passes a second value while the Trainer has one, which Lightning refuses
#    (checked); a variant choosing the value without the Trainer's runs both epochs;
#  - OneCycleLR with `total_steps=self.trainer.estimated_stepping_batches`;
#  - the "Gradient Accumulation with CrossEntropyLoss" section left out (newer than 2.6.6).
import torch
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.callbacks import GradientAccumulationScheduler
from lightning.pytorch.utilities.exceptions import MisconfigurationException
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


def loader(n=16, batch_size=1):
    g = torch.Generator().manual_seed(0)
    return DataLoader(TensorDataset(torch.randn(n, 4, generator=g), torch.randn(n, 1, generator=g)), batch_size=batch_size)


def trainer(**kwargs):
    kwargs.setdefault("max_epochs", 1)
    return Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False, **kwargs)


class Base(LightningModule):
    def __init__(self):
        super().__init__()
        self.layer = nn.Linear(4, 1)
        self.steps = 0

    def training_step(self, batch, batch_idx):
        x, y = batch
        return nn.functional.mse_loss(self.layer(x), y)

    def on_before_optimizer_step(self, optimizer):
        self.steps += 1


# --- Learning Rate Scheduling: the page's table
class Scheduled(Base):
    def __init__(self, interval, frequency):
        super().__init__()
        self.interval, self.frequency = interval, frequency
        self.scheduler_steps = 0

    def count(self, _):
        self.scheduler_steps += 1
        return 1.0

    def configure_optimizers(self):
        optimizer = torch.optim.Adam(self.parameters(), lr=1e-3)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, self.count)
        self.scheduler_steps = 0  # LambdaLR calls it once when it is made
        lr_scheduler = {"scheduler": scheduler}
        if self.interval is not None:
            lr_scheduler["interval"] = self.interval  # "epoch" (default) or "step"
        if self.frequency is not None:
            lr_scheduler["frequency"] = self.frequency  # how often to call scheduler.step(); default is 1
        return {"optimizer": optimizer, "lr_scheduler": lr_scheduler}


for interval, frequency, expected in [
    (None, None, 4),  # 4 epochs: once an epoch
    ("epoch", 1, 4),
    ("epoch", 2, 2),
    ("step", 1, 16),  # 4 batches an epoch
    ("step", 3, 4),  # counted within each epoch (batch_idx + 1): once in each epoch of 4
]:
    model = Scheduled(interval, frequency)
    trainer(max_epochs=4).fit(model, loader(n=4))
    assert model.scheduler_steps == expected, (interval, frequency, model.scheduler_steps)


# --- Gradient Accumulation
class Adam(Base):
    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=1e-3)


# DEFAULT (ie: no accumulated grads)
t = trainer(accumulate_grad_batches=1)
model = Adam()
t.fit(model, loader())
assert model.steps == 16 and t.global_step == 16

# Accumulate gradients for 7 batches
t = trainer(accumulate_grad_batches=7)
model = Adam()
t.fit(model, loader())
assert model.steps == 3 and t.global_step == 3, (model.steps, t.global_step)  # 7, 14 and the epoch's end

# till 5th epoch, it will accumulate every 8 batches. From 5th epoch
# till 9th epoch it will accumulate every 4 batches and after that no accumulation
# will happen. Note that you need to use zero-indexed epoch keys here
accumulator = GradientAccumulationScheduler(scheduling={0: 8, 4: 4, 8: 1})
t = trainer(callbacks=accumulator, max_epochs=10)
model = Adam()
t.fit(model, loader())
assert model.steps == 4 * 2 + 4 * 4 + 2 * 16 and t.global_step == model.steps, (model.steps, t.global_step)


# --- Access your own optimizer
class WrappedStep(Adam):
    # function hook in LightningModule
    def optimizer_step(
        self,
        epoch,
        batch_idx,
        optimizer,
        optimizer_closure,
    ):
        optimizer.step(closure=optimizer_closure)


class RawStep(Adam):
    # `optimizer` is a `LightningOptimizer` wrapping the optimizer.
    # To access it, do the following.
    # However, it won't work on TPU, AMP, etc...
    def optimizer_step(
        self,
        epoch,
        batch_idx,
        optimizer,
        optimizer_closure,
    ):
        optimizer = optimizer.optimizer
        optimizer.step(closure=optimizer_closure)


for cls in (WrappedStep, RawStep):
    model = cls()
    before = model.layer.weight.detach().clone()
    t = trainer()
    t.fit(model, loader(n=4))
    assert not torch.equal(before, model.layer.weight), cls
    assert t.global_step == 4, (cls, t.global_step)
    print(cls.__name__, "on_before_optimizer_step calls:", model.steps)


# --- Bring your own custom learning rate schedulers
class TanhLRScheduler:  # edit: timm's scheduler API (step(epoch), state_dict, load_state_dict)
    def __init__(self, optimizer, t_initial):
        self.optimizer, self.t_initial = optimizer, t_initial
        self.base_lr = optimizer.param_groups[0]["lr"]
        self.epochs_seen = []

    def step(self, epoch, metric=None):
        self.epochs_seen.append(epoch)
        for group in self.optimizer.param_groups:
            group["lr"] = self.base_lr * (1 - torch.tanh(torch.tensor(epoch / self.t_initial)).item())

    def state_dict(self):
        return {"epochs_seen": self.epochs_seen}

    def load_state_dict(self, state_dict):
        self.epochs_seen = state_dict["epochs_seen"]


class Timm(Base):
    def configure_optimizers(self):
        optimizer = torch.optim.SGD(self.parameters(), lr=0.1)
        scheduler = TanhLRScheduler(optimizer, t_initial=3)
        return [optimizer], [{"scheduler": scheduler, "interval": "epoch"}]

    def lr_scheduler_step(self, scheduler, metric):
        scheduler.step(epoch=self.current_epoch)  # timm's scheduler need the epoch value


model = Timm()
t = trainer(max_epochs=3)
t.fit(model, loader(n=2))
scheduler = t.lr_scheduler_configs[0].scheduler
assert scheduler.epochs_seen == [0, 1, 2], scheduler.epochs_seen


class Unsupported(Base):
    def configure_optimizers(self):
        optimizer = torch.optim.SGD(self.parameters(), lr=0.1)
        return [optimizer], [{"scheduler": TanhLRScheduler(optimizer, t_initial=3), "interval": "epoch"}]


try:
    trainer().fit(Unsupported(), loader(n=2))
except Exception as err:  # Lightning: MisconfigurationException, a custom scheduler needs lr_scheduler_step
    assert "lr_scheduler_step" in str(err), err
else:
    raise AssertionError("a scheduler outside torch's API needs lr_scheduler_step")


# --- Configure Gradient Clipping
class Clipping(Base):
    def __init__(self):
        super().__init__()
        self.norms = []

    def training_step(self, batch, batch_idx):
        x, y = batch
        return nn.functional.mse_loss(self.layer(x * 100), y)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=1e-6)

    def configure_gradient_clipping(self, optimizer, gradient_clip_val, gradient_clip_algorithm):
        if self.current_epoch > 0:  # edit: > 5 in the page; 2 epochs here
            gradient_clip_val = gradient_clip_val * 2

        # Lightning will handle the gradient clipping
        self.clip_gradients(optimizer, gradient_clip_val=gradient_clip_val, gradient_clip_algorithm=gradient_clip_algorithm)
        self.norms.append(round(torch.cat([p.grad.flatten() for p in self.parameters()]).norm().item(), 4))


# The page's hook clips at the Trainer's value, then (epoch 1) passes another value to
# clip_gradients while the Trainer has one set: Lightning refuses that ("use only one of them").
model = Clipping()
try:
    trainer(max_epochs=2, gradient_clip_val=0.5).fit(model, loader(n=2))
except MisconfigurationException as err:
    assert "gradient_clip_val=0.5" in str(err) and "gradient_clip_val=1.0" in str(err), err
else:
    raise AssertionError("two clip values for one setting should be refused")
assert model.norms == [0.5, 0.5], model.norms


class ClippingOwnValue(Clipping):
    def configure_gradient_clipping(self, optimizer, gradient_clip_val, gradient_clip_algorithm):
        assert gradient_clip_val is None and gradient_clip_algorithm is None
        gradient_clip_val = 1.0 if self.current_epoch > 0 else 0.5
        # left out: the Trainer's algorithm, else "norm"
        self.clip_gradients(optimizer, gradient_clip_val=gradient_clip_val)
        self.norms.append(round(torch.cat([p.grad.flatten() for p in self.parameters()]).norm().item(), 4))


model = ClippingOwnValue()
trainer(max_epochs=2).fit(model, loader(n=2))
assert model.norms == [0.5, 0.5, 1.0, 1.0], model.norms


# --- Total Stepping Batches
class OneCycle(Base):
    def configure_optimizers(self):
        optimizer = torch.optim.SGD(self.parameters(), lr=0.1)
        self.total = self.trainer.estimated_stepping_batches
        scheduler = torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=1e-3, total_steps=self.trainer.estimated_stepping_batches
        )
        return [optimizer], [scheduler]


model = OneCycle()
trainer(max_epochs=3, accumulate_grad_batches=2).fit(model, loader(n=8))
assert model.total == 12, model.total
print("OK")
