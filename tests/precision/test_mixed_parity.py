"""``16-mixed`` and ``bf16-mixed`` equal a plain PyTorch AMP loop, bit for bit, on this CPU.

The plain loops are written the way the PyTorch AMP recipe writes them: ``torch.autocast("cpu",
dtype=...)`` around forward and loss, and for fp16 ``torch.amp.GradScaler("cpu")`` with
``scaler.scale(loss).backward()``, ``scaler.unscale_(opt)`` before clipping, ``scaler.step(opt)``
and ``scaler.update()``. The default initial scale (2**16) makes the first fp16 steps overflow, so
every fp16 run below also goes through skipped steps and scale changes -- and must still match.
"""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import treadle
from conftest_helpers import (
    assert_params_equal,
    grad_norm,
    make_loader,
    make_trainer,
    max_abs_grad,
    mlp,
)

AMP = {"16-mixed": torch.float16, "bf16-mixed": torch.bfloat16}
EPOCHS = 3


def _measure(params, algorithm):
    """What clipping bounds: the total norm, or the largest absolute gradient."""
    return grad_norm(params) if algorithm == "norm" else max_abs_grad(params)


def _finite(values):
    return [v for v in values if v == v and v != float("inf")]


def _optimizer(params, kind):
    if kind == "adam":
        return torch.optim.Adam(params, lr=1e-2)
    return torch.optim.SGD(params, lr=0.05, momentum=0.9)


class ManualAMP(treadle.Module):
    """The guide's minimal manual loop, with optional ``self.clip_gradients``."""

    def __init__(self, net, opt="adam", clip=None, algorithm="norm"):
        super().__init__()
        self.automatic_optimization = False
        self.net = copy.deepcopy(net)
        self.opt_kind, self.clip, self.algorithm = opt, clip, algorithm
        self.clipped_norms: list[float] = []

    def configure_optimizers(self):
        return _optimizer(self.net.parameters(), self.opt_kind)

    def training_step(self, batch, batch_idx):
        opt = self.optimizers()
        x, y = batch
        loss = F.mse_loss(self.net(x), y)
        opt.zero_grad()
        self.manual_backward(loss)
        if self.clip is not None:
            self.clip_gradients(
                opt, gradient_clip_val=self.clip, gradient_clip_algorithm=self.algorithm
            )
            self.clipped_norms.append(_measure(self.parameters(), self.algorithm))
        opt.step()


class AutoAMP(treadle.Module):
    def __init__(self, net, opt="adam"):
        super().__init__()
        self.net = copy.deepcopy(net)
        self.opt_kind = opt

    def configure_optimizers(self):
        return _optimizer(self.net.parameters(), self.opt_kind)

    def training_step(self, batch, batch_idx):
        x, y = batch
        return F.mse_loss(self.net(x), y)


def plain_amp(
    net,
    loader,
    precision,
    epochs=EPOCHS,
    opt="adam",
    clip=None,
    algorithm="norm",
    unscale_before_clip=True,
):
    """The plain PyTorch AMP loop; returns (net, scaler or None, clipped grad norms)."""
    net = copy.deepcopy(net)
    optimizer = _optimizer(net.parameters(), opt)
    dtype = AMP[precision]
    scaler = torch.amp.GradScaler("cpu") if dtype is torch.float16 else None
    norms = []
    for _ in range(epochs):
        for x, y in loader:
            optimizer.zero_grad()
            with torch.autocast("cpu", dtype=dtype):
                loss = F.mse_loss(net(x), y)
            if scaler is None:
                loss.backward()
            else:
                scaler.scale(loss).backward()
                if clip is not None and unscale_before_clip:
                    scaler.unscale_(optimizer)
            if clip is not None:
                if algorithm == "norm":
                    torch.nn.utils.clip_grad_norm_(net.parameters(), clip)
                else:
                    torch.nn.utils.clip_grad_value_(net.parameters(), clip)
                norms.append(_measure(net.parameters(), algorithm))
            if scaler is None:
                optimizer.step()
            else:
                scaler.step(optimizer)
                scaler.update()
    return net, scaler, norms


@pytest.mark.parametrize("opt", ["adam", "sgd"])
@pytest.mark.parametrize("precision", ["16-mixed", "bf16-mixed"])
def test_manual_loop_equals_plain_amp_loop(tmp_path, precision, opt):
    net = mlp(hidden=16)
    loader = make_loader(6)
    model = ManualAMP(net, opt)
    trainer = make_trainer(tmp_path, precision=precision, max_epochs=EPOCHS)
    trainer.fit(model, loader)

    ref, scaler, _ = plain_amp(net, loader, precision, opt=opt)
    assert_params_equal(model.net, ref)
    assert trainer.global_step == 6 * EPOCHS
    if scaler is not None:
        ours = trainer.precision_plugin.scaler
        assert ours.get_scale() == scaler.get_scale()
        assert ours.get_scale() < 2.0**16, "the run should have gone through skipped steps"


@pytest.mark.parametrize("opt", ["adam", "sgd"])
@pytest.mark.parametrize("precision", ["16-mixed", "bf16-mixed"])
def test_automatic_loop_equals_plain_amp_loop(tmp_path, precision, opt):
    net = mlp(hidden=16)
    loader = make_loader(6)
    model = AutoAMP(net, opt)
    trainer = make_trainer(tmp_path, precision=precision, max_epochs=EPOCHS)
    trainer.fit(model, loader)

    ref, scaler, _ = plain_amp(net, loader, precision, opt=opt)
    assert_params_equal(model.net, ref)
    if scaler is not None:
        assert trainer.precision_plugin.scaler.get_scale() == scaler.get_scale()


def test_autocast_is_active_in_training_and_validation_steps(tmp_path):
    seen = []

    class Probe(AutoAMP):
        def training_step(self, batch, batch_idx):
            x, y = batch
            out = self.net(x)
            seen.append(("train", torch.is_autocast_enabled("cpu"), out.dtype))
            return F.mse_loss(out, y)

        def validation_step(self, batch, batch_idx):
            seen.append(("val", torch.is_autocast_enabled("cpu"), self.net(batch[0]).dtype))

    for precision, dtype in AMP.items():
        seen.clear()
        trainer = make_trainer(
            tmp_path,
            precision=precision,
            max_epochs=1,
            limit_train_batches=1,
            limit_val_batches=1,
            num_sanity_val_steps=0,
        )
        trainer.fit(Probe(mlp()), make_loader(2), make_loader(2))
        assert seen == [("train", True, dtype), ("val", True, dtype)], precision
        assert not torch.is_autocast_enabled("cpu")


# ---------------------------------------------------------------------------------------------
# Clipping under 16-mixed clips the true (unscaled) gradients
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["norm", "value"])
def test_manual_clip_gradients_clips_unscaled_gradients(tmp_path, algorithm):
    """Lightning issue 18089: ``self.clip_gradients`` in manual mode must unscale first."""
    net = mlp(hidden=16)
    # targets x20: the true gradient norm is far above 0.5, so clipping really clips
    loader = make_loader(6, scale=20.0)
    model = ManualAMP(net, "sgd", clip=0.5, algorithm=algorithm)
    trainer = make_trainer(tmp_path, precision="16-mixed", max_epochs=EPOCHS)
    trainer.fit(model, loader)

    ref, _, ref_norms = plain_amp(net, loader, "16-mixed", opt="sgd", clip=0.5, algorithm=algorithm)
    assert_params_equal(model.net, ref)
    assert [repr(v) for v in model.clipped_norms] == [repr(v) for v in ref_norms]  # nan == nan
    finite = _finite(model.clipped_norms)
    assert finite and max(finite) <= 0.5 + 1e-6

    # clipping the scaled gradients (the bug) gives different weights: the test can tell
    wrong, _, _ = plain_amp(
        net, loader, "16-mixed", opt="sgd", clip=0.5, algorithm=algorithm, unscale_before_clip=False
    )
    assert any(not torch.equal(a, b) for a, b in zip(model.net.parameters(), wrong.parameters()))


def test_automatic_gradient_clip_val_clips_unscaled_gradients(tmp_path):
    net = mlp(hidden=16)
    loader = make_loader(6, scale=20.0)
    model = AutoAMP(net, "sgd")
    trainer = make_trainer(tmp_path, precision="16-mixed", max_epochs=EPOCHS, gradient_clip_val=0.5)
    trainer.fit(model, loader)

    ref, _, norms = plain_amp(net, loader, "16-mixed", opt="sgd", clip=0.5)
    assert_params_equal(model.net, ref)
    assert max(_finite(norms)) <= 0.5 + 1e-6


class CountingScaler(torch.amp.GradScaler):
    def __init__(self):
        super().__init__("cpu")
        self.unscale_calls = 0

    def unscale_(self, optimizer):
        self.unscale_calls += 1
        super().unscale_(optimizer)


@pytest.mark.parametrize("mode", ["manual-clip", "manual", "auto-clip", "auto"])
def test_gradients_are_unscaled_exactly_once_per_step(tmp_path, mode):
    net = mlp()
    clip = 1.0 if mode.endswith("clip") else None
    seen = []

    class SeeGrads(treadle.Callback):
        def on_before_optimizer_step(self, trainer, pl_module, optimizer):
            # user hooks run after the precision's unscale (tryfirst)
            seen.append(trainer.precision_plugin.scaler.unscale_calls)

    if mode.startswith("manual"):
        model = ManualAMP(net, "sgd", clip=clip)
        trainer = make_trainer(tmp_path, precision="16-mixed", callbacks=[SeeGrads()])
    else:
        model = AutoAMP(net, "sgd")
        trainer = make_trainer(
            tmp_path, precision="16-mixed", gradient_clip_val=clip, callbacks=[SeeGrads()]
        )

    trainer.precision_plugin.scaler = CountingScaler()  # a user-provided scaler is kept
    trainer.fit(model, make_loader(4))
    assert trainer.precision_plugin.scaler.unscale_calls == 4
    assert seen == [1, 2, 3, 4]


def test_on_before_optimizer_step_sees_unscaled_gradients(tmp_path):
    net = mlp()
    loader = make_loader(4)
    norms = []

    class Probe(AutoAMP):
        def on_before_optimizer_step(self, optimizer):
            norms.append(grad_norm(self.parameters()))

    make_trainer(tmp_path, precision="16-mixed", max_epochs=1).fit(Probe(net, "sgd"), loader)

    ref = copy.deepcopy(net)
    opt = torch.optim.SGD(ref.parameters(), lr=0.05, momentum=0.9)
    scaler = torch.amp.GradScaler("cpu")
    expected = []
    for x, y in loader:
        opt.zero_grad()
        with torch.autocast("cpu", dtype=torch.float16):
            loss = F.mse_loss(ref(x), y)
        scaler.scale(loss).backward()
        scaler.unscale_(opt)
        expected.append(grad_norm(ref.parameters()))
        scaler.step(opt)
        scaler.update()
    assert norms == expected


# ---------------------------------------------------------------------------------------------
# Manual optimization runs training_step in one autocast region: no stale weight casts
# ---------------------------------------------------------------------------------------------


class TwoNetGAN(treadle.Module):
    """D steps, then G's loss goes through the just-stepped D -- inside one training_step."""

    def __init__(self, g, d):
        super().__init__()
        self.automatic_optimization = False
        self.G, self.D = copy.deepcopy(g), copy.deepcopy(d)

    def configure_optimizers(self):
        return (
            torch.optim.Adam(self.G.parameters(), lr=1e-2),
            torch.optim.Adam(self.D.parameters(), lr=1e-2),
        )

    def training_step(self, batch, batch_idx):
        g_opt, d_opt = self.optimizers()
        x, z = batch
        fake = self.G(z)
        err_d = F.softplus(-self.D(x)).mean() + F.softplus(self.D(fake.detach())).mean()
        d_opt.zero_grad()
        self.manual_backward(err_d)
        d_opt.step()
        err_g = F.softplus(-self.D(fake)).mean()  # D's weights changed in place just now
        g_opt.zero_grad()
        self.manual_backward(err_g)
        g_opt.step()


def _gan_nets():
    torch.manual_seed(0)
    return (
        nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 4)),
        nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 1)),
    )


def _gan_loader():
    g = torch.Generator().manual_seed(1)
    data = torch.utils.data.TensorDataset(
        torch.randn(48, 4, generator=g), torch.randn(48, 2, generator=g)
    )
    return torch.utils.data.DataLoader(data, batch_size=8)


def _plain_gan(g, d, loader, precision, epochs):
    """The AMP recipe: one autocast region per forward, one scaler for both optimizers."""
    g, d = copy.deepcopy(g), copy.deepcopy(d)
    g_opt, d_opt = (
        torch.optim.Adam(g.parameters(), lr=1e-2),
        torch.optim.Adam(d.parameters(), lr=1e-2),
    )
    dtype = AMP[precision]
    scaler = torch.amp.GradScaler("cpu", enabled=dtype is torch.float16)
    for _ in range(epochs):
        for x, z in loader:
            with torch.autocast("cpu", dtype=dtype):
                fake = g(z)
                err_d = F.softplus(-d(x)).mean() + F.softplus(d(fake.detach())).mean()
            d_opt.zero_grad()
            scaler.scale(err_d).backward()
            scaler.step(d_opt)
            scaler.update()
            with torch.autocast("cpu", dtype=dtype):
                err_g = F.softplus(-d(fake)).mean()
            g_opt.zero_grad()
            scaler.scale(err_g).backward()
            scaler.step(g_opt)
            scaler.update()
    return g, d


@pytest.mark.parametrize("precision", ["16-mixed", "bf16-mixed"])
def test_forward_after_a_step_in_the_same_training_step_uses_the_new_weights(tmp_path, precision):
    g, d = _gan_nets()
    loader = _gan_loader()
    model = TwoNetGAN(g, d)
    make_trainer(tmp_path, precision=precision, max_epochs=2).fit(model, loader)
    ref_g, ref_d = _plain_gan(g, d, loader, precision, 2)
    assert_params_equal(model.D, ref_d)
    assert_params_equal(model.G, ref_g)


@pytest.mark.parametrize("precision", ["16-mixed", "bf16-mixed"])
def test_automatic_accumulation_and_clipping_equal_plain_amp_loop(tmp_path, precision):
    """Lightning's accumulation semantics (see tests/test_parity.py) with the AMP recipe."""
    net = mlp(hidden=16)
    loader = make_loader(5, scale=20.0)  # 5 batches: the last window is cut short
    model = AutoAMP(net, "sgd")
    make_trainer(
        tmp_path,
        precision=precision,
        max_epochs=2,
        accumulate_grad_batches=2,
        gradient_clip_val=0.5,
    ).fit(model, loader)

    ref = copy.deepcopy(net)
    opt = _optimizer(ref.parameters(), "sgd")
    dtype = AMP[precision]
    scaler = torch.amp.GradScaler("cpu", enabled=dtype is torch.float16)
    for _ in range(2):
        for i, (x, y) in enumerate(loader):
            if i % 2 == 0:
                opt.zero_grad()
            with torch.autocast("cpu", dtype=dtype):
                loss = F.mse_loss(ref(x), y)
            scaler.scale(loss / 2).backward()
            if (i + 1) % 2 == 0 or i == len(loader) - 1:
                scaler.unscale_(opt)
                torch.nn.utils.clip_grad_norm_(ref.parameters(), 0.5)
                scaler.step(opt)
                scaler.update()
    assert_params_equal(model.net, ref)
