"""Every example of the "Own your loop" guide, run on CPU with only the names swapped.

``LightningModule`` becomes ``treadle.Module`` and ``Trainer`` stays ``Trainer``; the bodies of
``training_step`` & co. are the guide's, filled in with a tiny model and a few batches. Each test
checks that the example does what the guide says it does (and what it does under Lightning 2).
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

import treadle
from conftest_helpers import (
    IN_DIM,
    all_changed,
    assert_params_equal,
    grad_norm,
    make_loader,
    make_trainer,
    snapshot,
    user_scheduler,
)

N_BATCHES = 4
EPOCHS = 2


def _adam_steps(optimizer: torch.optim.Optimizer) -> list[int]:
    """Adam's per-parameter step counters (how many times ``step()`` really updated each)."""
    return [
        int(optimizer.state[p]["step"]) for group in optimizer.param_groups for p in group["params"]
    ]


# ---------------------------------------------------------------------------------------------
# Injecting custom code: overriding backward
# ---------------------------------------------------------------------------------------------


class BackwardModel(treadle.Module):
    def __init__(self, call_backward: bool = True):
        super().__init__()
        self.layer = nn.Linear(IN_DIM, 1)
        self.call_backward = call_backward
        self.backward_losses: list[Tensor] = []
        self.step_losses: list[Tensor] = []

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = F.mse_loss(self.layer(x), y)
        self.step_losses.append(loss.detach().clone())
        return loss

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)

    # the guide's example
    def backward(self, loss):
        self.backward_losses.append(loss.detach().clone())
        if self.call_backward:
            loss.backward()


def test_backward_override_is_called_and_trains(tmp_path):
    model = BackwardModel()
    before = snapshot(model)
    trainer = make_trainer(tmp_path, max_epochs=EPOCHS)
    trainer.fit(model, make_loader(N_BATCHES))

    assert len(model.backward_losses) == N_BATCHES * EPOCHS
    # the override receives the loss that training_step returned
    for got, want in zip(model.backward_losses, model.step_losses):
        assert torch.allclose(got, want)
    assert all_changed(before, model)
    assert trainer.global_step == N_BATCHES * EPOCHS


def test_backward_override_replaces_the_default_backward(tmp_path):
    """An override that does not call ``loss.backward()`` means no gradients: nothing may train."""
    model = BackwardModel(call_backward=False)
    before = snapshot(model)
    make_trainer(tmp_path, max_epochs=1).fit(model, make_loader(N_BATCHES))
    assert len(model.backward_losses) == N_BATCHES
    for b, p in zip(before, model.parameters()):
        assert p.grad is None, "a backward ran besides the user's override"
        assert torch.equal(b, p.detach())


# ---------------------------------------------------------------------------------------------
# Manual optimization: the minimal example
# ---------------------------------------------------------------------------------------------


class MyModel(treadle.Module):
    def __init__(self):
        super().__init__()
        # Important: This property activates manual optimization.
        self.automatic_optimization = False
        self.layer = nn.Linear(IN_DIM, 1)
        self.losses: list[float] = []

    def compute_loss(self, batch):
        x, y = batch
        loss = F.mse_loss(self.layer(x), y)
        self.losses.append(loss.item())
        return loss

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=0.05)

    def training_step(self, batch, batch_idx):
        opt = self.optimizers()
        opt.zero_grad()
        loss = self.compute_loss(batch)
        self.manual_backward(loss)
        opt.step()


def test_minimal_manual_optimization(tmp_path):
    model = MyModel()
    before = snapshot(model)
    trainer = make_trainer(tmp_path, max_epochs=3)
    trainer.fit(model, make_loader(N_BATCHES))

    n = N_BATCHES * 3
    assert len(model.losses) == n
    assert all_changed(before, model)
    opt = model.optimizers()
    assert not isinstance(opt, (list, tuple)), "one optimizer: optimizers() returns it, not a list"
    assert _adam_steps(opt.optimizer) == [n, n], "every opt.step() must reach the user's optimizer"
    assert trainer.global_step == n
    assert model.losses[-1] < model.losses[0]


def test_manual_optimization_matches_plain_loop(tmp_path):
    """The guide's minimal loop is exactly ``zero_grad; backward; step``: same numbers as PyTorch."""
    model = MyModel()
    ref = nn.Linear(IN_DIM, 1)
    ref.load_state_dict(model.layer.state_dict())
    opt = torch.optim.Adam(ref.parameters(), lr=0.05)
    loader = make_loader(N_BATCHES)
    for _ in range(2):
        for x, y in loader:
            opt.zero_grad()
            F.mse_loss(ref(x), y).backward()
            opt.step()
    make_trainer(tmp_path, max_epochs=2).fit(model, loader)
    assert_params_equal(model.layer, ref)


# ---------------------------------------------------------------------------------------------
# Access your own optimizer
# ---------------------------------------------------------------------------------------------


class OwnOptimizerModel(treadle.Module):
    def __init__(self):
        super().__init__()
        self.automatic_optimization = False
        self.layer = nn.Linear(IN_DIM, 1)
        self.configured = None
        self.seen: list[object] = []

    def configure_optimizers(self):
        self.configured = torch.optim.SGD(self.parameters(), lr=0.1)
        return self.configured

    def training_step(self, batch, batch_idx):
        optimizer = self.optimizers()
        # `optimizer` is a wrapper around the optimizer; `.optimizer` is the user's own
        optimizer = optimizer.optimizer
        self.seen.append(optimizer)
        x, y = batch
        loss = F.mse_loss(self.layer(x), y)
        optimizer.zero_grad()
        self.manual_backward(loss)
        optimizer.step()


def test_access_your_own_optimizer(tmp_path):
    model = OwnOptimizerModel()
    before = snapshot(model)
    make_trainer(tmp_path, max_epochs=1).fit(model, make_loader(N_BATCHES))
    assert len(model.seen) == N_BATCHES
    assert all(o is model.configured for o in model.seen)
    assert isinstance(model.seen[0], torch.optim.SGD)
    assert all_changed(before, model)


# ---------------------------------------------------------------------------------------------
# Gradient accumulation (manual)
# ---------------------------------------------------------------------------------------------

N = 2


class AccumulateModel(treadle.Module):
    def __init__(self, net):
        super().__init__()
        self.automatic_optimization = False
        self.net = net

    def compute_loss(self, batch):
        x, y = batch
        return F.mse_loss(self.net(x), y)

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=0.05)

    def training_step(self, batch, batch_idx):
        opt = self.optimizers()

        # scale losses by 1/N (for N batches of gradient accumulation)
        loss = self.compute_loss(batch) / N
        self.manual_backward(loss)

        # accumulate gradients of N batches
        if (batch_idx + 1) % N == 0:
            opt.step()
            opt.zero_grad()


def test_manual_gradient_accumulation(tmp_path):
    torch.manual_seed(0)
    net = nn.Linear(IN_DIM, 1)
    ref = nn.Linear(IN_DIM, 1)
    ref.load_state_dict(net.state_dict())
    model = AccumulateModel(net)
    loader = make_loader(N_BATCHES)
    trainer = make_trainer(tmp_path, max_epochs=EPOCHS)
    trainer.fit(model, loader)

    steps = EPOCHS * N_BATCHES // N
    assert _adam_steps(model.optimizers().optimizer) == [steps, steps]
    # global_step counts batches on which an optimizer stepped
    assert trainer.global_step == steps

    # the same accumulation in plain PyTorch gives the same parameters
    opt = torch.optim.Adam(ref.parameters(), lr=0.05)
    for _ in range(EPOCHS):
        for i, (x, y) in enumerate(loader):
            (F.mse_loss(ref(x), y) / N).backward()
            if (i + 1) % N == 0:
                opt.step()
                opt.zero_grad()
    assert_params_equal(model.net, ref)


# ---------------------------------------------------------------------------------------------
# Gradient clipping (manual)
# ---------------------------------------------------------------------------------------------


class SimpleModel(treadle.Module):
    def __init__(self, algorithm="norm"):
        super().__init__()
        self.automatic_optimization = False
        self.layer = nn.Linear(IN_DIM, 1)
        self.algorithm = algorithm
        self.before_clip: list[float] = []
        self.after_clip: list[float] = []
        self.at_optimizer_step: list[float] = []

    def compute_loss(self, batch):
        x, y = batch
        return F.mse_loss(self.layer(x), y)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01)

    def _measure(self):
        if self.algorithm == "norm":
            return grad_norm(self.parameters())
        return max(p.grad.abs().max().item() for p in self.parameters())

    def training_step(self, batch, batch_idx):
        opt = self.optimizers()

        # compute loss
        loss = self.compute_loss(batch)

        opt.zero_grad()
        self.manual_backward(loss)
        self.before_clip.append(self._measure())

        # clip gradients
        self.clip_gradients(opt, gradient_clip_val=0.5, gradient_clip_algorithm=self.algorithm)
        self.after_clip.append(self._measure())

        opt.step()

    def on_before_optimizer_step(self, optimizer):
        # in manual optimization this runs inside opt.step(), after the user's clipping
        self.at_optimizer_step.append(self._measure())


@pytest.mark.parametrize("algorithm", ["norm", "value"])
def test_manual_gradient_clipping(tmp_path, algorithm):
    model = SimpleModel(algorithm)
    before = snapshot(model)
    # targets scaled up so that the raw gradients are far above 0.5
    make_trainer(tmp_path, max_epochs=1).fit(model, make_loader(N_BATCHES, scale=20.0))

    assert len(model.after_clip) == N_BATCHES
    assert max(model.before_clip) > 0.5, "test data must produce gradients that need clipping"
    assert all(v <= 0.5 + 1e-6 for v in model.after_clip), model.after_clip
    assert all_changed(before, model)


def test_manual_clipping_then_on_before_optimizer_step_sees_clipped_grads(tmp_path):
    model = SimpleModel("norm")
    make_trainer(tmp_path, max_epochs=1).fit(model, make_loader(N_BATCHES, scale=20.0))
    assert len(model.at_optimizer_step) == N_BATCHES, (
        "on_before_optimizer_step must run on every opt.step()"
    )
    assert all(v <= 0.5 + 1e-6 for v in model.at_optimizer_step)


# ---------------------------------------------------------------------------------------------
# Multiple optimizers: the SimpleGAN
# ---------------------------------------------------------------------------------------------

LATENT = 2


class Generator(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(LATENT, 8), nn.ReLU(), nn.Linear(8, IN_DIM))

    def forward(self, z):
        return self.net(z)


class Discriminator(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(IN_DIM, 8), nn.ReLU(), nn.Linear(8, 1))

    def forward(self, x):
        return self.net(x)


class SimpleGAN(treadle.Module):
    def __init__(self, lr=1e-5):
        super().__init__()
        self.G = Generator()
        self.D = Discriminator()
        self._Z = torch.distributions.Normal(torch.zeros(LATENT), torch.ones(LATENT))
        self.criterion = nn.BCEWithLogitsLoss()
        self.lr = lr
        self.configured = None
        self.last = {}

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

        self.last = {"g_loss": errG.item(), "d_loss": errD.item()}
        self.log_dict({"g_loss": errG, "d_loss": errD}, prog_bar=True)

    def configure_optimizers(self):
        g_opt = torch.optim.Adam(self.G.parameters(), lr=self.lr)
        d_opt = torch.optim.Adam(self.D.parameters(), lr=self.lr)
        self.configured = (g_opt, d_opt)
        return g_opt, d_opt


def test_simple_gan(tmp_path):
    torch.manual_seed(0)
    model = SimpleGAN()
    g_before, d_before = snapshot(model.G), snapshot(model.D)
    trainer = make_trainer(tmp_path, max_epochs=EPOCHS)
    trainer.fit(model, make_loader(N_BATCHES))

    assert all_changed(g_before, model.G), "the generator did not train"
    assert all_changed(d_before, model.D), "the discriminator did not train"

    g_opt, d_opt = model.optimizers()
    assert g_opt.optimizer is model.configured[0]
    assert d_opt.optimizer is model.configured[1]
    n = N_BATCHES * EPOCHS
    assert _adam_steps(g_opt.optimizer) == [n] * 4
    assert _adam_steps(d_opt.optimizer) == [n] * 4

    # two optimizer steps per batch advance global_step by one (API.md), not two
    assert trainer.global_step == n


def test_simple_gan_log_dict_prog_bar(tmp_path):
    torch.manual_seed(0)
    model = SimpleGAN()
    trainer = make_trainer(tmp_path, max_epochs=1)
    trainer.fit(model, make_loader(N_BATCHES))

    for key in ("g_loss", "d_loss"):
        assert key in trainer.progress_bar_metrics, trainer.progress_bar_metrics
        assert key in trainer.callback_metrics, trainer.callback_metrics
        # logged in training_step with the defaults: on_step=True, on_epoch=False -> the last value
        assert float(trainer.progress_bar_metrics[key]) == pytest.approx(model.last[key], abs=1e-6)
        assert float(trainer.callback_metrics[key]) == pytest.approx(model.last[key], abs=1e-6)
    assert not any(k.endswith(("_step", "_epoch")) for k in trainer.progress_bar_metrics)


class ToggledGAN(SimpleGAN):
    """The GAN with toggle_optimizer/untoggle_optimizer around each optimizer's block."""

    def __init__(self):
        super().__init__(lr=1e-3)
        self.checks: list[tuple[bool, bool]] = []

    def training_step(self, batch, batch_idx):
        g_opt, d_opt = self.optimizers()
        X, _ = batch
        n = X.shape[0]
        real_label = torch.ones((n, 1), device=self.device)
        fake_label = torch.zeros((n, 1), device=self.device)

        self.toggle_optimizer(d_opt)
        # while d_opt is toggled, only the discriminator's parameters require grad
        self.checks.append(
            (
                all(p.requires_grad for p in self.D.parameters()),
                not any(p.requires_grad for p in self.G.parameters()),
            )
        )
        g_X = self.sample_G(n)
        errD = self.criterion(self.D(X), real_label) + self.criterion(self.D(g_X), fake_label)
        d_opt.zero_grad()
        self.manual_backward(errD)
        d_opt.step()
        self.untoggle_optimizer(d_opt)

        self.toggle_optimizer(g_opt)
        self.checks.append(
            (
                all(p.requires_grad for p in self.G.parameters()),
                not any(p.requires_grad for p in self.D.parameters()),
            )
        )
        errG = self.criterion(self.D(self.sample_G(n)), real_label)
        g_opt.zero_grad()
        self.manual_backward(errG)
        g_opt.step()
        self.untoggle_optimizer(g_opt)
        self.checks.append(
            (
                all(p.requires_grad for p in self.G.parameters()),
                all(p.requires_grad for p in self.D.parameters()),
            )
        )


def test_gan_toggle_untoggle_optimizer(tmp_path):
    torch.manual_seed(0)
    model = ToggledGAN()
    g_before, d_before = snapshot(model.G), snapshot(model.D)
    make_trainer(tmp_path, max_epochs=1).fit(model, make_loader(N_BATCHES))
    assert len(model.checks) == 3 * N_BATCHES
    assert all(a and b for a, b in model.checks), model.checks
    assert all(p.requires_grad for p in model.parameters())
    assert all_changed(g_before, model.G) and all_changed(d_before, model.D)


# ---------------------------------------------------------------------------------------------
# Learning rate scheduling (manual)
# ---------------------------------------------------------------------------------------------


class ManualSchedModel(treadle.Module):
    """Manual optimization with an SGD step per batch; subclasses decide when schedulers step."""

    def __init__(self, lr=0.1, two=False, plateau=False):
        super().__init__()
        self.automatic_optimization = False
        self.a = nn.Linear(IN_DIM, 1)
        self.b = nn.Linear(IN_DIM, 1)
        self.lr = lr
        self.two = two
        self.plateau = plateau
        self.configured_scheds = []
        self.lrs: list[float] = []

    def loss(self, batch):
        x, y = batch
        return F.mse_loss(self.a(x) + self.b(x), y)

    def configure_optimizers(self):
        if self.two:
            o1 = torch.optim.SGD(self.a.parameters(), lr=self.lr)
            o2 = torch.optim.SGD(self.b.parameters(), lr=self.lr)
            s1 = torch.optim.lr_scheduler.StepLR(o1, step_size=1, gamma=0.5)
            s2 = torch.optim.lr_scheduler.StepLR(o2, step_size=1, gamma=0.9)
            self.configured_scheds = [s1, s2]
            return [o1, o2], [s1, s2]
        opt = torch.optim.SGD(self.parameters(), lr=self.lr)
        if self.plateau:
            sch = torch.optim.lr_scheduler.ReduceLROnPlateau(
                opt, mode="max", factor=0.5, patience=0
            )
        else:
            sch = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
        self.configured_scheds = [sch]
        if self.plateau == "monitor":
            return {"optimizer": opt, "lr_scheduler": {"scheduler": sch, "monitor": "loss"}}
        return [opt], [sch]

    def optimize(self, batch):
        opts = self.optimizers()
        opts = opts if isinstance(opts, list) else [opts]
        loss = self.loss(batch)
        for o in opts:
            o.zero_grad()
        self.manual_backward(loss)
        for o in opts:
            o.step()
        self.lrs.append(opts[0].optimizer.param_groups[0]["lr"])
        return loss


class StepEveryBatch(ManualSchedModel):
    def training_step(self, batch, batch_idx):
        # do forward, backward, and optimization
        self.optimize(batch)

        # single scheduler
        sch = self.lr_schedulers()
        assert isinstance(sch, torch.optim.lr_scheduler.StepLR)
        assert user_scheduler(sch) is self.configured_scheds[0]
        sch.step()


def test_manual_single_scheduler_every_step(tmp_path):
    model = StepEveryBatch()
    make_trainer(tmp_path, max_epochs=EPOCHS).fit(model, make_loader(N_BATCHES))
    n = N_BATCHES * EPOCHS
    assert model.lrs == pytest.approx([0.1 * 0.5**k for k in range(n)])
    assert model.configured_scheds[0].optimizer.param_groups[0]["lr"] == pytest.approx(0.1 * 0.5**n)


class TwoSchedulersEveryBatch(ManualSchedModel):
    def __init__(self):
        super().__init__(two=True)

    def training_step(self, batch, batch_idx):
        self.optimize(batch)

        # multiple schedulers
        sch1, sch2 = self.lr_schedulers()
        assert user_scheduler(sch1) is self.configured_scheds[0]
        assert user_scheduler(sch2) is self.configured_scheds[1]
        sch1.step()
        sch2.step()


def test_manual_two_schedulers_every_step(tmp_path):
    model = TwoSchedulersEveryBatch()
    make_trainer(tmp_path, max_epochs=EPOCHS).fit(model, make_loader(N_BATCHES))
    n = N_BATCHES * EPOCHS
    s1, s2 = model.configured_scheds
    assert s1.optimizer.param_groups[0]["lr"] == pytest.approx(0.1 * 0.5**n)
    assert s2.optimizer.param_groups[0]["lr"] == pytest.approx(0.1 * 0.9**n)


class StepEveryNBatches(ManualSchedModel):
    def training_step(self, batch, batch_idx):
        self.optimize(batch)
        sch = self.lr_schedulers()

        # step every N batches
        if (batch_idx + 1) % N == 0:
            sch.step()


def test_manual_scheduler_every_n_batches(tmp_path):
    model = StepEveryNBatches()
    make_trainer(tmp_path, max_epochs=EPOCHS).fit(model, make_loader(N_BATCHES))
    # lr in force at each of the 8 steps: halves after batches 2, 4, 6, 8
    assert model.lrs == pytest.approx([0.1, 0.1, 0.05, 0.05, 0.025, 0.025, 0.0125, 0.0125])
    assert model.configured_scheds[0].optimizer.param_groups[0]["lr"] == pytest.approx(0.1 * 0.5**4)


class StepEveryNEpochs(ManualSchedModel):
    def __init__(self):
        super().__init__()
        self.last_batch_flags: list[bool] = []

    def training_step(self, batch, batch_idx):
        self.optimize(batch)
        sch = self.lr_schedulers()
        self.last_batch_flags.append(bool(self.trainer.is_last_batch))

        # step every N epochs
        if self.trainer.is_last_batch and (self.trainer.current_epoch + 1) % N == 0:
            sch.step()


def test_manual_scheduler_every_n_epochs(tmp_path):
    model = StepEveryNEpochs()
    make_trainer(tmp_path, max_epochs=4).fit(model, make_loader(N_BATCHES))
    assert model.last_batch_flags == [False, False, False, True] * 4
    per_epoch = [model.lrs[e * N_BATCHES] for e in range(4)]
    assert per_epoch == pytest.approx([0.1, 0.1, 0.05, 0.05])
    assert model.configured_scheds[0].optimizer.param_groups[0]["lr"] == pytest.approx(0.025)


class PlateauOnEpochEnd(ManualSchedModel):
    def __init__(self, plateau=True):
        super().__init__(lr=0.05, plateau=plateau)
        self.epoch_losses: list[list[float]] = []
        self.monitored: list[float] = []

    def on_train_epoch_start(self):
        self.epoch_losses.append([])

    def training_step(self, batch, batch_idx):
        loss = self.optimize(batch)
        self.epoch_losses[-1].append(loss.item())
        self.log("loss", loss, on_epoch=True)

    def on_train_epoch_end(self):
        sch = self.lr_schedulers()

        # If the selected scheduler is a ReduceLROnPlateau scheduler.
        if isinstance(sch, torch.optim.lr_scheduler.ReduceLROnPlateau):
            value = self.trainer.callback_metrics["loss"]
            self.monitored.append(float(value))
            sch.step(value)


@pytest.mark.parametrize(
    "config",
    [
        # Lightning needs no "monitor" in manual optimization: the user steps the scheduler
        pytest.param(True, id="([opt],[sch])"),
        pytest.param("monitor", id="dict-with-monitor"),
    ],
)
def test_manual_reduce_lr_on_plateau_in_on_train_epoch_end(tmp_path, config):
    model = PlateauOnEpochEnd(config)
    epochs = 4
    make_trainer(tmp_path, max_epochs=epochs).fit(model, make_loader(N_BATCHES))

    assert isinstance(model.lr_schedulers(), torch.optim.lr_scheduler.ReduceLROnPlateau)
    assert len(model.monitored) == epochs, (
        "on_train_epoch_end must run once per epoch and see the metric"
    )
    # on_epoch=True: at epoch end, callback_metrics["loss"] is the mean over the epoch's batches
    for got, losses in zip(model.monitored, model.epoch_losses):
        assert got == pytest.approx(sum(losses) / len(losses), rel=1e-5)

    # replay the same values on a fresh scheduler: the lr must follow it exactly
    p = torch.nn.Parameter(torch.zeros(1))
    ref_opt = torch.optim.SGD([p], lr=0.05)
    ref = torch.optim.lr_scheduler.ReduceLROnPlateau(ref_opt, mode="max", factor=0.5, patience=0)
    expected_per_epoch = []
    for v in model.monitored:
        expected_per_epoch.append(ref_opt.param_groups[0]["lr"])
        ref.step(v)
    per_epoch = [model.lrs[e * N_BATCHES] for e in range(epochs)]
    assert per_epoch == pytest.approx(expected_per_epoch)
    final = model.configured_scheds[0].optimizer.param_groups[0]["lr"]
    assert final == pytest.approx(ref_opt.param_groups[0]["lr"])
    # a decreasing loss in mode="max" is never an improvement: the lr must actually have dropped
    assert final < 0.05


# ---------------------------------------------------------------------------------------------
# Optimizer steps at different frequencies
# ---------------------------------------------------------------------------------------------


class AlternatingGAN(SimpleGAN):
    def __init__(self):
        super().__init__(lr=1e-3)

    def training_step(self, batch, batch_idx):
        g_opt, d_opt = self.optimizers()
        X, _ = batch
        n = X.shape[0]
        real_label = torch.ones((n, 1), device=self.device)
        fake_label = torch.zeros((n, 1), device=self.device)
        g_X = self.sample_G(n)
        errD = self.criterion(self.D(X), real_label) + self.criterion(
            self.D(g_X.detach()), fake_label
        )

        # update discriminator every other step
        d_opt.zero_grad()
        self.manual_backward(errD)
        if (batch_idx + 1) % 2 == 0:
            d_opt.step()

        errG = self.criterion(self.D(g_X), real_label)

        # update generator every step
        g_opt.zero_grad()
        self.manual_backward(errG)
        g_opt.step()


def test_optimizer_steps_at_different_frequencies(tmp_path):
    torch.manual_seed(0)
    model = AlternatingGAN()
    trainer = make_trainer(tmp_path, max_epochs=EPOCHS)
    trainer.fit(model, make_loader(N_BATCHES))
    g_opt, d_opt = model.optimizers()
    n = N_BATCHES * EPOCHS
    assert _adam_steps(g_opt.optimizer) == [n] * 4
    assert _adam_steps(d_opt.optimizer) == [n // 2] * 4
    assert trainer.global_step == n


# ---------------------------------------------------------------------------------------------
# Closure for LBFGS-like optimizers (manual)
# ---------------------------------------------------------------------------------------------


class LBFGSModel(treadle.Module):
    def __init__(self):
        super().__init__()
        self.automatic_optimization = False
        self.layer = nn.Linear(IN_DIM, 1)
        self.closure_calls = 0
        self.step_losses: list[float] = []

    def compute_loss(self, batch):
        x, y = batch
        return F.mse_loss(self.layer(x), y)

    def configure_optimizers(self):
        return torch.optim.LBFGS(self.parameters(), lr=0.5, max_iter=5)

    def training_step(self, batch, batch_idx):
        opt = self.optimizers()

        def closure():
            self.closure_calls += 1
            loss = self.compute_loss(batch)
            opt.zero_grad()
            self.manual_backward(loss)
            return loss

        opt.step(closure=closure)
        with torch.no_grad():
            self.step_losses.append(self.compute_loss(batch).item())


def test_lbfgs_closure_manual(tmp_path):
    model = LBFGSModel()
    loader = make_loader(N_BATCHES)
    with torch.no_grad():
        initial = sum(F.mse_loss(model.layer(x), y).item() for x, y in loader) / N_BATCHES
    trainer = make_trainer(tmp_path, max_epochs=EPOCHS)
    trainer.fit(model, loader)
    with torch.no_grad():
        final = sum(F.mse_loss(model.layer(x), y).item() for x, y in loader) / N_BATCHES

    assert len(model.step_losses) == N_BATCHES * EPOCHS
    assert model.closure_calls > N_BATCHES * EPOCHS, (
        "LBFGS evaluates the closure several times per step"
    )
    assert final < 0.5 * initial
    assert trainer.global_step == N_BATCHES * EPOCHS
