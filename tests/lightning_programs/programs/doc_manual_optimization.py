# Source: https://lightning.ai/docs/pytorch/stable/model/manual_optimization.html
#   (pytorch-lightning docs/source-pytorch/model/manual_optimization.rst; Apache-2.0,
#   Copyright The Lightning AI team)
# Edits: the page's snippets (minimal example, `optimizer.optimizer`, gradient accumulation,
#   `clip_gradients`, the SimpleGAN with two optimizers and `log_dict(prog_bar=True)`,
#   `lr_schedulers()` single/multiple/every N steps/every N epochs with `trainer.is_last_batch`,
#   ReduceLROnPlateau stepped with `trainer.callback_metrics["loss"]`, the LBFGS closure) joined
#   into one program; each snippet's `...` filled in with a small model over random tensors
#   (`compute_loss`, Generator/Discriminator, `self._Z`, `self.criterion`, `N = 2`);
#   `training_epoch_end(self, outputs)` (removed in Lightning 2) -> `on_train_epoch_end(self)`,
#   as the page's current version has it; Trainer given small limits; asserts on what the page
#   says happens.
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, TensorDataset
from pytorch_lightning import LightningModule, Trainer

N = 2


def loader(n=8, batch_size=2):
    g = torch.Generator().manual_seed(0)
    return DataLoader(TensorDataset(torch.randn(n, 4, generator=g), torch.randn(n, 1, generator=g)), batch_size=batch_size)


def trainer(**kwargs):
    kwargs.setdefault("max_epochs", 1)
    return Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False, **kwargs)


class Base(LightningModule):
    def __init__(self):
        super().__init__()
        self.layer = nn.Linear(4, 1)

    def compute_loss(self, batch):
        x, y = batch
        return nn.functional.mse_loss(self.layer(x), y)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


# --- the minimal example
class MyModel(Base):
    def __init__(self):
        super().__init__()
        # Important: This property activates manual optimization.
        self.automatic_optimization = False

    def training_step(self, batch, batch_idx):
        opt = self.optimizers()
        opt.zero_grad()
        loss = self.compute_loss(batch)
        self.manual_backward(loss)
        opt.step()


model = MyModel()
before = model.layer.weight.detach().clone()
t = trainer()
t.fit(model, loader())
assert t.global_step == 4, t.global_step
assert not torch.equal(before, model.layer.weight)


# --- Access your own optimizer
class Model(Base):
    def __init__(self):
        super().__init__()
        self.automatic_optimization = False
        self.wrapped = []

    def training_step(self, batch, batch_idx):
        optimizer = self.optimizers()
        self.wrapped.append(type(optimizer).__name__)

        # `optimizer` is a `LightningOptimizer` wrapping the optimizer.
        # To access it, do the following.
        # However, it won't work on TPU, AMP, etc...
        optimizer = optimizer.optimizer
        assert isinstance(optimizer, torch.optim.SGD)
        optimizer.zero_grad()
        self.manual_backward(self.compute_loss(batch))
        optimizer.step()


model = Model()
t = trainer()
t.fit(model, loader())
assert len(model.wrapped) == 4 and model.wrapped[0] != "SGD", model.wrapped
assert t.global_step == 0, t.global_step  # steps of the unwrapped optimizer are not counted


# --- Gradient Accumulation
class AccumulateModel(Base):
    def __init__(self):
        super().__init__()
        self.automatic_optimization = False
        self.steps = 0

    def training_step(self, batch, batch_idx):
        opt = self.optimizers()

        loss = self.compute_loss(batch)
        self.manual_backward(loss)

        # accumulate gradients of N batches
        if (batch_idx + 1) % N == 0:
            opt.step()
            opt.zero_grad()
            self.steps += 1


model = AccumulateModel()
t = trainer()
t.fit(model, loader())
assert model.steps == 2 and t.global_step == 2, (model.steps, t.global_step)


# --- Gradient Clipping
class ClipModel(Base):
    def __init__(self, gradient_clip_val=0.5, gradient_clip_algorithm="norm"):
        super().__init__()
        self.automatic_optimization = False
        self.gradient_clip_val = gradient_clip_val
        self.gradient_clip_algorithm = gradient_clip_algorithm
        self.norms = []

    def training_step(self, batch, batch_idx):
        opt = self.optimizers()

        # compute loss
        x, y = batch
        loss = self.compute_loss((x * 100, y))

        opt.zero_grad()
        self.manual_backward(loss)
        # clip gradients
        self.clip_gradients(opt, self.gradient_clip_val, self.gradient_clip_algorithm)
        self.norms.append(torch.cat([p.grad.flatten() for p in self.parameters()]).norm().item())
        opt.step()


model = ClipModel()
t = trainer()
t.fit(model, loader())
assert len(model.norms) == 4 and max(model.norms) <= 0.5 + 1e-4, model.norms


# --- Use Multiple Optimizers (like GANs)
class Generator(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Linear(2, 4)

    def forward(self, z):
        return self.net(z)


class Discriminator(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(4, 1), nn.Sigmoid())

    def forward(self, x):
        return self.net(x)


class SimpleGAN(LightningModule):
    def __init__(self):
        super().__init__()
        self.G = Generator()
        self.D = Discriminator()
        self._Z = torch.distributions.Normal(torch.zeros(2), torch.ones(2))
        self.criterion = nn.BCELoss()

        # Important: This property activates manual optimization.
        self.automatic_optimization = False

    def sample_z(self, n) -> Tensor:
        sample = self._Z.sample((n,))
        return sample

    def sample_G(self, n) -> Tensor:
        z = self.sample_z(n)
        return self.G(z)

    def training_step(self, batch, batch_idx):
        # Implementation follows the PyTorch tutorial:
        # https://pytorch.org/tutorials/beginner/dcgan_faces_tutorial.html
        g_opt, d_opt = self.optimizers()

        X, _ = batch
        batch_size = X.shape[0]

        real_label = torch.ones((batch_size, 1), device=self.device)
        fake_label = torch.zeros((batch_size, 1), device=self.device)

        g_X = self.sample_G(batch_size)

        ##########################
        # Optimize Discriminator #
        ##########################
        d_x = self.D(X)
        errD_real = self.criterion(d_x, real_label)

        d_z = self.D(g_X.detach())
        errD_fake = self.criterion(d_z, fake_label)

        errD = errD_real + errD_fake

        d_opt.zero_grad()
        self.manual_backward(errD)
        d_opt.step()

        ######################
        # Optimize Generator #
        ######################
        d_z = self.D(g_X)
        errG = self.criterion(d_z, real_label)

        g_opt.zero_grad()
        self.manual_backward(errG)
        g_opt.step()

        self.log_dict({"g_loss": errG, "d_loss": errD}, prog_bar=True)

    def configure_optimizers(self):
        g_opt = torch.optim.Adam(self.G.parameters(), lr=1e-5)
        d_opt = torch.optim.Adam(self.D.parameters(), lr=1e-5)
        return g_opt, d_opt


gan = SimpleGAN()
g_before = gan.G.net.weight.detach().clone()
t = trainer()
t.fit(gan, loader())
assert set(t.progress_bar_metrics) == {"g_loss", "d_loss"}, t.progress_bar_metrics
assert {"g_loss", "d_loss"} <= set(t.callback_metrics)
assert not torch.equal(g_before, gan.G.net.weight)


# --- Learning Rate Scheduling: step every batch, single and multiple schedulers
class EveryBatch(Base):
    def __init__(self, two=False):
        super().__init__()
        self.automatic_optimization = False
        self.two = two

    def training_step(self, batch, batch_idx):
        # do forward, backward, and optimization
        opts = self.optimizers()
        for opt in opts if self.two else [opts]:
            opt.zero_grad()
            self.manual_backward(self.compute_loss(batch))
            opt.step()

        if not self.two:
            # single scheduler
            sch = self.lr_schedulers()
            sch.step()
        else:
            # multiple schedulers
            sch1, sch2 = self.lr_schedulers()
            sch1.step()
            sch2.step()

    def configure_optimizers(self):
        opt1 = torch.optim.SGD(self.parameters(), lr=1.0)
        sch1 = torch.optim.lr_scheduler.StepLR(opt1, step_size=1, gamma=0.5)
        if not self.two:
            return [opt1], [sch1]
        opt2 = torch.optim.SGD(self.parameters(), lr=1.0)
        sch2 = torch.optim.lr_scheduler.StepLR(opt2, step_size=1, gamma=0.1)
        # "interval"/"frequency" are ignored in manual optimization
        return [opt1, opt2], [sch1, {"scheduler": sch2, "interval": "epoch", "frequency": 3}]


model = EveryBatch()
t = trainer()
t.fit(model, loader())
assert model.optimizers().param_groups[0]["lr"] == 0.5**4
model = EveryBatch(two=True)
t = trainer()
t.fit(model, loader())
opt1, opt2 = model.optimizers()
assert opt1.param_groups[0]["lr"] == 0.5**4
assert abs(opt2.param_groups[0]["lr"] - 0.1**4) < 1e-12, opt2.param_groups[0]["lr"]


# --- every N steps / every N epochs
class EveryN(Base):
    def __init__(self, per_epoch):
        super().__init__()
        self.automatic_optimization = False
        self.per_epoch = per_epoch

    def training_step(self, batch, batch_idx):
        # do forward, backward, and optimization
        opt = self.optimizers()
        opt.zero_grad()
        self.manual_backward(self.compute_loss(batch))
        opt.step()

        sch = self.lr_schedulers()

        # step every N batches
        if not self.per_epoch and (batch_idx + 1) % N == 0:
            sch.step()

        # step every N epochs
        if self.per_epoch and self.trainer.is_last_batch and (self.trainer.current_epoch + 1) % N == 0:
            sch.step()

    def configure_optimizers(self):
        opt = torch.optim.SGD(self.parameters(), lr=1.0)
        return [opt], [torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)]


model = EveryN(per_epoch=False)
t = trainer(max_epochs=2)
t.fit(model, loader())
assert model.optimizers().param_groups[0]["lr"] == 0.5**4  # 8 batches, every 2nd
model = EveryN(per_epoch=True)
t = trainer(max_epochs=4)
t.fit(model, loader())
assert model.optimizers().param_groups[0]["lr"] == 0.5**2  # 4 epochs, every 2nd


# --- schedulers that require a metric value after each epoch
class Plateau(Base):
    def __init__(self):
        super().__init__()
        self.automatic_optimization = False
        self.seen = []

    def training_step(self, batch, batch_idx):
        opt = self.optimizers()
        opt.zero_grad()
        loss = self.compute_loss(batch)
        self.manual_backward(loss)
        opt.step()
        self.log("loss", 1.0)  # never improves: the plateau is reached

    def configure_optimizers(self):
        opt = torch.optim.SGD(self.parameters(), lr=1.0)
        return [opt], [torch.optim.lr_scheduler.ReduceLROnPlateau(opt, patience=0, factor=0.5)]

    def on_train_epoch_end(self):
        sch = self.lr_schedulers()

        # If the selected scheduler is a ReduceLROnPlateau scheduler.
        if isinstance(sch, torch.optim.lr_scheduler.ReduceLROnPlateau):
            self.seen.append(float(self.trainer.callback_metrics["loss"]))
            sch.step(self.trainer.callback_metrics["loss"])


model = Plateau()
t = trainer(max_epochs=3)
t.fit(model, loader())
assert model.seen == [1.0, 1.0, 1.0], model.seen
assert model.optimizers().param_groups[0]["lr"] == 0.25, model.optimizers().param_groups[0]["lr"]


# --- Use Closure for LBFGS-like Optimizers
class LBFGSModel(Base):
    def __init__(self):
        super().__init__()
        self.automatic_optimization = False
        self.closure_calls = 0

    def configure_optimizers(self):
        return torch.optim.LBFGS(self.parameters(), lr=0.1, max_iter=3)

    def training_step(self, batch, batch_idx):
        opt = self.optimizers()

        def closure():
            self.closure_calls += 1
            loss = self.compute_loss(batch)
            opt.zero_grad()
            self.manual_backward(loss)
            return loss

        opt.step(closure=closure)


model = LBFGSModel()
t = trainer()
t.fit(model, loader())
assert model.closure_calls >= 4 and t.global_step == 4, (model.closure_calls, t.global_step)
print("OK")
