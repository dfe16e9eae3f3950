# Source: https://lightning.ai/docs/pytorch/stable/advanced/training_tricks.html
#   (pytorch-lightning docs/source-pytorch/advanced/training_tricks.rst and the
#   common/gradient_accumulation.rst it includes; Apache-2.0, Copyright The Lightning AI team).
# Edits: the snippets joined into one program over random data (a small regression model),
#   each Trainer run; what the page says is asserted:
#  - `accumulate_grad_batches` (optimizer steps counted) and `GradientAccumulationScheduler`;
#  - `gradient_clip_val` 0 / 0.5 norm / 0.5 value (the stepped gradients checked);
#  - the page's `EMAWeightAveraging(WeightAveraging)` subclass (after step 100 -> after step 4)
#    and `StochasticWeightAveraging(swa_epoch_start=10 -> 2, swa_lrs=0.01)`;
#  - `Tuner.scale_batch_size` "power" and "binsearch" on a model attribute, on `hparams` and on a
#    DataModule (the found size: the largest the 64-sample dataset allows, as no OOM happens on
#    CPU; binsearch ends at 60, as Lightning 2.6.6 finds it); `FineTuneBatchSizeFinder` and
#    `EvalBatchSizeFinder` (`steps_per_trial=1`,
#    `max_trials=3`);
#  - `Tuner.lr_find` with `learning_rate`, with `attr_name="my_value"`, `results`,
#    `suggestion()`; `FineTuneLearningRateFinder` (milestones (1,) in 2 epochs); `lr_finder.plot`
#    (matplotlib) left out;
#  - "Sharing Datasets Across Process Boundaries" left out (`ddp_spawn` on several processes).
import torch
from lightning.pytorch import LightningDataModule, LightningModule, Trainer
from lightning.pytorch.callbacks import (
    BatchSizeFinder,
    GradientAccumulationScheduler,
    LearningRateFinder,
    StochasticWeightAveraging,
    WeightAveraging,
)
from lightning.pytorch.tuner import Tuner
from torch import nn
from torch.optim import Adam
from torch.optim.swa_utils import get_ema_avg_fn
from torch.utils.data import DataLoader, TensorDataset


def dataset(n=64):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 8, generator=g)
    return TensorDataset(x, x.sum(1, keepdim=True))


train_dataset = dataset()


def trainer(**kwargs):
    kwargs.setdefault("max_epochs", 1)
    kwargs.setdefault("logger", False)
    kwargs.setdefault("enable_checkpointing", False)
    return Trainer(enable_progress_bar=False, enable_model_summary=False, **kwargs)


class Model(LightningModule):
    def __init__(self, batch_size=4, lr=1e-3):
        super().__init__()
        self.batch_size = batch_size
        self.lr = lr
        self.layer = nn.Linear(8, 1)
        self.steps = 0
        self.stepped = []

    def forward(self, x):
        return self.layer(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        return nn.functional.mse_loss(self(x), y) * 100

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val_loss", nn.functional.mse_loss(self(x), y))

    def test_step(self, batch, batch_idx):
        pass

    def optimizer_step(self, *args, **kwargs):
        self.steps += 1
        super().optimizer_step(*args, **kwargs)

    def configure_optimizers(self):
        optimizer = torch.optim.SGD(self.parameters(), lr=self.lr)
        optimizer.register_step_post_hook(lambda *_: self.stepped.append([p.grad.clone() for p in self.parameters()]))
        return optimizer

    def train_dataloader(self):
        return DataLoader(train_dataset, batch_size=self.batch_size)

    def val_dataloader(self):
        return DataLoader(train_dataset, batch_size=self.batch_size)

    def test_dataloader(self):
        return DataLoader(train_dataset, batch_size=self.batch_size)


# -- Accumulate Gradients --
model = Model()
trainer(accumulate_grad_batches=4, limit_val_batches=0).fit(model)
assert model.steps == 16 // 4, model.steps
model = Model()
trainer(callbacks=GradientAccumulationScheduler(scheduling={0: 8, 1: 4, 2: 1}), max_epochs=3, limit_val_batches=0).fit(model)
assert model.steps == 2 + 4 + 16, model.steps

# -- Gradient Clipping --
for kwargs in ({"gradient_clip_val": 0}, {"gradient_clip_val": 0.5}, {"gradient_clip_val": 0.5, "gradient_clip_algorithm": "value"}):
    model = Model()
    trainer(limit_train_batches=1, limit_val_batches=0, **kwargs).fit(model)
    (grads,) = model.stepped
    total = torch.linalg.vector_norm(torch.cat([g.flatten() for g in grads]))
    if kwargs["gradient_clip_val"] == 0:
        assert total > 0.5, total
    elif "gradient_clip_algorithm" in kwargs:
        assert max(g.abs().max().item() for g in grads) <= 0.5 + 1e-6, grads
    else:
        assert abs(total - 0.5) < 1e-4, total


# -- Weight Averaging --
# Enable Exponential Moving Average after 100 steps (here: 4)
class EMAWeightAveraging(WeightAveraging):
    def __init__(self):
        super().__init__(avg_fn=get_ema_avg_fn())

    def should_update(self, step_idx=None, epoch_idx=None):
        return (step_idx is not None) and (step_idx >= 4)


torch.manual_seed(0)
plain = Model()
trainer(max_epochs=1, limit_train_batches=8, limit_val_batches=0).fit(plain)
torch.manual_seed(0)
model = Model()
trainer(callbacks=EMAWeightAveraging(), max_epochs=1, limit_train_batches=8, limit_val_batches=0).fit(model)
assert model.steps == plain.steps == 8
# after fit the model holds the average of the weights from step 4 on, not the last ones
assert not torch.equal(model.layer.weight, plain.layer.weight)

# Enable Stochastic Weight Averaging after 10 epochs (here: 2) with learning rate 0.01
model = Model()
swa = StochasticWeightAveraging(swa_epoch_start=2, swa_lrs=0.01)
t = trainer(callbacks=swa, max_epochs=4, limit_val_batches=0)
t.fit(model)
group = t.optimizers[0].param_groups[0]
assert group["swa_lr"] == 0.01 and group["initial_lr"] == 0.01, group  # SWALR from epoch 2
assert group["lr"] != 1e-3, group

# -- Batch Size Finder --
for mode, size in (("power", 64), ("binsearch", 60)):  # as Lightning 2.6.6 finds them
    model = Model(batch_size=2)
    t = trainer(max_epochs=1)
    tuner = Tuner(t)
    # Auto-scale batch size by growing it exponentially (default) / with binary search
    found = tuner.scale_batch_size(model, mode=mode, steps_per_trial=1, max_trials=6)
    assert found == model.batch_size == size, (mode, found, model.batch_size)
    # Fit as normal with new batch size
    t.fit(model)


class LitModel(LightningModule):
    def __init__(self, batch_size):
        super().__init__()
        self.save_hyperparameters()
        self.layer = nn.Linear(8, 1)

    def training_step(self, batch, batch_idx):
        x, y = batch
        return nn.functional.mse_loss(self.layer(x), y)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01)

    def train_dataloader(self):
        return DataLoader(train_dataset, batch_size=self.hparams.batch_size)


model = LitModel(batch_size=32)
t = trainer()
tuner = Tuner(t)
assert tuner.scale_batch_size(model, steps_per_trial=1) == 64
assert model.hparams.batch_size == 64, model.hparams


class LitDataModule(LightningDataModule):
    def __init__(self, batch_size):
        super().__init__()
        self.save_hyperparameters()
        # or
        self.batch_size = batch_size

    def train_dataloader(self):
        return DataLoader(train_dataset, batch_size=self.batch_size)


class MyModel(LitModel):
    def __init__(self):
        super().__init__(batch_size=1)

    def train_dataloader(self):
        raise AssertionError("the DataModule's loader takes precedence")


model = MyModel()
datamodule = LitDataModule(batch_size=32)
t = trainer()
tuner = Tuner(t)
tuner.scale_batch_size(model, datamodule=datamodule, steps_per_trial=1)
assert datamodule.batch_size == 64, datamodule.batch_size


class FineTuneBatchSizeFinder(BatchSizeFinder):
    def __init__(self, milestones, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.milestones = milestones

    def on_fit_start(self, *args, **kwargs):
        return

    def on_train_epoch_start(self, trainer, pl_module):
        if trainer.current_epoch in self.milestones or trainer.current_epoch == 0:
            self.scale_batch_size(trainer, pl_module)
            self.found.append(pl_module.batch_size)


finder = FineTuneBatchSizeFinder(milestones=(1,), steps_per_trial=1, max_trials=3)
finder.found = []
model = Model(batch_size=2)
trainer(callbacks=[finder], max_epochs=3, limit_val_batches=0).fit(model)
assert finder.found == [8, 8], finder.found  # each search starts at init_val=2: 3 trials -> 8
assert finder.optimal_batch_size == 8


class EvalBatchSizeFinder(BatchSizeFinder):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)

    def on_fit_start(self, *args, **kwargs):
        return

    def on_test_start(self, trainer, pl_module):
        self.scale_batch_size(trainer, pl_module)


model = Model(batch_size=2)
trainer(callbacks=[EvalBatchSizeFinder(steps_per_trial=1, max_trials=3)]).test(model, verbose=False)
assert model.batch_size == 8, model.batch_size  # 2 -> 8 in 3 trials


# -- Learning Rate Finder --
class LRModel(LightningModule):
    def __init__(self, learning_rate):
        super().__init__()
        self.learning_rate = learning_rate
        self.model = nn.Linear(8, 1)

    def training_step(self, batch, batch_idx):
        x, y = batch
        return nn.functional.mse_loss(self.model(x), y)

    def configure_optimizers(self):
        return Adam(self.parameters(), lr=(getattr(self, "lr", None) or self.learning_rate))

    def train_dataloader(self):
        return DataLoader(dataset(256), batch_size=2)


model = LRModel(learning_rate=1e-3)
t = trainer()
# Create a Tuner
tuner = Tuner(t)
# finds learning rate automatically
# sets hparams.lr or hparams.learning_rate to that learning rate
lr_finder = tuner.lr_find(model, num_training=50)
assert model.learning_rate == lr_finder.suggestion() != 1e-3, (model.learning_rate, lr_finder.suggestion())
assert set(lr_finder.results) == {"lr", "loss"} and len(lr_finder.results["lr"]) == 50, lr_finder.results.keys()
new_lr = lr_finder.suggestion()
t.fit(model)


class MyValueModel(LRModel):
    def __init__(self):
        super().__init__(learning_rate=None)
        self.my_value = 1e-3

    def configure_optimizers(self):
        return Adam(self.parameters(), lr=self.my_value)


model = MyValueModel()
tuner = Tuner(trainer())
# to set to your own hparams.my_value
lr_finder = tuner.lr_find(model, attr_name="my_value", num_training=30)
assert model.my_value == lr_finder.suggestion(), model.my_value
print(lr_finder.results["lr"][:3])


class FineTuneLearningRateFinder(LearningRateFinder):
    def __init__(self, milestones, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.milestones = milestones

    def on_fit_start(self, *args, **kwargs):
        return

    def on_train_epoch_start(self, trainer, pl_module):
        if trainer.current_epoch in self.milestones or trainer.current_epoch == 0:
            self.lr_find(trainer, pl_module)
            self.found.append(pl_module.learning_rate)


finder = FineTuneLearningRateFinder(milestones=(1,), num_training_steps=40)
finder.found = []
model = LRModel(learning_rate=1e-3)
trainer(callbacks=[finder], max_epochs=2).fit(model)
assert len(finder.found) == 2 and None not in finder.found and finder.optimal_lr is not None, finder.found
print("training tricks page: ok")
