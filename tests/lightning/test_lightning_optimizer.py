"""Lightning's ``LightningOptimizer`` name for what ``Module.optimizers()`` returns (ported from
Lightning's tests/tests_pytorch/core/test_lightning_optimizer.py)."""

from __future__ import annotations

import torch
from torch import nn


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
