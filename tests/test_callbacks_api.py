"""Lightning callbacks, ported by changing their base class to ``treadle.Callback``.

What each callback hook receives, callback hooks running before the Module's own, the
Module's ``on_train_batch_end`` outputs, and ``configure_callbacks``.
"""

from __future__ import annotations

import torch

import treadle
from conftest_helpers import (
    all_changed,
    make_loader,
    make_trainer,
    snapshot,
    user_optimizer,
)
from trainer_api_probes import Recorder


class LightningStyleCallback(treadle.Callback):
    def __init__(self):
        self.calls: list[tuple] = []

    def on_fit_start(self, trainer, pl_module):
        self.calls.append(("on_fit_start", trainer, pl_module))

    def on_train_start(self, trainer, pl_module):
        self.calls.append(("on_train_start", trainer, pl_module))

    def on_train_epoch_start(self, trainer, pl_module):
        self.calls.append(("on_train_epoch_start", trainer, pl_module, trainer.current_epoch))

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.calls.append(("on_train_batch_start", trainer, pl_module, batch, batch_idx))

    def on_before_zero_grad(self, trainer, pl_module, optimizer):
        self.calls.append(("on_before_zero_grad", trainer, pl_module, optimizer))

    def on_before_backward(self, trainer, pl_module, loss):
        self.calls.append(("on_before_backward", trainer, pl_module, loss.detach().clone()))

    def on_after_backward(self, trainer, pl_module):
        grads = [p.grad is not None for p in pl_module.parameters()]
        self.calls.append(("on_after_backward", trainer, pl_module, all(grads)))

    def on_before_optimizer_step(self, trainer, pl_module, optimizer):
        self.calls.append(("on_before_optimizer_step", trainer, pl_module, optimizer))

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.calls.append(("on_train_batch_end", trainer, pl_module, outputs, batch, batch_idx))

    def on_train_epoch_end(self, trainer, pl_module):
        self.calls.append(("on_train_epoch_end", trainer, pl_module, trainer.current_epoch))

    def on_validation_epoch_start(self, trainer, pl_module):
        self.calls.append(("on_validation_epoch_start", trainer, pl_module))

    def on_validation_batch_end(
        self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0
    ):
        self.calls.append(
            (
                "on_validation_batch_end",
                trainer,
                pl_module,
                outputs,
                batch,
                batch_idx,
                dataloader_idx,
            )
        )

    def on_validation_epoch_end(self, trainer, pl_module):
        self.calls.append(("on_validation_epoch_end", trainer, pl_module))

    def on_train_end(self, trainer, pl_module):
        self.calls.append(("on_train_end", trainer, pl_module))

    def on_fit_end(self, trainer, pl_module):
        self.calls.append(("on_fit_end", trainer, pl_module))

    def named(self, name):
        return [c for c in self.calls if c[0] == name]


class LossRecorder(Recorder):
    def __init__(self):
        super().__init__()
        self.train_losses = []
        self.val_losses = []
        self.configured = None

    def configure_optimizers(self):
        self.configured = super().configure_optimizers()
        return self.configured

    def training_step(self, batch, batch_idx):
        loss = super().training_step(batch, batch_idx)
        self.train_losses.append(loss.detach().clone())
        return loss

    def validation_step(self, batch, batch_idx):
        loss = super().validation_step(batch, batch_idx)
        self.val_losses.append(loss.detach().clone())
        return loss


def test_lightning_style_callback_receives_the_right_values(tmp_path):
    cb = LightningStyleCallback()
    model = LossRecorder()
    trainer = make_trainer(tmp_path, max_epochs=2, callbacks=[cb], num_sanity_val_steps=0)
    train, val = make_loader(3), make_loader(2, seed=1)
    trainer.fit(model, train, val)

    for c in cb.calls:
        assert c[1] is trainer, c[0]
        assert c[2] is model, c[0]
    names = [c[0] for c in cb.calls]
    assert names[0] == "on_fit_start" and names[-1] == "on_fit_end"
    assert names.index("on_train_start") < names.index("on_train_batch_start")
    assert names.index("on_train_end") < names.index("on_fit_end")

    assert [c[3] for c in cb.named("on_train_epoch_start")] == [0, 1]
    assert [c[3] for c in cb.named("on_train_epoch_end")] == [0, 1]

    starts = cb.named("on_train_batch_start")
    ends = cb.named("on_train_batch_end")
    assert [c[4] for c in starts] == [0, 1, 2] * 2
    assert [c[5] for c in ends] == [0, 1, 2] * 2
    batches = list(train) * 2
    for c, (x, y) in zip(ends, batches):
        assert torch.equal(c[4][0], x) and torch.equal(c[4][1], y)
    for c, loss in zip(ends, model.train_losses):
        assert torch.allclose(c[3]["loss"], loss), (
            "outputs['loss'] is the loss training_step returned"
        )

    backward = cb.named("on_before_backward")
    assert len(backward) == 6
    for c, loss in zip(backward, model.train_losses):
        assert torch.allclose(c[3], loss)
    assert [c[3] for c in cb.named("on_after_backward")] == [True] * 6
    for name in ("on_before_optimizer_step", "on_before_zero_grad"):
        got = cb.named(name)
        assert len(got) == 6, name
        assert all(user_optimizer(c[3]) is model.configured for c in got), name

    vends = cb.named("on_validation_batch_end")
    assert [c[5] for c in vends] == [0, 1] * 2
    assert all(c[6] == 0 for c in vends)
    for c, loss in zip(vends, model.val_losses):
        assert torch.allclose(c[3], loss), "outputs is what validation_step returned"
    assert (
        len(cb.named("on_validation_epoch_start")) == len(cb.named("on_validation_epoch_end")) == 2
    )


class ModuleBatchEnd(Recorder):
    def __init__(self):
        super().__init__()
        self.losses = []
        self.outputs = []

    def training_step(self, batch, batch_idx):
        loss = super().training_step(batch, batch_idx)
        self.losses.append(loss.detach().clone())
        return {"loss": loss, "n": batch[0].shape[0]}

    def on_train_batch_end(self, outputs, batch, batch_idx):
        self.outputs.append((outputs, batch_idx))


def test_module_on_train_batch_end_gets_training_step_outputs(tmp_path):
    model = ModuleBatchEnd()
    before = snapshot(model)
    make_trainer(tmp_path, max_epochs=1).fit(model, make_loader(3))
    assert [b for _, b in model.outputs] == [0, 1, 2]
    for (out, _), loss in zip(model.outputs, model.losses):
        assert torch.allclose(out["loss"], loss)
        assert out["n"] == 8, "extra keys returned by training_step reach on_train_batch_end"
    assert all_changed(before, model)


class OrderProbeCallback(treadle.Callback):
    def __init__(self, log):
        self.events = log

    def on_fit_start(self, trainer, pl_module):
        self.events.append(("cb", "on_fit_start"))

    def on_train_start(self, trainer, pl_module):
        self.events.append(("cb", "on_train_start"))

    def on_train_epoch_start(self, trainer, pl_module):
        self.events.append(("cb", "on_train_epoch_start"))

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.events.append(("cb", "on_train_batch_start"))

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.events.append(("cb", "on_train_batch_end"))

    def on_train_epoch_end(self, trainer, pl_module):
        self.events.append(("cb", "on_train_epoch_end"))

    def on_train_end(self, trainer, pl_module):
        self.events.append(("cb", "on_train_end"))


class OrderProbeModule(Recorder):
    def __init__(self, log):
        super().__init__()
        self.log_ = log

    def on_fit_start(self):
        self.log_.append(("module", "on_fit_start"))

    def on_train_start(self):
        self.log_.append(("module", "on_train_start"))

    def on_train_epoch_start(self):
        self.log_.append(("module", "on_train_epoch_start"))

    def on_train_batch_start(self, batch, batch_idx):
        self.log_.append(("module", "on_train_batch_start"))

    def on_train_batch_end(self, outputs, batch, batch_idx):
        self.log_.append(("module", "on_train_batch_end"))

    def on_train_epoch_end(self):
        self.log_.append(("module", "on_train_epoch_end"))

    def on_train_end(self):
        self.log_.append(("module", "on_train_end"))


def test_callback_hooks_run_before_the_module_hooks(tmp_path):
    log = []
    model = OrderProbeModule(log)
    make_trainer(tmp_path, max_epochs=1, callbacks=[OrderProbeCallback(log)]).fit(
        model, make_loader(1)
    )
    hooks = [
        "on_fit_start",
        "on_train_start",
        "on_train_epoch_start",
        "on_train_batch_start",
        "on_train_batch_end",
        "on_train_epoch_end",
        "on_train_end",
    ]
    assert log == [(who, h) for h in hooks for who in ("cb", "module")]


class WithCallbacks(Recorder):
    def __init__(self):
        super().__init__()
        self.cb = LightningStyleCallback()

    def configure_callbacks(self):
        return [self.cb]


def test_module_configure_callbacks(tmp_path):
    model = WithCallbacks()
    make_trainer(tmp_path, max_epochs=1).fit(model, make_loader(2))
    assert len(model.cb.named("on_train_batch_end")) == 2


# Ported from Lightning's tests/tests_pytorch/callbacks/test_callbacks.py (Apache-2.0,
# Copyright The Lightning AI team): test_callbacks_configured_in_model,
# test_configure_callbacks_hook_multiple_calls, test_resume_incomplete_callbacks_list_warning.


def test_a_mock_callback_gets_every_hook_call_and_configure_callbacks_may_return_one(tmp_path):
    # A Mock(spec=Callback) answers its hooks dynamically (none on its class): Lightning calls
    # them as any callback's; `configure_callbacks` may return a callback without a list.
    from unittest.mock import Mock

    model_cb = Mock(spec=treadle.Callback)
    trainer_cb = Mock(spec=treadle.Callback)

    class WithMock(treadle.Module):
        def __init__(self):
            super().__init__()
            self.layer = torch.nn.Linear(4, 1)

        def training_step(self, batch, batch_idx):
            return self.layer(batch[0]).sum()

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

        def configure_callbacks(self):
            return model_cb

    trainer = make_trainer(tmp_path, callbacks=[trainer_cb])
    trainer.fit(WithMock(), make_loader(2))
    assert trainer.callbacks[-1] is model_cb
    names = [call[0] for call in trainer_cb.method_calls]
    assert names[:2] == ["setup", "on_fit_start"] and "on_train_batch_end" in names
    assert model_cb.method_calls == trainer_cb.method_calls


def test_resuming_without_a_callback_that_saved_state_warns(tmp_path):
    import re

    import pytest

    from treadle.callbacks import ModelCheckpoint

    class Model(treadle.Module):
        def __init__(self):
            super().__init__()
            self.layer = torch.nn.Linear(4, 1)

        def training_step(self, batch, batch_idx):
            return self.layer(batch[0]).sum()

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    by_epoch = ModelCheckpoint(dirpath=tmp_path, monitor="epoch")
    by_step = ModelCheckpoint(dirpath=tmp_path / "s", monitor="step")
    make_trainer(tmp_path, callbacks=[by_epoch, by_step], max_steps=1).fit(Model(), make_loader(2))
    trainer = make_trainer(tmp_path, callbacks=[by_step], max_steps=2)
    with pytest.warns(
        UserWarning,
        match=re.escape(
            "Be aware that when using `ckpt_path`, callbacks used to create the checkpoint need "
            "to be provided during `Trainer` instantiation. Please add the following callbacks: "
            f"[{by_epoch.state_key!r}]."
        ),
    ):
        trainer.fit(Model(), make_loader(2), ckpt_path=by_epoch.best_model_path)
