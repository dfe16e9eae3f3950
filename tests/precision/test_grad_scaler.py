"""``16-mixed``'s gradient scaler: the scaled loss reaches ``backward``, skipped steps, checkpoints,
the user's own optimizer stepped directly, and a strategy that owns precision."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import treadle
from conftest_helpers import (
    IN_DIM,
    assert_params_equal,
    make_loader,
    make_trainer,
    mlp,
    snapshot,
)

# ---------------------------------------------------------------------------------------------
# A Module's backward override receives the scaled loss (as in Lightning)
# ---------------------------------------------------------------------------------------------


class BackwardRecorder(treadle.Module):
    def __init__(self, manual: bool):
        super().__init__()
        self.automatic_optimization = not manual
        self.layer = nn.Linear(IN_DIM, 1)
        self.step_losses: list[torch.Tensor] = []
        self.received: list[tuple[torch.Tensor, float]] = []

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01)

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = F.mse_loss(self.layer(x), y)
        self.step_losses.append(loss.detach().clone())
        if self.automatic_optimization:
            return loss
        opt = self.optimizers()
        opt.zero_grad()
        self.manual_backward(loss)
        opt.step()

    def backward(self, loss):
        self.received.append(
            (loss.detach().clone(), self.trainer.precision_plugin.scaler.get_scale())
        )
        loss.backward()


@pytest.mark.parametrize("manual", [False, True], ids=["automatic", "manual"])
def test_backward_override_receives_the_scaled_loss(tmp_path, manual):
    model = BackwardRecorder(manual)
    before = snapshot(model)
    make_trainer(tmp_path, precision="16-mixed", max_epochs=2).fit(model, make_loader(4))

    assert len(model.received) == len(model.step_losses) == 8
    for (got, scale), loss in zip(model.received, model.step_losses):
        assert scale > 1.0
        assert torch.equal(got, loss * scale), (got, loss, scale)
    assert any(not torch.equal(b, p) for b, p in zip(before, model.parameters()))


# ---------------------------------------------------------------------------------------------
# A skipped step (inf/NaN gradients)
# ---------------------------------------------------------------------------------------------


class InfOnBatchOne(treadle.Module):
    """Automatic optimization; batch 1 of every epoch produces an infinite loss."""

    def __init__(self):
        super().__init__()
        self.layer = nn.Linear(IN_DIM, 1)
        self.after_batch: list[list[torch.Tensor]] = []
        self.lrs: list[float] = []

    def configure_optimizers(self):
        opt = torch.optim.Adam(self.parameters(), lr=0.1)
        sch = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sch, "interval": "step"}}

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = F.mse_loss(self.layer(x), y)
        return loss * float("inf") if batch_idx == 1 else loss

    def on_train_batch_end(self, outputs, batch, batch_idx):
        self.after_batch.append(snapshot(self))
        self.lrs.append(self.trainer.optimizers[0].param_groups[0]["lr"])


def test_skipped_step_leaves_weights_and_advances_global_step_and_schedulers(tmp_path):
    """Documented in docs/precision.md: global_step counts batches on which a step was *called*,
    so a step the scaler skips still counts, and step-interval schedulers step with it."""
    model = InfOnBatchOne()
    start = snapshot(model)
    trainer = make_trainer(tmp_path, precision="16-mixed", max_epochs=1)
    trainer.precision_plugin.scaler = torch.amp.GradScaler("cpu", init_scale=1.0)  # no overflow
    trainer.fit(model, make_loader(4))

    b0, b1, b2, b3 = model.after_batch
    assert any(not torch.equal(s, p) for s, p in zip(start, b0))
    assert all(torch.equal(p, q) for p, q in zip(b0, b1)), "the inf step must not change weights"
    assert any(not torch.equal(p, q) for p, q in zip(b1, b2))
    assert trainer.global_step == 4
    assert model.lrs == pytest.approx([0.05, 0.025, 0.0125, 0.00625])  # 4 scheduler steps
    adam = trainer.optimizers[0]
    assert [int(adam.state[p]["step"]) for p in model.parameters()] == [3, 3]  # 3 real steps
    assert trainer.precision_plugin.scaler.get_scale() == 0.5  # halved once, never grown


# ---------------------------------------------------------------------------------------------
# Checkpoints carry the scaler's state
# ---------------------------------------------------------------------------------------------


class AutoAdam(treadle.Module):
    def __init__(self, net):
        super().__init__()
        self.net = copy.deepcopy(net)

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=1e-2)

    def training_step(self, batch, batch_idx):
        x, y = batch
        return F.mse_loss(self.net(x), y)


def test_scaler_state_is_saved_and_restored(tmp_path):
    net = mlp(hidden=16)
    loader = make_loader(4, scale=20.0)  # big gradients: the scale moves during the first epochs

    full = AutoAdam(net)
    full_trainer = make_trainer(tmp_path, precision="16-mixed", max_epochs=4)
    full_trainer.fit(full, loader)

    half = AutoAdam(net)
    half_trainer = make_trainer(tmp_path, precision="16-mixed", max_epochs=2)
    half_trainer.fit(half, loader)
    path = tmp_path / "half.ckpt"
    half_trainer.save_checkpoint(path)
    saved = torch.load(path, weights_only=True)
    assert saved["grad_scaler"] == half_trainer.precision_plugin.scaler.state_dict()
    assert saved["grad_scaler"]["scale"] < 2.0**16

    resumed = AutoAdam(net)
    restored = []

    class Probe(treadle.Callback):
        def on_train_start(self, trainer, pl_module):
            restored.append(trainer.precision_plugin.scaler.state_dict())

    resumed_trainer = make_trainer(
        tmp_path, precision="16-mixed", max_epochs=4, callbacks=[Probe()]
    )
    resumed_trainer.fit(resumed, loader, ckpt_path=str(path))
    assert restored == [saved["grad_scaler"]]
    assert_params_equal(resumed, full)
    assert (
        resumed_trainer.precision_plugin.scaler.state_dict()
        == full_trainer.precision_plugin.scaler.state_dict()
    )

    # the test can tell: the same checkpoint without the scaler's state resumes differently
    del saved["grad_scaler"]
    torch.save(saved, tmp_path / "no_scaler.ckpt")
    fresh = AutoAdam(net)
    make_trainer(tmp_path, precision="16-mixed", max_epochs=4).fit(
        fresh, loader, ckpt_path=str(tmp_path / "no_scaler.ckpt")
    )
    assert any(not torch.equal(a, b) for a, b in zip(fresh.parameters(), full.parameters()))


def test_checkpoint_without_scaler_state_starts_a_fresh_scaler(tmp_path):
    """A 32-true checkpoint resumed under 16-mixed: nothing to restore, the default scale."""
    net = mlp()
    trainer = make_trainer(tmp_path, max_epochs=1)
    trainer.fit(AutoAdam(net), make_loader(2))
    path = tmp_path / "fp32.ckpt"
    trainer.save_checkpoint(path)
    assert "grad_scaler" not in torch.load(path, weights_only=True)
    amp = make_trainer(tmp_path, precision="16-mixed", max_epochs=2)
    amp.fit(AutoAdam(net), make_loader(2), ckpt_path=str(path))
    assert amp.global_step == 4


# ---------------------------------------------------------------------------------------------
# The user's own optimizer stepped directly (the guide's "access your own optimizer")
# ---------------------------------------------------------------------------------------------


class DirectStep(treadle.Module):
    def __init__(self, net, opt):
        super().__init__()
        self.automatic_optimization = False
        self.net = copy.deepcopy(net)
        self.opt_kind = opt

    def configure_optimizers(self):
        if self.opt_kind == "adam":
            return torch.optim.Adam(self.parameters(), lr=1e-2)
        return torch.optim.SGD(self.parameters(), lr=0.05, momentum=0.9)

    def training_step(self, batch, batch_idx):
        optimizer = self.optimizers().optimizer  # the user's own torch optimizer
        x, y = batch
        loss = F.mse_loss(self.net(x), y)
        optimizer.zero_grad()
        self.manual_backward(loss)
        optimizer.step()


class DirectStepWithClosure(treadle.Module):
    """Automatic optimization whose Lightning-style override steps the user's optimizer."""

    def __init__(self, net, opt):
        super().__init__()
        self.net = copy.deepcopy(net)
        self.opt_kind = opt

    configure_optimizers = DirectStep.configure_optimizers

    def training_step(self, batch, batch_idx):
        x, y = batch
        return F.mse_loss(self.net(x), y)

    def optimizer_step(self, epoch, batch_idx, optimizer, optimizer_closure=None):
        optimizer.optimizer.step(closure=optimizer_closure)


def _plain_fp16(net, loader, opt_kind, epochs):
    net = copy.deepcopy(net)
    if opt_kind == "adam":
        opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    else:
        opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
    scaler = torch.amp.GradScaler("cpu")
    for _ in range(epochs):
        for x, y in loader:
            opt.zero_grad()
            with torch.autocast("cpu", dtype=torch.float16):
                loss = F.mse_loss(net(x), y)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
    return net, scaler


@pytest.mark.parametrize("module_cls", [DirectStep, DirectStepWithClosure])
@pytest.mark.parametrize("opt", ["adam", "sgd"])
def test_stepping_the_users_own_optimizer_still_unscales_skips_and_updates(
    tmp_path, module_cls, opt
):
    net = mlp(hidden=16)
    loader = make_loader(6)
    model = module_cls(net, opt)
    trainer = make_trainer(tmp_path, precision="16-mixed", max_epochs=3)
    trainer.fit(model, loader)
    ref, scaler = _plain_fp16(net, loader, opt, 3)
    assert_params_equal(model.net, ref)
    assert trainer.precision_plugin.scaler.get_scale() == scaler.get_scale() < 2.0**16
    # the guards are removed when the run ends
    raw = trainer.optimizers[0]
    assert not raw._optimizer_step_pre_hooks and not raw._optimizer_step_post_hooks


# ---------------------------------------------------------------------------------------------
# A strategy that owns precision (DeepSpeed) makes the precision plugin stand aside
# ---------------------------------------------------------------------------------------------


class OwningStrategy(treadle.kinds.StrategyBase):
    name = "owns-precision"
    owns_precision = True

    def __init__(self, trainer):
        pass


class OffersOwningStrategy:
    @treadle.hookimpl
    def provide_strategies(self):
        return [treadle.Provider("strategy", "owns-precision", OwningStrategy)]


class Observed(treadle.Module):
    def __init__(self, optimizer="sgd"):
        super().__init__()
        self.automatic_optimization = False
        self.layer = nn.Linear(IN_DIM, 1)
        self.optimizer = optimizer
        self.seen: list[tuple] = []

    def configure_optimizers(self):
        if self.optimizer == "lbfgs":
            return torch.optim.LBFGS(self.parameters(), max_iter=2)
        return torch.optim.SGD(self.parameters(), lr=0.01)

    def training_step(self, batch, batch_idx):
        opt = self.optimizers()
        x, y = batch

        def closure():
            opt.zero_grad()
            loss = F.mse_loss(self.layer(x), y)
            self.manual_backward(loss)
            self.seen.append((torch.is_autocast_enabled("cpu"), x.dtype, loss.detach().clone()))
            return loss

        opt.step(closure=closure)

    def backward(self, loss):
        self.seen.append(("backward", loss.detach().clone()))
        loss.backward()


@pytest.mark.parametrize("precision", ["16-mixed", "bf16-mixed", "bf16-true", "64-true"])
def test_precision_stands_aside_when_the_strategy_owns_precision(tmp_path, precision):
    model = Observed("lbfgs" if precision == "16-mixed" else "sgd")  # LBFGS: not refused here
    trainer = make_trainer(
        tmp_path,
        precision=precision,
        strategy="owns-precision",
        plugins=[OffersOwningStrategy()],
        limit_train_batches=2,
    )
    trainer.fit(model, make_loader(2))

    assert trainer.precision_plugin.enabled is False
    assert getattr(trainer.precision_plugin, "scaler", None) is None
    assert all(p.dtype is torch.float32 for p in model.parameters())
    backward = [s for s in model.seen if s[0] == "backward"]
    steps = [s for s in model.seen if s[0] != "backward"]
    assert steps and all(s[0] is False and s[1] is torch.float32 for s in steps)
    # the loss reaches backward unscaled
    assert all(torch.equal(b[1], s[2]) for b, s in zip(backward, steps))


# ---------------------------------------------------------------------------------------------
# An optimizer without gradients steps as a no-op (plain GradScaler would assert)
# ---------------------------------------------------------------------------------------------


class TwoOptimizers(treadle.Module):
    """Steps both optimizers every batch, but only ``a``'s parameters get gradients."""

    def __init__(self, direct: bool):
        super().__init__()
        self.automatic_optimization = False
        self.a, self.b = nn.Linear(IN_DIM, 1), nn.Linear(IN_DIM, 1)
        self.direct = direct

    def configure_optimizers(self):
        return torch.optim.Adam(self.a.parameters(), lr=0.1), torch.optim.Adam(
            self.b.parameters(), lr=0.1
        )

    def training_step(self, batch, batch_idx):
        opt_a, opt_b = self.optimizers()
        x, y = batch
        loss = F.mse_loss(self.a(x), y)
        opt_a.zero_grad()
        opt_b.zero_grad()
        self.manual_backward(loss)
        for opt in (opt_a, opt_b):
            (opt.optimizer if self.direct else opt).step()


@pytest.mark.parametrize("direct", [False, True], ids=["wrapped", "direct"])
def test_an_optimizer_without_gradients_steps_as_a_no_op(tmp_path, direct):
    model = TwoOptimizers(direct)
    b_before = snapshot(model.b)
    trainer = make_trainer(tmp_path, precision="16-mixed", max_epochs=2)
    trainer.precision_plugin.scaler = torch.amp.GradScaler("cpu", init_scale=1.0)
    trainer.fit(model, make_loader(4))
    assert all(torch.equal(b, p) for b, p in zip(b_before, model.b.parameters()))
    assert trainer.optimizers[1].state == {}
    assert [int(s["step"]) for s in trainer.optimizers[0].state.values()] == [8, 8]


# ---------------------------------------------------------------------------------------------
# A fused optimizer unscales inside its own step: clipping it under 16-mixed is refused, in
# Lightning's words (ported from plugins/precision/test_amp.py::
# test_optimizer_amp_scaling_support_in_step_method, run through fit())
# ---------------------------------------------------------------------------------------------


class FusedAdam(treadle.Module):
    def __init__(self):
        super().__init__()
        self.layer = nn.Linear(IN_DIM, 1)

    def training_step(self, batch, batch_idx):
        x, y = batch
        return F.mse_loss(self.layer(x), y)

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=0.01, fused=True)


@pytest.mark.parametrize("clip", [None, 1.0])
def test_clipping_a_fused_optimizer_under_16_mixed_is_refused(tmp_path, clip):
    trainer = make_trainer(tmp_path, precision="16-mixed", max_steps=2, gradient_clip_val=clip)
    if clip is None:  # without clipping the fused optimizer trains
        trainer.fit(FusedAdam(), make_loader(4))
        assert trainer.global_step == 2
        return
    with pytest.raises(
        RuntimeError,
        match=r"The current optimizer, Adam, does not allow for gradient clipping because it "
        r"performs unscaling of gradients internally\. HINT: Are you using a 'fused' optimizer\? "
        r"\(`precision='16-mixed'`: make Adam without `fused=True`",
    ):
        trainer.fit(FusedAdam(), make_loader(4))
    assert trainer.global_step == 0
