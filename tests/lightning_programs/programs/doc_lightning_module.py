# Source: https://lightning.ai/docs/pytorch/stable/common/lightning_module.html
#   (pytorch-lightning docs/source-pytorch/common/lightning_module.rst; Apache-2.0,
#   Copyright The Lightning AI team)
# Edits: the page's snippets joined into one program, each `...` filled in with small models
#   over random tensors (MNIST -> random 1x28x28 images, resnet50/vgg16 -> small nets):
#  - starter LitModel; epoch-level `self.log(on_step=True, on_epoch=True, prog_bar=True)`;
#    `training_step_outputs` / `validation_step_outputs` gathered and cleared in the epoch-end
#    hooks; `trainer.validate(model)`; `trainer.test(dataloaders=)` and
#    `trainer.predict(dataloaders=)` after `fit` (the best weights); LitMCdropoutModel;
#    the `Autoencoder` with `predict_step` calling forward; ClassificationTask with
#    `log_dict` and `trainer.save_checkpoint("best_model.ckpt")` (its reload passes `model=`:
#    the class saves no hyper-parameters, so the page's bare reload fails on Lightning too);
#  - save_hyperparameters forms, `ignore=` and the reload with the excluded arguments given;
#  - the "Properties" snippets (current_epoch, device, global_rank, global_step, hparams,
#    logger/loggers with `logger.log_metrics({"foo": 1.0})`, local_rank, trainer.max_steps,
#    prepare_data_per_node, `optimizers(use_pl_optimizer=True)` with two optimizers,
#    example_input_array); `self.precision` left out (no such attribute in Lightning 2.6.6);
#  - the "Hooks" pseudocode checked against the order the hooks really run in (the list below
#    is what Lightning 2.6.6 calls for one epoch of 2 batches, a 1-batch validation and no
#    sanity check: `configure_callbacks` before `prepare_data`, and `optimizer_step` around
#    the closure that runs `training_step` and the backward hooks, unlike the pseudocode; the
#    places of the `*_dataloader` calls and of the zero-grad pair are not compared, see there); `freeze`/`unfreeze`, `toggle_optimizer`, `to_torchscript`, `print`,
#    `all_gather`, `configure_callbacks` from the "Methods" list; `to_onnx` left out (no onnx).
import os

import lightning.pytorch as pl
import torch
import torch.nn as nn
import torch.nn.functional as F
from lightning.pytorch import Callback, LightningModule, Trainer
from torch.utils.data import DataLoader, TensorDataset
from torchmetrics.functional import accuracy


def MNIST(root, download=True, transform=None, n=16):  # edit: random tensors
    g = torch.Generator().manual_seed(n)
    return TensorDataset(torch.rand(n, 1, 28, 28, generator=g), torch.randint(0, 10, (n,), generator=g))


def trainer(**kwargs):
    kwargs.setdefault("max_epochs", 1)
    kwargs.setdefault("enable_progress_bar", False)
    kwargs.setdefault("enable_model_summary", False)
    return Trainer(**kwargs)


# --- Starter Example
class LitModel(pl.LightningModule):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(28 * 28, 10)

    def forward(self, x):
        return torch.relu(self.l1(x.view(x.size(0), -1)))

    def training_step(self, batch, batch_idx):
        x, y = batch
        y_hat = self(x)
        loss = F.cross_entropy(y_hat, y)
        return loss

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=0.02)


train_loader = DataLoader(MNIST(os.getcwd(), download=True, transform=None), batch_size=4)
t = pl.Trainer(max_epochs=1, enable_progress_bar=False)
model = LitModel()
t.fit(model, train_dataloaders=train_loader)
assert t.global_step == 4


# --- Training, Validation, Testing with epoch-level metrics and outputs
class LitClassifier(pl.LightningModule):
    def __init__(self, model):
        super().__init__()
        self.model = model
        self.training_step_outputs = []
        self.validation_step_outputs = []
        self.epoch_preds = []

    def training_step(self, batch, batch_idx):
        x, y = batch
        y_hat = self.model(x)
        loss = F.cross_entropy(y_hat, y)
        preds = y_hat.argmax(-1)
        self.training_step_outputs.append(preds)

        # logs metrics for each training_step,
        # and the average across the epoch, to the progress bar and logger
        self.log("train_loss", loss, on_step=True, on_epoch=True, prog_bar=True, logger=True)
        return loss

    def on_train_epoch_end(self):
        all_preds = torch.stack(self.training_step_outputs)
        # do something with all preds
        self.epoch_preds.append(("train", tuple(all_preds.shape)))
        self.training_step_outputs.clear()  # free memory

    def validation_step(self, batch, batch_idx):
        x, y = batch
        y_hat = self.model(x)
        loss = F.cross_entropy(y_hat, y)
        self.log("val_loss", loss)
        pred = y_hat.argmax(-1)
        self.validation_step_outputs.append(pred)
        return pred

    def on_validation_epoch_end(self):
        all_preds = torch.stack(self.validation_step_outputs)
        # do something with all preds
        self.epoch_preds.append(("val", tuple(all_preds.shape)))
        self.validation_step_outputs.clear()  # free memory

    def test_step(self, batch, batch_idx):
        x, y = batch
        self.log("test_loss", F.cross_entropy(self.model(x), y))

    def predict_step(self, batch, batch_idx):
        return self.model(batch[0])

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


net = nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 10))
model = LitClassifier(net)
val_loader = DataLoader(MNIST(None, n=8), batch_size=4)
t = trainer(max_epochs=2, num_sanity_val_steps=0)
t.fit(model, train_loader, val_loader)
assert model.epoch_preds == [("val", (2, 4)), ("train", (4, 4))] * 2, model.epoch_preds
assert {"train_loss_step", "train_loss_epoch", "val_loss"} <= set(t.callback_metrics), t.callback_metrics
assert {"train_loss_step", "train_loss_epoch"} <= set(t.progress_bar_metrics), t.progress_bar_metrics
assert os.path.basename(t.checkpoint_callback.best_model_path) == "epoch=1-step=8.ckpt", t.checkpoint_callback.best_model_path
# automatically auto-loads the best weights from the previous run
(result,) = t.test(dataloaders=val_loader, verbose=False)
assert set(result) == {"test_loss"}
predictions = t.predict(dataloaders=val_loader)
assert len(predictions) == 2 and predictions[0].shape == (4, 10)
t2 = trainer()
(result,) = t2.validate(model, dataloaders=val_loader, verbose=False)
assert set(result) == {"val_loss"}, result


# --- Prediction Loop: Monte Carlo dropout
class LitMCdropoutModel(pl.LightningModule):
    def __init__(self, model, mc_iteration):
        super().__init__()
        self.model = model
        self.dropout = nn.Dropout()
        self.mc_iteration = mc_iteration

    def predict_step(self, batch, batch_idx):
        x, _ = batch
        # enable Monte Carlo Dropout
        self.dropout.train()

        # take average of `self.mc_iteration` iterations
        pred = torch.vstack([self.dropout(self.model(x)).unsqueeze(0) for _ in range(self.mc_iteration)]).mean(dim=0)
        return pred


mc = LitMCdropoutModel(net, mc_iteration=5)
preds = trainer().predict(mc, dataloaders=val_loader)
assert len(preds) == 2 and preds[0].shape == (4, 10)
assert mc.training  # predict() puts the model back in the mode it found it in


# --- Inference in Research
class Autoencoder(pl.LightningModule):
    def __init__(self):
        super().__init__()
        self.decoder = nn.Linear(3, 28 * 28)

    def forward(self, x):
        return self.decoder(x)

    def predict_step(self, batch, batch_idx, dataloader_idx=0):
        # this calls forward
        return self(batch)


model = Autoencoder()
model.eval()
embedding = torch.randn(2, 3)
with torch.no_grad():
    reconstruction = model(embedding)
assert reconstruction.shape == (2, 28 * 28)
preds = trainer().predict(model, DataLoader(torch.randn(6, 3), batch_size=3))
assert [p.shape for p in preds] == [(3, 28 * 28)] * 2


# --- Inference in Production
class ClassificationTask(pl.LightningModule):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def training_step(self, batch, batch_idx):
        x, y = batch
        y_hat = self.model(x)
        loss = F.cross_entropy(y_hat, y)
        return loss

    def validation_step(self, batch, batch_idx):
        loss, acc = self._shared_eval_step(batch, batch_idx)
        metrics = {"val_acc": acc, "val_loss": loss}
        self.log_dict(metrics)
        return metrics

    def test_step(self, batch, batch_idx):
        loss, acc = self._shared_eval_step(batch, batch_idx)
        metrics = {"test_acc": acc, "test_loss": loss}
        self.log_dict(metrics)
        return metrics

    def _shared_eval_step(self, batch, batch_idx):
        x, y = batch
        y_hat = self.model(x)
        loss = F.cross_entropy(y_hat, y)
        acc = accuracy(y_hat, y, task="multiclass", num_classes=10)  # edit: torchmetrics >= 0.11 needs task
        return loss, acc

    def predict_step(self, batch, batch_idx, dataloader_idx=0):
        x, y = batch
        y_hat = self.model(x)
        return y_hat

    def configure_optimizers(self):
        return torch.optim.Adam(self.model.parameters(), lr=0.02)


for model in [nn.Sequential(nn.Flatten(), nn.Linear(784, 10)), nn.Sequential(nn.Flatten(), nn.Linear(784, 8), nn.ReLU(), nn.Linear(8, 10))]:
    task = ClassificationTask(model)
    t = trainer()
    t.fit(task, train_dataloaders=train_loader, val_dataloaders=val_loader)
    assert {"val_acc", "val_loss"} <= set(t.callback_metrics)

t.save_checkpoint("best_model.ckpt")
# use model after training or load weights and drop into the production system
model = ClassificationTask.load_from_checkpoint("best_model.ckpt", model=nn.Sequential(nn.Flatten(), nn.Linear(784, 8), nn.ReLU(), nn.Linear(8, 10)))
x = torch.rand(2, 1, 28, 28)
model.eval()
with torch.no_grad():
    y_hat = model.model(x)
assert torch.equal(y_hat, task.model(x))


# --- Save Hyperparameters
class LitMNIST(LightningModule):
    def __init__(self, layer_1_dim=128, learning_rate=1e-2):
        super().__init__()
        # call this to save (layer_1_dim=128, learning_rate=1e-4) to the checkpoint
        self.save_hyperparameters()
        assert dict(self.hparams) == {"layer_1_dim": layer_1_dim, "learning_rate": learning_rate}

        # equivalent
        self.save_hyperparameters("layer_1_dim", "learning_rate")

        # Now possible to access layer_1_dim from hparams
        self.hparams.layer_1_dim
        self.layer = nn.Linear(28 * 28, self.hparams.layer_1_dim)


m = LitMNIST(layer_1_dim=16)
assert m.hparams.layer_1_dim == 16 and m.hparams["learning_rate"] == 1e-2


class MyGenerator(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Linear(2, 2)


class LitMNIST(LightningModule):
    def __init__(self, loss_fx, generator_network, layer_1_dim=128):
        super().__init__()
        self.layer_1_dim = layer_1_dim
        self.loss_fx = loss_fx

        # call this to save only (layer_1_dim=128) to the checkpoint
        self.save_hyperparameters("layer_1_dim")
        assert dict(self.hparams) == {"layer_1_dim": layer_1_dim}

        # equivalent
        self.save_hyperparameters(ignore=["loss_fx", "generator_network"])
        assert dict(self.hparams) == {"layer_1_dim": layer_1_dim}
        self.generator_network = generator_network
        self.layer = nn.Linear(28 * 28, 10)

    def training_step(self, batch, batch_idx):
        x, y = batch
        return self.loss_fx()(self.layer(x.flatten(1)), y)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


t = trainer(limit_train_batches=2)
t.fit(LitMNIST(nn.CrossEntropyLoss, MyGenerator(), layer_1_dim=32), train_loader)
PATH = t.checkpoint_callback.best_model_path
# the excluded parameters were `loss_fx` and `generator_network`
model = LitMNIST.load_from_checkpoint(PATH, loss_fx=torch.nn.CrossEntropyLoss, generator_network=MyGenerator())
assert model.layer_1_dim == 32 and model.hparams.layer_1_dim == 32


# --- Properties
class Props(pl.LightningModule):
    def __init__(self, learning_rate=0.1):
        super().__init__()
        self.save_hyperparameters()
        self.automatic_optimization = False
        self.prepare_data_per_node = True
        self.generator = nn.Linear(4, 4)
        self.disc = nn.Linear(4, 1)
        self.example_input_array = torch.zeros(2, 4)
        self.seen = []

    def forward(self, x):
        return self.disc(self.generator(x))

    def training_step(self, batch, batch_idx):
        if self.current_epoch == 0:
            self.seen.append(("epoch0", batch_idx))
        z = torch.rand(2, 3, device=self.device)
        assert z.device == self.device == torch.device("cpu")
        if self.global_rank == 0 and self.local_rank == 0:
            self.seen.append(("rank0", self.global_step))
        # the generic logger (same no matter if tensorboard or other supported logger)
        self.logger
        # the particular logger
        tensorboard_logger = self.logger.experiment
        assert hasattr(tensorboard_logger, "add_scalar")
        # List of Logger objects
        loggers = self.loggers
        for logger in loggers:
            logger.log_metrics({"foo": 1.0})
        max_steps = self.trainer.max_steps
        assert max_steps == -1

        # access your optimizers with use_pl_optimizer=False. Default is True
        opt_a, opt_b = self.optimizers(use_pl_optimizer=True)

        gen_loss = self.disc(self.generator(batch[0])).mean()
        opt_a.zero_grad()
        self.manual_backward(gen_loss)
        opt_a.step()

        disc_loss = -self.disc(batch[0]).mean()
        opt_b.zero_grad()
        self.manual_backward(disc_loss)
        opt_b.step()

    def on_train_epoch_end(self):
        # generate some images using the example_input_array
        gen_images = self.generator(self.example_input_array)
        self.seen.append(("gen", tuple(gen_images.shape)))

    def configure_optimizers(self):
        return (
            torch.optim.Adam(self.generator.parameters(), lr=self.hparams.learning_rate),
            torch.optim.Adam(self.disc.parameters(), lr=self.hparams.learning_rate),
        )


model = Props()
t = trainer(limit_train_batches=2)
t.fit(model, DataLoader(TensorDataset(torch.randn(8, 4)), batch_size=2))
assert model.seen[:2] == [("epoch0", 0), ("rank0", 0)] and model.seen[-1] == ("gen", (2, 4)), model.seen
assert model.global_step == t.global_step


# --- Hooks: the order `fit` calls them in
class Recorder(pl.LightningModule):
    def __init__(self):
        super().__init__()
        self.layer = nn.Linear(4, 1)
        self.calls = []

    def training_step(self, batch, batch_idx):
        self.calls.append("training_step")
        return self.layer(batch[0]).sum()

    def validation_step(self, batch, batch_idx):
        self.calls.append("validation_step")

    def configure_optimizers(self):
        self.calls.append("configure_optimizers")
        return torch.optim.SGD(self.parameters(), lr=0.1)

    def train_dataloader(self):
        self.calls.append("train_dataloader")
        return DataLoader(TensorDataset(torch.randn(4, 4)), batch_size=2)

    def val_dataloader(self):
        self.calls.append("val_dataloader")
        return DataLoader(TensorDataset(torch.randn(2, 4)), batch_size=2)


HOOKS = [
    "prepare_data", "configure_callbacks", "setup", "on_fit_start", "on_train_start", "on_train_end", "on_fit_end",
    "teardown", "on_train_epoch_start", "on_train_epoch_end", "on_train_batch_start", "on_train_batch_end",
    "on_before_batch_transfer", "transfer_batch_to_device", "on_after_batch_transfer", "on_before_zero_grad",
    "optimizer_zero_grad", "on_before_backward", "backward", "on_after_backward", "on_before_optimizer_step",
    "configure_gradient_clipping", "optimizer_step", "on_validation_model_eval", "on_validation_model_train",
    "on_validation_start", "on_validation_end", "on_validation_epoch_start", "on_validation_epoch_end",
    "on_validation_batch_start", "on_validation_batch_end", "configure_model",
]


def recording(name):
    def hook(self, *args, **kwargs):
        self.calls.append(name)
        return getattr(pl.LightningModule, name)(self, *args, **kwargs)

    return hook


for name in HOOKS:
    setattr(Recorder, name, recording(name))

model = Recorder()
t = trainer(num_sanity_val_steps=0, logger=False, enable_checkpointing=False)
t.fit(model)
BATCH = ["on_before_batch_transfer", "transfer_batch_to_device", "on_after_batch_transfer"]
# optimizer_step runs the closure (training_step, zero_grad, backward) inside it
TRAIN_BATCH = [
    *BATCH, "on_train_batch_start", "optimizer_step", "training_step", "on_before_zero_grad", "optimizer_zero_grad",
    "on_before_backward", "backward", "on_after_backward", "on_before_optimizer_step",
    "configure_gradient_clipping", "on_train_batch_end",
]
EXPECTED = [
    "configure_callbacks", "prepare_data", "setup", "configure_model", "configure_optimizers", "on_fit_start",
    "train_dataloader", "val_dataloader", "on_train_start", "on_train_epoch_start",
    *TRAIN_BATCH, *TRAIN_BATCH,
    "on_validation_model_eval", "on_validation_start", "on_validation_epoch_start",
    *BATCH, "on_validation_batch_start", "validation_step", "on_validation_batch_end",
    "on_validation_epoch_end", "on_validation_end", "on_validation_model_train",
    "on_train_epoch_end", "on_train_end", "on_fit_end", "teardown",
]
# edit: the loaders' calls and the zero-grad pair are counted, their places not compared
# (treadle calls `*_dataloader` before `configure_optimizers`, and zero-grads before
# `training_step`, as its docs/hooks.md says)
MOVABLE = ("train_dataloader", "val_dataloader", "on_before_zero_grad", "optimizer_zero_grad")
assert [c for c in model.calls if c not in MOVABLE] == [c for c in EXPECTED if c not in MOVABLE], model.calls
assert sorted(c for c in model.calls if c in MOVABLE) == sorted(c for c in EXPECTED if c in MOVABLE), model.calls


# --- Methods: freeze/unfreeze, toggle_optimizer, to_torchscript, print, all_gather, configure_callbacks
class Seen(Callback):
    def __init__(self):
        self.started = 0

    def on_train_start(self, trainer, pl_module):
        self.started += 1


seen = Seen()


class Methods(LitModel):
    def configure_callbacks(self):
        return [seen]

    def training_step(self, batch, batch_idx):
        opt = self.optimizers()
        self.toggle_optimizer(opt)
        loss = super().training_step(batch, batch_idx)
        self.untoggle_optimizer(opt)
        gathered = self.all_gather(loss.detach())
        assert gathered.shape == loss.shape
        self.print("loss", float(loss))
        return loss


model = Methods()
t = trainer(limit_train_batches=2, logger=False, enable_checkpointing=False)
t.fit(model, train_loader)
assert seen.started == 1 and seen in t.callbacks
model.freeze()
assert not model.training and not any(p.requires_grad for p in model.parameters())
out = model(torch.rand(2, 1, 28, 28))
model.unfreeze()
assert model.training and all(p.requires_grad for p in model.parameters())
script = model.to_torchscript()
assert torch.allclose(script(torch.ones(1, 1, 28, 28)), model(torch.ones(1, 1, 28, 28)))
print("OK")
