"""The direct path (``docs/hooks.md``, "The direct path") and the hook path train identically.

When only the core's defaults implement a step's hooks, the loop makes their calls itself. These
tests pin *when* that happens (any implementation, Trainer clipping or tracing turns it off) and
that it changes nothing: the same training through the direct path and through the hooks ends
with bit-identical weights, the same ``on_train_batch_end`` outputs and the same step counts.
"""
from __future__ import annotations

import gc
import weakref

import pytest
import torch
import torch.nn.functional as F

import treadle
from conftest_helpers import make_loader, make_trainer, mlp

FLAGS = ("transfer", "backward", "backward_call", "manual_step", "automatic")


class Auto(treadle.Module):
    def __init__(self, accumulate_sched: bool = False):
        super().__init__()
        self.net = mlp(seed=3)
        self.with_scheduler = accumulate_sched

    def training_step(self, batch, batch_idx):
        x, y = batch
        return F.mse_loss(self.net(x), y)

    def configure_optimizers(self):
        opt = torch.optim.SGD(self.parameters(), lr=0.05, momentum=0.9)
        if not self.with_scheduler:
            return opt
        sch = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.7)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sch, "interval": "step"}}


class DictOut(Auto):
    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = F.mse_loss(self.net(x), y)
        return {"loss": loss, "double": 2 * loss.detach()}


class Manual(Auto):
    def __init__(self):
        super().__init__()
        self.automatic_optimization = False

    def training_step(self, batch, batch_idx):
        x, y = batch
        opt = self.optimizers()
        opt.zero_grad()
        loss = F.mse_loss(self.net(x), y)
        self.manual_backward(loss)
        opt.step()
        return loss


class Outputs(treadle.Callback):
    """Records ``on_train_batch_end`` outputs; does not touch the step's own hooks."""

    def __init__(self):
        self.seen = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.seen.append({k: v.clone() for k, v in outputs.items()} if outputs else outputs)


class EveryStepHook(treadle.Callback):
    """Implements the hooks between zero_grad and the step, so the hook path must run."""

    def __init__(self):
        self.calls = 0

    def on_before_zero_grad(self, trainer, pl_module, optimizer):
        self.calls += 1

    def on_before_backward(self, trainer, pl_module, loss):
        self.calls += 1

    def on_before_optimizer_step(self, trainer, pl_module, optimizer):
        self.calls += 1


def _fit(tmp_path, model, callbacks=(), **kwargs):
    trainer = make_trainer(tmp_path, max_epochs=2, callbacks=list(callbacks), **kwargs)
    trainer.fit(model, make_loader(5, shuffle=True, shuffle_seed=7))
    return trainer


def _flags(trainer):
    return {name: getattr(trainer._direct, name) for name in FLAGS}


def test_a_run_with_only_the_core_defaults_takes_every_direct_path(tmp_path):
    assert _flags(_fit(tmp_path, Auto())) == dict.fromkeys(FLAGS, True)
    assert _flags(_fit(tmp_path, Manual())) == dict.fromkeys(FLAGS, True)


@pytest.mark.parametrize("make_model", [Auto, DictOut, lambda: Auto(accumulate_sched=True)],
                         ids=["tensor", "dict", "scheduler"])
@pytest.mark.parametrize("accumulate", [1, 2])
def test_automatic_direct_path_equals_the_hook_path(tmp_path, make_model, accumulate):
    direct_out, hooked_out, hook = Outputs(), Outputs(), EveryStepHook()
    direct = make_model()
    hooked = make_model()
    t1 = _fit(tmp_path, direct, [direct_out], accumulate_grad_batches=accumulate)
    t2 = _fit(tmp_path, hooked, [hooked_out, hook], accumulate_grad_batches=accumulate)
    assert t1._direct.automatic and not t2._direct.automatic
    assert hook.calls > 0
    assert t1.global_step == t2.global_step > 0
    for p, q in zip(direct.parameters(), hooked.parameters()):
        assert torch.equal(p, q)
    assert len(direct_out.seen) == len(hooked_out.seen) == 10
    for a, b in zip(direct_out.seen, hooked_out.seen):
        assert a.keys() == b.keys()
        assert all(torch.equal(a[k], b[k]) for k in a)
    # and training did happen
    assert not all(torch.equal(p, q) for p, q in zip(direct.parameters(), make_model().parameters()))


def test_manual_direct_path_equals_the_hook_path(tmp_path):
    direct, hooked, hook = Manual(), Manual(), EveryStepHook()
    t1 = _fit(tmp_path, direct)
    t2 = _fit(tmp_path, hooked, [hook])
    assert t1._direct.backward and t1._direct.manual_step
    assert not t2._direct.backward and not t2._direct.manual_step and t2._direct.backward_call
    assert hook.calls > 0
    assert t1.global_step == t2.global_step == 10
    for p, q in zip(direct.parameters(), hooked.parameters()):
        assert torch.equal(p, q)


class Overrides(Auto):
    def backward(self, loss):
        loss.backward()


class ZeroGradOverride(Auto):
    def optimizer_zero_grad(self, epoch, batch_idx, optimizer):
        optimizer.zero_grad()


class TransferOverride(Auto):
    def transfer_batch_to_device(self, batch, device, dataloader_idx):
        return batch


@pytest.mark.parametrize("model, kwargs, expected", [
    (Overrides(), {}, dict(transfer=True, backward=False, backward_call=False, manual_step=True,
                           automatic=False)),
    (ZeroGradOverride(), {}, dict(transfer=True, backward=True, backward_call=True,
                                  manual_step=True, automatic=False)),
    (TransferOverride(), {}, dict(transfer=False, backward=True, backward_call=True,
                                  manual_step=True, automatic=True)),
    (Auto(), {"gradient_clip_val": 0.5}, dict(transfer=True, backward=True, backward_call=True,
                                              manual_step=True, automatic=False)),
    (Auto(), {"precision": "16-mixed"}, dict(transfer=True, backward=False, backward_call=True,
                                             manual_step=False, automatic=False)),
], ids=["module-backward", "module-zero-grad", "module-transfer", "trainer-clipping", "16-mixed"])
def test_any_implementation_turns_the_direct_path_off(tmp_path, model, kwargs, expected):
    assert _flags(_fit(tmp_path, model, **kwargs)) == expected


def test_tracing_goes_through_every_hook(tmp_path, monkeypatch, capfd):
    monkeypatch.setenv("TREADLE_TRACE_HOOKS", "1")
    trainer = _fit(tmp_path, Auto())
    assert _flags(trainer) == dict.fromkeys(FLAGS, False)
    assert "treadle hook optimizer_zero_grad -> [treadle.core]" in capfd.readouterr().err


class WatchLosses(Auto):
    """Keeps weak references to every loss, to see how long the loop keeps them."""

    def __init__(self):
        super().__init__()
        self.refs = []
        self.alive_at_start = []

    def training_step(self, batch, batch_idx):
        loss = super().training_step(batch, batch_idx)
        self.refs.append(weakref.ref(loss))
        return loss

    def on_train_batch_start(self, batch, batch_idx):
        gc.collect()
        self.alive_at_start.append([r() is not None for r in self.refs])


@pytest.mark.parametrize("trace", [False, True], ids=["direct", "hooks"])
def test_a_batch_loss_lives_until_the_next_batch_has_run(tmp_path, monkeypatch, trace):
    if trace:
        monkeypatch.setenv("TREADLE_TRACE_HOOKS", "1")
    model = WatchLosses()
    trainer = make_trainer(tmp_path, max_epochs=1)
    trainer.fit(model, make_loader(4))
    # at the start of batch k, only batch k-1's loss is still referenced by the loop
    assert model.alive_at_start == [[], [True], [False, True], [False, False, True]]
    gc.collect()
    assert not any(r() is not None for r in model.refs)  # nothing kept after fit
    assert trainer._kept_losses == [] and trainer._previous_losses == []
