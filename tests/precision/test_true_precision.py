"""``64-true``, ``bf16-true`` and ``16-true``: weights, inputs and math in one dtype."""

from __future__ import annotations

import copy
import dataclasses

import pytest
import torch
import torch.nn.functional as F

import treadle
from conftest_helpers import assert_params_equal, make_loader, make_trainer, mlp

TRUE = {"64-true": torch.float64, "bf16-true": torch.bfloat16, "16-true": torch.float16}


@dataclasses.dataclass
class Batch:
    x: torch.Tensor
    y: torch.Tensor
    ids: torch.Tensor


class Probe(treadle.Module):
    def __init__(self, net):
        super().__init__()
        self.net = copy.deepcopy(net)
        self.seen: list[tuple] = []

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01)

    def training_step(self, batch, batch_idx):
        x, y = batch
        out = self.net(x)
        # tensors created in the step get the precision's dtype, as in Lightning
        self.seen.append(("train", x.dtype, y.dtype, out.dtype, torch.zeros(1).dtype))
        return F.mse_loss(out, y)

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.seen.append(("val", x.dtype, y.dtype, self.net(x).dtype, torch.zeros(1).dtype))


@pytest.mark.parametrize("precision", list(TRUE))
def test_parameters_inputs_and_math_use_the_dtype(tmp_path, precision):
    dtype = TRUE[precision]
    model = Probe(mlp())
    trainer = make_trainer(
        tmp_path,
        precision=precision,
        max_epochs=1,
        limit_train_batches=2,
        limit_val_batches=1,
        num_sanity_val_steps=0,
    )
    trainer.fit(model, make_loader(2), make_loader(1))
    assert {p.dtype for p in model.parameters()} == {dtype}
    assert model.seen == [("train",) + (dtype,) * 4] * 2 + [("val",) + (dtype,) * 4]
    assert torch.get_default_dtype() is torch.float32, "the default dtype must be restored"
    # the optimizer from configure_optimizers() still holds the converted parameters
    held = [p for g in trainer.optimizers[0].param_groups for p in g["params"]]
    assert all(a is b for a, b in zip(held, model.parameters()))
    assert trainer.global_step == 2


def test_64_true_equals_a_plain_float64_loop(tmp_path):
    net = mlp(hidden=16)
    loader = make_loader(4)
    model = Probe(net)
    make_trainer(tmp_path, precision="64-true", max_epochs=2).fit(model, loader)

    ref = copy.deepcopy(net).double()
    opt = torch.optim.SGD(ref.parameters(), lr=0.01)
    for _ in range(2):
        for x, y in loader:
            opt.zero_grad()
            F.mse_loss(ref(x.double()), y.double()).backward()
            opt.step()
    assert_params_equal(model.net, ref)


def test_only_floating_tensors_are_converted_in_nested_batches(tmp_path):
    seen = []

    class Nested(Probe):
        def training_step(self, batch, batch_idx):
            seen.append(batch)
            x = batch["batch"].x
            return F.mse_loss(self.net(x), batch["batch"].y)

    rows = [
        {
            "batch": Batch(torch.randn(4, 4), torch.randn(4, 1), torch.arange(4)),
            "mask": [torch.ones(4, dtype=torch.bool)],
            "name": "a",
        }
    ]
    make_trainer(tmp_path, precision="bf16-true", max_epochs=1).fit(Nested(mlp()), rows)
    (batch,) = seen
    assert batch["batch"].x.dtype is torch.bfloat16 and batch["batch"].y.dtype is torch.bfloat16
    assert batch["batch"].ids.dtype is torch.int64
    assert batch["mask"][0].dtype is torch.bool and batch["name"] == "a"


def test_module_transfer_override_is_converted_too(tmp_path):
    calls = []

    class Override(Probe):
        def transfer_batch_to_device(self, batch, device, dataloader_idx):
            calls.append(dataloader_idx)
            x, y = batch
            return x.to(device), y.to(device)

    model = Override(mlp())
    make_trainer(tmp_path, precision="64-true", max_epochs=1, limit_train_batches=1).fit(
        model, make_loader(1)
    )
    assert calls == [0]
    assert model.seen[0][1:3] == (torch.float64, torch.float64)
