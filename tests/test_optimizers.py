"""``configure_optimizers`` as a Lightning 2 user writes it (API.md: "same meanings as in Lightning 2").

Every return form, what ``optimizers()`` and ``lr_schedulers()`` give back, configuration
errors of automatic and manual optimization, ``manual_backward``, and when schedulers step.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import treadle
from conftest_helpers import (
    IN_DIM,
    all_changed,
    make_loader,
    make_trainer,
    snapshot,
    user_scheduler,
)
from trainer_api_probes import MULTI_FORMS, SINGLE_FORMS, Recorder, TwoLayer


@pytest.mark.parametrize("manual", [False, True], ids=["automatic", "manual"])
@pytest.mark.parametrize("form", SINGLE_FORMS)
def test_configure_optimizers_single_optimizer_forms(tmp_path, form, manual):
    model = TwoLayer(form, manual)
    before = snapshot(model)
    make_trainer(tmp_path, max_epochs=1).fit(model, make_loader(2))

    opt = model.got_opts
    assert not isinstance(opt, (list, tuple)), "one optimizer: optimizers() returns it directly"
    assert opt.optimizer is model.opts[0]
    if model.scheds:
        assert not isinstance(model.got_scheds, (list, tuple)), (
            "one scheduler: lr_schedulers() returns it directly"
        )
        assert user_scheduler(model.got_scheds) is model.scheds[0]
        assert isinstance(model.got_scheds, type(model.scheds[0]))
    else:
        assert model.got_scheds is None
    assert all_changed(before, model)


@pytest.mark.parametrize("form", MULTI_FORMS)
def test_configure_optimizers_multiple_optimizer_forms_manual(tmp_path, form):
    model = TwoLayer(form, manual=True)
    before = snapshot(model)
    make_trainer(tmp_path, max_epochs=1).fit(model, make_loader(2))

    opts = model.got_opts
    assert isinstance(opts, list) and len(opts) == 2
    assert all(o.optimizer is want for o, want in zip(opts, model.opts))
    if not model.scheds:
        assert model.got_scheds is None
    elif len(model.scheds) == 1:
        assert not isinstance(model.got_scheds, (list, tuple))
        assert user_scheduler(model.got_scheds) is model.scheds[0]
    else:
        assert isinstance(model.got_scheds, list)
        assert len(model.got_scheds) == len(model.scheds)
        assert all(user_scheduler(s) is want for s, want in zip(model.got_scheds, model.scheds))
    assert all_changed(before, model)


def test_lr_schedulers_returns_reduce_lr_on_plateau_itself(tmp_path):
    model = TwoLayer("dict-plateau", manual=False)
    make_trainer(tmp_path, max_epochs=1).fit(model, make_loader(2))
    assert isinstance(model.got_scheds, torch.optim.lr_scheduler.ReduceLROnPlateau)


def test_wrapped_optimizer_exposes_param_groups(tmp_path):
    """Lightning users read ``self.optimizers().param_groups[0]["lr"]`` directly."""
    model = TwoLayer("optimizer", manual=True)
    make_trainer(tmp_path, max_epochs=1).fit(model, make_loader(2))
    assert model.got_opts.param_groups[0]["lr"] == 0.1
    assert model.got_opts.param_groups is model.opts[0].param_groups


def test_several_optimizers_in_automatic_mode_is_a_configuration_error(tmp_path):
    model = TwoLayer("tuple-two", manual=False)
    with pytest.raises(treadle.ConfigurationError) as info:
        make_trainer(tmp_path, max_epochs=1).fit(model, make_loader(2))
    assert isinstance(info.value, ValueError)
    assert info.value.problems and all(isinstance(p, str) for p in info.value.problems)
    assert model.got_opts is None, "no training_step may run"


def test_manual_optimization_with_trainer_clipping_and_accumulation_reports_both(tmp_path):
    model = TwoLayer("optimizer", manual=True)
    trainer = make_trainer(tmp_path, max_epochs=1, gradient_clip_val=0.5, accumulate_grad_batches=2)
    with pytest.raises(treadle.ConfigurationError) as info:
        trainer.fit(model, make_loader(2))
    problems = info.value.problems
    assert len(problems) >= 2, problems
    text = "\n".join(problems)
    assert "gradient_clip_val" in text and "accumulate_grad_batches" in text
    assert model.got_opts is None, "no training_step may run"


class ManualOutputs(treadle.Module):
    def __init__(self):
        super().__init__()
        self.automatic_optimization = False
        self.layer = nn.Linear(IN_DIM, 1)
        self.losses = []
        self.outputs = []

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)

    def training_step(self, batch, batch_idx):
        opt = self.optimizers()
        x, y = batch
        loss = F.mse_loss(self.layer(x), y)
        opt.zero_grad()
        # Lightning forwards extra arguments to backward
        self.manual_backward(loss, retain_graph=True)
        self.manual_backward(loss)  # the graph was kept: a second backward works
        opt.step()
        self.losses.append(loss.detach().clone())
        return loss

    def on_train_batch_end(self, outputs, batch, batch_idx):
        self.outputs.append(outputs)


def test_manual_backward_forwards_arguments_and_outputs_reach_batch_end(tmp_path):
    model = ManualOutputs()
    before = snapshot(model)
    make_trainer(tmp_path, max_epochs=1).fit(model, make_loader(3))
    assert len(model.outputs) == 3
    for out, loss in zip(model.outputs, model.losses):
        assert torch.allclose(out["loss"], loss)
    assert all_changed(before, model)


class RawOptimizers(TwoLayer):
    def __init__(self):
        super().__init__("tuple-two", manual=True)
        self.raw = None

    def training_step(self, batch, batch_idx):
        self.raw = self.optimizers(use_pl_optimizer=False)
        return super().training_step(batch, batch_idx)


def test_optimizers_use_pl_optimizer_false_returns_the_users_optimizers(tmp_path):
    model = RawOptimizers()
    make_trainer(tmp_path, max_epochs=1).fit(model, make_loader(1))
    assert isinstance(model.raw, list) and len(model.raw) == 2
    assert all(r is o for r, o in zip(model.raw, model.opts))


class EpochEndLR(Recorder):
    def __init__(self):
        super().__init__(lr=0.1)
        self.lrs = []

    def configure_optimizers(self):
        opt = torch.optim.SGD(self.parameters(), lr=self.lr)
        return [opt], [torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)]

    def on_train_epoch_end(self):
        self.lrs.append(self.optimizers().param_groups[0]["lr"])


def test_epoch_interval_scheduler_has_stepped_when_on_train_epoch_end_runs(tmp_path):
    """Lightning steps epoch-interval (non-plateau) schedulers on the epoch's last batch, before
    ``on_train_epoch_end``: a learning-rate logger there sees the next epoch's rate."""
    model = EpochEndLR()
    make_trainer(tmp_path, max_epochs=2).fit(model, make_loader(2))
    assert model.lrs == pytest.approx([0.05, 0.025])


class OneCycle(Recorder):
    def __init__(self):
        super().__init__()
        self.total = None

    def configure_optimizers(self):
        opt = torch.optim.SGD(self.parameters(), lr=0.1)
        self.total = self.trainer.estimated_stepping_batches
        sch = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=self.total)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sch, "interval": "step"}}


def test_estimated_stepping_batches_for_one_cycle_lr(tmp_path):
    """Beyond API.md, but how Lightning users size OneCycleLR."""
    model = OneCycle()
    make_trainer(tmp_path, max_epochs=3, accumulate_grad_batches=2).fit(model, make_loader(5))
    assert model.total == 9
