"""treadle-sam against a SAM loop written by hand in plain PyTorch, and its refusals.

The runs use treadle's kit for plugin tests (``treadle_fit``, ``treadle_trainer``: a quiet CPU
``Trainer``; the hook calls recorded in order).
"""

from __future__ import annotations

import re

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import treadle
from treadle_sam import SAM


def _loader(n_batches: int = 3, seed: int = 0) -> DataLoader:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(8 * n_batches, 4, generator=g)
    y = torch.sin(x.sum(1, keepdim=True)) + 0.1 * torch.randn(len(x), 1, generator=g)
    return DataLoader(TensorDataset(x, y), batch_size=8)


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 1))


class Regressor(treadle.Module):
    def __init__(self, momentum: float = 0.9):
        super().__init__()
        self.net = _net()
        self.momentum = momentum
        self.losses: list[float] = []

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = F.mse_loss(self.net(x), y)
        self.losses.append(loss.item())
        return loss

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1, momentum=self.momentum)


def hand_sam(loader, epochs: int, rho: float, adaptive: bool, clip: float | None = None):
    """SAM written out: gradient at w, climb to w + e, gradient there, back to w, step."""
    net = _net()
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    params = list(net.parameters())
    for _ in range(epochs):
        for x, y in loader:
            opt.zero_grad()
            F.mse_loss(net(x), y).backward()
            if clip is not None:
                torch.nn.utils.clip_grad_norm_(params, clip)
            with torch.no_grad():
                t = [p.abs() if adaptive else torch.ones_like(p) for p in params]
                norm = torch.linalg.vector_norm(
                    torch.stack([torch.linalg.vector_norm(p.grad * ti) for p, ti in zip(params, t)])
                )
                saved = [p.clone() for p in params]
                for p, ti in zip(params, t):
                    p.add_(rho / (norm + 1e-12) * p.grad * ti * ti)
            opt.zero_grad()
            F.mse_loss(net(x), y).backward()
            with torch.no_grad():
                for p, w in zip(params, saved):
                    p.copy_(w)
            if clip is not None:
                torch.nn.utils.clip_grad_norm_(params, clip)
            opt.step()
    return net


@pytest.mark.parametrize(
    "rho, adaptive, clip", [(0.05, False, None), (0.5, True, None), (0.05, False, 0.5)]
)
def test_weights_equal_a_hand_written_sam_loop(treadle_fit, rho, adaptive, clip):
    run = treadle_fit(
        plugins=[SAM(rho=rho, adaptive=adaptive)],
        model=Regressor(),
        train_dataloaders=_loader(),
        max_epochs=2,
        gradient_clip_val=clip,
    )
    want = hand_sam(_loader(), epochs=2, rho=rho, adaptive=adaptive, clip=clip)
    for got, expected in zip(run.model.net.parameters(), want.parameters()):
        torch.testing.assert_close(got, expected, rtol=0, atol=1e-7)
    assert run.trainer.global_step == 6
    # training_step ran twice a step, at w and at w + e (a different loss).
    assert len(run.model.losses) == 12
    assert all(a != b for a, b in zip(run.model.losses[::2], run.model.losses[1::2]))


def test_sam_is_not_plain_sgd(treadle_fit):
    plain = treadle_fit(model=Regressor(), train_dataloaders=_loader())
    sam = treadle_fit(plugins=[SAM(rho=0.05)], model=Regressor(), train_dataloaders=_loader())
    assert not torch.equal(plain.model.net[0].weight, sam.model.net[0].weight)


def test_both_passes_run_through_the_hooks(treadle_fit):
    sam = SAM()
    run = treadle_fit(plugins=[sam], model=Regressor(), train_dataloaders=_loader(1))
    calls = [("  " * c.depth) + c.name for c in run.hooks.calls]
    start = calls.index("optimizer_step")
    one_pass = [
        "on_before_zero_grad",
        "optimizer_zero_grad",
        "run_training_step",
        "on_before_backward",
        "scale_loss",
        "backward",
        "on_after_backward",
        "on_before_optimizer_step",
        "configure_gradient_clipping",
    ]
    assert calls[start : start + 20] == [
        "optimizer_step",
        *(f"  {name}" for name in one_pass),  # pass 1: SAM's closure() call
        "  optimizer_step",  # the chain continued: precision, strategy, the core's step
        *(f"    {name}" for name in one_pass),  # pass 2, at w + e
    ]
    assert calls[start + 20] == "on_train_batch_end"
    name = run.name_of(sam)
    # SAM's optimizer_step; its on_before_optimizer_step (after each pass; the second restores w).
    assert run.hooks.implemented_by(name) == [
        "optimizer_step",
        "on_before_optimizer_step",
        "on_before_optimizer_step",
    ]


class Manual(Regressor):
    def __init__(self):
        super().__init__()
        self.automatic_optimization = False

    def training_step(self, batch, batch_idx):
        opt = self.optimizers()
        opt.zero_grad()
        self.manual_backward(super().training_step(batch, batch_idx))
        opt.step()


def test_what_sam_cannot_do_is_refused_before_training(treadle_trainer):
    model = Manual()
    trainer = treadle_trainer(plugins=[SAM(rho=0.1)], accumulate_grad_batches=2)
    with pytest.raises(treadle.ConfigurationError) as info:
        trainer.fit(model, _loader())
    text = str(info.value)
    for message in (
        "SAM(rho=0.1, adaptive=False) steps through automatic optimization; `Manual` sets "
        "`automatic_optimization = False`. Run SAM's two passes in your training_step, or "
        "remove SAM from `plugins=[...]`.",
        "SAM(rho=0.1, adaptive=False) cannot accumulate gradients: with "
        "`accumulate_grad_batches=2` the second pass would see one batch, not the window. Set "
        "`accumulate_grad_batches=1` (a larger batch instead).",
    ):
        assert message in text, text
    assert model.losses == []


def test_fp16_mixed_precision_is_refused(treadle_trainer):
    trainer = treadle_trainer(plugins=[SAM()], precision="16-mixed")
    with pytest.raises(
        treadle.ConfigurationError,
        match=re.escape(
            "SAM(rho=0.05, adaptive=False) cannot run with `precision='16-mixed'`: its gradient "
            "scaler unscales once per step, SAM backpropagates twice. Use 'bf16-mixed' or "
            "'32-true'."
        ),
    ):
        trainer.fit(Regressor(), _loader())


@pytest.mark.parametrize("rho", [0, -0.1, "0.05", True])
def test_rho_must_be_a_positive_number(rho):
    with pytest.raises(
        ValueError,
        match=re.escape(
            f"SAM(rho={rho!r}): rho is the radius of the neighbourhood, a number > 0 "
            "(e.g. SAM(rho=0.05))."
        ),
    ):
        SAM(rho=rho)


def test_rho_must_be_finite():
    with pytest.raises(
        ValueError, match=re.escape("SAM(rho=inf): rho must be finite (e.g. SAM(rho=0.05)).")
    ):
        SAM(rho=float("inf"))
