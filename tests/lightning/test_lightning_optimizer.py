"""Lightning's ``LightningOptimizer`` name for what ``Module.optimizers()`` returns (ported from
Lightning's tests/tests_pytorch/core/test_lightning_optimizer.py)."""

from __future__ import annotations

from unittest.mock import DEFAULT, Mock, patch

import torch
from torch import nn

import treadle
from conftest_helpers import IN_DIM, make_loader, make_trainer


def test_lightning_optimizer_wraps_an_optimizer_outside_a_run():
    from treadle.core.optimizer import LightningOptimizer

    layer = nn.Linear(3, 4)
    optimizer = torch.optim.Adam(layer.parameters(), lr=0.1)
    wrapped = LightningOptimizer(optimizer)
    assert isinstance(wrapped, LightningOptimizer) and isinstance(wrapped, torch.optim.Adam)
    assert str(wrapped) == "Lightning" + str(optimizer)
    assert wrapped.optimizer is optimizer and wrapped.state is optimizer.state
    wrapped.param_groups[0]["lr"] = 1.0
    assert optimizer.param_groups[0]["lr"] == 1.0
    layer(torch.ones(2, 3)).sum().backward()
    before = layer.weight.detach().clone()
    wrapped.step()  # the optimizer's own step
    assert not torch.equal(before, layer.weight)


class ManualSGD(treadle.Module):
    def __init__(self):
        super().__init__()
        self.automatic_optimization = False
        self.layer = nn.Linear(IN_DIM, 1)
        self.returned = []

    def training_step(self, batch, batch_idx):
        from treadle.core.optimizer import LightningOptimizer

        opt = self.optimizers()
        assert isinstance(opt, LightningOptimizer)
        x, y = batch
        opt.zero_grad()
        self.manual_backward(nn.functional.mse_loss(self.layer(x), y))
        self.returned.append(opt.step())

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def test_manual_step_returns_what_the_optimizers_step_returned(tmp_path):
    # as Lightning's test_lightning_optimizer_manual_optimization_and_accumulated_gradients:
    # with torch's step patched, `opt.step()` hands back the patch's Mock
    model = ManualSGD()
    with patch.multiple(torch.optim.SGD, zero_grad=DEFAULT, step=DEFAULT) as sgd:
        make_trainer(tmp_path, limit_train_batches=2).fit(model, make_loader(2))
    assert sgd["step"].call_count == 2
    assert all(isinstance(r, Mock) for r in model.returned) and len(model.returned) == 2


class TogglingGAN(treadle.Module):
    """Two optimizers, each step inside ``opt.toggle_model(sync_grad=...)`` (Lightning's
    docs/source-pytorch/advanced/speed.rst, "Model Toggling")."""

    def __init__(self):
        super().__init__()
        self.automatic_optimization = False
        self.g = nn.Linear(IN_DIM, IN_DIM)
        self.d = nn.Linear(IN_DIM, 1)
        self.seen = []

    def training_step(self, batch, batch_idx):
        g_opt, d_opt = self.optimizers()
        x, _ = batch
        sync = batch_idx % 2 == 1
        with d_opt.toggle_model(sync_grad=sync):
            self.seen.append(("d", [p.requires_grad for p in self.g.parameters()]))
            self.manual_backward(self.d(x).pow(2).mean())
            d_opt.step()
            d_opt.zero_grad()
        self.seen.append(("after", [p.requires_grad for p in self.g.parameters()]))
        with g_opt.toggle_model(sync_grad=sync):
            self.seen.append(("g", [p.requires_grad for p in self.d.parameters()]))
            self.manual_backward(self.d(self.g(x)).pow(2).mean())
            g_opt.step()
            g_opt.zero_grad()

    def configure_optimizers(self):
        return torch.optim.SGD(self.g.parameters(), lr=0.1), torch.optim.SGD(
            self.d.parameters(), lr=0.1
        )


def test_toggle_model_toggles_the_other_optimizers_parameters_and_blocks_sync(tmp_path):
    # Lightning's LightningOptimizer.toggle_model: toggle_optimizer inside the block, untoggle
    # after, the strategy's gradient sync blocked where sync_grad=False
    model = TogglingGAN()
    trainer = make_trainer(tmp_path, limit_train_batches=2)
    blocked = []
    no_backward_sync = trainer.strategy.no_backward_sync

    def recording(module=None, enabled=True):
        blocked.append(enabled)
        return no_backward_sync(module, enabled=enabled)

    trainer.strategy.no_backward_sync = recording  # a spy: the strategy's own still runs
    trainer.fit(model, make_loader(2))
    assert (
        model.seen
        == [
            ("d", [False, False]),
            ("after", [True, True]),
            ("g", [False, False]),
        ]
        * 2
    )
    assert blocked == [True, True, False, False]  # batch 0 accumulates, batch 1 syncs
    assert all(p.requires_grad for p in model.parameters())


def test_toggle_model_outside_a_run_is_refused():
    from treadle.core.optimizer import LightningOptimizer

    wrapped = LightningOptimizer(torch.optim.SGD(nn.Linear(2, 2).parameters(), lr=0.1))
    try:
        with wrapped.toggle_model():
            pass
    except RuntimeError as exc:
        assert "running Trainer" in str(exc)
    else:
        raise AssertionError("toggle_model() outside a run should be refused")
