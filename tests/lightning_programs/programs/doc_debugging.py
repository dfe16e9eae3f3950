# Source: https://lightning.ai/docs/pytorch/stable/debug/debugging_basic.html and
#   debugging_intermediate.html (pytorch-lightning docs/source-pytorch/debug/debugging_basic.rst,
#   debugging_intermediate.rst; Apache-2.0, Copyright The Lightning AI team).
# Edits: the snippets joined into one program around a small model on random tensors (the page's
#   `LitModel` with `net = Sequential(Linear, BatchNorm1d)` and an `example_input_array`); each
#   Trainer the page builds is run and what the page says happens is asserted:
#  - `fast_dev_run=True` (the page says 5 batches; Lightning 2.6.6 runs 1, as its Trainer docs) and `=7` of train/val/test/predict, no logger, no checkpoint;
#  - `limit_train_batches`/`limit_val_batches` as fractions and as counts (1% of 16 validation
#    batches is refused by Lightning: checked, then 10%);
#  - `num_sanity_val_steps=2`;
#  - the summary table (`ModelSummary(max_depth=-1)` callback, `utilities.model_summary.ModelSummary`
#    printed without fit, `enable_model_summary=False`, In/Out sizes from `example_input_array`);
#  - `overfit_batches` (fraction and count: the same batches each epoch, no shuffle; validation
#    limited to as many batches, as Lightning 2.6.6 does, where the page says it is turned off);
#  - `grad_norm` logged in `on_before_optimizer_step`; `gradient_clip_val` with both algorithms;
#  - `detect_anomaly=True`.
#   The `pdb.set_trace()` breakpoint is left out (it would stop the program).
import contextlib
import os
import sys
import tempfile

import torch
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.callbacks import ModelSummary
from lightning.pytorch.loggers.logger import DummyLogger
from lightning.pytorch.utilities import grad_norm
from lightning.pytorch.utilities.exceptions import MisconfigurationException
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


def dataset(n=64):
    g = torch.Generator().manual_seed(0)
    return TensorDataset(torch.randn(n, 32, generator=g), torch.randn(n, 16, generator=g))


class LitModel(LightningModule):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(32, 16), nn.BatchNorm1d(16))
        self.example_input_array = torch.Tensor(10, 32)
        self.seen = {"train": [], "val": [], "test": [], "predict": []}
        self.norms = []

    def forward(self, x):
        return self.net(x)

    def training_step(self, batch, batch_idx):
        self.seen["train"].append(batch_idx)
        x, y = batch
        loss = nn.functional.mse_loss(self(x), y)
        self.log("train_loss", loss)
        return loss

    def validation_step(self, batch, batch_idx):
        self.seen["val"].append(batch_idx)
        x, y = batch
        self.log("val_loss", nn.functional.mse_loss(self(x), y))

    def test_step(self, batch, batch_idx):
        self.seen["test"].append(batch_idx)

    def predict_step(self, batch, batch_idx):
        self.seen["predict"].append(batch_idx)
        return self(batch[0])

    def on_before_optimizer_step(self, optimizer):
        # Compute the 2-norm for each layer
        # If using mixed precision, the gradients are already unscaled here
        norms = grad_norm(self.net, norm_type=2)
        self.log_dict(norms)
        self.norms.append(norms)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)

    def train_dataloader(self):
        return DataLoader(dataset(), batch_size=4, shuffle=True)

    def val_dataloader(self):
        return DataLoader(dataset(), batch_size=4)

    def test_dataloader(self):
        return DataLoader(dataset(), batch_size=4)

    def predict_dataloader(self):
        return DataLoader(dataset(), batch_size=4)


@contextlib.contextmanager
def captured(out):
    """Everything written to the process's stdout and stderr (print, logging, rich) into out[0]."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with tempfile.TemporaryFile(mode="w+") as f:
        os.dup2(f.fileno(), 1)
        os.dup2(f.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            f.seek(0)
            out.append(f.read())


def quiet(**kwargs):
    kwargs.setdefault("enable_progress_bar", False)
    return Trainer(**kwargs)


# -- Run all your model code once quickly --
for value, n in ((True, 1), (7, 7)):
    trainer = quiet(fast_dev_run=value)
    model = LitModel()
    trainer.fit(model)
    trainer.test(model)
    trainer.predict(model)
    assert model.seen["train"] == list(range(n)), model.seen
    assert model.seen["val"] == list(range(n)), model.seen  # no sanity check under fast_dev_run
    assert model.seen["test"] == list(range(n))
    assert model.seen["predict"] == list(range(n))
    assert isinstance(trainer.logger, DummyLogger), trainer.loggers  # logging suppressed
    assert trainer.checkpoint_callback is None or trainer.checkpoint_callback.best_model_path == ""

# -- Shorten the epoch length --
# use only 10% of training data and 1% of val data
trainer = quiet(limit_train_batches=0.1, limit_val_batches=0.01, max_epochs=1, num_sanity_val_steps=0)
model = LitModel()
try:
    trainer.fit(model)  # 16 validation batches: 1% of them is less than one, which is refused
except MisconfigurationException as e:
    assert "limit_val_batches" in str(e), e
else:
    raise AssertionError("limit_val_batches=0.01 of 16 batches was not refused")
trainer = quiet(limit_train_batches=0.1, limit_val_batches=0.1, max_epochs=1, num_sanity_val_steps=0)
model = LitModel()
trainer.fit(model)
assert model.seen["train"] == [0] and model.seen["val"] == [0], model.seen  # 16 batches * 0.1 -> 1

# use 10 batches of train and 5 batches of val
trainer = quiet(limit_train_batches=10, limit_val_batches=5, max_epochs=1, num_sanity_val_steps=0)
model = LitModel()
trainer.fit(model)
assert model.seen["train"] == list(range(10)) and model.seen["val"] == list(range(5)), model.seen

# -- Run a Sanity Check --
trainer = quiet(num_sanity_val_steps=2, max_epochs=1, limit_train_batches=1, limit_val_batches=3)
model = LitModel()
trainer.fit(model)
assert model.seen["val"] == [0, 1, 0, 1, 2], model.seen["val"]

# -- Print LightningModule weights summary --
out = []
with captured(out):
    trainer = quiet(max_epochs=1, limit_train_batches=1, limit_val_batches=1, logger=False)
    trainer.fit(LitModel())
table = out[0]
print(table)
assert "net" in table and "Sequential" in table and "In sizes" in table and "Out sizes" in table, table
assert "[10, 32]" in table and "[10, 16]" in table, table
assert "BatchNorm1d" not in table, table  # the default max_depth is 1

out = []
with captured(out):
    trainer = quiet(callbacks=[ModelSummary(max_depth=-1)], max_epochs=1, limit_train_batches=1, limit_val_batches=1, logger=False)
    trainer.fit(LitModel())
table = out[0]
assert "net.0" in table and "BatchNorm1d" in table, table

from lightning.pytorch.utilities.model_summary import ModelSummary  # noqa: E402

model = LitModel()
summary = ModelSummary(model, max_depth=-1)
print(summary)
text = str(summary)
assert "net.1" in text and "BatchNorm1d" in text, text
assert summary.total_parameters == sum(p.numel() for p in model.parameters())

out = []
with captured(out):
    trainer = quiet(enable_model_summary=False, max_epochs=1, limit_train_batches=1, limit_val_batches=1, logger=False)
    trainer.fit(LitModel())
assert "Sequential" not in out[0], out[0]

# -- Overfit your model on a Subset of Data --
# use only 1% of training data (and turn off validation): 16 batches -> 1 (at least one)
class HundredBatches(LitModel):
    def train_dataloader(self):
        return DataLoader(dataset(400), batch_size=4, shuffle=True)

    def val_dataloader(self):
        return DataLoader(dataset(400), batch_size=4)


trainer = quiet(overfit_batches=0.01, max_epochs=2, logger=False, enable_checkpointing=False)
model = HundredBatches()
trainer.fit(model)
assert model.seen["train"] == [0, 0], model.seen
# Lightning 2.6.6 limits validation to the same fraction (its Trainer docs: "training/validation
# data") rather than turning it off as the page says
assert set(model.seen["val"]) == {0}, model.seen["val"]
# similar, but with a fixed 10 batches
trainer = quiet(overfit_batches=10, max_epochs=2, logger=False, enable_checkpointing=False)
model = LitModel()
firsts = []
model.on_train_batch_start = lambda batch, batch_idx: firsts.append(batch[0][0, 0].item()) if batch_idx == 0 else None
trainer.fit(model)
assert model.seen["train"] == list(range(10)) * 2, model.seen["train"]
assert firsts[0] == firsts[1] == dataset()[0][0][0].item(), firsts  # no shuffle

# -- Look-out for exploding gradients --
trainer = quiet(max_epochs=1, limit_train_batches=2, limit_val_batches=0, logger=False, enable_checkpointing=False)
model = LitModel()
trainer.fit(model)
assert len(model.norms) == 2 and "grad_2.0_norm_total" in model.norms[0], model.norms
assert "grad_2.0_norm/0.weight" in model.norms[0], sorted(model.norms[0])
assert "grad_2.0_norm_total" in trainer.callback_metrics, sorted(trainer.callback_metrics)


class BigGrads(LitModel):
    """Records the gradients the optimizer steps with (after clipping): a torch step post-hook."""

    def on_before_optimizer_step(self, optimizer):
        pass

    def training_step(self, batch, batch_idx):
        return super().training_step(batch, batch_idx) * 1000

    def configure_optimizers(self):
        optimizer = super().configure_optimizers()
        optimizer.register_step_post_hook(lambda *_: self.stepped.append([p.grad.clone() for p in self.parameters()]))
        return optimizer


# DEFAULT (ie: don't clip)
for kwargs in ({"gradient_clip_val": 0}, {"gradient_clip_val": 0.5}, {"gradient_clip_val": 0.5, "gradient_clip_algorithm": "value"}):
    trainer = quiet(max_epochs=1, limit_train_batches=1, limit_val_batches=0, logger=False, enable_checkpointing=False, **kwargs)
    model = BigGrads()
    model.stepped = []
    trainer.fit(model)
    (grads,) = model.stepped
    total = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
    if kwargs["gradient_clip_val"] == 0:
        assert total > 1, total
    elif kwargs.get("gradient_clip_algorithm") == "value":
        assert max(g.abs().max().item() for g in grads) <= 0.5 + 1e-6
    else:
        assert total <= 0.5 + 1e-4, total

# -- Detect autograd anomalies --
trainer = quiet(detect_anomaly=True, max_epochs=1, limit_train_batches=2, limit_val_batches=0, logger=False, enable_checkpointing=False)
trainer.fit(LitModel())


class NaNModel(LitModel):
    def training_step(self, batch, batch_idx):
        x, y = batch
        return torch.sqrt(-torch.ones(1, requires_grad=True) * self(x).pow(2).sum() - 1).sum()


trainer = quiet(detect_anomaly=True, max_epochs=1, limit_train_batches=1, limit_val_batches=0, logger=False, enable_checkpointing=False)
try:
    trainer.fit(NaNModel())
except RuntimeError as e:
    assert "nan" in str(e).lower(), e
else:
    raise AssertionError("detect_anomaly let a NaN gradient through")
print("debugging pages: ok")
