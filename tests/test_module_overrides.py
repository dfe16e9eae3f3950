"""Module overrides written with Lightning 2's own signatures.

``optimizer_step``, ``configure_gradient_clipping``, ``optimizer_zero_grad``,
``lr_scheduler_step``, ``setup``/``teardown`` and the batch-transfer hooks.
"""

from __future__ import annotations

import copy
import re

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import treadle
from conftest_helpers import (
    IN_DIM,
    RegressionModule,
    assert_params_close,
    grad_norm,
    make_loader,
    make_trainer,
    max_abs_grad,
    user_optimizer,
    user_scheduler,
)
from trainer_api_probes import Recorder


def _plain_sgd(net, loader, epochs, lr=0.1, accumulate=1, zero_grad=True):
    net = copy.deepcopy(net)
    opt = torch.optim.SGD(net.parameters(), lr=lr)
    n = len(loader)
    for _ in range(epochs):
        for i, (x, y) in enumerate(loader):
            loss = F.mse_loss(net(x), y) / accumulate
            if zero_grad and i % accumulate == 0:
                opt.zero_grad()
            loss.backward()
            if (i + 1) % accumulate == 0 or i + 1 == n:
                opt.step()
    return net


class OptimizerStepOverride(RegressionModule):
    def __init__(self, net):
        super().__init__(net)
        self.calls = []
        self.steps = 0
        self.configured = None

    def configure_optimizers(self):
        self.configured = super().configure_optimizers()
        return self.configured

    def training_step(self, batch, batch_idx):
        self.steps += 1
        return super().training_step(batch, batch_idx)

    def optimizer_step(self, epoch, batch_idx, optimizer, optimizer_closure=None):
        mine = user_optimizer(optimizer) is self.configured
        self.calls.append((epoch, batch_idx, optimizer_closure is not None, mine))
        optimizer.step(closure=optimizer_closure)


@pytest.mark.parametrize("accumulate,stepping", [(1, [0, 1, 2, 3]), (2, [1, 3])])
def test_optimizer_step_override_with_lightning_signature(tmp_path, accumulate, stepping):
    torch.manual_seed(0)
    net = nn.Linear(IN_DIM, 1)
    model = OptimizerStepOverride(net)
    trainer = make_trainer(tmp_path, max_epochs=2, accumulate_grad_batches=accumulate)
    trainer.fit(model, make_loader(4))

    assert model.calls == [(e, b, True, True) for e in (0, 1) for b in stepping]
    assert model.steps == 8, "the closure runs training_step on every batch"
    assert trainer.global_step == 2 * len(stepping)
    assert_params_close(
        model.net, _plain_sgd(net, make_loader(4), 2, accumulate=accumulate), atol=1e-6
    )


class ClipOverride(RegressionModule):
    def __init__(self, own_clip=None):
        super().__init__(lr=0.001)
        self.own_clip = own_clip
        self.received = []
        self.before = []
        self.after = []

    def configure_gradient_clipping(
        self, optimizer, gradient_clip_val=None, gradient_clip_algorithm=None
    ):
        self.received.append((gradient_clip_val, gradient_clip_algorithm))
        if self.own_clip is None:
            self.before.append(max_abs_grad(self.parameters()))
            self.clip_gradients(
                optimizer,
                gradient_clip_val=gradient_clip_val,
                gradient_clip_algorithm=gradient_clip_algorithm,
            )
            self.after.append(max_abs_grad(self.parameters()))
        else:
            self.before.append(grad_norm(self.parameters()))
            self.clip_gradients(
                optimizer, gradient_clip_val=self.own_clip, gradient_clip_algorithm="norm"
            )
            self.after.append(grad_norm(self.parameters()))


def test_configure_gradient_clipping_override_receives_trainer_values(tmp_path):
    model = ClipOverride()
    trainer = make_trainer(
        tmp_path, max_epochs=1, gradient_clip_val=0.3, gradient_clip_algorithm="value"
    )
    trainer.fit(model, make_loader(4, scale=20.0))
    assert len(model.received) == 4
    for val, algo in model.received:
        assert val == 0.3
        assert algo == "value"
    assert max(model.before) > 0.3
    assert all(a <= 0.3 + 1e-6 for a in model.after)


def test_configure_gradient_clipping_override_called_without_trainer_clipping(tmp_path):
    """Lightning calls the hook on every optimizer step, so a module can clip on its own terms."""
    model = ClipOverride(own_clip=0.2)
    make_trainer(tmp_path, max_epochs=1).fit(model, make_loader(4, scale=20.0))
    assert len(model.received) == 4
    assert all(val is None for val, _ in model.received)
    assert max(model.before) > 0.2
    assert all(a <= 0.2 + 1e-6 for a in model.after)


def test_configure_gradient_clipping_gets_none_algorithm_when_trainer_sets_none(tmp_path):
    """Lightning passes ``Trainer.gradient_clip_algorithm`` as given: ``None`` when left out."""
    model = ClipOverride(own_clip=0.2)
    make_trainer(tmp_path, max_epochs=1).fit(model, make_loader(2))
    assert model.received == [(None, None)] * 2


class ZeroGradOverride(RegressionModule):
    def __init__(self, net, really=True):
        super().__init__(net)
        self.really = really
        self.calls = []

    def optimizer_zero_grad(self, epoch, batch_idx, optimizer):
        self.calls.append((epoch, batch_idx))
        if self.really:
            optimizer.zero_grad()


@pytest.mark.parametrize(
    "trainer_kwargs,call,message",
    [
        (
            {"gradient_clip_val": 0.5},
            {"gradient_clip_val": 1.0},
            "You have set `Trainer(gradient_clip_val=0.5)` and have passed "
            "`clip_gradients(gradient_clip_val=1.0)`. Please use only one of them. Remove it "
            "from the Trainer to choose it in the call (e.g. in `configure_gradient_clipping`), "
            "or leave it out of the call.",
        ),
        (
            {"gradient_clip_val": 0.5, "gradient_clip_algorithm": "value"},
            {"gradient_clip_algorithm": "norm"},
            "You have set `Trainer(gradient_clip_algorithm='value')` and have passed "
            "`clip_gradients(gradient_clip_algorithm='norm')`. Please use only one of them.",
        ),
    ],
)
def test_clip_gradients_refuses_a_value_contradicting_the_trainers(
    tmp_path, trainer_kwargs, call, message
):
    """As Lightning's ``clip_gradients``: one setting, one value (the docs' own example of
    doubling the Trainer's value in ``configure_gradient_clipping`` fails there too)."""

    class Model(RegressionModule):
        def configure_gradient_clipping(
            self, optimizer, gradient_clip_val, gradient_clip_algorithm
        ):
            self.clip_gradients(optimizer, **call)

    trainer = make_trainer(tmp_path, **trainer_kwargs)
    with pytest.raises(treadle.ConfigurationError, match=re.escape(message)):
        trainer.fit(Model(), make_loader(2))


def test_clip_gradients_without_values_uses_the_trainers(tmp_path):
    """``self.clip_gradients(opt)``: the Trainer's value and algorithm, as in Lightning."""
    norms = []

    class Model(RegressionModule):
        def configure_gradient_clipping(
            self, optimizer, gradient_clip_val, gradient_clip_algorithm
        ):
            self.clip_gradients(optimizer)
            norms.append(max_abs_grad(self.parameters()))

    trainer = make_trainer(tmp_path, gradient_clip_val=0.01, gradient_clip_algorithm="value")
    trainer.fit(Model(), make_loader(2, scale=20.0))
    assert len(norms) == 2 and all(n <= 0.01 + 1e-7 for n in norms), norms


@pytest.mark.parametrize("accumulate,zeroing", [(1, [0, 1, 2, 3]), (2, [0, 2])])
def test_optimizer_zero_grad_override(tmp_path, accumulate, zeroing):
    torch.manual_seed(0)
    net = nn.Linear(IN_DIM, 1)
    model = ZeroGradOverride(net)
    make_trainer(tmp_path, max_epochs=2, accumulate_grad_batches=accumulate).fit(
        model, make_loader(4)
    )
    assert model.calls == [(e, b) for e in (0, 1) for b in zeroing]
    assert_params_close(
        model.net, _plain_sgd(net, make_loader(4), 2, accumulate=accumulate), atol=1e-6
    )


def test_optimizer_zero_grad_override_replaces_the_default(tmp_path):
    """An override that never zeroes lets gradients pile up, exactly as a plain loop without zero_grad."""
    torch.manual_seed(0)
    net = nn.Linear(IN_DIM, 1)
    model = ZeroGradOverride(net, really=False)
    make_trainer(tmp_path, max_epochs=1).fit(model, make_loader(4))
    assert len(model.calls) == 4
    expected = _plain_sgd(net, make_loader(4), 1, zero_grad=False)
    usual = _plain_sgd(net, make_loader(4), 1)
    assert (
        max((a - b).abs().max().item() for a, b in zip(expected.parameters(), usual.parameters()))
        > 1e-4
    )
    assert_params_close(model.net, expected, atol=1e-6)


class SchedStepOverride(Recorder):
    def __init__(self, plateau):
        super().__init__()
        self.plateau = plateau
        self.calls = []
        self.sched = None

    def configure_optimizers(self):
        opt = torch.optim.SGD(self.parameters(), lr=0.1)
        if self.plateau:
            self.sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, patience=0)
            return {"optimizer": opt, "lr_scheduler": {"scheduler": self.sched, "monitor": "mon"}}
        self.sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": self.sched, "interval": "step"}}

    def training_step(self, batch, batch_idx):
        self.log("mon", torch.tensor(float(self.current_epoch) + 1.0), on_step=False, on_epoch=True)
        return super().training_step(batch, batch_idx)

    def lr_scheduler_step(self, scheduler, metric):
        self.calls.append(
            (user_scheduler(scheduler) is self.sched, None if metric is None else float(metric))
        )
        if metric is None:
            scheduler.step()
        else:
            scheduler.step(metric)


@pytest.mark.parametrize("plateau", [False, True], ids=["StepLR-step", "ReduceLROnPlateau-epoch"])
def test_lr_scheduler_step_override(tmp_path, plateau):
    model = SchedStepOverride(plateau)
    make_trainer(tmp_path, max_epochs=2).fit(model, make_loader(3))
    if plateau:
        assert model.calls == [(True, 1.0), (True, 2.0)]
    else:
        assert model.calls == [(True, None)] * 6
        assert model.sched.optimizer.param_groups[0]["lr"] == pytest.approx(0.1 * 0.5**6)


class SetupModule(treadle.Module):
    def __init__(self):
        super().__init__()
        self.stages = []
        self.torn_down = []

    def setup(self, stage):
        self.stages.append(stage)
        self.layer = nn.Linear(IN_DIM, 1)  # built late, as Lightning allows

    def teardown(self, stage):
        self.torn_down.append(stage)

    def training_step(self, batch, batch_idx):
        x, y = batch
        return F.mse_loss(self.layer(x), y)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def test_setup_runs_before_configure_optimizers_and_teardown_after(tmp_path):
    model = SetupModule()
    make_trainer(tmp_path, max_epochs=1).fit(model, make_loader(2))
    assert model.stages == ["fit"]
    assert model.torn_down == ["fit"]
    assert model.layer.weight.grad is not None


class TransferHooks(Recorder):
    def __init__(self, which):
        super().__init__()
        self.which = which
        self.seen = []
        self.targets = []

    def on_before_batch_transfer(self, batch, dataloader_idx):
        if self.which != "before":
            return batch
        x, y = batch
        return [x, torch.full_like(y, 7.0)]

    def transfer_batch_to_device(self, batch, device, dataloader_idx):
        self.seen.append((device, dataloader_idx))
        return [t.to(device) for t in batch]

    def on_after_batch_transfer(self, batch, dataloader_idx):
        if self.which != "after":
            return batch
        x, y = batch
        return [x, torch.full_like(y, 3.0)]

    def training_step(self, batch, batch_idx):
        self.targets.append(batch[1].clone())
        return super().training_step(batch, batch_idx)


def test_transfer_batch_to_device_override(tmp_path):
    model = TransferHooks("none")
    make_trainer(tmp_path, max_epochs=1).fit(model, make_loader(2))
    assert model.seen == [(torch.device("cpu"), 0)] * 2


@pytest.mark.parametrize("which,value", [("before", 7.0), ("after", 3.0)])
def test_on_before_and_after_batch_transfer(tmp_path, which, value):
    model = TransferHooks(which)
    make_trainer(tmp_path, max_epochs=1).fit(model, make_loader(2))
    assert len(model.targets) == 2
    assert all(torch.all(t == value) for t in model.targets), (
        f"on_{which}_batch_transfer's batch must be used"
    )


def test_module_all_gather_in_one_process_returns_the_data_as_tensors(tmp_path):
    """As Lightning's single-device ``all_gather`` (its ``convert_to_tensors``): numbers and numpy
    arrays become tensors on the module's device, no dimension added; ``sync_grads=True`` and
    ``group=None`` accepted. Several ranks: tests/distributed/test_ddp.py and the corpus program
    ``t_all_gather_grad`` (ported from tests_pytorch/utilities/test_all_gather_grad.py)."""
    import numpy as np

    seen = []

    class Gathering(treadle.Module):
        def __init__(self):
            super().__init__()
            self.layer = torch.nn.Linear(4, 1)

        def training_step(self, batch, batch_idx):
            x, y = batch
            loss = torch.nn.functional.mse_loss(self.layer(x), y)
            data = {"loss": loss, "n": [1.0, 2, True], "a": np.array([1, 2, 3])}
            seen.append(self.all_gather(data, sync_grads=True))
            return seen[-1]["loss"]

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    data = torch.utils.data.TensorDataset(torch.randn(8, 4), torch.randn(8, 1))
    trainer = treadle.Trainer(
        accelerator="cpu",
        max_epochs=1,
        logger=False,
        enable_progress_bar=False,
        enable_checkpointing=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
    )
    trainer.fit(Gathering(), torch.utils.data.DataLoader(data, batch_size=4))
    assert len(seen) == 2
    gathered = seen[0]
    assert gathered["loss"].shape == () and gathered["loss"].requires_grad
    assert [t.dtype for t in gathered["n"]] == [torch.float32, torch.int32, torch.uint8]
    assert [t.item() for t in gathered["n"]] == [1.0, 2, 1]
    assert gathered["a"].dtype == torch.int64 and gathered["a"].tolist() == [1, 2, 3]


class StarArgsBackward(RegressionModule):
    """``backward(self, *args, **kwargs)`` passing everything on, as a recording wrapper does."""

    def __init__(self, manual=False):
        super().__init__()
        self.automatic_optimization = not manual
        self.received = []

    def backward(self, *args, **kwargs):
        self.received.append((len(args), isinstance(args[0], torch.Tensor), sorted(kwargs)))
        return super().backward(*args, **kwargs)

    def training_step(self, batch, batch_idx):
        if self.automatic_optimization:
            return super().training_step(batch, batch_idx)
        opt = self.optimizers()
        opt.zero_grad()
        self.manual_backward(self.compute_loss(batch), retain_graph=False)
        opt.step()


@pytest.mark.parametrize("manual", [False, True])
def test_backward_override_with_star_args_gets_the_loss_first(tmp_path, manual):
    """Lightning calls ``backward(loss, *args, **kwargs)`` positionally: a ``*args`` override
    receives the loss (found by doc_lightning_module in the Lightning programs corpus)."""
    model = StarArgsBackward(manual)
    make_trainer(tmp_path, max_epochs=1).fit(model, make_loader(2))
    kwargs = ["retain_graph"] if manual else []
    assert model.received == [(1, True, kwargs)] * 2
    assert model.net.weight.grad is not None
