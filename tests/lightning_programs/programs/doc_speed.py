# Source: https://lightning.ai/docs/pytorch/stable/advanced/speed.html
#   (pytorch-lightning docs/source-pytorch/advanced/speed.rst; Apache-2.0, Copyright The
#   Lightning AI team).
# Edits: the snippets joined into one program around a small model on random tensors; each
#   Trainer the page builds on a CPU is run and what the page says happens is asserted:
#  - DataLoaders with `num_workers` and `persistent_workers=True` (no `pin_memory`: CPU);
#  - the "not using enough workers" warning with `num_workers=0` (on a machine with 3 CPUs or
#    more: Lightning 2.6.6 suggests workers only where 2 could run besides the main one), and both of the page's
#    `warnings.filterwarnings` lines silencing it (`PossibleUserWarning`);
#  - `min_epochs`/`max_epochs`, `max_steps`, `min_steps` (a stop asked for before `min_steps`
#    waits for it), `max_time` as a string and a dict (with `max_epochs`, sizes small);
#  - `check_val_every_n_epoch=1` and `=7`, `val_check_interval=1.0`, `0.25` and `100` (the last
#    on an IterableDataset);
#  - the SimpleGAN of "Model Toggling": manual optimization, accumulation over two batches,
#    `optimizer.toggle_model(sync_grad=...)`, `self.trainer.is_last_batch` (filled in with a
#    small generator and discriminator); the steps it takes are counted;
#  - the `optimizer_zero_grad(set_to_none=True)` override; buffers and `self.device` tensors.
#   Left out: the GPU/TPU trainers (`accelerator="gpu"`/`"tpu"`, `precision=16` on 4 GPUs,
#   `num_nodes`), the xla_dist command, copying data to /dev/shm.
import os
import tempfile
import warnings

import torch
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.callbacks.early_stopping import EarlyStopping  # noqa: F401  (testsetup)
from torch import nn
from torch.utils.data import DataLoader, IterableDataset, TensorDataset

ROOT = tempfile.mkdtemp()
QUIET = dict(default_root_dir=ROOT, logger=False, enable_checkpointing=False, enable_progress_bar=False)


def dataset(n=64):
    g = torch.Generator().manual_seed(0)
    return TensorDataset(torch.randn(n, 32, generator=g), torch.randn(n, 2, generator=g))


class LitModel(LightningModule):
    def __init__(self, loader_kwargs=None, stop_at_step=None):
        super().__init__()
        self.layer = nn.Linear(32, 2)
        self.loader_kwargs = loader_kwargs or {}
        self.stop_at_step = stop_at_step
        self.val_epochs = 0
        # good (Things to Avoid): a buffer, not `torch.rand(2, 2, device=self.device)`
        self.register_buffer("t", torch.rand(2, 2))

    def training_step(self, batch, batch_idx):
        x, y = batch
        t = torch.rand(2, 2, device=self.device)  # good: made on the module's device
        assert t.device == self.t.device
        loss = nn.functional.mse_loss(self.layer(x), y)
        if self.stop_at_step is not None and self.global_step >= self.stop_at_step:
            self.trainer.should_stop = True
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val_loss", nn.functional.mse_loss(self.layer(x), y))

    def on_validation_epoch_end(self):
        if not self.trainer.sanity_checking:
            self.val_epochs += 1

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01)

    def train_dataloader(self):
        return DataLoader(dataset(), batch_size=8, **self.loader_kwargs)

    def val_dataloader(self):
        return DataLoader(dataset(16), batch_size=8, **self.loader_kwargs)


# -- DataLoaders: num_workers, persistent_workers -----------------------------------------------
model = LitModel(dict(num_workers=2, persistent_workers=True))
trainer = Trainer(max_epochs=2, **QUIET)
trainer.fit(model)
assert trainer.global_step == 16 and model.val_epochs == 2


# -- num_workers=0 warns; the page's two filters silence it ---------------------------------------
def fit_warnings(*filters):
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        for args, kwargs in filters:
            warnings.filterwarnings(*args, **kwargs)
        Trainer(max_epochs=1, **QUIET).fit(LitModel())
    return [str(w.message) for w in seen if "Consider increasing the value of the `num_workers`" in str(w.message)]


if len(os.sched_getaffinity(0)) >= 3:  # Lightning warns only where 2 or more workers could run
    assert fit_warnings(), "a num_workers=0 loader warns"
assert not fit_warnings((("ignore", ".*Consider increasing the value of the `num_workers` argument*"), {}))
from lightning.pytorch.utilities.warnings import PossibleUserWarning  # noqa: E402

assert not fit_warnings((("ignore",), dict(category=PossibleUserWarning)))
warnings.filterwarnings("ignore", category=PossibleUserWarning)

# -- Control Training Epochs ----------------------------------------------------------------------
trainer = Trainer(min_epochs=1, max_epochs=1000)  # DEFAULT
assert trainer.min_epochs == 1 and trainer.max_epochs == 1000

trainer = Trainer(max_steps=1000)
assert trainer.max_steps == 1000
trainer = Trainer(max_steps=5, **QUIET)
trainer.fit(LitModel())
assert trainer.global_step == 5

trainer = Trainer(min_steps=100)
assert trainer.min_steps == 100
# a stop asked for at step 2 waits for min_steps
model = LitModel(stop_at_step=2)
trainer = Trainer(min_steps=12, max_epochs=5, **QUIET)
trainer.fit(model)
assert trainer.global_step == 12, trainer.global_step

# Stop after 12 hours of training or when reaching 10 epochs (string)
trainer = Trainer(max_time="00:12:00:00", max_epochs=10, **QUIET)
trainer.fit(LitModel())
assert trainer.current_epoch == 10 and trainer.global_step == 80

# Stop after 1 day and 5 hours (dict)
trainer = Trainer(max_time={"days": 1, "hours": 5}, max_epochs=2, **QUIET)
trainer.fit(LitModel())
assert trainer.current_epoch == 2

# -- Control Validation Frequency -----------------------------------------------------------------
model = LitModel()
trainer = Trainer(check_val_every_n_epoch=1, max_epochs=3, **QUIET)  # default
trainer.fit(model)
assert model.val_epochs == 3

model = LitModel()
trainer = Trainer(check_val_every_n_epoch=7, max_epochs=8, **QUIET)  # runs validation after every 7th Epoch
trainer.fit(model)
assert model.val_epochs == 1

model = LitModel()
trainer = Trainer(val_check_interval=1.0, max_epochs=2, **QUIET)  # default
trainer.fit(model)
assert model.val_epochs == 2

model = LitModel()
trainer = Trainer(val_check_interval=0.25, max_epochs=1, **QUIET)  # check every 1/4 th of an epoch
trainer.fit(model)
assert model.val_epochs == 4


class Stream(IterableDataset):
    def __iter__(self):
        g = torch.Generator().manual_seed(1)
        while True:
            yield torch.randn(32, generator=g), torch.randn(2, generator=g)


class StreamModel(LitModel):
    def train_dataloader(self):
        return DataLoader(Stream(), batch_size=4)


model = StreamModel()
trainer = Trainer(val_check_interval=100, max_steps=250, **QUIET)  # check every 100 train batches
trainer.fit(model)
assert trainer.global_step == 250 and model.val_epochs == 2


# -- Model Toggling -------------------------------------------------------------------------------
# Scenario for a GAN with gradient accumulation every two batches and optimized for multiple GPUs.
class SimpleGAN(LightningModule):
    def __init__(self):
        super().__init__()
        self.automatic_optimization = False
        self.G = nn.Sequential(nn.Linear(8, 32), nn.Tanh())  # filled in: the page leaves them out
        self.D = nn.Sequential(nn.Linear(32, 1), nn.Sigmoid())
        self.criterion = nn.BCELoss()
        self.steps = {"g": 0, "d": 0}

    def sample_G(self, batch_size):
        return self.G(torch.randn(batch_size, 8, device=self.device))

    def configure_optimizers(self):
        return torch.optim.Adam(self.G.parameters(), lr=1e-3), torch.optim.Adam(self.D.parameters(), lr=1e-3)

    def training_step(self, batch, batch_idx):
        # Implementation follows the PyTorch tutorial:
        # https://pytorch.org/tutorials/beginner/dcgan_faces_tutorial.html
        g_opt, d_opt = self.optimizers()

        X, _ = batch
        X.requires_grad = True
        batch_size = X.shape[0]

        real_label = torch.ones((batch_size, 1), device=self.device)
        fake_label = torch.zeros((batch_size, 1), device=self.device)

        # Sync and clear gradients
        # at the end of accumulation or
        # at the end of an epoch.
        is_last_batch_to_accumulate = (batch_idx + 1) % 2 == 0 or self.trainer.is_last_batch

        g_X = self.sample_G(batch_size)

        ##########################
        # Optimize Discriminator #
        ##########################
        with d_opt.toggle_model(sync_grad=is_last_batch_to_accumulate):
            assert all(not p.requires_grad for p in self.G.parameters())  # added: toggled
            d_x = self.D(X)
            errD_real = self.criterion(d_x, real_label)

            d_z = self.D(g_X.detach())
            errD_fake = self.criterion(d_z, fake_label)

            errD = errD_real + errD_fake

            self.manual_backward(errD)
            if is_last_batch_to_accumulate:
                d_opt.step()
                d_opt.zero_grad()
                self.steps["d"] += 1
        assert all(p.requires_grad for p in self.G.parameters())  # added: restored

        ######################
        # Optimize Generator #
        ######################
        with g_opt.toggle_model(sync_grad=is_last_batch_to_accumulate):
            d_z = self.D(g_X)
            errG = self.criterion(d_z, real_label)

            self.manual_backward(errG)
            if is_last_batch_to_accumulate:
                g_opt.step()
                g_opt.zero_grad()
                self.steps["g"] += 1

        self.log_dict({"g_loss": errG, "d_loss": errD}, prog_bar=True)


gan = SimpleGAN()
gan_data = TensorDataset(torch.rand(40, 32), torch.zeros(40))
trainer = Trainer(max_epochs=2, **QUIET)
trainer.fit(gan, DataLoader(gan_data, batch_size=8))  # 5 batches: steps after batches 2, 4, 5
assert gan.steps == {"g": 6, "d": 6}, gan.steps
assert {"g_loss", "d_loss"} <= set(trainer.progress_bar_metrics)


# -- Set Grads to None ----------------------------------------------------------------------------
class Model(LitModel):
    calls = 0

    def optimizer_zero_grad(self, epoch, batch_idx, optimizer):
        optimizer.zero_grad(set_to_none=True)
        Model.calls += 1


model = Model()
trainer = Trainer(max_epochs=1, **QUIET)
trainer.fit(model)
assert Model.calls == 8 and all(p.grad is None for p in model.parameters())
print("doc_speed: ok")
