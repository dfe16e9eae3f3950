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
